/**
 * DDPM ancestral sampling (Ho et al. 2020, Alg. 2) with diffusers' `DDPMScheduler` semantics: N spaced
 * timesteps, each step drawing x_{t'} ~ q(x_{t'} | x_t, x̂₀) for the previous timestep t' = t − ⌊T/N⌋,
 * with x̂₀ from an ε, x₀ or v prediction (clipped or dynamically thresholded), and a variance that is
 * fixed (β̃ "small", β "large") or learned from extra output channels (Nichol & Dhariwal 2021, eq. 15).
 */
import { expectSchedulerClass, type DDPMSchedulerConfig } from '../scheduler-config.js';
import { spacedTimesteps, trainingAlphasCumprod } from '../timesteps.js';
import {
  callModel,
  checkRequest,
  clipped,
  drawNoise,
  initialSample,
  perExample,
  report,
  thresholded,
  toDenoised,
  type SamplerEntry,
} from './common.js';
import type { SampleRequest } from './types.js';

export async function sampleDdpm(request: SampleRequest, config: DDPMSchedulerConfig): Promise<Float32Array> {
  checkRequest(request, 'DDPM', true);
  const alphas = trainingAlphasCumprod(config);
  const timesteps = spacedTimesteps(config, request.numInferenceSteps, true);
  const stride = Math.floor(config.numTrainTimesteps / request.numInferenceSteps);
  const learned = config.varianceType === 'learned' || config.varianceType === 'learned_range';
  let x = initialSample(request, 1);
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    const alphaT = alphas[t];
    const alphaPrev = t - stride >= 0 ? alphas[t - stride] : 1;
    const betaT = 1 - alphaT / alphaPrev; // β of the (possibly skipping) step t → t'
    const output = await callModel(request, x, t, learned ? 2 : 1);
    const [prediction, varianceValues] = learned
      ? splitChannels(output, request.batchSize ?? 1)
      : [output, null];
    let x0 = toDenoised(prediction, x, alphaT, config.predictionType);
    if (config.thresholding) {
      x0 = thresholded(x0, request.batchSize ?? 1, config.dynamicThresholdingRatio, config.sampleMaxValue);
    } else if (config.clipSample) x0 = clipped(x0, config.clipSampleRange);
    // Posterior mean μ̃(x_t, x̂₀) (Ho et al. 2020, eq. 7).
    const x0Coefficient = (Math.sqrt(alphaPrev) * betaT) / (1 - alphaT);
    const sampleCoefficient = (Math.sqrt(1 - betaT) * (1 - alphaPrev)) / (1 - alphaT);
    const next = x.map((v, k) => x0Coefficient * x0[k] + sampleCoefficient * v);
    if (t > 0) {
      const noise = drawNoise(request, x.length);
      const posteriorVariance = Math.max(((1 - alphaPrev) / (1 - alphaT)) * betaT, 1e-20);
      for (let k = 0; k < next.length; k++) {
        const v = varianceValues ? varianceValues[k] : 0;
        next[k] += standardDeviation(config.varianceType, betaT, posteriorVariance, v) * noise[k];
      }
    }
    x = next;
    await report(request, i, timesteps.length, t, x, x0);
  }
  return Float32Array.from(x);
}

/**
 * The reverse-step standard deviation for each `variance_type`. Learned values v are the extra output
 * channels: a variance ("learned") or, for "learned_range", an interpolation weight (v + 1)/2 between
 * log β̃ and log β. diffusers' "fixed_large_log" takes √(log β), which is NaN; it is read here as its
 * evident meaning, exp(½ log β) = √β.
 */
function standardDeviation(
  type: DDPMSchedulerConfig['varianceType'],
  beta: number,
  posterior: number,
  v: number,
) {
  switch (type) {
    case 'fixed_small':
    case 'fixed_small_log':
      return Math.sqrt(posterior);
    case 'fixed_large':
    case 'fixed_large_log':
      return Math.sqrt(beta);
    case 'learned':
      return Math.sqrt(v);
    case 'learned_range': {
      const fraction = (v + 1) / 2;
      return Math.exp(0.5 * (fraction * Math.log(beta) + (1 - fraction) * Math.log(posterior)));
    }
  }
}

/** Splits a [B, 2C, …] output into the prediction [B, C, …] and the variance values [B, C, …]. */
function splitChannels(output: Float64Array, batchSize: number): [Float64Array, Float64Array] {
  const size = perExample(output.length, batchSize) / 2;
  const prediction = new Float64Array(output.length / 2);
  const variance = new Float64Array(output.length / 2);
  for (let b = 0; b < batchSize; b++) {
    prediction.set(output.subarray(2 * b * size, (2 * b + 1) * size), b * size);
    variance.set(output.subarray((2 * b + 1) * size, (2 * b + 2) * size), b * size);
  }
  return [prediction, variance];
}

export const DDPM_SAMPLERS: SamplerEntry[] = [
  {
    name: 'ddpm',
    aliases: [],
    className: 'DDPMScheduler',
    stochastic: true,
    summary: 'DDPM ancestral sampling (Ho et al. 2020), fixed or learned variance',
    run: (request, config) => sampleDdpm(request, expectSchedulerClass(config, 'DDPMScheduler')),
  },
];
