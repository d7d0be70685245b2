/**
 * Sliced Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015) between two point sets in
 * low dimension (2-D toy data, short signals): both sets are projected onto seeded random unit
 * directions, and along each direction the 1-D Wasserstein distance is computed exactly from the sorted
 * projections (W_p between empirical measures is the L_p distance between their quantile functions).
 * SW_p = (mean over directions of W_p^p)^{1/p}. Sets may differ in size. This module must not run
 * networks or draw samples from models: it only takes points ([count, dim] row-major).
 */
import { UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { featureRows } from './fid.js';

/**
 * Exact W_p between the empirical measures of two 1-D samples: ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt, raised to
 * 1/p. The quantile functions are step functions with jumps at i/n and j/m, so the integral is a sum
 * over the merged breakpoints (for n = m, the mean of |a₍ᵢ₎ − b₍ᵢ₎|^p over sorted samples).
 */
export function wasserstein1d(a: ArrayLike<number>, b: ArrayLike<number>, p = 1): number {
  checkOrder(p);
  if (a.length === 0 || b.length === 0) throw new UsageError('wasserstein1d needs two non-empty samples');
  const x = Float64Array.from(a).sort();
  const y = Float64Array.from(b).sort();
  const n = x.length;
  const m = y.length;
  let i = 0;
  let j = 0;
  let t = 0;
  let total = 0;
  while (i < n && j < m) {
    // Next breakpoint of either quantile function; compare (i+1)/n with (j+1)/m in integers.
    const nextI = (i + 1) * m;
    const nextJ = (j + 1) * n;
    const next = Math.min(nextI, nextJ);
    total += ((next - t) / (n * m)) * Math.abs(x[i] - y[j]) ** p;
    t = next;
    if (nextI === next) i++;
    if (nextJ === next) j++;
  }
  return total ** (1 / p);
}

function checkOrder(p: number): void {
  if (!(p >= 1) || !Number.isFinite(p)) {
    throw new UsageError(`Wasserstein order p = ${p} must be a finite number ≥ 1`, {
      hint: 'use p = 1 or 2',
    });
  }
}

/** `count` directions uniform on the unit sphere in R^dim (normalised Gaussian vectors), [count, dim]. */
export function projectionDirections(count: number, dim: number, random: Random): Float64Array {
  if (!Number.isInteger(count) || count < 1) {
    throw new UsageError(`sliced Wasserstein: projections = ${count} must be a positive integer`);
  }
  const out = new Float64Array(count * dim);
  for (let k = 0; k < count; k++) {
    let norm: number;
    do {
      norm = 0;
      for (let d = 0; d < dim; d++) {
        const value = random.normal();
        out[k * dim + d] = value;
        norm += value * value;
      }
    } while (norm === 0);
    const scale = 1 / Math.sqrt(norm);
    for (let d = 0; d < dim; d++) out[k * dim + d] *= scale;
  }
  return out;
}

function projected(
  points: ArrayLike<number>,
  count: number,
  dim: number,
  directions: Float64Array,
  k: number,
): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += points[i * dim + d] * directions[k * dim + d];
    out[i] = dot;
  }
  return out;
}

export interface SlicedWassersteinOptions {
  /** Number of random directions (default 128). */
  projections?: number;
  /** Order p of the distance (default 1). */
  p?: number;
  /** Seed of the directions (default 0); ignored when `directions` is given. */
  seed?: number;
  /** Explicit unit directions [count, dim], e.g. from `projectionDirections`. */
  directions?: Float64Array;
}

/** SW_p(a, b) = (mean_u W_p(uᵀa, uᵀb)^p)^{1/p} over seeded random unit directions u. */
export function slicedWasserstein(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dim: number,
  options: SlicedWassersteinOptions = {},
): number {
  const p = options.p ?? 1;
  checkOrder(p);
  const nA = featureRows('slicedWasserstein', a, dim);
  const nB = featureRows('slicedWasserstein', b, dim);
  const directions =
    options.directions ??
    projectionDirections(options.projections ?? 128, dim, new Random(options.seed ?? 0));
  const count = featureRows('slicedWasserstein directions', directions, dim);
  let total = 0;
  for (let k = 0; k < count; k++) {
    total +=
      wasserstein1d(projected(a, nA, dim, directions, k), projected(b, nB, dim, directions, k), p) ** p;
  }
  return (total / count) ** (1 / p);
}
