/**
 * The exact Gaussian-mixture oracle: for data x₀ ~ Σ_k π_k N(μ_k, diag(c_k)) and the noising
 * x_t = α·x₀ + σ·ε (a `NoiseLevel`: α = √ᾱ, σ = √(1−ᾱ) in VP form; α = 1 in VE/EDM form) the noisy
 * marginal is again a mixture, p_t = Σ_k π_k N(α·μ_k, diag(α²c_k + σ²)), so the optimal denoiser
 * E[x₀|x_t], the score ∇log p_t and log p_t itself are known in closed form. With it every sampler can be
 * tested with no training at all (its samples must match the mixture). It holds no sampler logic;
 * `mixtureModelFn` only converts the exact x₀ estimate into the output a diffusers-style network would
 * give. All arithmetic is float64; batches are flat arrays [batch, dim].
 */
import { ConfigError, ShapeError, UsageError, unknownChoice } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { convertPrediction } from './parameterization.js';
import type { FloatArray } from './forward.js';
import { noiseLevelFromAlphaCumprod, type NoiseLevel } from './noise-levels.js';
import type { ModelFn, PredictionType } from './samplers/types.js';

const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'sample', 'v_prediction'];

/** A Gaussian mixture with diagonal (or isotropic) component covariances. */
export interface GaussianMixture {
  /** Mixing weights π_k, positive; normalised on validation. */
  weights: readonly number[];
  /** Component means μ_k, each of length `dim`. */
  means: readonly (readonly number[])[];
  /**
   * Component covariances: one number per component (isotropic variance c_k·I) or one array of
   * `dim` per-coordinate variances (diagonal). Variances, not standard deviations.
   */
  variances: readonly (number | readonly number[])[];
}

/** A mixture after validation: weights normalised, covariances expanded to per-coordinate variances. */
export interface MixtureParams {
  dim: number;
  logWeights: Float64Array;
  /** [components, dim] */
  means: Float64Array;
  /** [components, dim] per-coordinate variances */
  variances: Float64Array;
}

/** Validates a mixture and returns it in the form the formulas use; names the bad field on failure. */
export function mixtureParams(mixture: GaussianMixture): MixtureParams {
  const count = mixture.weights.length;
  if (count === 0) throw new ConfigError('Gaussian mixture needs at least one component');
  if (mixture.means.length !== count || mixture.variances.length !== count) {
    throw new ConfigError(
      `Gaussian mixture has ${count} weights, ${mixture.means.length} means and ${mixture.variances.length} variances`,
      { hint: 'give one mean and one variance per weight' },
    );
  }
  const dim = mixture.means[0].length;
  if (dim === 0) throw new ConfigError('Gaussian mixture means must have at least one coordinate');
  const total = mixture.weights.reduce((sum, w) => sum + w, 0);
  if (!mixture.weights.every((w) => Number.isFinite(w) && w > 0)) {
    throw new ConfigError(`Gaussian mixture weights must be positive and finite, got [${mixture.weights}]`);
  }
  const params: MixtureParams = {
    dim,
    logWeights: Float64Array.from(mixture.weights, (w) => Math.log(w / total)),
    means: new Float64Array(count * dim),
    variances: new Float64Array(count * dim),
  };
  for (let k = 0; k < count; k++) {
    const mean = mixture.means[k];
    if (mean.length !== dim || !mean.every(Number.isFinite)) {
      throw new ConfigError(`Gaussian mixture mean ${k} must hold ${dim} finite numbers`);
    }
    const variance = mixture.variances[k];
    const perCoordinate = typeof variance === 'number' ? new Array<number>(dim).fill(variance) : variance;
    if (perCoordinate.length !== dim || !perCoordinate.every((v) => Number.isFinite(v) && v > 0)) {
      throw new ConfigError(
        `Gaussian mixture variance ${k} must be a positive number or ${dim} positive numbers`,
        { hint: 'variances are σ², not σ; use a tiny positive value for a near-point mass' },
      );
    }
    params.means.set(mean, k * dim);
    params.variances.set(perCoordinate, k * dim);
  }
  return params;
}

function componentCount(params: MixtureParams): number {
  return params.logWeights.length;
}

function checkFloatArray(params: MixtureParams, x: FloatArray): number {
  if (x.length % params.dim !== 0) {
    throw new ShapeError(
      `batch of ${x.length} values is not a whole number of ${params.dim}-dimensional points`,
    );
  }
  return x.length / params.dim;
}

function checkLevel(level: NoiseLevel): void {
  if (
    !(level.alpha >= 0) ||
    !(level.sigma >= 0) ||
    !Number.isFinite(level.alpha) ||
    !Number.isFinite(level.sigma)
  ) {
    throw new UsageError(
      `noise level needs finite alpha ≥ 0 and sigma ≥ 0, got ${level.alpha}, ${level.sigma}`,
    );
  }
}

/**
 * Posterior component log-probabilities log p(k | x_t) for one point (into `out`), and log p_t(x_t).
 * x_t | k ~ N(α·μ_k, diag(α²c_k + σ²)), so log p(k|x_t) ∝ log π_k + log N(x_t; α·μ_k, α²c_k + σ²).
 */
function componentPosterior(
  params: MixtureParams,
  level: NoiseLevel,
  x: FloatArray,
  offset: number,
  out: Float64Array,
): number {
  const { dim } = params;
  const a = level.alpha;
  const s2 = level.sigma * level.sigma;
  let max = -Infinity;
  for (let k = 0; k < out.length; k++) {
    let logDensity = params.logWeights[k] - 0.5 * dim * Math.log(2 * Math.PI);
    for (let d = 0; d < dim; d++) {
      const variance = a * a * params.variances[k * dim + d] + s2;
      const diff = x[offset + d] - a * params.means[k * dim + d];
      logDensity -= 0.5 * (Math.log(variance) + (diff * diff) / variance);
    }
    out[k] = logDensity;
    if (logDensity > max) max = logDensity;
  }
  let sum = 0;
  for (let k = 0; k < out.length; k++) sum += Math.exp(out[k] - max);
  const logMarginal = max + Math.log(sum);
  for (let k = 0; k < out.length; k++) out[k] -= logMarginal;
  return logMarginal;
}

/** log p_t(x) for each point of the batch: the exact log-density of the noisy marginal. */
export function mixtureLogDensity(params: MixtureParams, x: FloatArray, level: NoiseLevel): Float64Array {
  checkLevel(level);
  const batch = checkFloatArray(params, x);
  const logPosterior = new Float64Array(componentCount(params));
  const out = new Float64Array(batch);
  for (let b = 0; b < batch; b++) out[b] = componentPosterior(params, level, x, b * params.dim, logPosterior);
  return out;
}

/**
 * The exact denoiser E[x₀ | x_t] = Σ_k p(k|x_t)·(μ_k + α·c_k/(α²c_k + σ²)·(x_t − α·μ_k)), the Gaussian
 * conditional mean within each component weighted by the component posterior.
 */
export function mixtureDenoise(params: MixtureParams, x: FloatArray, level: NoiseLevel): Float64Array {
  checkLevel(level);
  const batch = checkFloatArray(params, x);
  const { dim } = params;
  const a = level.alpha;
  const s2 = level.sigma * level.sigma;
  const logPosterior = new Float64Array(componentCount(params));
  const out = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) {
    const offset = b * dim;
    componentPosterior(params, level, x, offset, logPosterior);
    for (let k = 0; k < logPosterior.length; k++) {
      const weight = Math.exp(logPosterior[k]);
      for (let d = 0; d < dim; d++) {
        const c = params.variances[k * dim + d];
        const mean = params.means[k * dim + d];
        const gain = (a * c) / (a * a * c + s2);
        out[offset + d] += weight * (mean + gain * (x[offset + d] - a * mean));
      }
    }
  }
  return out;
}

/** The exact score ∇ₓ log p_t(x) = Σ_k p(k|x)·(α·μ_k − x)/(α²c_k + σ²). */
export function mixtureScore(params: MixtureParams, x: FloatArray, level: NoiseLevel): Float64Array {
  checkLevel(level);
  const batch = checkFloatArray(params, x);
  const { dim } = params;
  const a = level.alpha;
  const s2 = level.sigma * level.sigma;
  const logPosterior = new Float64Array(componentCount(params));
  const out = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) {
    const offset = b * dim;
    componentPosterior(params, level, x, offset, logPosterior);
    for (let k = 0; k < logPosterior.length; k++) {
      const weight = Math.exp(logPosterior[k]);
      for (let d = 0; d < dim; d++) {
        const variance = a * a * params.variances[k * dim + d] + s2;
        out[offset + d] += (weight * (a * params.means[k * dim + d] - x[offset + d])) / variance;
      }
    }
  }
  return out;
}

/** `count` exact draws x₀ from the mixture, flat [count, dim]. */
export function sampleMixture(params: MixtureParams, count: number, random: Random): Float64Array {
  const { dim } = params;
  const cumulative = new Float64Array(componentCount(params));
  let total = 0;
  params.logWeights.forEach((logWeight, k) => (cumulative[k] = total += Math.exp(logWeight)));
  const out = new Float64Array(count * dim);
  for (let i = 0; i < count; i++) {
    const u = random.uniform() * total;
    let k = 0;
    while (k < cumulative.length - 1 && u >= cumulative[k]) k++;
    for (let d = 0; d < dim; d++) {
      out[i * dim + d] =
        params.means[k * dim + d] + Math.sqrt(params.variances[k * dim + d]) * random.normal();
    }
  }
  return out;
}

/**
 * ᾱ at a possibly fractional diffusers timestep. Integer t reads the table; fractional t interpolates
 * log σ linearly between the neighbouring integer steps (σ = √((1−ᾱ)/ᾱ)), the inverse of diffusers'
 * `_sigma_to_t`, so σ-space samplers that call the model at fractional timesteps see the σ they meant.
 */
export function alphaCumprodAt(alphasCumprod: Float64Array, timestep: number): number {
  const last = alphasCumprod.length - 1;
  if (!(timestep >= 0 && timestep <= last)) {
    throw new UsageError(`timestep ${timestep} is outside the schedule's range [0, ${last}]`);
  }
  const low = Math.floor(timestep);
  const fraction = timestep - low;
  if (fraction === 0) return alphasCumprod[low];
  const logSigma = (ab: number) => 0.5 * Math.log((1 - ab) / ab);
  const interpolated =
    (1 - fraction) * logSigma(alphasCumprod[low]) + fraction * logSigma(alphasCumprod[low + 1]);
  return 1 / (1 + Math.exp(2 * interpolated));
}

/** The VP noise level x_t = √ᾱ·x₀ + √(1−ᾱ)·ε of a diffusers timestep. */
export function discreteNoiseLevel(alphasCumprod: Float64Array, timestep: number): NoiseLevel {
  return noiseLevelFromAlphaCumprod(alphaCumprodAt(alphasCumprod, timestep));
}

export interface MixtureModelOptions {
  /** ᾱ_t for t = 0..T−1, as `alphasCumprod(betaSchedule(config))` builds it. */
  alphasCumprod: Float64Array;
  /** What the wrapped "network" outputs: ε, x₀ ('sample') or v. */
  predictionType: PredictionType;
}

/**
 * The oracle as a trained network would look to a sampler: given the scaled model input
 * x_t = √ᾱ·x₀ + √(1−ᾱ)·ε at `timestep`, it returns the exact x₀ estimate converted to the requested
 * parameterisation (ε̂ = (x_t − √ᾱ·x̂₀)/√(1−ᾱ), v̂ = √ᾱ·ε̂ − √(1−ᾱ)·x̂₀).
 */
export function mixtureModelFn(params: MixtureParams, options: MixtureModelOptions): ModelFn {
  const { alphasCumprod, predictionType } = options;
  if (!PREDICTION_TYPES.includes(predictionType))
    throw unknownChoice('prediction type', predictionType, PREDICTION_TYPES);
  return async (input, timestep) => {
    const level = discreteNoiseLevel(alphasCumprod, timestep);
    const x0 = Float32Array.from(mixtureDenoise(params, input, level));
    return convertPrediction(x0, input, 'sample', predictionType, level);
  };
}

/** The exact score as a function of SDE time, for the score-SDE samplers and the likelihood. */
export function mixtureScoreFn(
  params: MixtureParams,
  levelAt: (t: number) => NoiseLevel,
): (x: Float64Array, t: number) => Promise<Float64Array> {
  return async (x, t) => mixtureScore(params, x, levelAt(t));
}
