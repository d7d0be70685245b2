// Sliced Wasserstein: exact 1-D distances by hand, and the shift identity W1(uᵀX, uᵀ(X + v)) = |u·v|.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { projectionDirections, slicedWasserstein, wasserstein1d } from '../../src/metrics/wasserstein.js';
import { DiffusionError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

describe('1-D Wasserstein distance', () => {
  it('matches hand-computed values, including unequal sample sizes', () => {
    assert.equal(wasserstein1d([3], [1]), 2);
    assert.ok(Math.abs(wasserstein1d([1, 0], [2, 3], 2) - 2) < 1e-12);
    // Quantiles: {0, 1} steps at ½; {0, 0, 3} steps at ⅔ → ∫ = 1·(⅔ − ½) + 2·(1 − ⅔) = 5/6.
    assert.ok(Math.abs(wasserstein1d([0, 1], [0, 0, 3]) - 5 / 6) < 1e-12);
    assert.equal(wasserstein1d([5, -1, 2], [2, 5, -1]), 0);
  });

  it('rejects p < 1 and empty samples', () => {
    assert.throws(() => wasserstein1d([1], [2], 0.5), DiffusionError);
    assert.throws(() => wasserstein1d([], [2]), DiffusionError);
  });
});

describe('sliced Wasserstein distance', () => {
  it('of a set and its shift by v is the mean of |u·v| over the projections drawn', () => {
    const dim = 3;
    const random = new Random(8);
    const points = Float64Array.from({ length: 150 * dim }, () => random.normal());
    const v = [0.7, -1.2, 0.4];
    const moved = points.map((x, i) => x + v[i % dim]);
    const directions = projectionDirections(64, dim, new Random(21));
    let expected = 0;
    for (let k = 0; k < 64; k++) {
      expected += Math.abs(v.reduce((s, vd, d) => s + vd * directions[k * dim + d], 0)) / 64;
    }
    const measured = slicedWasserstein(points, moved, dim, { directions });
    assert.ok(Math.abs(measured - expected) < 1e-12, `${measured} vs ${expected}`);
    // The same directions come from the seed option; over many projections E|cos| in 3-D is ½.
    assert.equal(slicedWasserstein(points, moved, dim, { projections: 64, seed: 21 }), measured);
    const norm = Math.hypot(...v);
    const many = slicedWasserstein(points, moved, dim, { projections: 4000, seed: 1 });
    assert.ok(Math.abs(many - norm / 2) < 0.03 * norm, `${many} vs ${norm / 2}`);
  });

  it('is 0 for a set and a permutation of it, and unit directions have norm 1', () => {
    const a = [0, 0, 1, 2, -1, 3];
    const b = [-1, 3, 0, 0, 1, 2];
    assert.ok(slicedWasserstein(a, b, 2, { p: 2 }) < 1e-12);
    const u = projectionDirections(10, 4, new Random(0));
    for (let k = 0; k < 10; k++) assert.ok(Math.abs(Math.hypot(...u.subarray(4 * k, 4 * k + 4)) - 1) < 1e-12);
  });
});
