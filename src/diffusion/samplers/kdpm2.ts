/**
 * DPM-Solver-2 in σ-space (Lu et al. 2022, Alg. 1 with the k-diffusion reading of Karras et al. 2022;
 * k-diffusion's `sample_dpm_2` / `sample_dpm_2_ancestral`, diffusers' `KDPM2DiscreteScheduler` /
 * `KDPM2AncestralDiscreteScheduler`): a half step to the log-midpoint σ_mid = √(σ_i σ_next), a second
 * evaluation there (at an interpolated, fractional timestep), and the full step taken with the midpoint
 * slope. The last step, to σ = 0, is Euler: 2N − 1 calls. The ancestral variant aims at σ_down and adds
 * noise σ_up.
 */
import type {
  KDPM2AncestralDiscreteSchedulerConfig,
  KDPM2DiscreteSchedulerConfig,
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

type Kdpm2Config = KDPM2DiscreteSchedulerConfig | KDPM2AncestralDiscreteSchedulerConfig;

/**
 * Both variants. diffusers' ancestral scheduler draws noise at every call but adds it only after the
 * second one; the draws are kept in that order so recorded noise replays exactly.
 */
async function sampleKdpm2Family(
  request: SampleRequest,
  config: Kdpm2Config,
  options: SamplerOptions,
  ancestral: boolean,
): Promise<Float32Array> {
  const label = ancestral ? 'DPM2 ancestral' : 'DPM2';
  const start = startSigmaSpace(request, label, ancestral, config, options, { roundKarrasTimesteps: true });
  const { sigmas, timesteps, timestepOf, steps } = start;
  const calls = 2 * steps - (sigmas[steps] === 0 ? 1 : 0);
  let x = start.x;
  let call = 0;
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const { sigmaUp, sigmaDown } = ancestral
      ? ancestralStep(sigma, sigmas[i + 1])
      : { sigmaUp: 0, sigmaDown: sigmas[i + 1] };
    const denoised = await denoiseAtSigma(request, x, sigma, timesteps[i], config.predictionType);
    if (ancestral) drawNoise(request, x.length); // drawn and unused, as diffusers
    const slope = toDerivative(x, denoised, sigma);
    if (sigmaDown === 0) {
      x = eulerStep(x, slope, -sigma);
      await report(request, call++, calls, timesteps[i], x, denoised, sigma);
      continue;
    }
    // DPM-Solver-2: evaluate at the geometric midpoint, then step with its slope.
    const sigmaMid = Math.fround(Math.exp((Math.log(sigma) + Math.log(sigmaDown)) / 2));
    const midTimestep = timestepOf(sigmaMid);
    const half = eulerStep(x, slope, sigmaMid - sigma);
    await report(request, call++, calls, timesteps[i], half, denoised, sigma);
    const denoisedMid = await denoiseAtSigma(request, half, sigmaMid, midTimestep, config.predictionType);
    const noise = ancestral ? drawNoise(request, x.length) : null;
    x = eulerStep(x, toDerivative(half, denoisedMid, sigmaMid), sigmaDown - sigma);
    if (noise) for (let k = 0; k < x.length; k++) x[k] += noise[k] * sigmaUp;
    await report(request, call++, calls, midTimestep, x, denoisedMid, sigmaMid);
  }
  return Float32Array.from(x);
}

export function sampleKdpm2(
  request: SampleRequest,
  config: KDPM2DiscreteSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  return sampleKdpm2Family(request, config, options, false);
}

export function sampleKdpm2Ancestral(
  request: SampleRequest,
  config: KDPM2AncestralDiscreteSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  return sampleKdpm2Family(request, config, options, true);
}

const plain = runAs('KDPM2DiscreteScheduler', sampleKdpm2);
const ancestral = runAs('KDPM2AncestralDiscreteScheduler', sampleKdpm2Ancestral);

export const KDPM2_SAMPLERS: SamplerEntry[] = [
  {
    name: 'dpm_2',
    aliases: ['k_dpm_2', 'kdpm2'],
    className: 'KDPM2DiscreteScheduler',
    stochastic: false,
    summary: 'DPM-Solver-2 steps through the log-midpoint σ (2N − 1 calls)',
    run: plain,
  },
  {
    name: 'dpm_2_karras',
    aliases: [],
    className: 'KDPM2DiscreteScheduler',
    configFields: KARRAS_SIGMAS,
    stochastic: false,
    summary: 'DPM2 with Karras σ spacing (ρ = 7)',
    run: plain,
  },
  {
    name: 'dpm_2_ancestral',
    aliases: ['dpm_2_a', 'k_dpm_2_a', 'k_dpm_2_ancestral', 'kdpm2_ancestral'],
    className: 'KDPM2AncestralDiscreteScheduler',
    stochastic: true,
    summary: 'DPM2 ancestral: midpoint step to σ_down plus fresh noise σ_up',
    run: ancestral,
  },
  {
    name: 'dpm_2_ancestral_karras',
    aliases: ['dpm_2_a_karras'],
    className: 'KDPM2AncestralDiscreteScheduler',
    configFields: KARRAS_SIGMAS,
    stochastic: true,
    summary: 'DPM2 ancestral with Karras σ spacing (ρ = 7)',
    run: ancestral,
  },
];
