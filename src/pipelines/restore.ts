/**
 * Denoising restoration with a diffusion model (the SDEdit/DDRM observation that y = x₀ + σ n, scaled by
 * √ᾱ_t, is distributed as the model's x_t exactly when √(1−ᾱ_t)/√ᾱ_t = σ): pick the training timestep
 * whose noise-to-signal ratio matches σ, start deterministic DDIM (η = 0) there from √ᾱ_t·y and run it to
 * the clean end along the sampler's timetable. σ may be given or estimated from the input itself with
 * Immerkær's Laplacian-difference operator (Immerkær 1996, "Fast noise variance estimation") and the
 * robust median-absolute-deviation scale of Donoho & Johnstone (1994): σ̂ = median|N ∗ y| / (0.6745·‖N‖).
 * This module holds no model and writes no file.
 */
import { ShapeError, UsageError } from '../util/errors.js';
import { checkInput, denoiseFrom, editTimetable, type EditInput, type EditSampler } from './img2img.js';

/** The training timestep whose σ_t = √((1−ᾱ_t)/ᾱ_t) is nearest to `sigma` (σ_t increases with t). */
export function timestepForSigma(alphasCumprod: Float64Array, sigma: number): number {
  let best = 0;
  let bestGap = Infinity;
  for (let t = 0; t < alphasCumprod.length; t++) {
    const gap = Math.abs(Math.sqrt((1 - alphasCumprod[t]) / alphasCumprod[t]) - sigma);
    if (gap < bestGap) {
      bestGap = gap;
      best = t;
    }
  }
  return best;
}

/** Immerkær's 3×3 operator: the difference of two Laplacians, blind to planes and linear ramps; ‖N‖₂ = 6. */
const IMMERKAER = [1, -2, 1, -2, 4, -2, 1, -2, 1];
const IMMERKAER_NORM = 6;
/** median|z| / 0.6745 estimates the standard deviation of a Gaussian z (Φ⁻¹(3/4) = 0.6745). */
const MAD_TO_SIGMA = 1 / 0.6745;

/**
 * σ̂ of additive Gaussian noise in images of shape [N, C, H, W], [C, H, W] or [H, W], pooled over all
 * planes: the median absolute response of Immerkær's operator at interior pixels, divided by 0.6745·6.
 */
export function estimateNoiseSigma(input: EditInput): number {
  checkInput(input, 'noise estimation input');
  const { shape, data } = input;
  if (shape.length < 2 || shape[shape.length - 1] < 3 || shape[shape.length - 2] < 3) {
    throw new ShapeError(
      `noise estimation needs images of at least 3×3 pixels ([…, H, W]), got shape [${shape.join(', ')}]`,
    );
  }
  const height = shape[shape.length - 2];
  const width = shape[shape.length - 1];
  const planes = data.length / (height * width);
  const responses: number[] = [];
  for (let p = 0; p < planes; p++) {
    const base = p * height * width;
    for (let y = 1; y < height - 1; y++) {
      for (let x = 1; x < width - 1; x++) {
        let r = 0;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++)
            r += IMMERKAER[i * 3 + j] * data[base + (y + i - 1) * width + x + j - 1];
        responses.push(Math.abs(r));
      }
    }
  }
  responses.sort((a, b) => a - b);
  const mid = responses.length >> 1;
  const median = responses.length % 2 === 1 ? responses[mid] : 0.5 * (responses[mid - 1] + responses[mid]);
  return (median * MAD_TO_SIGMA) / IMMERKAER_NORM;
}

export interface RestoreOptions {
  /** The noisy input y = x₀ + σ n, in the data range the model was trained on. */
  image: EditInput;
  /** The noise standard deviation; 'estimate' (default) uses `estimateNoiseSigma` (images only). */
  sigma?: number | 'estimate';
}

/** The noise σ the run assumes: the given one (checked) or the estimate. */
export function restorationSigma(options: RestoreOptions): number {
  const sigma = options.sigma ?? 'estimate';
  if (sigma === 'estimate') return estimateNoiseSigma(options.image);
  if (!(sigma >= 0 && Number.isFinite(sigma))) {
    throw new UsageError(`noise sigma must be a finite number ≥ 0, got ${sigma}`, {
      hint: "give the noise standard deviation in data units, or 'estimate'",
    });
  }
  return sigma;
}

/**
 * The restored batch: deterministic DDIM from timestep t(σ) on √ᾱ_t·y, then along the timetable entries
 * below t. σ = 0 (or a σ below the first training step's) returns the input unchanged.
 */
export async function restore(sampler: EditSampler, options: RestoreOptions): Promise<Float32Array> {
  const { image } = options;
  checkInput(image, 'restoration input');
  const sigma = restorationSigma(options);
  const run: EditSampler = { ...sampler, eta: 0 };
  const timetable = editTimetable(run);
  const { alphas } = timetable;
  const maxSigma = Math.sqrt((1 - alphas[alphas.length - 1]) / alphas[alphas.length - 1]);
  if (sigma > maxSigma) {
    throw new UsageError(`noise sigma ${sigma} exceeds the schedule's largest σ ${maxSigma.toFixed(3)}`, {
      hint: 'the input carries no usable signal at that level; sample unconditionally instead',
    });
  }
  const start = timestepForSigma(alphas, sigma);
  if (sigma === 0 || (start === 0 && sigma < Math.sqrt((1 - alphas[0]) / alphas[0]) / 2)) {
    return Float32Array.from(image.data);
  }
  const below = Array.from(timetable.timesteps).filter((t) => t < start);
  const timesteps = Float64Array.from([start, ...below]);
  const scale = Math.sqrt(alphas[start]);
  const x = Float64Array.from(image.data, (v) => scale * v);
  return Float32Array.from(await denoiseFrom(run, x, { ...timetable, timesteps }, 0));
}
