/**
 * Maximum mean discrepancy (Gretton et al. 2012) with Gaussian kernels, for comparing generated and
 * real point sets in low dimension (2-D toy data, short signals). The kernel is a sum of Gaussians
 * k(x, y) = Σ_σ exp(−‖x − y‖² / (2σ²)) over the given bandwidths (default: the median pairwise distance
 * of the pooled sets, the usual heuristic). Both the unbiased estimate MMD²_u (eq. 3) and the biased
 * V-statistic MMD²_b (eq. 5, never negative, exactly 0 for identical sets) are available. This module
 * must not run networks: it only takes points ([count, dim] row-major).
 */
import { UsageError } from '../util/errors.js';
import { squaredDistance } from './distance.js';
import { featureRows } from './fid.js';

export interface MmdOptions {
  /** Gaussian bandwidths σ; the kernel is the sum over them. Default: [median pairwise distance]. */
  bandwidths?: readonly number[];
  /** The unbiased U-statistic (default true) or the biased V-statistic. */
  unbiased?: boolean;
}

/** The median of all pairwise distances within the pooled set (a and b together). */
export function medianDistance(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number {
  const pooled = Float64Array.from([...Array.from(a), ...Array.from(b)]);
  const n = featureRows('medianDistance', pooled, dim);
  const distances: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) distances.push(Math.sqrt(squaredDistance(pooled, i, pooled, j, dim)));
  if (distances.length === 0) throw new UsageError('the median heuristic needs at least 2 points in all');
  distances.sort((x, y) => x - y);
  const middle = distances.length >> 1;
  return distances.length % 2 ? distances[middle] : 0.5 * (distances[middle - 1] + distances[middle]);
}

/**
 * MMD² between two point sets: mean k(x, x′) + mean k(y, y′) − 2 mean k(x, y); the unbiased form drops
 * the i = j terms of the within-set means (dividing by n(n−1)), the biased one keeps them (n²).
 */
export function mmdSquared(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dim: number,
  options: MmdOptions = {},
): number {
  const n = featureRows('mmd', a, dim);
  const m = featureRows('mmd', b, dim);
  const unbiased = options.unbiased ?? true;
  if (unbiased && (n < 2 || m < 2))
    throw new UsageError('the unbiased MMD needs at least 2 points in each set');
  const bandwidths = options.bandwidths ?? [medianDistance(a, b, dim)];
  if (bandwidths.length === 0 || !bandwidths.every((s) => Number.isFinite(s) && s > 0)) {
    throw new UsageError(`MMD bandwidths [${bandwidths.join(', ')}] must be positive numbers`, {
      hint: 'pass bandwidths on the scale of the distances between points',
    });
  }
  const kernel = (d2: number) => bandwidths.reduce((sum, s) => sum + Math.exp(-d2 / (2 * s * s)), 0);
  const within = (x: ArrayLike<number>, count: number) => {
    let sum = 0;
    for (let i = 0; i < count; i++)
      for (let j = 0; j < count; j++)
        if (!unbiased || i !== j) sum += kernel(squaredDistance(x, i, x, j, dim));
    return sum / (unbiased ? count * (count - 1) : count * count);
  };
  let cross = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) cross += kernel(squaredDistance(a, i, b, j, dim));
  return within(a, n) + within(b, m) - (2 * cross) / (n * m);
}
