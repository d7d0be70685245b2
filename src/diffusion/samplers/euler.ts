/**
 * Euler and Euler-ancestral sampling in σ-space (Karras et al. 2022, Alg. 1 with the probability-flow
 * derivative; k-diffusion's `sample_euler`, `sample_euler_ancestral`) with diffusers'
 * `EulerDiscreteScheduler` / `EulerAncestralDiscreteScheduler` semantics. The ancestral variant steps
 * down to σ_down and adds fresh noise of size σ_up, so it samples the SDE rather than the ODE.
 */
import type {
  EulerAncestralDiscreteSchedulerConfig,
  EulerDiscreteSchedulerConfig,
} from '../scheduler-config.js';
import {
  ancestralStep,
  denoiseAtSigma,
  drawNoise,
  eulerStep,
  KARRAS_SIGMAS,
  report,
  runAs,
  startSigmaSpace,
  toDerivative,
  type SamplerEntry,
  type SamplerOptions,
} from './common.js';
import type { SampleRequest } from './types.js';

export async function sampleEuler(
  request: SampleRequest,
  config: EulerDiscreteSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const start = startSigmaSpace(request, 'Euler', false, config, options);
  const { sigmas, timesteps, steps } = start;
  let x = start.x;
  for (let i = 0; i < steps; i++) {
    const denoised = await denoiseAtSigma(request, x, sigmas[i], timesteps[i], config.predictionType);
    x = eulerStep(x, toDerivative(x, denoised, sigmas[i]), sigmas[i + 1] - sigmas[i]);
    await report(request, i, steps, timesteps[i], x, denoised, sigmas[i]);
  }
  return Float32Array.from(x);
}

export async function sampleEulerAncestral(
  request: SampleRequest,
  config: EulerAncestralDiscreteSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const start = startSigmaSpace(request, 'Euler ancestral', true, config, options);
  const { sigmas, timesteps, steps } = start;
  let x = start.x;
  for (let i = 0; i < steps; i++) {
    const denoised = await denoiseAtSigma(request, x, sigmas[i], timesteps[i], config.predictionType);
    const { sigmaUp, sigmaDown } = ancestralStep(sigmas[i], sigmas[i + 1]);
    x = eulerStep(x, toDerivative(x, denoised, sigmas[i]), sigmaDown - sigmas[i]);
    const noise = drawNoise(request, x.length);
    for (let k = 0; k < x.length; k++) x[k] += noise[k] * sigmaUp;
    await report(request, i, steps, timesteps[i], x, denoised, sigmas[i]);
  }
  return Float32Array.from(x);
}

export const EULER_SAMPLERS: SamplerEntry[] = [
  {
    name: 'euler',
    aliases: ['k_euler'],
    className: 'EulerDiscreteScheduler',
    stochastic: false,
    summary: 'Euler steps of the probability-flow ODE (Karras et al. 2022)',
    run: runAs('EulerDiscreteScheduler', sampleEuler),
  },
  {
    name: 'euler_karras',
    aliases: [],
    className: 'EulerDiscreteScheduler',
    configFields: KARRAS_SIGMAS,
    stochastic: false,
    summary: 'Euler with Karras σ spacing (ρ = 7)',
    run: runAs('EulerDiscreteScheduler', sampleEuler),
  },
  {
    name: 'euler_a',
    aliases: ['euler_ancestral', 'k_euler_a', 'k_euler_ancestral'],
    className: 'EulerAncestralDiscreteScheduler',
    stochastic: true,
    summary: 'Euler ancestral: Euler step to σ_down plus fresh noise σ_up',
    run: runAs('EulerAncestralDiscreteScheduler', sampleEulerAncestral),
  },
];
