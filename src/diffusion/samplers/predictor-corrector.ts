/**
 * Predictor–corrector sampling for score SDEs (Song et al. 2021, Algorithms 1–5): on a uniform grid
 * 1 = t_0 > … > t_N = ε, each step first runs M Langevin corrector steps at t_i with the step size set by
 * a target signal-to-noise ratio, then one predictor step to t_{i+1}: reverse diffusion (the SDE's own
 * discretisation, Alg. 2/3) or Euler–Maruyama on the reverse-time SDE. Works for any SDE with a Gaussian
 * perturbation kernel (VP, VE, sub-VP; ../sde.ts). It holds no model code and does not define SDEs.
 */
import { ConfigError, unknownChoice } from '../../util/errors.js';
import type { FloatArray } from '../forward.js';
import { drift, type Sde } from '../sde.js';
import type { NoiseSource, StepCallback } from './types.js';
import {
  checkEndTime,
  defaultEndTime,
  denoisedFromScore,
  priorSample,
  requireNoise,
  type ScoreFn,
} from './ode.js';

export const PREDICTORS = ['reverse_diffusion', 'euler_maruyama', 'none'] as const;
export type PredictorName = (typeof PREDICTORS)[number];
export const CORRECTORS = ['langevin', 'none'] as const;
export type CorrectorName = (typeof CORRECTORS)[number];

export interface PredictorCorrectorRequest {
  sde: Sde;
  score: ScoreFn;
  /** Initial N(0, I) noise for the batch; scaled by the prior std. */
  noise: FloatArray;
  /** End time ε (default `defaultEndTime(sde)`: 1e-3 VP/sub-VP, 1e-5 VE). */
  eps?: number;
  /** Values per sample (2 for 2-D points); the batch is noise.length / dim, norms are taken per sample. */
  dim: number;
  noiseSource?: NoiseSource;
  /** Number of predictor steps N. */
  numSteps: number;
  /** Predictor: 'reverse_diffusion' (default, Alg. 2/3), 'euler_maruyama' or 'none' (corrector only). */
  predictor?: PredictorName;
  /** Corrector: 'langevin' (default, Alg. 4/5) or 'none' (predictor only). */
  corrector?: CorrectorName;
  /** Corrector steps M per noise level (default 1). */
  correctorSteps?: number;
  /** Target signal-to-noise ratio r of the Langevin corrector (default 0.16, Song et al.'s VE choice). */
  snr?: number;
  /** Return the noise-free mean of the last predictor step (Song et al.'s `noise_removal`; default true). */
  denoise?: boolean;
  /** Scales all injected noise (1 = as published). */
  temperature?: number;
  callback?: StepCallback;
}

/** The time grid 1 = t_0 > t_1 > … > t_N = ε. */
function timeGrid(eps: number, numSteps: number): Float64Array {
  return Float64Array.from({ length: numSteps + 1 }, (_, i) => 1 + ((eps - 1) * i) / numSteps);
}

/** Mean over the batch of per-sample Euclidean norms (the reference implementation's averaging). */
function meanNorm(values: ArrayLike<number>, dim: number): number {
  const batch = values.length / dim;
  let total = 0;
  for (let b = 0; b < batch; b++) {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += values[b * dim + d] ** 2;
    total += Math.sqrt(sum);
  }
  return total / batch;
}

/**
 * One Langevin corrector step (Alg. 4/5): ε = 2α·(r·‖z‖/‖s‖)², x ← x + ε·s + √(2ε)·z, with α = 1 − β_i
 * for VP (here the squared mean coefficient of the step's transition, which is 1 for VE). The norms are
 * averaged over the batch as in the reference implementation, so one step size serves the whole batch.
 */
async function langevinCorrect(
  x: Float64Array,
  t: number,
  alpha: number,
  request: PredictorCorrectorRequest,
  noise: NoiseSource,
): Promise<void> {
  const { snr = 0.16, temperature = 1, dim } = request;
  const grad = await request.score(x, t);
  const z = noise.normal(x.length);
  const stepSize = 2 * alpha * ((snr * meanNorm(z, dim)) / meanNorm(grad, dim)) ** 2;
  const noiseScale = temperature * Math.sqrt(2 * stepSize);
  for (let i = 0; i < x.length; i++) x[i] += stepSize * grad[i] + noiseScale * z[i];
}

/**
 * One predictor step from t to s < t; writes the new state into x and returns the noise-free mean and
 * the score it used (for the progress callback's x₀ estimate).
 */
async function predict(
  x: Float64Array,
  t: number,
  s: number,
  request: PredictorCorrectorRequest,
  noise: NoiseSource,
): Promise<{ mean: Float64Array; score: Float32Array | Float64Array }> {
  const { sde, temperature = 1, predictor = 'reverse_diffusion' } = request;
  const score = await request.score(x, t);
  const mean = new Float64Array(x.length);
  let noiseStd: number;
  if (predictor === 'reverse_diffusion') {
    // Song et al. eq. 46 with the SDE's exact transition x_t = α·x_s + G·z as discretisation (DDPM's
    // √(1−β_i), √β_i for VP; α = 1, G² = σ_t² − σ_s² for VE): x_s = x_t − f_i + G²·s(x_t, t) + G·z with
    // f_i = (α − 1)·x_t.
    const { alpha, sigma: g } = sde.transition(s, t);
    for (let i = 0; i < x.length; i++) mean[i] = (2 - alpha) * x[i] + g * g * score[i];
    noiseStd = g;
  } else {
    // Reverse-time SDE dx = [f − g²·s]·dt + g·dw̄, Euler–Maruyama with dt = s − t < 0.
    const dt = s - t;
    const f = drift(sde, x, t);
    const g = sde.diffusion(t);
    for (let i = 0; i < x.length; i++) mean[i] = x[i] + (f[i] - g * g * score[i]) * dt;
    noiseStd = g * Math.sqrt(-dt);
  }
  const z = noise.normal(x.length);
  for (let i = 0; i < x.length; i++) x[i] = mean[i] + temperature * noiseStd * z[i];
  return { mean, score };
}

function validate(request: PredictorCorrectorRequest): void {
  const { numSteps, correctorSteps = 1, snr = 0.16, dim, predictor = 'reverse_diffusion' } = request;
  const corrector = request.corrector ?? 'langevin';
  if (!PREDICTORS.includes(predictor)) throw unknownChoice('predictor', predictor, PREDICTORS);
  if (!CORRECTORS.includes(corrector)) throw unknownChoice('corrector', corrector, CORRECTORS);
  if (!Number.isInteger(numSteps) || numSteps < 1) {
    throw new ConfigError(`predictor–corrector numSteps must be a positive integer, got ${numSteps}`);
  }
  if (!Number.isInteger(correctorSteps) || correctorSteps < 0) {
    throw new ConfigError(`correctorSteps must be a non-negative integer, got ${correctorSteps}`);
  }
  if (!(snr > 0)) throw new ConfigError(`corrector snr must be positive, got ${snr}`);
  if (!Number.isInteger(dim) || dim < 1 || request.noise.length % dim !== 0) {
    throw new ConfigError(`dim ${dim} does not divide the noise length ${request.noise.length}`);
  }
}

/** Samples with predictor–corrector steps; returns the batch at t = ε. */
export async function samplePredictorCorrector(request: PredictorCorrectorRequest): Promise<Float32Array> {
  validate(request);
  const { sde, numSteps, correctorSteps = 1, denoise = true, callback } = request;
  const predictor = request.predictor ?? 'reverse_diffusion';
  const corrector = request.corrector ?? 'langevin';
  const noise = requireNoise(request.noiseSource, 'predictor–corrector sampling');
  const times = timeGrid(checkEndTime(request.eps ?? defaultEndTime(sde)), numSteps);
  const x = priorSample(sde, request.noise);
  let mean: Float64Array = Float64Array.from(x);
  for (let i = 0; i < numSteps; i++) {
    const t = times[i];
    const s = times[i + 1];
    if (corrector === 'langevin') {
      const { alpha } = sde.transition(s, t);
      for (let m = 0; m < correctorSteps; m++) await langevinCorrect(x, t, alpha ** 2, request, noise);
      mean = Float64Array.from(x);
    }
    const before = callback ? Float64Array.from(x) : x;
    let score: Float32Array | Float64Array | undefined;
    if (predictor !== 'none') {
      const step = await predict(x, t, s, request, noise);
      mean = step.mean;
      score = step.score;
    }
    if (callback) {
      // Without a predictor the x₀ estimate costs one extra score call per step.
      score ??= await request.score(before, t);
      await callback({
        step: i,
        numSteps,
        timestep: t,
        sample: Float32Array.from(x),
        predictedOriginal: Float32Array.from(denoisedFromScore(sde, before, score, t)),
      });
    }
  }
  return Float32Array.from(denoise ? mean : x);
}
