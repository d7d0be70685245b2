/**
 * Heun's second-order method in σ-space (Karras et al. 2022, Alg. 2; k-diffusion's `sample_heun`): an
 * Euler step to σ_{i+1}, a second evaluation there, and the step redone with the mean of both slopes; the
 * last step (to σ = 0) stays Euler, so N steps cost 2N − 1 calls. Without churn this is diffusers'
 * `HeunDiscreteScheduler`; with S_churn > 0 it is EDM's stochastic sampler, which first raises σ to
 * σ̂ = σ(1 + γ) by adding noise, γ = min(S_churn/N, √2 − 1) on S_tmin ≤ σ ≤ S_tmax.
 */
import type { HeunDiscreteSchedulerConfig } from '../scheduler-config.js';
import {
  clipped,
  denoiseAtSigma,
  drawNoise,
  eulerStep,
  KARRAS_SIGMAS,
  nonNegativeOption,
  report,
  runAs,
  startSigmaSpace,
  toDerivative,
  type SamplerEntry,
  type SamplerOptions,
} from './common.js';
import type { SampleRequest } from './types.js';

export async function sampleHeun(
  request: SampleRequest,
  config: HeunDiscreteSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const churn = nonNegativeOption('s_churn', options.sChurn, 0);
  const [sTmin, sTmax] = [options.sTmin ?? 0, options.sTmax ?? Infinity];
  const sNoise = nonNegativeOption('s_noise', options.sNoise, 1);
  const start = startSigmaSpace(request, 'Heun', churn > 0, config, options);
  const { sigmas, timesteps, timestepOf, steps } = start;
  const calls = 2 * steps - (sigmas[steps] === 0 ? 1 : 0);
  const denoise = async (x: Float64Array, sigma: number, timestep: number) => {
    const denoised = await denoiseAtSigma(request, x, sigma, timestep, config.predictionType);
    return config.clipSample ? clipped(denoised, config.clipSampleRange) : denoised;
  };
  let x = start.x;
  let call = 0;
  for (let i = 0; i < steps; i++) {
    const [sigma, sigmaNext] = [sigmas[i], sigmas[i + 1]];
    const gamma = churn > 0 && sigma >= sTmin && sigma <= sTmax ? Math.min(churn / steps, Math.SQRT2 - 1) : 0;
    const sigmaHat = sigma * (gamma + 1);
    if (gamma > 0) {
      // Move up to σ̂ with fresh noise of variance σ̂² − σ² (Alg. 2, lines 5–6).
      const noise = drawNoise(request, x.length);
      const scale = sNoise * Math.sqrt(sigmaHat * sigmaHat - sigma * sigma);
      x = x.map((v, k) => v + scale * noise[k]);
    }
    const timestep = gamma > 0 ? timestepOf(sigmaHat) : timesteps[i];
    const denoised = await denoise(x, sigmaHat, timestep);
    const slope = toDerivative(x, denoised, sigmaHat);
    const euler = eulerStep(x, slope, sigmaNext - sigmaHat);
    await report(request, call++, calls, timestep, euler, denoised, sigmaHat);
    if (sigmaNext === 0) {
      x = euler;
      continue;
    }
    // Apply the second-order correction (Alg. 2, lines 9–11).
    const denoisedNext = await denoise(euler, sigmaNext, timesteps[i + 1]);
    const slopeNext = toDerivative(euler, denoisedNext, sigmaNext);
    x = x.map((v, k) => v + ((slope[k] + slopeNext[k]) / 2) * (sigmaNext - sigmaHat));
    await report(request, call++, calls, timesteps[i + 1], x, denoisedNext, sigmaNext);
  }
  return Float32Array.from(x);
}

export const HEUN_SAMPLERS: SamplerEntry[] = [
  {
    name: 'heun',
    aliases: ['k_heun'],
    className: 'HeunDiscreteScheduler',
    stochastic: false,
    summary: "Heun's second-order method (2N − 1 calls); stochastic only with s_churn > 0",
    run: runAs('HeunDiscreteScheduler', sampleHeun),
  },
  {
    name: 'heun_karras',
    aliases: [],
    className: 'HeunDiscreteScheduler',
    configFields: KARRAS_SIGMAS,
    stochastic: false,
    summary: 'Heun with Karras σ spacing (ρ = 7)',
    run: runAs('HeunDiscreteScheduler', sampleHeun),
  },
  {
    name: 'heun_edm',
    aliases: ['edm'],
    className: 'HeunDiscreteScheduler',
    configFields: KARRAS_SIGMAS,
    stochastic: false,
    summary:
      "EDM's sampler (Karras et al. 2022, Alg. 2): Karras σ, Heun steps, churn via s_churn/s_tmin/s_tmax/s_noise",
    run: runAs('HeunDiscreteScheduler', sampleHeun),
  },
];
