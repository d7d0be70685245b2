/**
 * Improved precision and recall for generative models (Kynkäänniemi et al. 2019). Each set's manifold
 * is estimated as the union of hyperspheres centred on its feature vectors, each with the radius to its
 * k-th nearest neighbour within the same set (eq. 1–2). Precision is the fraction of generated vectors
 * inside the real manifold (how realistic the samples are); recall is the fraction of real vectors
 * inside the generated manifold (how much of the data the samples cover). Exact pairwise distances in
 * float64, O(n·m·dim): meant for a few thousand vectors. This module must not run networks: it only
 * takes feature numbers ([count, dim] row-major).
 */
import { UsageError } from '../util/errors.js';
import { squaredDistance } from './distance.js';
import { featureRows } from './fid.js';

export interface PrecisionRecallOptions {
  /** Which neighbour sets the radius (the paper uses k = 3). */
  k?: number;
}

export interface PrecisionRecall {
  precision: number;
  recall: number;
}

/** Squared distance from each vector to its k-th nearest other vector of the same set. */
export function kthNeighbourRadii(features: ArrayLike<number>, dim: number, k: number): Float64Array {
  const n = featureRows('kthNeighbourRadii', features, dim);
  if (!Number.isInteger(k) || k < 1 || k >= n) {
    throw new UsageError(`precision/recall: k = ${k} must be an integer in 1..${n - 1} for a set of ${n}`, {
      hint: 'use k = 3 with more than 3 vectors',
    });
  }
  const radii = new Float64Array(n);
  const distances = new Float64Array(n - 1);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) if (j !== i) distances[c++] = squaredDistance(features, i, features, j, dim);
    distances.sort();
    radii[i] = distances[k - 1];
  }
  return radii;
}

/** Fraction of `queries` that fall inside at least one hypersphere of the manifold (eq. 1: f(φ, Φ)). */
export function manifoldCoverage(
  manifold: ArrayLike<number>,
  radii: Float64Array,
  queries: ArrayLike<number>,
  dim: number,
): number {
  const n = featureRows('manifoldCoverage', manifold, dim);
  const m = featureRows('manifoldCoverage', queries, dim);
  let inside = 0;
  for (let q = 0; q < m; q++) {
    for (let i = 0; i < n; i++) {
      if (squaredDistance(queries, q, manifold, i, dim) <= radii[i]) {
        inside++;
        break;
      }
    }
  }
  return inside / m;
}

/** Precision (generated inside real manifold) and recall (real inside generated manifold), eq. 3–4. */
export function precisionRecall(
  real: ArrayLike<number>,
  generated: ArrayLike<number>,
  dim: number,
  options: PrecisionRecallOptions = {},
): PrecisionRecall {
  const k = options.k ?? 3;
  const realRadii = kthNeighbourRadii(real, dim, k);
  const generatedRadii = kthNeighbourRadii(generated, dim, k);
  return {
    precision: manifoldCoverage(real, realRadii, generated, dim),
    recall: manifoldCoverage(generated, generatedRadii, real, dim),
  };
}
