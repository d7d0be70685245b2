import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  crps,
  forecastScores,
  linearTrendForecasts,
  quantileOfSorted,
  seasonalNaiveForecasts,
} from '../../src/metrics/forecast.js';
import { Random } from '../../src/util/random.js';

/** Φ via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return 0.5 * (1 + Math.sign(z) * erf);
}

/** Closed-form CRPS of N(μ, σ²) at y (Gneiting & Raftery 2007, eq. 5). */
function gaussianCrps(mu: number, sigma: number, y: number): number {
  const z = (y - mu) / sigma;
  const pdf = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  return sigma * (z * (2 * normalCdf(z) - 1) + 2 * pdf - 1 / Math.sqrt(Math.PI));
}

test('the CRPS of a point mass is the absolute error', () => {
  assert.equal(crps([2.5], 4), 1.5);
  assert.equal(crps([3, 3, 3], -1), 4);
});

test('the CRPS of two samples matches the hand-computed energy form', () => {
  // E|X − 0.5| = (0.5 + 1.5)/2 = 1; E|X − X'| = (0 + 2 + 2 + 0)/4 = 1; CRPS = 1 − ½ = 0.5.
  assert.equal(crps([2, 0], 0.5), 0.5);
  // Samples 0, 1, 4 at y = 2: E|X − y| = 5/3; Σ|xi − xj| = 2(1 + 4 + 3) = 16 → E|X − X'| = 16/9.
  assert.ok(Math.abs(crps([4, 0, 1], 2) - (5 / 3 - 8 / 9)) < 1e-12);
});

test('the CRPS of N(μ, σ²) samples is close to the closed form', () => {
  const random = new Random(7);
  const mu = 1.5;
  const sigma = 2;
  const samples = random.normals(40_000).map((v) => mu + sigma * v);
  for (const y of [1.5, 0, 4.2, -3]) {
    const exact = gaussianCrps(mu, sigma, y);
    assert.ok(
      Math.abs(crps(samples, y) - exact) < 0.02 * exact + 0.005,
      `y = ${y}: ${crps(samples, y)} vs ${exact}`,
    );
  }
  // At y = μ the closed form is σ(√2 − 1)/√π.
  assert.ok(Math.abs(gaussianCrps(0, 1, 0) - (Math.SQRT2 - 1) / Math.sqrt(Math.PI)) < 1e-6);
});

test('quantiles interpolate linearly between order statistics as NumPy does', () => {
  assert.equal(quantileOfSorted([1, 2, 3, 4], 0.25), 1.75);
  assert.equal(quantileOfSorted([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantileOfSorted([5], 0.9), 5);
  assert.throws(() => quantileOfSorted([1, 2], 1.5), /quantile level/);
});

test('forecast scores: CRPS, median MAE and 80% coverage per channel', () => {
  // One window, 5 samples, 2 channels, 2 steps; samples [W, S, C, H].
  const s = [0, 1, 2, 3, 4];
  const samples = new Float64Array(5 * 2 * 2);
  s.forEach((v, i) => {
    samples.set([v, v + 10, v * 2, 0], i * 4);
  });
  const truth = [2, 20, 100, 0];
  const scores = forecastScores(samples, truth, { windows: 1, samples: 5, channels: 2, horizon: 2 });
  // Channel 0: step 0 median 2 (error 0), step 1 median 12 (error 8) → MAE 4.
  assert.equal(scores.mae[0], 4);
  // Channel 1: medians 4 and 0 → errors 96 and 0 → MAE 48.
  assert.equal(scores.mae[1], 48);
  // 80% interval [q0.1, q0.9]: step 0 [0.4, 3.6] holds 2; step 1 [10.4, 13.6] misses 20 → 0.5.
  assert.equal(scores.coverage80[0], 0.5);
  // Channel 1: [0.8, 7.2] misses 100; the point mass 0 = [0, 0] holds 0 → 0.5.
  assert.equal(scores.coverage80[1], 0.5);
  assert.ok(Math.abs(scores.crps[0] - (crps(s, 2) + crps([10, 11, 12, 13, 14], 20)) / 2) < 1e-12);
  const point = forecastScores([1, 1, 1, 1], truth, { windows: 1, samples: 1, channels: 2, horizon: 2 });
  assert.deepEqual(point.crps, point.mae);
  assert.ok(Number.isNaN(point.coverage80[0]));
});

test('seasonal-naive repeats the last season; the linear baseline extends a straight line exactly', () => {
  const series = [Float64Array.from({ length: 30 }, (_, t) => t * t)];
  const naive = seasonalNaiveForecasts(series, [14], 9, 7);
  // Steps 0..6 are rows 7..13; steps 7, 8 reach back two periods to rows 7, 8.
  assert.deepEqual(
    [...naive],
    [7, 8, 9, 10, 11, 12, 13, 7, 8].map((t) => t * t),
  );
  assert.throws(() => seasonalNaiveForecasts(series, [3], 2, 7), /needs 7 rows/);
  const past = Float64Array.from({ length: 2 * 5 }, (_, i) => (i < 5 ? 2 * i + 1 : -i));
  const line = linearTrendForecasts(past, { windows: 1, channels: 2, contextLength: 5 }, 3);
  [11, 13, 15, -10, -11, -12].forEach((expected, i) => assert.ok(Math.abs(line[i] - expected) < 1e-12));
});
