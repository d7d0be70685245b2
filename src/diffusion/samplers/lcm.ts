/**
 * Latent-consistency-model sampling (Luo et al. 2023, Algorithm 3) with diffusers' `LCMScheduler`
 * semantics. The network is an ordinary ᾱ-space model (ε, x₀ or v prediction on the discrete DDPM
 * schedule); the consistency boundary condition is applied here: from the network's x̂₀ at timestep t the
 * step forms f(x_t, t) = c_skip(t)·x_t + c_out(t)·x̂₀ with c_skip = σ_d² / ((s·t)² + σ_d²),
 * c_out = s·t / √((s·t)² + σ_d²), σ_d = 0.5 and s = `timestep_scaling`, and then re-noises it to the next
 * timestep, x_{t'} = √ᾱ_{t'} f + √(1 − ᾱ_{t'}) z; the last step returns f itself. The timesteps are N of
 * the `original_inference_steps`-point skipping-step grid the model was distilled on, taken evenly.
 * This file only samples: it trains nothing and builds no schedule beyond LCM's own timestep grid.
 */
import { ConfigError } from '../../util/errors.js';
import type { LCMSchedulerConfig } from '../scheduler-config.js';
import { trainingAlphasCumprod } from '../timesteps.js';
import {
  callModel,
  checkRequest,
  clipped,
  drawNoise,
  initialSample,
  report,
  runAs,
  thresholded,
  toDenoised,
  type SamplerEntry,
  type SamplerOptions,
} from './common.js';
import type { SampleRequest } from './types.js';

/** σ_data of LCM's boundary condition (diffusers fixes it at 0.5, the EDM / consistency-model default). */
export const LCM_SIGMA_DATA = 0.5;

/**
 * The N inference timesteps (descending). The distillation grid is t_i = i·k − 1, i = 1…`original_inference_steps`,
 * with skipping step k = ⌊T / original_inference_steps⌋; reversed, the N used are its entries at
 * ⌊j·len/N⌋, j = 0…N−1 (numpy's `floor(linspace(0, len, N, endpoint=False))`), so the first is always the grid's top.
 */
export function lcmTimesteps(
  config: Pick<LCMSchedulerConfig, 'numTrainTimesteps' | 'originalInferenceSteps'>,
  numInferenceSteps: number,
): Float64Array {
  const original = config.originalInferenceSteps;
  const T = config.numTrainTimesteps;
  if (original > T) {
    throw new ConfigError(`original_inference_steps (${original}) cannot exceed num_train_timesteps (${T})`);
  }
  const N = numInferenceSteps;
  if (!Number.isInteger(N) || N < 1 || N > original) {
    throw new ConfigError(
      `an LCM distilled on ${original} steps samples with 1..${original} steps, got ${N}`,
      { hint: 'LCMs are meant for 1–8 steps; more steps need a larger original_inference_steps' },
    );
  }
  const k = Math.floor(T / original);
  const grid = Array.from({ length: original }, (_, i) => (original - i) * k - 1); // reversed: top first
  const stride = original / N; // numpy: arange(N) · (len / N)
  return Float64Array.from({ length: N }, (_, j) => grid[Math.floor(j * stride)]);
}

/** c_skip and c_out of LCM's discrete boundary condition at timestep t (diffusers' `get_scalings_for_boundary_condition_discrete`). */
export function lcmBoundaryScalings(
  timestep: number,
  timestepScaling: number,
): { cSkip: number; cOut: number } {
  const scaled = timestep * timestepScaling;
  const d2 = LCM_SIGMA_DATA * LCM_SIGMA_DATA;
  return { cSkip: d2 / (scaled * scaled + d2), cOut: scaled / Math.sqrt(scaled * scaled + d2) };
}

/** x̂₀ from the network output, clipped or dynamically thresholded when the config asks. */
function limitedOriginal(
  output: Float64Array,
  x: Float64Array,
  alphaT: number,
  config: LCMSchedulerConfig,
  batchSize: number,
): Float64Array {
  const x0 = toDenoised(output, x, alphaT, config.predictionType);
  if (config.thresholding) {
    return thresholded(x0, batchSize, config.dynamicThresholdingRatio, config.sampleMaxValue);
  }
  return config.clipSample ? clipped(x0, config.clipSampleRange) : x0;
}

/** Multistep (or, at N = 1, one-step) LCM sampling from N(0, I) noise. */
export async function sampleLcm(
  request: SampleRequest,
  config: LCMSchedulerConfig,
  _options: SamplerOptions = {},
): Promise<Float32Array> {
  const timesteps = lcmTimesteps(config, request.numInferenceSteps);
  const steps = timesteps.length;
  checkRequest(request, 'LCM', steps > 1);
  const alphas = trainingAlphasCumprod(config);
  const batchSize = request.batchSize ?? 1;
  let x = initialSample(request, 1);
  for (let i = 0; i < steps; i++) {
    const t = timesteps[i];
    const output = await callModel(request, x, t); // diffusers' scale_model_input is the identity here
    const x0 = limitedOriginal(output, x, alphas[t], config, batchSize);
    const { cSkip, cOut } = lcmBoundaryScalings(t, config.timestepScaling);
    const denoised = x.map((v, k) => cOut * x0[k] + cSkip * v);
    if (i < steps - 1) {
      // Re-noise the consistency estimate to the next grid timestep: a sample of q(x_{t'} | x₀ = f).
      const alphaPrev = alphas[timesteps[i + 1]];
      const noise = drawNoise(request, x.length);
      const signal = Math.sqrt(alphaPrev);
      const spread = Math.sqrt(1 - alphaPrev);
      x = denoised.map((v, k) => signal * v + spread * noise[k]);
    } else x = denoised;
    await report(request, i, steps, t, x, denoised);
  }
  return Float32Array.from(x);
}

export const LCM_SAMPLERS: SamplerEntry[] = [
  {
    name: 'lcm',
    aliases: [],
    className: 'LCMScheduler',
    stochastic: true,
    summary:
      'latent consistency models (Luo et al. 2023): 1–8 steps, consistency estimate re-noised between steps',
    run: runAs('LCMScheduler', sampleLcm),
  },
];
