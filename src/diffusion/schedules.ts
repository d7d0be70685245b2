/**
 * Discrete noise schedules as diffusers builds them: β_t for t = 0..T−1, α_t = 1 − β_t and
 * ᾱ_t = ∏_{s≤t} α_s (Ho et al. 2020, eq. 4). All arrays are Float64Array; float32 rounding where diffusers
 * stores float32 is applied by `toFloat32` at the boundary that needs it.
 */
import { unknownChoice, ConfigError } from '../util/errors.js';

export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2', 'sigmoid'] as const;
export type BetaScheduleName = (typeof BETA_SCHEDULES)[number];

export interface BetaScheduleConfig {
  /** Which curve: 'linear' (DDPM), 'scaled_linear' (Stable Diffusion), 'squaredcos_cap_v2' (cosine), 'sigmoid'. */
  betaSchedule: BetaScheduleName;
  /** Number of discrete training timesteps T. */
  numTrainTimesteps: number;
  /** β at t = 0 (ignored by the cosine schedule). */
  betaStart: number;
  /** β at t = T − 1 (ignored by the cosine schedule). */
  betaEnd: number;
}

export const DEFAULT_BETA_SCHEDULE: BetaScheduleConfig = {
  betaSchedule: 'linear',
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
};

function linspace(start: number, end: number, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = count === 1 ? start : start + ((end - start) * i) / (count - 1);
  return out;
}

/** Rounds every value to float32, as a PyTorch float32 tensor would hold it. */
export function toFloat32(values: Float64Array): Float64Array {
  return Float64Array.from(Float32Array.from(values));
}

/** Cosine schedule (Nichol & Dhariwal 2021, eq. 17): β_t = 1 − ᾱ(t+1)/ᾱ(t), capped at `maxBeta`. */
export function cosineBetas(numTrainTimesteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    const t1 = i / numTrainTimesteps;
    const t2 = (i + 1) / numTrainTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** β_t of a named schedule, rounded to float32 as diffusers stores them. */
export function betaSchedule(config: BetaScheduleConfig): Float64Array {
  const { betaSchedule: name, numTrainTimesteps: T, betaStart, betaEnd } = config;
  if (!Number.isInteger(T) || T < 1) {
    throw new ConfigError(`num_train_timesteps must be a positive integer, got ${T}`);
  }
  switch (name) {
    case 'linear':
      return toFloat32(linspace(betaStart, betaEnd, T));
    case 'scaled_linear': {
      const roots = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
      return toFloat32(roots.map((r) => r * r));
    }
    case 'squaredcos_cap_v2':
      return toFloat32(cosineBetas(T));
    case 'sigmoid': {
      const xs = linspace(-6, 6, T);
      return toFloat32(xs.map((x) => (1 / (1 + Math.exp(-x))) * (betaEnd - betaStart) + betaStart));
    }
    default:
      throw unknownChoice('beta schedule', String(name), BETA_SCHEDULES);
  }
}

/** ᾱ_t = ∏ (1 − β_s), accumulated in float32 as diffusers' torch.cumprod does. */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let product = Math.fround(1);
  for (let i = 0; i < betas.length; i++) {
    product = Math.fround(product * Math.fround(1 - betas[i]));
    out[i] = product;
  }
  return out;
}
