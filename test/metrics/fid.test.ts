// FID against closed forms of the Fréchet distance between Gaussians, the Jacobi eigen-decomposition it
// rests on, and KID (unbiased polynomial-kernel MMD²) against a hand-computed value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  fid,
  frechetDistance,
  gaussianStatistics,
  kid,
  symmetricEigen,
  symmetricSqrt,
  type GaussianStatistics,
} from '../../src/metrics/fid.js';
import { DiffusionError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const gaussian = (mean: number[], covariance: number[]): GaussianStatistics => ({
  dim: mean.length,
  mean: Float64Array.from(mean),
  covariance: Float64Array.from(covariance),
});

/** count samples of N(μ, LLᵀ) for a lower-triangular 2×2 L = [[l00, 0], [l10, l11]]. */
function sample2d(count: number, mean: number[], l: [number, number, number], random: Random): Float64Array {
  const out = new Float64Array(count * 2);
  for (let i = 0; i < count; i++) {
    const [z0, z1] = [random.normal(), random.normal()];
    out[2 * i] = mean[0] + l[0] * z0;
    out[2 * i + 1] = mean[1] + l[1] * z0 + l[2] * z1;
  }
  return out;
}

describe('symmetric eigen-decomposition (Jacobi)', () => {
  it('reconstructs a random symmetric 7×7 matrix as V Λ Vᵀ with orthonormal V', () => {
    const n = 7;
    const random = new Random(3);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = random.normal();
    const { values, vectors } = symmetricEigen(a, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let rebuilt = 0;
        let gram = 0;
        for (let k = 0; k < n; k++) {
          rebuilt += vectors[i * n + k] * values[k] * vectors[j * n + k];
          gram += vectors[k * n + i] * vectors[k * n + j];
        }
        assert.ok(Math.abs(rebuilt - a[i * n + j]) < 1e-10, `A[${i}][${j}]`);
        assert.ok(Math.abs(gram - (i === j ? 1 : 0)) < 1e-10, `VᵀV[${i}][${j}]`);
      }
  });

  it('square root of [[2, 1], [1, 2]] squares back and has trace √3 + 1', () => {
    const root = symmetricSqrt([2, 1, 1, 2], 2);
    assert.ok(Math.abs(root[0] + root[3] - (Math.sqrt(3) + 1)) < 1e-12);
    const square = [root[0] * root[0] + root[1] * root[2], root[0] * root[1] + root[1] * root[3]];
    assert.ok(Math.abs(square[0] - 2) < 1e-12 && Math.abs(square[1] - 1) < 1e-12);
  });
});

describe('Fréchet distance', () => {
  it('is 0 between identical statistics and between a feature set and itself', () => {
    const random = new Random(1);
    const features = Float64Array.from({ length: 300 * 8 }, () => random.normal());
    assert.ok(fid(features, features, 8) < 1e-9);
    const s = gaussian([1, 2], [3, 1, 1, 2]);
    assert.ok(frechetDistance(s, s) < 1e-12);
  });

  it('matches the closed form for commuting (diagonal) covariances: 5 + 18 − 2(2 + 6) = 7', () => {
    const d = frechetDistance(gaussian([0, 0], [1, 0, 0, 4]), gaussian([1, 2], [4, 0, 0, 9]));
    assert.ok(Math.abs(d - 7) < 1e-12, `${d}`);
  });

  it('matches Tr√(Σ₁Σ₂) = √(Tr Σ₁Σ₂ + 2√det Σ₁Σ₂) for non-commuting 2×2 covariances', () => {
    const random = new Random(11);
    for (let trial = 0; trial < 20; trial++) {
      const spd = () => {
        const [a, b, c] = [random.normal(), random.normal(), random.normal()];
        return [a * a + 0.1, a * b, a * b, b * b + c * c + 0.1];
      };
      const [s1, s2] = [spd(), spd()];
      const mean1 = [random.normal(), random.normal()];
      const mean2 = [random.normal(), random.normal()];
      const product = [
        s1[0] * s2[0] + s1[1] * s2[2],
        s1[0] * s2[1] + s1[1] * s2[3],
        s1[2] * s2[0] + s1[3] * s2[2],
        s1[2] * s2[1] + s1[3] * s2[3],
      ];
      const det = product[0] * product[3] - product[1] * product[2];
      const traceRoot = Math.sqrt(product[0] + product[3] + 2 * Math.sqrt(det));
      const expected =
        (mean1[0] - mean2[0]) ** 2 +
        (mean1[1] - mean2[1]) ** 2 +
        s1[0] +
        s1[3] +
        s2[0] +
        s2[3] -
        2 * traceRoot;
      const d = frechetDistance(gaussian(mean1, s1), gaussian(mean2, s2));
      assert.ok(Math.abs(d - expected) < 1e-9 * Math.max(1, expected), `trial ${trial}: ${d} vs ${expected}`);
    }
  });

  it('FID of 40,000-sample sets is within 3% of the closed form of their Gaussians', () => {
    const random = new Random(5);
    // Σ₁ = L₁L₁ᵀ with L₁ = [[1, 0], [0.5, 1]] → [[1, 0.5], [0.5, 1.25]]; Σ₂ = 4I (L₂ = 2I).
    const a = sample2d(40000, [0, 0], [1, 0.5, 1], random);
    const b = sample2d(40000, [1, -1], [2, 0, 2], random);
    const expected = frechetDistance(gaussian([0, 0], [1, 0.5, 0.5, 1.25]), gaussian([1, -1], [4, 0, 0, 4]));
    const measured = fid(a, b, 2);
    assert.ok(Math.abs(measured - expected) < 0.03 * expected, `${measured} vs ${expected}`);
  });

  it('gaussianStatistics uses the unbiased (n − 1) covariance', () => {
    const s = gaussianStatistics([0, 0, 2, 2], 2);
    assert.deepEqual([...s.mean], [1, 1]);
    assert.deepEqual([...s.covariance], [2, 2, 2, 2]);
  });

  it('rejects features that do not split into vectors and mismatched dimensions', () => {
    assert.throws(() => fid([1, 2, 3], [1, 2, 3, 4], 2), DiffusionError);
    assert.throws(() => frechetDistance(gaussian([0], [1]), gaussian([0, 0], [1, 0, 0, 1])), DiffusionError);
  });
});

describe('KID', () => {
  it('equals the hand-computed unbiased MMD² for x = {0, 1}, y = {1, 2}: 1 + 27 − 18.5 = 9.5', () => {
    const result = kid([0, 1], [1, 2], 1, { subsets: 3, subsetSize: 2 });
    assert.ok(Math.abs(result.mean - 9.5) < 1e-12, `${result.mean}`);
    assert.ok(result.std < 1e-12);
  });

  it('is ≈ 0 for two samples of one distribution and clearly positive for shifted ones', () => {
    const random = new Random(9);
    const draw = (shift: number) => Float64Array.from({ length: 400 * 4 }, () => random.normal() + shift);
    const [a, b, c] = [draw(0), draw(0), draw(0.5)];
    const same = kid(a, b, 4, { subsets: 20, subsetSize: 200 });
    const shifted = kid(a, c, 4, { subsets: 20, subsetSize: 200 });
    assert.ok(Math.abs(same.mean) < 0.02, `same ${same.mean}`);
    assert.ok(shifted.mean > 0.1 && shifted.mean > 10 * Math.abs(same.mean), `shifted ${shifted.mean}`);
  });
});
