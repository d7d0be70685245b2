// Gaussian-kernel MMD² against hand-computed values and on samples of equal and shifted distributions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { medianDistance, mmdSquared } from '../../src/metrics/mmd.js';
import { DiffusionError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

describe('MMD with Gaussian kernels', () => {
  it('matches hand-computed biased and unbiased estimates', () => {
    const e = Math.exp;
    assert.ok(
      Math.abs(mmdSquared([0], [1], 1, { bandwidths: [1], unbiased: false }) - (2 - 2 * e(-0.5))) < 1e-12,
    );
    // x = {0, 1}, y = {2, 3}, σ = 1: within-set terms e^{−1/2} each; cross d² = 4, 9, 1, 4.
    const expected = 2 * e(-0.5) - (2 * (2 * e(-2) + e(-4.5) + e(-0.5))) / 4;
    assert.ok(Math.abs(mmdSquared([0, 1], [2, 3], 1, { bandwidths: [1] }) - expected) < 1e-12);
    // Two bandwidths: the kernel is the sum, so the MMD² is the sum of the single-bandwidth ones.
    const both = mmdSquared([0, 1], [2, 3], 1, { bandwidths: [1, 2] });
    const sum =
      mmdSquared([0, 1], [2, 3], 1, { bandwidths: [1] }) + mmdSquared([0, 1], [2, 3], 1, { bandwidths: [2] });
    assert.ok(Math.abs(both - sum) < 1e-12);
  });

  it('the median heuristic is the median pairwise distance of the pooled set', () => {
    // Pairwise distances of {0, 1, 2, 3}: 1, 2, 3, 1, 2, 1 → median 1.5.
    assert.equal(medianDistance([0, 1], [2, 3], 1), 1.5);
  });

  it('is exactly 0 (biased) for identical sets, ≈ 0 for equal distributions, and > 0 for shifted ones', () => {
    const random = new Random(6);
    const draw = (shift: number) => Float64Array.from({ length: 300 * 2 }, () => random.normal() + shift);
    const a = draw(0);
    assert.ok(Math.abs(mmdSquared(a, a, 2, { unbiased: false })) < 1e-12);
    const same = mmdSquared(a, draw(0), 2);
    const shifted = mmdSquared(a, draw(1), 2);
    assert.ok(Math.abs(same) < 0.01, `same ${same}`);
    assert.ok(shifted > 0.1, `shifted ${shifted}`);
  });

  it('rejects non-positive bandwidths', () => {
    assert.throws(() => mmdSquared([0, 1], [2, 3], 1, { bandwidths: [0] }), DiffusionError);
  });
});
