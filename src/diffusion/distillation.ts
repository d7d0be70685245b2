/**
 * The target maths of progressive distillation (Salimans & Ho 2022, Algorithm 2), in the VP form
 * z_t = α_t x + σ_t ε with α = √ᾱ, σ = √(1−ᾱ). A student with N steps runs DDIM on the grid
 * t_j = T·j/N − 1 (j = N…0) of diffusers timesteps, where t = −1 stands for ᾱ = 1 (a clean sample):
 * exactly the timesteps of diffusers' DDIMScheduler with `timestep_spacing: "trailing"` and
 * `set_alpha_to_one: true` when N divides T. Halving N nests the grids, so the teacher's two DDIM steps
 * t → t − ½·T/N → t − T/N land on the student's grid; in between the grid may be fractional, where
 * ᾱ is interpolated as `alphaCumprodAt` does. This module holds only arithmetic: no network, no
 * random numbers, no training loop (that is training/distill.ts).
 */
import { ConfigError } from '../util/errors.js';
import { alphaCumprodAt } from './oracle.js';

/** How the x-space loss ‖x̃ − x̂‖² is weighted per example (Salimans & Ho 2022, §4). */
export const DISTILLATION_WEIGHTINGS = ['truncated-snr', 'snr+1'] as const;
export type DistillationWeighting = (typeof DISTILLATION_WEIGHTINGS)[number];

/** The N + 1 grid timesteps T·j/N − 1 of an N-step student, from T − 1 down to −1 (ᾱ = 1). */
export function studentGrid(numTrainTimesteps: number, steps: number): Float64Array {
  if (!Number.isInteger(steps) || steps < 1 || 2 * steps > numTrainTimesteps) {
    throw new ConfigError(
      `a distilled student needs 1 ≤ steps ≤ T/2 (its teacher takes twice as many), got ${steps} for T = ${numTrainTimesteps}`,
    );
  }
  return Float64Array.from({ length: steps + 1 }, (_, i) => (numTrainTimesteps * (steps - i)) / steps - 1);
}

/** ᾱ at a grid timestep: 1 at t = −1 (after the last step), else the training table, interpolated. */
export function gridAlphaCumprod(alphasCumprod: Float64Array, timestep: number): number {
  return timestep <= -1 ? 1 : alphaCumprodAt(alphasCumprod, timestep);
}

/**
 * One deterministic DDIM step from z_s to level t (Song et al. 2021, eq. 12, η = 0), as Algorithm 2
 * writes it: z_t = α_t x̂ + (σ_t/σ_s)(z_s − α_s x̂), with x̂ the x₀ estimate at s.
 */
export function ddimStep(
  z: ArrayLike<number>,
  x0: ArrayLike<number>,
  alphaCumprodFrom: number,
  alphaCumprodTo: number,
): Float64Array {
  const alphaFrom = Math.sqrt(alphaCumprodFrom);
  const sigmaFrom = Math.sqrt(1 - alphaCumprodFrom);
  const alphaTo = Math.sqrt(alphaCumprodTo);
  const ratio = Math.sqrt(1 - alphaCumprodTo) / sigmaFrom;
  return Float64Array.from(z, (v, i) => alphaTo * x0[i] + ratio * (v - alphaFrom * x0[i]));
}

/**
 * The student's x-target x̃ (Algorithm 2): the x that makes ONE student DDIM step from z_t to t″ land
 * where the teacher's two steps landed, x̃ = (z_t″ − (σ_t″/σ_t) z_t) / (α_t″ − (σ_t″/σ_t) α_t).
 * At t″ = −1 (σ = 0) this is z_t″ itself.
 */
export function distillationTarget(
  z: ArrayLike<number>,
  zTwoSteps: ArrayLike<number>,
  alphaCumprod: number,
  alphaCumprodTwoSteps: number,
): Float64Array {
  const ratio = Math.sqrt(1 - alphaCumprodTwoSteps) / Math.sqrt(1 - alphaCumprod);
  const denominator = Math.sqrt(alphaCumprodTwoSteps) - ratio * Math.sqrt(alphaCumprod);
  return Float64Array.from(zTwoSteps, (v, i) => (v - ratio * z[i]) / denominator);
}

/** The v-target whose x₀ reading is x̃: x̂ = α z − σ v, so v = (α z − x̃)/σ. */
export function velocityTarget(
  z: ArrayLike<number>,
  x: ArrayLike<number>,
  alphaCumprod: number,
): Float64Array {
  const alpha = Math.sqrt(alphaCumprod);
  const sigma = Math.sqrt(1 - alphaCumprod);
  return Float64Array.from(z, (v, i) => (alpha * v - x[i]) / sigma);
}

/**
 * The weight of the v-space squared error that equals the x-space loss weighted as chosen. Since
 * ‖x̃ − x̂‖² = σ²‖v − v̂‖²: truncated SNR, max(SNR, 1)·σ² = max(α², σ²); SNR+1, (α²/σ² + 1)·σ² = 1.
 */
export function velocityLossWeight(alphaCumprod: number, weighting: DistillationWeighting): number {
  return weighting === 'snr+1' ? 1 : Math.max(alphaCumprod, 1 - alphaCumprod);
}
