import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bitsPerDim,
  dequantize8Bit,
  exactDivergence,
  finiteDifferenceProduct,
  logLikelihood,
  PIXEL_SCALE,
  probeVectors,
} from '../../src/diffusion/likelihood.js';
import { createSde, DEFAULT_SUBVP_SDE, DEFAULT_VP_SDE, type Sde } from '../../src/diffusion/sde.js';
import type { NoiseLevel } from '../../src/diffusion/noise-levels.js';
import {
  mixtureLogDensity,
  mixtureParams,
  mixtureScoreFn,
  sampleMixture,
} from '../../src/diffusion/oracle.js';
import { probabilityFlowDrift } from '../../src/diffusion/samplers/ode.js';
import { ShapeError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

// Gaussian data N(μ, Σ) with a full (non-diagonal) covariance: p_t = N(α·μ, α²Σ + σ²I) in closed form.
const DIM = 3;
const MEAN = [0.4, -0.3, 0.1];
const COVARIANCE = [
  [0.3, 0.12, -0.05],
  [0.12, 0.2, 0.04],
  [-0.05, 0.04, 0.15],
];

/** Cholesky factor L (LLᵀ = M) of a small SPD matrix. */
function cholesky(m: number[][]): number[][] {
  const n = m.length;
  const l = m.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = m[i][j];
      for (let k = 0; k < j; k++) sum -= l[i][k] * l[j][k];
      l[i][j] = i === j ? Math.sqrt(sum) : sum / l[j][j];
    }
  }
  return l;
}

/** Solves (LLᵀ)·y = b. */
function choleskySolve(l: number[][], b: number[]): number[] {
  const n = b.length;
  const z = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= l[i][k] * z[k];
    z[i] = sum / l[i][i];
  }
  const y = new Array<number>(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = z[i];
    for (let k = i + 1; k < n; k++) sum -= l[k][i] * y[k];
    y[i] = sum / l[i][i];
  }
  return y;
}

function marginalFactor({ alpha, sigma }: NoiseLevel): number[][] {
  return cholesky(
    COVARIANCE.map((row, i) => row.map((c, j) => alpha * alpha * c + (i === j ? sigma * sigma : 0))),
  );
}

/** Exact ∇log p_t = −(α²Σ + σ²I)⁻¹(x − αμ), per point. */
function gaussianScore(sde: Sde) {
  return async (x: Float64Array, t: number) => {
    const level = sde.marginal(t);
    const l = marginalFactor(level);
    const out = new Float64Array(x.length);
    for (let b = 0; b < x.length / DIM; b++) {
      const centred = MEAN.map((m, d) => x[b * DIM + d] - level.alpha * m);
      choleskySolve(l, centred).forEach((v, d) => (out[b * DIM + d] = -v));
    }
    return out;
  };
}

/** Exact log N(x; αμ, α²Σ + σ²I), per point. */
function gaussianLogDensity(x: Float64Array, level: NoiseLevel): Float64Array {
  const l = marginalFactor(level);
  const logDet = 2 * l.reduce((acc, row, i) => acc + Math.log(row[i]), 0);
  return Float64Array.from({ length: x.length / DIM }, (_, b) => {
    const centred = MEAN.map((m, d) => x[b * DIM + d] - level.alpha * m);
    const solved = choleskySolve(l, centred);
    const quadratic = centred.reduce((acc, c, d) => acc + c * solved[d], 0);
    return -0.5 * (DIM * Math.log(2 * Math.PI) + logDet + quadratic);
  });
}

function gaussianData(count: number, seed: number): Float64Array {
  const random = new Random(seed);
  const l = cholesky(COVARIANCE);
  const out = new Float64Array(count * DIM);
  for (let b = 0; b < count; b++) {
    const z = [random.normal(), random.normal(), random.normal()];
    for (let i = 0; i < DIM; i++) {
      out[b * DIM + i] = MEAN[i] + l[i].reduce((acc, li, k) => acc + li * (z[k] ?? 0), 0);
    }
  }
  return out;
}

const SDES: [string, Sde][] = [
  ['VP', createSde(DEFAULT_VP_SDE)],
  ['sub-VP', createSde(DEFAULT_SUBVP_SDE)],
  ['VE', createSde({ kind: 've', sigmaMin: 0.01, sigmaMax: 100 })],
];

for (const [name, sde] of SDES) {
  test(`${name}: ODE log-likelihood of Gaussian data is within 1% of the exact log-density`, async () => {
    const data = gaussianData(8, 21);
    const eps = name === 'VE' ? 1e-5 : 1e-3;
    const result = await logLikelihood({ sde, score: gaussianScore(sde), data, dim: DIM, eps });
    assert.equal(result.estimator, 'exact');
    const exact = gaussianLogDensity(data, sde.marginal(eps));
    for (let b = 0; b < exact.length; b++) {
      assert.ok(
        Math.abs(result.logLikelihood[b] - exact[b]) <= 0.01 * Math.abs(exact[b]),
        `point ${b}: ODE ${result.logLikelihood[b]} vs exact ${exact[b]}`,
      );
    }
    // What remains of that error is the prior's, p_1 ≠ N(0, priorStd²I) (up to 1e-2 nats at 2.5σ for VP):
    // the ODE part alone is exact to the solver tolerance. The flow of Gaussian data is linear, so
    // ∫∇·F dt = ½(log det C_1 − log det C_ε) with C_t = α_t²Σ + σ_t²I, the same for every point.
    const logDet = (level: NoiseLevel) =>
      2 * marginalFactor(level).reduce((acc, row, i) => acc + Math.log(row[i]), 0);
    const volumeChange = 0.5 * (logDet(sde.marginal(1)) - logDet(sde.marginal(eps)));
    result.deltaLogProb.forEach((delta, b) =>
      assert.ok(
        Math.abs(delta - volumeChange) < 1e-5 * Math.abs(volumeChange),
        `point ${b}: ${delta} vs ${volumeChange}`,
      ),
    );
    assert.ok(result.nfe > 0);
  });
}

test('ODE log-likelihood of a 2-D Gaussian mixture (non-Gaussian p_t) matches the oracle', async () => {
  const sde = createSde(DEFAULT_VP_SDE);
  const mixture = mixtureParams({
    weights: [0.5, 0.3, 0.2],
    means: [
      [-0.45, -0.25],
      [0.45, 0.45],
      [0.35, -0.55],
    ],
    variances: [0.01, [0.03, 0.004], 0.006],
  });
  const data = sampleMixture(mixture, 8, new Random(3));
  const score = mixtureScoreFn(mixture, (t) => sde.marginal(t));
  const result = await logLikelihood({ sde, score, data, dim: 2 });
  const exact = mixtureLogDensity(mixture, data, sde.marginal(1e-3));
  // Measured: |error| ≤ 1.2e-3 nats with the default rtol = atol = 1e-5.
  exact.forEach((e, b) =>
    assert.ok(Math.abs(result.logLikelihood[b] - e) < 5e-3, `point ${b}: ${result.logLikelihood[b]} vs ${e}`),
  );
});

test('finite-difference divergence equals the analytic trace of the probability-flow Jacobian', async () => {
  const sde = createSde(DEFAULT_VP_SDE);
  const drift = probabilityFlowDrift(sde, gaussianScore(sde));
  const product = finiteDifferenceProduct((x, t) => drift(t, x));
  const x = gaussianData(4, 5);
  for (const t of [0.01, 0.3, 0.9]) {
    const divergence = await exactDivergence(product, x, t, DIM);
    // F = f·x − ½g²·s with s = −C⁻¹(x − αμ): ∇·F = d·f + ½g²·tr(C⁻¹).
    const l = marginalFactor(sde.marginal(t));
    const traceInverse = [0, 1, 2].reduce(
      (acc, i) =>
        acc +
        choleskySolve(
          l,
          [0, 1, 2].map((j) => +(i === j)),
        )[i],
      0,
    );
    const expected = DIM * sde.driftScale(t) + 0.5 * sde.diffusion(t) ** 2 * traceInverse;
    divergence.forEach((d) =>
      assert.ok(Math.abs(d - expected) < 1e-6 * Math.abs(expected), `t=${t}: ${d} vs ${expected}`),
    );
  }
});

for (const probe of ['rademacher', 'gaussian'] as const) {
  test(`Hutchinson (${probe}) is unbiased within its standard error`, async () => {
    // One data point repeated, each copy with its own fixed probe: the copies share the trajectory, so
    // their estimates are independent draws of the same estimator.
    const sde = createSde(DEFAULT_VP_SDE);
    const copies = 256;
    const point = gaussianData(1, 33);
    const data = new Float64Array(copies * DIM);
    for (let b = 0; b < copies; b++) data.set(point, b * DIM);
    const result = await logLikelihood({
      sde,
      score: gaussianScore(sde),
      data,
      dim: DIM,
      estimator: 'hutchinson',
      probe,
      random: new Random(77),
    });
    const values = Array.from(result.logLikelihood);
    const mean = values.reduce((a, b) => a + b, 0) / copies;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (copies - 1));
    const standardError = sd / Math.sqrt(copies);
    const exact = gaussianLogDensity(point, sde.marginal(1e-3))[0];
    assert.ok(sd > 0.01, `the estimator must actually vary (sd ${sd}), or this test checks nothing`);
    assert.ok(
      Math.abs(mean - exact) < 3 * standardError,
      `mean ${mean} vs exact ${exact}, standard error ${standardError}`,
    );
  });
}

test('Rademacher probes have lower variance than Gaussian probes', () => {
  // For a fixed symmetric J, Var[vᵀJv] = 2Σ_{i≠j}J_ij² (Rademacher) vs 2Σ_ij J_ij² (Gaussian).
  const random = new Random(4);
  const variance = (kind: 'rademacher' | 'gaussian') => {
    const samples = Array.from({ length: 4000 }, () => {
      const v = probeVectors(kind, DIM, random);
      let q = 0;
      for (let i = 0; i < DIM; i++) for (let j = 0; j < DIM; j++) q += v[i] * COVARIANCE[i][j] * v[j];
      return q;
    });
    const m = samples.reduce((a, b) => a + b, 0) / samples.length;
    return samples.reduce((a, b) => a + (b - m) ** 2, 0) / samples.length;
  };
  const offDiagonal = 2 * (2 * (0.12 ** 2 + 0.05 ** 2 + 0.04 ** 2));
  const all = offDiagonal + 2 * (0.3 ** 2 + 0.2 ** 2 + 0.15 ** 2);
  assert.ok(Math.abs(variance('rademacher') - offDiagonal) < 0.1 * offDiagonal);
  assert.ok(Math.abs(variance('gaussian') - all) < 0.1 * all);
});

test('bits/dim convention: a uniform density over all 256 bins is exactly 8 bits/dim', () => {
  // The 256 bins of width 2/255 span [−1 − 1/255, 1 + 1/255]: width 512/255 per dimension.
  const dim = 5;
  const uniformLogDensity = -dim * Math.log(512 / 255);
  assert.ok(Math.abs(bitsPerDim(uniformLogDensity, dim) - 8) < 1e-12);
  const values = dequantize8Bit(Uint8Array.from([0, 255, 128, 0, 255]), new Random(1));
  values.forEach((y, i) => {
    const centre = [0, 255, 128, 0, 255][i] / PIXEL_SCALE - 1;
    assert.ok(Math.abs(y - centre) <= 1 / 255, `value ${i}: ${y} is outside its bin around ${centre}`);
  });
});

test('likelihood rejects ragged data and a Hutchinson request without a generator', async () => {
  const sde = createSde(DEFAULT_VP_SDE);
  await assert.rejects(
    logLikelihood({ sde, score: gaussianScore(sde), data: new Float64Array(4), dim: DIM }),
    ShapeError,
  );
  await assert.rejects(
    logLikelihood({
      sde,
      score: gaussianScore(sde),
      data: new Float64Array(3),
      dim: DIM,
      estimator: 'hutchinson',
    }),
    UsageError,
  );
});
