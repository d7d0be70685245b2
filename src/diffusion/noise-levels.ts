/**
 * One noise level, many names. A Gaussian perturbation x_t = α_t x₀ + σ_t ε is described equally by ᾱ_t
 * (= α_t² in the variance-preserving case), by the VE / EDM noise level σ = σ_t / α_t, by the signal-to-
 * noise ratio SNR = α_t² / σ_t² = 1 / σ² or by log-SNR λ = ln SNR; diffusers' σ-space samplers also map a
 * σ back to a (fractional) training timestep. This module converts between them and nothing else: it
 * holds no schedule of its own and draws no random numbers. Conversions are written in the form that stays
 * accurate at the ends (log1p, a stable sigmoid), because ᾱ reaches both 1 − 1e-4 and 0 in real schedules.
 */
import { ShapeError, UsageError } from '../util/errors.js';

/**
 * The marginal q(x_t | x₀) = N(alpha · x₀, sigma² I) (the α_t, σ_t of Kingma et al. 2021 and DPM-Solver).
 * For a discrete VP schedule alpha = √ᾱ_t and sigma = √(1 − ᾱ_t); for the VE / EDM view alpha = 1.
 */
export interface NoiseLevel {
  alpha: number;
  sigma: number;
}

/** The VP noise level at ᾱ: alpha = √ᾱ, sigma = √(1 − ᾱ). */
export function noiseLevelFromAlphaCumprod(alphaCumprod: number): NoiseLevel {
  checkAlphaCumprod(alphaCumprod);
  return { alpha: Math.sqrt(alphaCumprod), sigma: Math.sqrt(1 - alphaCumprod) };
}

/** The VE / EDM noise level x = x₀ + σ ε: alpha = 1, sigma = σ. */
export function noiseLevelFromSigma(sigma: number): NoiseLevel {
  checkSigma(sigma);
  return { alpha: 1, sigma };
}

/** The VE-equivalent σ = σ_t / α_t of any noise level (Karras et al. 2022, §2: x/α_t lives in σ-space). */
export function sigmaOf(level: NoiseLevel): number {
  return level.sigma / level.alpha;
}

/** SNR = α_t² / σ_t² (Kingma et al. 2021, eq. 3). */
export function snrOf(level: NoiseLevel): number {
  return (level.alpha * level.alpha) / (level.sigma * level.sigma);
}

/** λ = ln(α_t² / σ_t²), written as a difference of logs so that neither end overflows. */
export function logSnrOf(level: NoiseLevel): number {
  return 2 * (Math.log(level.alpha) - Math.log(level.sigma));
}

/** SNR(ᾱ) = ᾱ / (1 − ᾱ). */
export function snrFromAlphaCumprod(alphaCumprod: number): number {
  checkAlphaCumprod(alphaCumprod);
  return alphaCumprod / (1 - alphaCumprod);
}

/** λ(ᾱ) = ln ᾱ − ln(1 − ᾱ) (log1p keeps ᾱ near 0 accurate). */
export function logSnrFromAlphaCumprod(alphaCumprod: number): number {
  checkAlphaCumprod(alphaCumprod);
  return Math.log(alphaCumprod) - Math.log1p(-alphaCumprod);
}

/** ᾱ(λ) = sigmoid(λ), evaluated without overflow for either sign of λ. */
export function alphaCumprodFromLogSnr(logSnr: number): number {
  if (Number.isNaN(logSnr)) throw new UsageError('log-SNR is NaN');
  if (logSnr >= 0) return 1 / (1 + Math.exp(-logSnr));
  const e = Math.exp(logSnr);
  return e / (1 + e);
}

/** σ(ᾱ) = √((1 − ᾱ) / ᾱ): the noise level diffusers' Euler-family samplers use. */
export function sigmaFromAlphaCumprod(alphaCumprod: number): number {
  checkAlphaCumprod(alphaCumprod);
  return Math.sqrt((1 - alphaCumprod) / alphaCumprod);
}

/** ᾱ(σ) = 1 / (1 + σ²). */
export function alphaCumprodFromSigma(sigma: number): number {
  checkSigma(sigma);
  return 1 / (1 + sigma * sigma);
}

/** λ(σ) = −2 ln σ. */
export function logSnrFromSigma(sigma: number): number {
  checkSigma(sigma);
  return -2 * Math.log(sigma);
}

/** σ(λ) = exp(−λ / 2). */
export function sigmaFromLogSnr(logSnr: number): number {
  if (Number.isNaN(logSnr)) throw new UsageError('log-SNR is NaN');
  return Math.exp(-logSnr / 2);
}

/** β_t from ᾱ: β_0 = 1 − ᾱ_0 and β_t = 1 − ᾱ_t / ᾱ_{t−1} (the inverse of ᾱ_t = ∏ (1 − β_s)). */
export function betasFromAlphasCumprod(alphasCumprod: Float64Array): Float64Array {
  const betas = new Float64Array(alphasCumprod.length);
  let previous = 1;
  for (let i = 0; i < alphasCumprod.length; i++) {
    checkAlphaCumprod(alphasCumprod[i]);
    betas[i] = previous === 0 ? 1 : 1 - alphasCumprod[i] / previous;
    previous = alphasCumprod[i];
  }
  return betas;
}

/** σ_t = √((1 − ᾱ_t) / ᾱ_t) for every training timestep (ascending with t; ∞ where ᾱ_t = 0). */
export function sigmasFromAlphasCumprod(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => sigmaFromAlphaCumprod(a));
}

/** λ_t for every training timestep (descending with t; −∞ where ᾱ_t = 0). */
export function logSnrsFromAlphasCumprod(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => logSnrFromAlphaCumprod(a));
}

/**
 * The fractional training timestep whose σ is `sigma`, by linear interpolation in ln σ between the two
 * neighbouring training levels (diffusers' `_sigma_to_t`, which σ-space samplers use to condition the
 * network). `trainingSigmas` ascend with t (`sigmasFromAlphasCumprod`); σ outside their range is clamped
 * to the first or last timestep.
 */
export function timestepFromSigma(sigma: number, trainingSigmas: Float64Array): number {
  checkSigma(sigma);
  const count = trainingSigmas.length;
  if (count < 2) throw new ShapeError(`timestepFromSigma needs at least 2 training sigmas, got ${count}`);
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low = the last index whose log σ is ≤ log σ_query, kept within 0..count−2 so that high = low + 1 exists.
  let low = 0;
  for (let i = 0; i < count; i++) if (logSigma - Math.log(trainingSigmas[i]) >= 0) low = i;
  low = Math.min(low, count - 2);
  const lowLog = Math.log(trainingSigmas[low]);
  const highLog = Math.log(trainingSigmas[low + 1]);
  const weight = Math.min(1, Math.max(0, (lowLog - logSigma) / (lowLog - highLog)));
  return (1 - weight) * low + weight * (low + 1);
}

/**
 * σ at a (possibly fractional) training timestep: linear interpolation of `trainingSigmas` (ascending with
 * t), clamped at both ends, as diffusers' Euler-family `set_timesteps` does with `np.interp`.
 */
export function sigmaAtTimestep(timestep: number, trainingSigmas: Float64Array): number {
  const count = trainingSigmas.length;
  if (count === 0) throw new ShapeError('sigmaAtTimestep needs at least one training sigma');
  if (Number.isNaN(timestep)) throw new UsageError('timestep is NaN');
  if (timestep <= 0) return trainingSigmas[0];
  if (timestep >= count - 1) return trainingSigmas[count - 1];
  const low = Math.floor(timestep);
  const fraction = timestep - low;
  return trainingSigmas[low] + fraction * (trainingSigmas[low + 1] - trainingSigmas[low]);
}

function checkAlphaCumprod(alphaCumprod: number): void {
  if (!(alphaCumprod >= 0 && alphaCumprod <= 1)) {
    throw new UsageError(`alpha_cumprod must lie in [0, 1], got ${alphaCumprod}`);
  }
}

function checkSigma(sigma: number): void {
  if (!(sigma >= 0)) throw new UsageError(`noise level sigma must be ≥ 0, got ${sigma}`);
}
