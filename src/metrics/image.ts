/**
 * Image quality against a reference: PSNR (peak signal-to-noise ratio, 10·log₁₀(L²/MSE) for data range L)
 * and SSIM (structural similarity, Wang et al. 2004, with their 11×11 Gaussian window of σ = 1.5 and
 * K₁ = 0.01, K₂ = 0.03, averaged over every window that fits inside the image, every channel and every
 * image). Inputs are flat tensors of one shape, [N, C, H, W], [C, H, W] or [H, W], in the stated range
 * (default [−1, 1], so L = 2). Pure arithmetic on arrays; nothing here reads files or calls a model.
 */
import { ShapeError, UsageError } from '../util/errors.js';

/** Mean squared difference of two equally long arrays. */
export function meanSquaredError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) {
    throw new ShapeError(
      `cannot compare ${a.length} values with ${b.length}; give two equally shaped images`,
    );
  }
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum / a.length;
}

function checkRange(range: number): number {
  if (!(range > 0 && Number.isFinite(range))) {
    throw new UsageError(`data range must be a positive number, got ${range}`, {
      hint: 'use 2 for values in [−1, 1], 1 for [0, 1], 255 for bytes',
    });
  }
  return range;
}

/** PSNR in dB: 10·log₁₀(range² / MSE); +∞ for identical images. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, range = 2): number {
  const mse = meanSquaredError(a, b);
  return 10 * Math.log10(checkRange(range) ** 2 / mse);
}

const SSIM_WINDOW = 11;
const SSIM_SIGMA = 1.5;

/** The normalised 1-D Gaussian window; the 2-D window is its outer product (it is separable). */
function gaussianWindow(): Float64Array {
  const half = (SSIM_WINDOW - 1) / 2;
  const w = Float64Array.from({ length: SSIM_WINDOW }, (_, i) =>
    Math.exp(-((i - half) ** 2) / (2 * SSIM_SIGMA ** 2)),
  );
  const total = w.reduce((s, v) => s + v, 0);
  return w.map((v) => v / total);
}

/** Mean SSIM of one H×W plane pair over the windows that fit (Wang et al. 2004, eq. 13). */
function planeSsim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  offset: number,
  height: number,
  width: number,
  range: number,
): number {
  const w = gaussianWindow();
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  let total = 0;
  let count = 0;
  for (let y = 0; y + SSIM_WINDOW <= height; y++) {
    for (let x = 0; x + SSIM_WINDOW <= width; x++) {
      let ma = 0,
        mb = 0,
        aa = 0,
        bb = 0,
        ab = 0;
      for (let i = 0; i < SSIM_WINDOW; i++) {
        for (let j = 0; j < SSIM_WINDOW; j++) {
          const weight = w[i] * w[j];
          const k = offset + (y + i) * width + x + j;
          const va = a[k];
          const vb = b[k];
          ma += weight * va;
          mb += weight * vb;
          aa += weight * va * va;
          bb += weight * vb * vb;
          ab += weight * va * vb;
        }
      }
      const varA = aa - ma * ma;
      const varB = bb - mb * mb;
      const cov = ab - ma * mb;
      total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (varA + varB + c2));
      count++;
    }
  }
  return total / count;
}

/** Mean SSIM of two images of `shape` ([N, C, H, W], [C, H, W] or [H, W]); each side must be ≥ 11. */
export function ssim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  shape: readonly number[],
  range = 2,
): number {
  checkRange(range);
  const size = shape.reduce((p, d) => p * d, 1);
  if (shape.length < 2 || shape.length > 4 || a.length !== size || b.length !== size) {
    throw new ShapeError(
      `SSIM needs two images of shape [N, C, H, W], [C, H, W] or [H, W]; got shape [${shape.join(', ')}] for ${a.length} and ${b.length} values`,
    );
  }
  const height = shape[shape.length - 2];
  const width = shape[shape.length - 1];
  if (height < SSIM_WINDOW || width < SSIM_WINDOW) {
    throw new ShapeError(
      `SSIM needs images of at least ${SSIM_WINDOW}×${SSIM_WINDOW} pixels, got ${height}×${width}`,
    );
  }
  const planes = size / (height * width);
  let sum = 0;
  for (let p = 0; p < planes; p++) sum += planeSsim(a, b, p * height * width, height, width, range);
  return sum / planes;
}
