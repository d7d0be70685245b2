/**
 * What a denoiser predicts, and how to turn one prediction into another. Given x_t = α x₀ + σ ε (a
 * `NoiseLevel`), a network output in any of the four parameterisations — ε (noise), x₀ (diffusers'
 * "sample"), v = α ε − σ x₀ (Salimans & Ho 2022) or the score ∇ log p(x_t) = −ε / σ — determines the other
 * three, each an affine function of (x_t, output). Also EDM's preconditioning (Karras et al. 2022,
 * Table 1), which wraps a raw network F into a denoiser D(x; σ) = c_skip x + c_out F(c_in x; c_noise).
 * Pure arithmetic on given arrays: no model is called here and no schedule is built here.
 */
import { NumericError, UsageError, unknownChoice } from '../util/errors.js';
import { combinePerExample, type FloatArray } from './forward.js';
import type { NoiseLevel } from './noise-levels.js';
import type { PredictionType } from './samplers/types.js';

/** diffusers' `prediction_type` values plus the score of Song et al. 2021. */
export type PredictionKind = PredictionType | 'score';
export const PREDICTION_KINDS: readonly PredictionKind[] = ['epsilon', 'sample', 'v_prediction', 'score'];

/** output = sample · x_t + prediction · (network output): every conversion has this form. */
export interface AffineCoefficients {
  sample: number;
  prediction: number;
}

/**
 * x₀ as an affine function of (x_t, prediction) at one noise level:
 *   ε:     x₀ = (x_t − σ ε) / α
 *   x₀:    x₀ = x₀
 *   v:     x₀ = (α x_t − σ v) / (α² + σ²)        (= α x_t − σ v when α² + σ² = 1)
 *   score: x₀ = (x_t + σ² s) / α                  (Tweedie's formula)
 */
function toSampleCoefficients(kind: PredictionKind, { alpha, sigma }: NoiseLevel): AffineCoefficients {
  switch (kind) {
    case 'epsilon':
      return { sample: 1 / alpha, prediction: -sigma / alpha };
    case 'sample':
      return { sample: 0, prediction: 1 };
    case 'v_prediction': {
      const norm = alpha * alpha + sigma * sigma;
      return { sample: alpha / norm, prediction: -sigma / norm };
    }
    case 'score':
      return { sample: 1 / alpha, prediction: (sigma * sigma) / alpha };
    default:
      throw unknownChoice('prediction type', String(kind), PREDICTION_KINDS);
  }
}

/**
 * A prediction of `kind` as an affine function of (x_t, x₀) at one noise level:
 *   ε = (x_t − α x₀) / σ,   v = α ε − σ x₀ = (α x_t − (α² + σ²) x₀) / σ,   score = −ε / σ.
 */
function fromSampleCoefficients(kind: PredictionKind, { alpha, sigma }: NoiseLevel): AffineCoefficients {
  switch (kind) {
    case 'epsilon':
      return { sample: 1 / sigma, prediction: -alpha / sigma };
    case 'sample':
      return { sample: 0, prediction: 1 };
    case 'v_prediction':
      return { sample: alpha / sigma, prediction: -(alpha * alpha + sigma * sigma) / sigma };
    case 'score':
      return { sample: -1 / (sigma * sigma), prediction: alpha / (sigma * sigma) };
    default:
      throw unknownChoice('prediction type', String(kind), PREDICTION_KINDS);
  }
}

/**
 * The coefficients of `to = sample · x_t + prediction · from` at one noise level: `from` is first mapped
 * to x₀, then x₀ to `to`. Throws a NumericError where the conversion does not exist at this level (ε → x₀
 * needs α > 0, x₀ → ε needs σ > 0), instead of returning infinities.
 */
export function conversionCoefficients(
  from: PredictionKind,
  to: PredictionKind,
  level: NoiseLevel,
): AffineCoefficients {
  checkLevel(level);
  if (from === to) return { sample: 0, prediction: 1 };
  const toX0 = toSampleCoefficients(from, level);
  const fromX0 = fromSampleCoefficients(to, level);
  const coefficients = {
    sample: fromX0.sample + fromX0.prediction * toX0.sample,
    prediction: fromX0.prediction * toX0.prediction,
  };
  if (!Number.isFinite(coefficients.sample) || !Number.isFinite(coefficients.prediction)) {
    throw new NumericError(
      `cannot convert a ${from} prediction to ${to} at alpha=${level.alpha}, sigma=${level.sigma}`,
      {
        hint: 'the conversion divides by zero at this noise level; use a level with alpha > 0 and sigma > 0',
      },
    );
  }
  return coefficients;
}

/**
 * Converts a network output from one parameterisation to another, given the noisy input `sample` (x_t)
 * and its noise level — one level for the whole batch, or one per batch element.
 */
export function convertPrediction<T extends FloatArray>(
  prediction: T,
  sample: FloatArray,
  from: PredictionKind,
  to: PredictionKind,
  levels: NoiseLevel | readonly NoiseLevel[],
): T {
  const perExample = Array.isArray(levels) ? (levels as readonly NoiseLevel[]) : [levels as NoiseLevel];
  const coefficients = perExample.map((level) => conversionCoefficients(from, to, level));
  return combinePerExample(
    prediction,
    sample,
    coefficients.map((c) => c.prediction),
    coefficients.map((c) => c.sample),
  );
}

/** EDM's scalings at one σ (Karras et al. 2022, Table 1, "Ours"). */
export interface EdmPreconditioning {
  /** c_skip = σ_data² / (σ² + σ_data²): how much of the noisy input passes straight through. */
  cSkip: number;
  /** c_out = σ σ_data / √(σ² + σ_data²): scale of the network output, so the effective target has unit variance. */
  cOut: number;
  /** c_in = 1 / √(σ² + σ_data²): scale of the network input, so it has unit variance. */
  cIn: number;
  /** c_noise = ln(σ) / 4: the noise conditioning the network sees. */
  cNoise: number;
}

/**
 * EDM preconditioning at noise level σ for data of standard deviation σ_data (0.5 for images in
 * [−1, 1], the paper's default).
 */
export function edmPreconditioning(sigma: number, sigmaData = 0.5): EdmPreconditioning {
  if (!(sigma > 0 && Number.isFinite(sigma))) {
    throw new UsageError(`EDM preconditioning needs a finite sigma > 0, got ${sigma}`);
  }
  if (!(sigmaData > 0 && Number.isFinite(sigmaData))) {
    throw new UsageError(`EDM sigma_data must be a finite positive number, got ${sigmaData}`);
  }
  const total = sigma * sigma + sigmaData * sigmaData;
  return {
    cSkip: (sigmaData * sigmaData) / total,
    cOut: (sigma * sigmaData) / Math.sqrt(total),
    cIn: 1 / Math.sqrt(total),
    cNoise: Math.log(sigma) / 4,
  };
}

/**
 * The EDM denoiser D(x; σ) = c_skip(σ) x + c_out(σ) F (Karras et al. 2022, eq. 7), from the raw network
 * output F (computed on c_in · x with c_noise) and the noisy input x; one σ for the batch or one per
 * element. D is an x₀ prediction in σ-space (alpha = 1).
 */
export function edmDenoised<T extends FloatArray>(
  networkOutput: T,
  noisy: FloatArray,
  sigmas: number | readonly number[],
  sigmaData = 0.5,
): T {
  const perExample = typeof sigmas === 'number' ? [sigmas] : sigmas;
  const scalings = perExample.map((sigma) => edmPreconditioning(sigma, sigmaData));
  return combinePerExample(
    networkOutput,
    noisy,
    scalings.map((s) => s.cOut),
    scalings.map((s) => s.cSkip),
  );
}

function checkLevel({ alpha, sigma }: NoiseLevel): void {
  if (!(alpha >= 0 && sigma >= 0 && Number.isFinite(alpha) && Number.isFinite(sigma))) {
    throw new UsageError(
      `noise level needs finite alpha ≥ 0 and sigma ≥ 0, got alpha=${alpha}, sigma=${sigma}`,
    );
  }
}
