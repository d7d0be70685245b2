import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createSde,
  DEFAULT_SUBVP_SDE,
  DEFAULT_VE_SDE,
  DEFAULT_VP_SDE,
  drift,
  perturb,
  priorLogProb,
  reverseDrift,
  samplePrior,
  type Sde,
} from '../../src/diffusion/sde.js';
import {
  alphasCumprod,
  appendZero,
  betaSchedule,
  exponentialSigmas,
  karrasSigmas,
  polyexponentialSigmas,
  rescaleZeroTerminalSnr,
} from '../../src/diffusion/schedules.js';
import {
  alphaCumprodFromLogSnr,
  alphaCumprodFromSigma,
  betasFromAlphasCumprod,
  logSnrFromAlphaCumprod,
  logSnrFromSigma,
  logSnrOf,
  noiseLevelFromAlphaCumprod,
  sigmaAtTimestep,
  sigmaFromAlphaCumprod,
  sigmaFromLogSnr,
  sigmaOf,
  sigmasFromAlphasCumprod,
  snrFromAlphaCumprod,
  timestepFromSigma,
} from '../../src/diffusion/noise-levels.js';
import { Random } from '../../src/util/random.js';
import { ConfigError, UsageError } from '../../src/util/errors.js';

const SDES: Record<string, Sde> = {
  vp: createSde(DEFAULT_VP_SDE),
  subvp: createSde(DEFAULT_SUBVP_SDE),
  ve: createSde({ ...DEFAULT_VE_SDE, sigmaMax: 10 }),
};

test('Euler–Maruyama from a point mass matches each SDE’s closed-form transition', () => {
  // 3000 paths, 2000 steps on [0, 1]; checked at t = 0.1, 0.5, 1. Tolerance per check: 4.5 standard errors
  // of the estimator plus the O(Δt) Euler–Maruyama bias, bounded here by 0.5 % of the true std.
  const paths = 3000;
  const steps = 2000;
  const dt = 1 / steps;
  const start = 2;
  for (const [name, sde] of Object.entries(SDES)) {
    const rng = new Random(11);
    const x = new Float64Array(paths).fill(start);
    for (let k = 0; k < steps; k++) {
      const t = k * dt;
      const f = drift(sde, x, t);
      const g = sde.diffusion(t) * Math.sqrt(dt);
      for (let i = 0; i < paths; i++) x[i] += f[i] * dt + g * rng.normal();
      const reached = (k + 1) * dt;
      if (![0.1, 0.5, 1].some((c) => Math.abs(c - reached) < dt / 2)) continue;
      const { alpha, sigma } = sde.transition(0, reached);
      const mean = x.reduce((a, b) => a + b, 0) / paths;
      const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / (paths - 1));
      const bias = 0.005 * sigma;
      assert.ok(
        Math.abs(mean - alpha * start) < (4.5 * sigma) / Math.sqrt(paths) + bias,
        `${name} mean at t=${reached}: ${mean} vs ${alpha * start}`,
      );
      assert.ok(
        Math.abs(std - sigma) < (4.5 * sigma) / Math.sqrt(2 * (paths - 1)) + bias,
        `${name} std at t=${reached}: ${std} vs ${sigma}`,
      );
    }
  }
});

test('marginals: closed forms of VP, sub-VP and VE by hand', () => {
  // B(t) = 0.1 t + 9.95 t², so B(0.5) = 2.5375.
  const B = 0.1 * 0.5 + 0.5 * 0.25 * 19.9;
  const vp = SDES.vp.marginal(0.5);
  assert.ok(Math.abs(vp.alpha - Math.exp(-B / 2)) < 1e-15);
  assert.ok(Math.abs(vp.sigma - Math.sqrt(1 - Math.exp(-B))) < 1e-15);
  const sub = SDES.subvp.marginal(0.5);
  assert.ok(Math.abs(sub.alpha - Math.exp(-B / 2)) < 1e-15);
  assert.ok(Math.abs(sub.sigma - (1 - Math.exp(-B))) < 1e-15);
  assert.ok(sub.sigma < vp.sigma, 'sub-VP variance is below VP');
  const ve = SDES.ve.marginal(0.5);
  assert.equal(ve.alpha, 1);
  assert.ok(Math.abs(ve.sigma - 0.01 * Math.sqrt(1000)) < 1e-14);
  // VE's training kernel starts at σ_min; its exact transition from a point mass does not.
  assert.ok(Math.abs(ve.sigma ** 2 - SDES.ve.transition(0, 0.5).sigma ** 2 - 1e-4) < 1e-12);
  for (const sde of [SDES.vp, SDES.subvp]) {
    assert.deepEqual(sde.marginal(0.3), sde.transition(0, 0.3));
  }
  // Transitions compose: s → u → t equals s → t (Chapman–Kolmogorov for linear Gaussian SDEs).
  for (const [name, sde] of Object.entries(SDES)) {
    const a = sde.transition(0.2, 0.45);
    const b = sde.transition(0.45, 0.9);
    const direct = sde.transition(0.2, 0.9);
    assert.ok(Math.abs(a.alpha * b.alpha - direct.alpha) < 1e-12, `${name} mean composes`);
    const variance = b.alpha ** 2 * a.sigma ** 2 + b.sigma ** 2;
    assert.ok(
      Math.abs(variance - direct.sigma ** 2) < 1e-9 * Math.max(1, variance),
      `${name} variance composes`,
    );
  }
});

test('probability-flow ODE with the exact score carries Gaussian data to the closed-form marginal', () => {
  // Data N(μ, s²): p_t = N(α μ, α² s² + σ²) with score −(x − α μ) / (α² s² + σ²). Integrating the ODE from
  // t = 1 back to t = 0.001 must map the prior quantile z to the same quantile of p_0.001.
  const mu = 0.7;
  const s = 0.3;
  const steps = 4000;
  for (const [name, sde] of Object.entries(SDES)) {
    const end = 0.001;
    const level = (t: number) => sde.marginal(t);
    const variance = (t: number) => level(t).alpha ** 2 * s * s + level(t).sigma ** 2;
    const quantiles = [-2, -0.5, 0, 1, 2.5];
    let x = Float64Array.from(quantiles, (z) => level(1).alpha * mu + Math.sqrt(variance(1)) * z);
    const dt = (1 - end) / steps;
    for (let k = 0; k < steps; k++) {
      // Heun's method backwards in time for a deterministic, second-order check.
      const t = 1 - k * dt;
      const score = (y: Float64Array, u: number) => y.map((v) => -(v - level(u).alpha * mu) / variance(u));
      const d1 = reverseDrift(sde, x, t, score(x, t), true);
      const guess = x.map((v, i) => v - dt * d1[i]);
      const d2 = reverseDrift(sde, guess, t - dt, score(guess, t - dt), true);
      x = x.map((v, i) => v - 0.5 * dt * (d1[i] + d2[i]));
    }
    quantiles.forEach((z, i) => {
      const expected = level(end).alpha * mu + Math.sqrt(variance(end)) * z;
      assert.ok(Math.abs(x[i] - expected) < 1e-3, `${name}: quantile ${z} → ${x[i]}, expected ${expected}`);
    });
  }
});

test('reverse SDE drift is f − g² · score, the ODE’s is f − g² · score / 2', () => {
  const sde = SDES.vp;
  const x = Float64Array.of(1, -2);
  const score = Float64Array.of(0.5, 3);
  const g2 = sde.diffusion(0.4) ** 2;
  const f = sde.driftScale(0.4);
  assert.deepEqual(Array.from(reverseDrift(sde, x, 0.4, score)), [f - g2 * 0.5, -2 * f - g2 * 3]);
  assert.deepEqual(Array.from(reverseDrift(sde, x, 0.4, score, true)), [f - g2 * 0.25, -2 * f - g2 * 1.5]);
});

test('prior sampling and log-density, and training perturbation', () => {
  const rng = new Random(5);
  const n = 20000;
  const ve = SDES.ve;
  const z = samplePrior(ve, n, rng);
  const std = Math.sqrt(z.reduce((a, b) => a + b * b, 0) / n);
  assert.ok(Math.abs(std - 10) < (4.5 * 10) / Math.sqrt(2 * n), `VE prior std ${std}`);
  assert.ok(Math.abs(priorLogProb(SDES.vp, Float64Array.of(0, 1)) - (-Math.log(2 * Math.PI) - 0.5)) < 1e-14);
  const x0 = Float64Array.of(1, 1, 2, 2);
  const noise = Float64Array.of(1, -1, 1, -1);
  const xt = perturb(SDES.vp, x0, noise, [0, 0.5]);
  const half = SDES.vp.marginal(0.5);
  assert.deepEqual(Array.from(xt.subarray(0, 2)), [1, 1]);
  assert.ok(Math.abs(xt[2] - (2 * half.alpha + half.sigma)) < 1e-15);
  assert.throws(() => SDES.vp.marginal(1.5), UsageError);
  assert.throws(() => createSde({ kind: 've', sigmaMin: 1, sigmaMax: 0.5 }), ConfigError);
  assert.throws(() => createSde({ kind: 'vp', betaMin: 20, betaMax: 0.1 }), ConfigError);
});

test('karras sigmas follow eq. 5 of Karras et al. and hit both endpoints', () => {
  const sigmas = karrasSigmas(10, 0.002, 80, 7);
  assert.equal(sigmas.length, 10);
  assert.equal(sigmas[0], 80);
  assert.equal(sigmas[9], 0.002);
  const inv = (s: number) => s ** (1 / 7);
  for (let i = 0; i < 10; i++) {
    const expected = (inv(80) + (i / 9) * (inv(0.002) - inv(80))) ** 7;
    assert.ok(Math.abs(sigmas[i] - expected) < 1e-12 * expected, `σ_${i}`);
    if (i > 0) assert.ok(sigmas[i] < sigmas[i - 1]);
  }
  // Hand value: i = 1 of 3 steps between 1 and 16 with ρ = 2: ((4 + 1) / 2)² = 6.25.
  assert.ok(Math.abs(karrasSigmas(3, 1, 16, 2)[1] - 6.25) < 1e-12);
  // ρ = 1 is linear in σ.
  assert.deepEqual(Array.from(karrasSigmas(3, 1, 3, 1)), [3, 2, 1]);
  assert.deepEqual(Array.from(appendZero(karrasSigmas(2, 1, 3))), [3, 1, 0]);
  assert.throws(() => karrasSigmas(5, 0, 80), ConfigError);
  assert.throws(() => karrasSigmas(0, 0.1, 80), ConfigError);
});

test('exponential and polyexponential sigmas', () => {
  const exp = exponentialSigmas(5, 0.01, 100);
  const expected = [100, 10, 1, 0.1, 0.01];
  exp.forEach((s, i) => assert.ok(Math.abs(s - expected[i]) < 1e-12 * expected[i], `exp σ_${i}`));
  // ρ = 2: ln σ = ln σ_min + r² (ln σ_max − ln σ_min), r = 1/2 at the middle of 3 steps → σ = 0.01 · 10^(4/4).
  const poly = polyexponentialSigmas(3, 0.01, 100, 2);
  assert.ok(Math.abs(poly[1] - 0.1) < 1e-14);
});

test('zero-terminal-SNR rescale makes ᾱ_T = 0, keeps ᾱ_0, and is affine in √ᾱ', () => {
  for (const name of ['linear', 'scaled_linear'] as const) {
    const betas = betaSchedule({
      betaSchedule: name,
      numTrainTimesteps: 1000,
      betaStart: 0.00085,
      betaEnd: 0.012,
    });
    const before = alphasCumprod(betas);
    const rescaledBetas = rescaleZeroTerminalSnr(betas);
    const after = alphasCumprod(rescaledBetas);
    assert.equal(after[999], 0);
    assert.equal(rescaledBetas[999], 1);
    assert.ok(Math.abs(after[0] - before[0]) < 1e-7, `ᾱ_0: ${after[0]} vs ${before[0]}`);
    const first = Math.sqrt(before[0]);
    const last = Math.sqrt(before[999]);
    for (const t of [1, 10, 100, 500, 900, 998]) {
      const expected = ((Math.sqrt(before[t]) - last) * first) / (first - last);
      assert.ok(Math.abs(Math.sqrt(after[t]) - expected) < 2e-6, `√ᾱ_${t}`);
    }
  }
  assert.throws(() => rescaleZeroTerminalSnr(Float64Array.of(0.1)), ConfigError);
});

test('noise-level conversions between ᾱ, σ, SNR and log-SNR agree and invert', () => {
  for (const alphaBar of [1e-6, 0.004, 0.5, 0.9999]) {
    const sigma = sigmaFromAlphaCumprod(alphaBar);
    assert.ok(Math.abs(alphaCumprodFromSigma(sigma) - alphaBar) < 1e-12 * Math.max(alphaBar, 1e-3));
    const logSnr = logSnrFromAlphaCumprod(alphaBar);
    assert.ok(Math.abs(logSnr - Math.log(snrFromAlphaCumprod(alphaBar))) < 1e-9);
    assert.ok(Math.abs(logSnr - logSnrFromSigma(sigma)) < 1e-9);
    assert.ok(Math.abs(alphaCumprodFromLogSnr(logSnr) - alphaBar) < 1e-12 * Math.max(alphaBar, 1e-3));
    assert.ok(Math.abs(sigmaFromLogSnr(logSnr) - sigma) < 1e-9 * sigma);
    const level = noiseLevelFromAlphaCumprod(alphaBar);
    assert.ok(Math.abs(sigmaOf(level) - sigma) < 1e-9 * sigma);
    assert.ok(Math.abs(logSnrOf(level) - logSnr) < 1e-9);
  }
  // Hand values: ᾱ = 0.2 → SNR 0.25, σ = 2, λ = −ln 4.
  assert.ok(Math.abs(snrFromAlphaCumprod(0.2) - 0.25) < 1e-15);
  assert.ok(Math.abs(sigmaFromAlphaCumprod(0.2) - 2) < 1e-15);
  assert.ok(Math.abs(logSnrFromAlphaCumprod(0.2) + Math.log(4)) < 1e-15);
  assert.equal(alphaCumprodFromLogSnr(-800), 0);
  assert.equal(alphaCumprodFromLogSnr(800), 1);
  // β ↔ ᾱ round trip.
  const betas = betaSchedule({
    betaSchedule: 'linear',
    numTrainTimesteps: 1000,
    betaStart: 1e-4,
    betaEnd: 0.02,
  });
  const recovered = betasFromAlphasCumprod(alphasCumprod(betas));
  for (const t of [0, 1, 500, 999]) assert.ok(Math.abs(recovered[t] - betas[t]) < 2e-5 * betas[t] + 1e-7);
});

test('σ ↔ timestep mapping as diffusers’ _sigma_to_t and np.interp', () => {
  const trainingSigmas = sigmasFromAlphasCumprod(
    alphasCumprod(
      betaSchedule({ betaSchedule: 'linear', numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 }),
    ),
  );
  for (const t of [0, 1, 17, 500, 998, 999]) {
    assert.ok(Math.abs(timestepFromSigma(trainingSigmas[t], trainingSigmas) - t) < 1e-9, `t=${t}`);
  }
  // Halfway in log σ between two training levels lands halfway between their timesteps.
  const between = Math.sqrt(trainingSigmas[300] * trainingSigmas[301]);
  assert.ok(Math.abs(timestepFromSigma(between, trainingSigmas) - 300.5) < 1e-9);
  assert.equal(timestepFromSigma(1e-9, trainingSigmas), 0);
  assert.equal(timestepFromSigma(1e9, trainingSigmas), 999);
  assert.equal(
    sigmaAtTimestep(300.25, trainingSigmas),
    trainingSigmas[300] + 0.25 * (trainingSigmas[301] - trainingSigmas[300]),
  );
  assert.equal(sigmaAtTimestep(-3, trainingSigmas), trainingSigmas[0]);
  assert.equal(sigmaAtTimestep(5000, trainingSigmas), trainingSigmas[999]);
});
