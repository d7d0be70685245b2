/**
 * DDIM (Song et al. 2021, eq. 12) with diffusers' `DDIMScheduler` semantics: from x_t to t' = t − ⌊T/N⌋,
 *   x_{t'} = √ᾱ_{t'} x̂₀ + √(1 − ᾱ_{t'} − σ_t²) ε̂ + σ_t z,   σ_t = η √((1−ᾱ_{t'})/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'}),
 * deterministic for η = 0 and DDPM-like for η = 1. After the last step ᾱ is 1 (`set_alpha_to_one`) or ᾱ_0.
 */
import { expectSchedulerClass, type DDIMSchedulerConfig } from '../scheduler-config.js';
import { spacedTimesteps, trainingAlphasCumprod } from '../timesteps.js';
import {
  callModel,
  checkRequest,
  clipped,
  drawNoise,
  initialSample,
  nonNegativeOption,
  report,
  thresholded,
  toDenoised,
  toEpsilon,
  type SamplerEntry,
  type SamplerOptions,
} from './common.js';
import type { SampleRequest } from './types.js';

export async function sampleDdim(
  request: SampleRequest,
  config: DDIMSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const eta = nonNegativeOption('eta', options.eta, 0);
  checkRequest(request, 'DDIM', eta > 0);
  const alphas = trainingAlphasCumprod(config);
  const finalAlpha = config.setAlphaToOne ? 1 : alphas[0];
  const timesteps = spacedTimesteps(config, request.numInferenceSteps, true);
  const stride = Math.floor(config.numTrainTimesteps / request.numInferenceSteps);
  let x = initialSample(request, 1);
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    const alphaT = alphas[t];
    const alphaPrev = t - stride >= 0 ? alphas[t - stride] : finalAlpha;
    const output = await callModel(request, x, t);
    let x0 = toDenoised(output, x, alphaT, config.predictionType);
    let epsilon = toEpsilon(output, x, alphaT, config.predictionType);
    if (config.thresholding) {
      x0 = thresholded(x0, request.batchSize ?? 1, config.dynamicThresholdingRatio, config.sampleMaxValue);
    } else if (config.clipSample) x0 = clipped(x0, config.clipSampleRange);
    if (options.useClippedModelOutput) epsilon = toEpsilon(x0, x, alphaT, 'sample');
    const variance = ((1 - alphaPrev) / (1 - alphaT)) * (1 - alphaT / alphaPrev);
    const std = eta * Math.sqrt(variance);
    const direction = Math.sqrt(Math.max(0, 1 - alphaPrev - std * std));
    x = x.map((_, k) => Math.sqrt(alphaPrev) * x0[k] + direction * epsilon[k]);
    if (eta > 0) {
      const noise = drawNoise(request, x.length);
      for (let k = 0; k < x.length; k++) x[k] += std * noise[k];
    }
    await report(request, i, timesteps.length, t, x, x0);
  }
  return Float32Array.from(x);
}

export const DDIM_SAMPLERS: SamplerEntry[] = [
  {
    name: 'ddim',
    aliases: [],
    className: 'DDIMScheduler',
    stochastic: false,
    summary: 'DDIM (Song et al. 2021); deterministic at eta = 0, ancestral at eta = 1',
    run: (request, config, options) =>
      sampleDdim(request, expectSchedulerClass(config, 'DDIMScheduler'), options),
  },
];
