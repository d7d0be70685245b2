/**
 * Fréchet Inception Distance (Heusel et al. 2017) and Kernel Inception Distance (Bińkowski et al. 2018)
 * on feature vectors that some network has already computed (for MNIST, the penultimate layer of
 * `classifier.ts`). FID fits a Gaussian to each set and takes the Fréchet (2-Wasserstein) distance
 * between them; KID is the unbiased MMD² with the cubic polynomial kernel, averaged over random subsets.
 * All arithmetic is float64; the matrix square root comes from a cyclic Jacobi eigen-decomposition of a
 * symmetric matrix, so no complex parts arise and none need discarding (as scipy's sqrtm forces
 * pytorch-fid to). Feature sets are flat row-major arrays [count, dim]. This module must not run
 * networks: it only takes numbers.
 */
import { ShapeError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';

/** A Gaussian fitted to features: mean [dim] and covariance [dim, dim] (row-major). */
export interface GaussianStatistics {
  dim: number;
  mean: Float64Array;
  covariance: Float64Array;
}

/** Number of rows of a flat [count, dim] feature array; a ShapeError when it does not split evenly. */
export function featureRows(name: string, features: ArrayLike<number>, dim: number): number {
  if (!Number.isInteger(dim) || dim < 1)
    throw new ShapeError(`${name}: feature dimension ${dim} must be ≥ 1`);
  if (features.length === 0 || features.length % dim !== 0) {
    throw new ShapeError(
      `${name}: ${features.length} values do not split into feature vectors of length ${dim}`,
    );
  }
  return features.length / dim;
}

/** Sample mean and unbiased (n − 1) covariance, as numpy's `np.cov(rowvar=False)` that pytorch-fid uses. */
export function gaussianStatistics(features: ArrayLike<number>, dim: number): GaussianStatistics {
  const n = featureRows('gaussianStatistics', features, dim);
  if (n < 2) throw new ShapeError('gaussianStatistics needs at least 2 feature vectors for a covariance');
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  const covariance = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) centred[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ca = centred[a];
      for (let b = a; b < dim; b++) covariance[a * dim + b] += ca * centred[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const value = covariance[a * dim + b] / (n - 1);
      covariance[a * dim + b] = value;
      covariance[b * dim + a] = value;
    }
  }
  return { dim, mean, covariance };
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix [n, n] by cyclic Jacobi rotations (Golub & Van
 * Loan §8.5): returns `values` [n] and `vectors` [n, n] with eigenvector k in column k.
 */
export function symmetricEigen(
  matrix: ArrayLike<number>,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const scale = a.reduce((s, x) => s + x * x, 0);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) rotate(a, v, n, p, q);
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

/** One Jacobi rotation zeroing a[p][q] (the numerically stable tangent of Golub & Van Loan Alg. 8.5.1). */
function rotate(a: Float64Array, v: Float64Array, n: number, p: number, q: number): void {
  const apq = a[p * n + q];
  if (apq === 0) return;
  const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
  const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  for (let k = 0; k < n; k++) {
    // Columns p and q, then rows p and q: A ← Jᵀ A J.
    const akp = a[k * n + p];
    const akq = a[k * n + q];
    a[k * n + p] = c * akp - s * akq;
    a[k * n + q] = s * akp + c * akq;
  }
  for (let k = 0; k < n; k++) {
    const apk = a[p * n + k];
    const aqk = a[q * n + k];
    a[p * n + k] = c * apk - s * aqk;
    a[q * n + k] = s * apk + c * aqk;
  }
  for (let k = 0; k < n; k++) {
    const vkp = v[k * n + p];
    const vkq = v[k * n + q];
    v[k * n + p] = c * vkp - s * vkq;
    v[k * n + q] = s * vkp + c * vkq;
  }
}

/** The symmetric positive semi-definite square root V·diag(√max(λ, 0))·Vᵀ of a symmetric matrix. */
export function symmetricSqrt(matrix: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const root = Math.sqrt(Math.max(values[k], 0));
    if (root === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k] * root;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * vectors[j * n + k];
    }
  }
  return out;
}

function matmulSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  }
  return out;
}

/**
 * The Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂):
 * d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}), with Tr (Σ₁Σ₂)^{1/2} = Tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}
 * (the two matrices are similar), whose argument is symmetric PSD: the sum of √ of its eigenvalues.
 */
export function frechetDistance(a: GaussianStatistics, b: GaussianStatistics): number {
  if (a.dim !== b.dim) throw new ShapeError(`frechetDistance: dimensions ${a.dim} and ${b.dim} differ`);
  const n = a.dim;
  let meanTerm = 0;
  for (let i = 0; i < n; i++) meanTerm += (a.mean[i] - b.mean[i]) ** 2;
  let traces = 0;
  for (let i = 0; i < n; i++) traces += a.covariance[i * n + i] + b.covariance[i * n + i];
  const rootA = symmetricSqrt(a.covariance, n);
  const inner = matmulSquare(matmulSquare(rootA, b.covariance, n), rootA, n);
  // Symmetrise away rounding so Jacobi sees an exactly symmetric matrix.
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const s = 0.5 * (inner[i * n + j] + inner[j * n + i]);
      inner[i * n + j] = s;
      inner[j * n + i] = s;
    }
  const { values } = symmetricEigen(inner, n);
  const traceRoot = values.reduce((sum, lambda) => sum + Math.sqrt(Math.max(lambda, 0)), 0);
  // Rounding can push identical statistics a hair below zero; a distance is never negative.
  return Math.max(meanTerm + traces - 2 * traceRoot, 0);
}

/** FID between two feature sets [countA, dim] and [countB, dim]. */
export function fid(featuresA: ArrayLike<number>, featuresB: ArrayLike<number>, dim: number): number {
  return frechetDistance(gaussianStatistics(featuresA, dim), gaussianStatistics(featuresB, dim));
}

export interface KidOptions {
  /** Number of random subsets averaged (torch-fidelity's default 100). */
  subsets?: number;
  /** Vectors per subset from each set; capped at the smaller set's size (torch-fidelity's default 1000). */
  subsetSize?: number;
  /** Draws the subsets; default `new Random(0)`. */
  random?: Random;
}

/** KID's mean over subsets and the standard deviation of the per-subset estimates. */
export interface KidResult {
  mean: number;
  std: number;
}

/**
 * KID: the unbiased MMD² estimate (Gretton et al. 2012, eq. 3) with the polynomial kernel
 * k(x, y) = (xᵀy / d + 1)³, averaged over random subsets of m vectors drawn without replacement.
 */
export function kid(
  featuresA: ArrayLike<number>,
  featuresB: ArrayLike<number>,
  dim: number,
  options: KidOptions = {},
): KidResult {
  const nA = featureRows('kid', featuresA, dim);
  const nB = featureRows('kid', featuresB, dim);
  const subsets = options.subsets ?? 100;
  const m = Math.min(options.subsetSize ?? 1000, nA, nB);
  if (!Number.isInteger(subsets) || subsets < 1) {
    throw new UsageError(`kid: subsets = ${subsets} must be a positive integer`);
  }
  if (m < 2)
    throw new UsageError('kid needs at least 2 feature vectors in each set', { hint: 'pass more samples' });
  const random = options.random ?? new Random(0);
  const estimates: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const x = pickRows(featuresA, nA, dim, m, random);
    const y = pickRows(featuresB, nB, dim, m, random);
    estimates.push(unbiasedPolynomialMmd(x, y, m, dim));
  }
  const mean = estimates.reduce((a, b) => a + b, 0) / subsets;
  const variance = estimates.reduce((a, b) => a + (b - mean) ** 2, 0) / subsets;
  return { mean, std: Math.sqrt(variance) };
}

/** m rows chosen without replacement (a partial Fisher–Yates shuffle). */
function pickRows(
  features: ArrayLike<number>,
  n: number,
  dim: number,
  m: number,
  random: Random,
): Float64Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const out = new Float64Array(m * dim);
  for (let i = 0; i < m; i++) {
    const j = i + random.int(n - i);
    [order[i], order[j]] = [order[j], order[i]];
    for (let k = 0; k < dim; k++) out[i * dim + k] = features[order[i] * dim + k];
  }
  return out;
}

function polynomialKernel(x: Float64Array, i: number, y: Float64Array, j: number, dim: number): number {
  let dot = 0;
  for (let k = 0; k < dim; k++) dot += x[i * dim + k] * y[j * dim + k];
  return (dot / dim + 1) ** 3;
}

/** MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ)/(m(m−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ)/m². */
function unbiasedPolynomialMmd(x: Float64Array, y: Float64Array, m: number, dim: number): number {
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i !== j) {
        xx += polynomialKernel(x, i, x, j, dim);
        yy += polynomialKernel(y, i, y, j, dim);
      }
      xy += polynomialKernel(x, i, y, j, dim);
    }
  }
  return (xx + yy) / (m * (m - 1)) - (2 * xy) / (m * m);
}
