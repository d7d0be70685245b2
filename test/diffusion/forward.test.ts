import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getFloatTensor, parseSafetensors } from '../../src/io/safetensors.js';
import { discreteSchedule, type BetaScheduleName } from '../../src/diffusion/schedules.js';
import {
  addNoise,
  forwardStep,
  marginalScales,
  posteriorMean,
  posteriorTable,
  transitionScales,
  velocity,
} from '../../src/diffusion/forward.js';
import { Random } from '../../src/util/random.js';
import { ShapeError, UsageError } from '../../src/util/errors.js';

const referenceUrl = new URL('../../../shared/reference/forward_process.json', import.meta.url);
const reference = JSON.parse(readFileSync(referenceUrl, 'utf8'));
// Parsed from a plain Uint8Array copy of the file (not a Node Buffer, whose slice() shares memory).
const tensors = parseSafetensors(
  new Uint8Array(
    readFileSync(new URL('../../../shared/reference/forward_process.safetensors', import.meta.url)),
  ),
);
const x0 = getFloatTensor(tensors, 'x0').data;
const noise = getFloatTensor(tensors, 'noise').data;
const timesteps: number[] = reference.timesteps;

function scheduleFor(name: BetaScheduleName, kwargs: { beta_start?: number; beta_end?: number }) {
  return discreteSchedule({
    betaSchedule: name,
    numTrainTimesteps: 1000,
    betaStart: kwargs.beta_start ?? 0.0001,
    betaEnd: kwargs.beta_end ?? 0.02,
  });
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

for (const [name, entry] of Object.entries<{
  beta_kwargs: { beta_start?: number; beta_end?: number };
  add_noise_key: string;
  velocity_key: string;
  sqrt_alpha_prod: number[];
}>(reference.schedules)) {
  test(`${name}: addNoise and velocity match diffusers within 1e-5`, () => {
    const { alphasCumprod } = scheduleFor(name as BetaScheduleName, entry.beta_kwargs);
    timesteps.forEach((t, b) =>
      assert.ok(Math.abs(marginalScales(t, alphasCumprod).mean - entry.sqrt_alpha_prod[b]) < 1e-6),
    );
    const noisy = addNoise(x0, noise, timesteps, alphasCumprod);
    const v = velocity(x0, noise, timesteps, alphasCumprod);
    assert.ok(noisy instanceof Float32Array && v instanceof Float32Array);
    assert.ok(maxAbsDifference(noisy, getFloatTensor(tensors, entry.add_noise_key).data) < 1e-5);
    assert.ok(maxAbsDifference(v, getFloatTensor(tensors, entry.velocity_key).data) < 1e-5);
  });
}

test('the step-by-step chain composes exactly to the closed form (moments)', () => {
  // Mean scale ∏ √α_s and variance v_t = α_t v_{t−1} + β_t must equal √ᾱ_t and 1 − ᾱ_t.
  for (const name of ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const) {
    const { betas, alphasCumprod } = scheduleFor(name, { beta_start: 0.00085, beta_end: 0.012 });
    let scale = 1;
    let variance = 0;
    for (let t = 0; t < 1000; t++) {
      const step = transitionScales(t, betas);
      scale *= step.mean;
      variance = step.mean ** 2 * variance + step.variance;
      const closed = marginalScales(t, alphasCumprod);
      assert.ok(Math.abs(scale - closed.mean) < 2e-6, `${name} mean scale at ${t}`);
      assert.ok(Math.abs(variance - closed.std ** 2) < 2e-6, `${name} variance at ${t}`);
    }
  }
});

test('simulated chains agree with q(x_t | x_0) in mean and variance (5 standard errors)', () => {
  const { betas, alphasCumprod } = discreteSchedule({
    betaSchedule: 'linear',
    numTrainTimesteps: 1000,
    betaStart: 1e-4,
    betaEnd: 0.02,
  });
  const paths = 4000;
  const start = 1.5; // a point mass at x₀ = 1.5
  const rng = new Random(7);
  let x = new Float64Array(paths).fill(start);
  const checkpoints = new Set([0, 10, 100, 300, 999]);
  const chainTimesteps = new Int32Array(1); // one timestep for the whole batch of paths
  for (let t = 0; t < 1000; t++) {
    chainTimesteps[0] = t;
    x = forwardStep(x, rng.fillNormal(new Float64Array(paths)), chainTimesteps, betas);
    if (!checkpoints.has(t)) continue;
    const mean = x.reduce((a, b) => a + b, 0) / paths;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / (paths - 1);
    const closed = marginalScales(t, alphasCumprod);
    const trueVariance = closed.std ** 2;
    // Standard errors: √(σ²/n) for the mean, σ² √(2/(n−1)) for the sample variance of a Gaussian.
    assert.ok(Math.abs(mean - closed.mean * start) < 5 * Math.sqrt(trueVariance / paths), `mean at ${t}`);
    assert.ok(
      Math.abs(variance - trueVariance) < 5 * trueVariance * Math.sqrt(2 / (paths - 1)),
      `variance at ${t}: ${variance} vs ${trueVariance}`,
    );
  }
});

test('posterior q(x_{t-1} | x_t, x_0) matches Bayes by numerical integration', () => {
  const schedule = scheduleFor('squaredcos_cap_v2', {});
  const { alphasCumprod } = schedule;
  const table = posteriorTable(schedule);
  // The one-step betas consistent with the stored (float32) ᾱ: the joint model whose marginals are ᾱ.
  const betas = alphasCumprod.map((a, t) => 1 - a / (t === 0 ? 1 : alphasCumprod[t - 1]));
  const x0Value = 0.7;
  const xtValue = -0.4;
  for (const t of [1, 5, 50, 400, 998]) {
    // Prior x_{t−1} | x₀ ~ N(√ᾱ_{t−1} x₀, 1 − ᾱ_{t−1}); likelihood x_t | x_{t−1} ~ N(√α_t x_{t−1}, β_t).
    const priorMean = Math.sqrt(alphasCumprod[t - 1]) * x0Value;
    const priorVariance = 1 - alphasCumprod[t - 1];
    const logJoint = (x: number) =>
      -((x - priorMean) ** 2) / (2 * priorVariance) -
      (xtValue - Math.sqrt(1 - betas[t]) * x) ** 2 / (2 * betas[t]);
    // Posterior moments by quadrature on a grid around the prior/likelihood modes (weights normalised).
    const centre = table.meanCoefX0[t] * x0Value + table.meanCoefXt[t] * xtValue;
    const width = 12 * Math.sqrt(table.variance[t]);
    const points = 20001;
    let mass = 0;
    let first = 0;
    let second = 0;
    const peak = logJoint(centre);
    for (let i = 0; i < points; i++) {
      const x = centre - width + (2 * width * i) / (points - 1);
      const w = Math.exp(logJoint(x) - peak);
      mass += w;
      first += w * x;
      second += w * x * x;
    }
    const mean = first / mass;
    const variance = second / mass - mean * mean;
    const formulaMean = posteriorMean(Float64Array.of(x0Value), Float64Array.of(xtValue), [t], table)[0];
    assert.ok(
      Math.abs(mean - formulaMean) < 1e-9 * Math.max(1, Math.abs(mean)),
      `mean at ${t}: ${mean} vs ${formulaMean}`,
    );
    assert.ok(
      Math.abs(variance - table.variance[t]) < 1e-7 * table.variance[t],
      `variance at ${t}: ${variance} vs ${table.variance[t]}`,
    );
  }
});

test('posterior at t = 0 is the point mass at x_0, and its clipped log-variance is finite', () => {
  const table = posteriorTable(scheduleFor('linear', {}));
  assert.equal(table.meanCoefX0[0], 1);
  assert.equal(table.meanCoefXt[0], 0);
  assert.equal(table.variance[0], 0);
  assert.equal(table.logVarianceClipped[0], Math.log(table.variance[1]));
  assert.equal(table.logVarianceClipped[500], Math.log(table.variance[500]));
});

test('one timestep per batch element is applied to its own block', () => {
  const { alphasCumprod } = scheduleFor('linear', {});
  const zeros = new Float64Array(4);
  const ones = new Float64Array(4).fill(1);
  const noisy = addNoise(zeros, ones, [0, 999], alphasCumprod);
  assert.ok(noisy instanceof Float64Array);
  assert.equal(noisy[0], noisy[1]);
  assert.equal(noisy[0], Math.sqrt(1 - alphasCumprod[0]));
  assert.equal(noisy[3], Math.sqrt(1 - alphasCumprod[999]));
});

test('bad shapes and timesteps raise typed errors', () => {
  const { alphasCumprod } = scheduleFor('linear', {});
  assert.throws(() => addNoise(new Float32Array(5), new Float32Array(5), [1, 2], alphasCumprod), ShapeError);
  assert.throws(() => addNoise(new Float32Array(4), new Float32Array(6), [1, 2], alphasCumprod), ShapeError);
  assert.throws(
    () => addNoise(new Float32Array(4), new Float32Array(4), [1, 1000], alphasCumprod),
    UsageError,
  );
  assert.throws(
    () => addNoise(new Float32Array(4), new Float32Array(4), [1.5, 2], alphasCumprod),
    UsageError,
  );
});
