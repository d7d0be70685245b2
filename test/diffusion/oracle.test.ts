import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alphaCumprodAt,
  discreteNoiseLevel,
  mixtureDenoise,
  mixtureLogDensity,
  mixtureModelFn,
  mixtureParams,
  mixtureScore,
  sampleMixture,
} from '../../src/diffusion/oracle.js';
import { alphasCumprod, betaSchedule, DEFAULT_BETA_SCHEDULE } from '../../src/diffusion/schedules.js';
import { sigmasFromAlphasCumprod, timestepFromSigma } from '../../src/diffusion/noise-levels.js';
import { ConfigError, NotFoundError, ShapeError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const oneDim = mixtureParams({
  weights: [0.6, 0.3, 0.1],
  means: [[-1.2], [0.5], [2]],
  variances: [0.09, 0.25, 0.04],
});

const twoDim = mixtureParams({
  weights: [2, 1, 1],
  means: [
    [-0.6, -0.3],
    [0.5, 0.5],
    [0.3, -0.6],
  ],
  variances: [0.02, [0.05, 0.006], 0.01],
});

test('denoiser equals the Monte-Carlo posterior mean E[x0 | x_t] on a 1-D mixture', () => {
  // Self-normalised importance sampling with the prior as proposal: weights N(x_t; a·x0, s²).
  const random = new Random(11);
  const draws = sampleMixture(oneDim, 200_000, random);
  for (const level of [
    { alpha: 0.9, sigma: 0.45 },
    { alpha: 0.5, sigma: Math.sqrt(0.75) },
    { alpha: 1, sigma: 0.3 },
  ]) {
    const points = Float64Array.from([-1.5, -0.2, 0.7, 1.8]);
    const exact = mixtureDenoise(oneDim, points, level);
    points.forEach((xt, i) => {
      const weights = draws.map((x0) => Math.exp(-((xt - level.alpha * x0) ** 2) / (2 * level.sigma ** 2)));
      const sumW = weights.reduce((acc, w) => acc + w, 0);
      const mean = weights.reduce((acc, w, j) => acc + w * draws[j], 0) / sumW;
      // Delta-method standard error of a self-normalised estimate: √(Σ w²(x−m)²)/Σw.
      const spread = weights.reduce((acc, w, j) => acc + (w * (draws[j] - mean)) ** 2, 0);
      const standardError = Math.sqrt(spread) / sumW;
      assert.ok(
        Math.abs(exact[i] - mean) < 4 * standardError + 1e-9,
        `x_t=${xt} a=${level.alpha}: exact ${exact[i]} vs Monte Carlo ${mean} ± ${standardError}`,
      );
      assert.ok(standardError < 0.01, `Monte-Carlo error ${standardError} too large to be a real check`);
    });
  }
});

test('score is the finite-difference gradient of the exact log-density', () => {
  const random = new Random(3);
  const h = 1e-5;
  for (const level of [
    { alpha: 0.95, sigma: 0.3 },
    { alpha: 0.2, sigma: 0.98 },
    { alpha: 1, sigma: 0.05 },
  ]) {
    const points = random.fillNormal(new Float64Array(2 * 8), 0, 0.7);
    const score = mixtureScore(twoDim, points, level);
    for (let i = 0; i < points.length; i++) {
      const plus = Float64Array.from(points);
      const minus = Float64Array.from(points);
      plus[i] += h;
      minus[i] -= h;
      const b = Math.floor(i / 2);
      const numeric =
        (mixtureLogDensity(twoDim, plus, level)[b] - mixtureLogDensity(twoDim, minus, level)[b]) / (2 * h);
      assert.ok(
        Math.abs(numeric - score[i]) <= 1e-5 * Math.max(1, Math.abs(score[i])),
        `coordinate ${i} at std ${level.sigma}: score ${score[i]} vs finite difference ${numeric}`,
      );
    }
  }
});

test("Tweedie's formula ties denoiser and score: ∇log p_t = (a·D(x) − x)/s²", () => {
  const points = new Random(5).fillNormal(new Float64Array(2 * 20));
  const level = { alpha: 0.8, sigma: 0.6 };
  const denoised = mixtureDenoise(twoDim, points, level);
  const score = mixtureScore(twoDim, points, level);
  for (let i = 0; i < points.length; i++) {
    const tweedie = (level.alpha * denoised[i] - points[i]) / level.sigma ** 2;
    assert.ok(Math.abs(tweedie - score[i]) < 1e-10 * Math.max(1, Math.abs(score[i])), `coordinate ${i}`);
  }
});

test('log-density integrates to one and matches a single Gaussian in closed form', () => {
  // 1-D: trapezoid rule over a wide grid.
  const level = { alpha: 0.7, sigma: 0.5 };
  const grid = Float64Array.from({ length: 4001 }, (_, i) => -8 + (16 * i) / 4000);
  const density = mixtureLogDensity(oneDim, grid, level).map(Math.exp);
  let integral = 0;
  for (let i = 1; i < grid.length; i++)
    integral += 0.5 * (density[i] + density[i - 1]) * (grid[i] - grid[i - 1]);
  assert.ok(Math.abs(integral - 1) < 1e-8, `integral ${integral}`);

  const single = mixtureParams({ weights: [1], means: [[0.3, -1]], variances: [[0.5, 2]] });
  const x = Float64Array.from([1, 1]);
  const variances = [0.49 * 0.5 + 0.25, 0.49 * 2 + 0.25];
  const expected =
    -Math.log(2 * Math.PI) -
    0.5 * Math.log(variances[0] * variances[1]) -
    0.5 * ((1 - 0.21) ** 2 / variances[0] + (1 + 0.7) ** 2 / variances[1]);
  assert.ok(Math.abs(mixtureLogDensity(single, x, level)[0] - expected) < 1e-12);
});

test('clean level returns the data itself; pure noise returns the prior mean', () => {
  const x = Float64Array.from([0.1, -0.2, 3, 4]);
  const clean = mixtureDenoise(twoDim, x, { alpha: 1, sigma: 0 });
  clean.forEach((v, i) => assert.ok(Math.abs(v - x[i]) < 1e-12));
  const noise = mixtureDenoise(twoDim, x, { alpha: 0, sigma: 1 });
  const priorMean = [(2 * -0.6 + 0.5 + 0.3) / 4, (2 * -0.3 + 0.5 - 0.6) / 4];
  noise.forEach((v, i) => assert.ok(Math.abs(v - priorMean[i % 2]) < 1e-12, `coordinate ${i}: ${v}`));
});

test('sampleMixture draws with the mixture mean and variance', () => {
  const draws = sampleMixture(oneDim, 100_000, new Random(9));
  const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
  const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length;
  const exactMean = 0.6 * -1.2 + 0.3 * 0.5 + 0.1 * 2;
  const exactSecond = 0.6 * (0.09 + 1.44) + 0.3 * (0.25 + 0.25) + 0.1 * (0.04 + 4);
  const exactVariance = exactSecond - exactMean ** 2;
  assert.ok(Math.abs(mean - exactMean) < 4 * Math.sqrt(exactVariance / draws.length), `mean ${mean}`);
  assert.ok(Math.abs(variance - exactVariance) < 0.02 * exactVariance, `variance ${variance}`);
});

test('model wrapper predicts ε, x0 and v consistently with the forward process', async () => {
  const table = alphasCumprod(betaSchedule(DEFAULT_BETA_SCHEDULE));
  const input = new Random(2).normals(2 * 16, 0, 0.8);
  const t = 400;
  const { alpha: a, sigma: s } = discreteNoiseLevel(table, t);
  assert.ok(Math.abs(a * a - table[t]) < 1e-12);
  const x0 = await mixtureModelFn(twoDim, { alphasCumprod: table, predictionType: 'sample' })(input, t);
  const eps = await mixtureModelFn(twoDim, { alphasCumprod: table, predictionType: 'epsilon' })(input, t);
  const v = await mixtureModelFn(twoDim, { alphasCumprod: table, predictionType: 'v_prediction' })(input, t);
  const exact = mixtureDenoise(twoDim, input, { alpha: a, sigma: s });
  for (let i = 0; i < input.length; i++) {
    assert.ok(Math.abs(x0[i] - exact[i]) < 1e-6);
    assert.ok(Math.abs(a * x0[i] + s * eps[i] - input[i]) < 1e-5, 'x_t = a·x0 + s·ε');
    assert.ok(Math.abs(v[i] - (a * eps[i] - s * x0[i])) < 1e-5, 'v = a·ε − s·x0');
  }
});

test('fractional timesteps interpolate log σ between neighbouring steps, as diffusers does', () => {
  const table = alphasCumprod(betaSchedule(DEFAULT_BETA_SCHEDULE));
  const sigma = (ab: number) => Math.sqrt((1 - ab) / ab);
  for (const t of [0, 17, 998, 999]) assert.equal(alphaCumprodAt(table, t), table[t]);
  for (const [t, w] of [
    [100.5, 0.5],
    [731.25, 0.25],
  ]) {
    const low = Math.floor(t);
    const expected = sigma(table[low]) ** (1 - w) * sigma(table[low + 1]) ** w;
    assert.ok(Math.abs(sigma(alphaCumprodAt(table, t)) - expected) < 1e-12 * expected, `t=${t}`);
  }
  assert.throws(() => alphaCumprodAt(table, 1000), UsageError);
  assert.throws(() => alphaCumprodAt(table, -0.5), UsageError);
});

test("the oracle's fractional timestep inverts diffusers' σ → timestep mapping", () => {
  // σ-space samplers condition the network on timestepFromSigma(σ); the oracle must see that σ again.
  const table = alphasCumprod(betaSchedule(DEFAULT_BETA_SCHEDULE));
  const trainingSigmas = sigmasFromAlphasCumprod(table);
  for (const sigma of [0.0123, 0.5, 3.3, 80]) {
    const timestep = timestepFromSigma(sigma, trainingSigmas);
    const alphaBar = alphaCumprodAt(table, timestep);
    assert.ok(Math.abs(Math.sqrt((1 - alphaBar) / alphaBar) - sigma) < 1e-9 * sigma, `σ = ${sigma}`);
  }
});

test('invalid mixtures and batches raise typed errors that name the problem', () => {
  assert.throws(() => mixtureParams({ weights: [], means: [], variances: [] }), ConfigError);
  assert.throws(
    () => mixtureParams({ weights: [1, 1], means: [[0]], variances: [1] }),
    /one mean and one variance/,
  );
  assert.throws(() => mixtureParams({ weights: [1], means: [[0, 0]], variances: [[1]] }), /variance 0/);
  assert.throws(() => mixtureParams({ weights: [1], means: [[0]], variances: [-1] }), ConfigError);
  assert.throws(
    () => mixtureParams({ weights: [0], means: [[0]], variances: [1] }),
    /weights must be positive/,
  );
  assert.throws(() => mixtureDenoise(twoDim, new Float64Array(3), { alpha: 1, sigma: 1 }), ShapeError);
  assert.throws(() => mixtureScore(twoDim, new Float64Array(2), { alpha: 1, sigma: NaN }), UsageError);
  assert.throws(
    () => mixtureModelFn(twoDim, { alphasCumprod: new Float64Array(10), predictionType: 'score' as never }),
    NotFoundError,
  );
});
