import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mixtureParams, mixtureScore, mixtureScoreFn, sampleMixture } from '../../src/diffusion/oracle.js';
import { createSde, DEFAULT_SUBVP_SDE, DEFAULT_VP_SDE, type Sde } from '../../src/diffusion/sde.js';
import { geometricSigmas, sampleAnnealedLangevin } from '../../src/diffusion/samplers/langevin.js';
import { sampleProbabilityFlow, scoreFromDenoiser, solveOde } from '../../src/diffusion/samplers/ode.js';
import { samplePredictorCorrector } from '../../src/diffusion/samplers/predictor-corrector.js';
import { mixtureDenoise } from '../../src/diffusion/oracle.js';
import { ConfigError, NotFoundError, NumericError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { DIM, mmd, nullThreshold, referenceSet, seededNoise, TEST_MIXTURE } from './oracle-harness.js';

// Samples of 500 points are compared with a fixed 2,000-point draw of the mixture by MMD²; the threshold
// is mean + 5·sd of the same statistic for 100 exact data draws of 500 points (≈ 0.015 with these seeds).
const SAMPLES = 500;
const reference = referenceSet(TEST_MIXTURE, 2000, 1);
const { threshold } = nullThreshold(TEST_MIXTURE, reference, SAMPLES, 100, 3);
const initialNoise = () => new Random(7).normals(SAMPLES * DIM);

const vp = createSde(DEFAULT_VP_SDE);
const subVp = createSde(DEFAULT_SUBVP_SDE);
// σ_max a little above the data's diameter (Song & Ermon's rule); σ_min 0.01.
const ve = createSde({ kind: 've', sigmaMin: 0.01, sigmaMax: 3 });
const oracleScore = (sde: Sde) => mixtureScoreFn(TEST_MIXTURE, (t) => sde.marginal(t));

function assertMatches(sample: ArrayLike<number>, what: string): number {
  const distance = mmd(sample, reference, DIM);
  assert.ok(distance < threshold, `${what}: MMD² ${distance.toFixed(4)} ≥ threshold ${threshold.toFixed(4)}`);
  return distance;
}

test('the statistic can fail: a too-wide mixture and unrefined noise exceed the threshold', () => {
  const wide = mixtureParams({
    weights: [0.5, 0.3, 0.2],
    means: [
      [-0.45, -0.25],
      [0.45, 0.45],
      [0.35, -0.55],
    ],
    variances: [0.02, [0.06, 0.008], 0.012],
  });
  assert.ok(
    mmd(sampleMixture(wide, SAMPLES, new Random(5)), reference, DIM) > threshold,
    'doubled variances',
  );
  assert.ok(mmd(initialNoise(), reference, DIM) > threshold, 'pure noise');
  assertMatches(sampleMixture(TEST_MIXTURE, SAMPLES, new Random(6)), 'a fresh exact draw');
});

test('annealed Langevin dynamics with the oracle score matches the mixture', async () => {
  const sample = await sampleAnnealedLangevin({
    score: async (x, sigma) => mixtureScore(TEST_MIXTURE, x, { alpha: 1, sigma }),
    noise: initialNoise(),
    noiseSource: seededNoise(8),
    sigmaMax: 1.5,
    sigmaMin: 0.01,
    numLevels: 10,
    stepsPerLevel: 100,
    stepSize: 2e-5,
  });
  assertMatches(sample, 'annealed Langevin (L=10, T=100, ε=2e-5)');
});

test('geometric noise levels run from sigmaMax to sigmaMin with a constant ratio', () => {
  const sigmas = geometricSigmas(1, 0.01, 5);
  assert.deepEqual(
    Array.from(sigmas, (s) => +s.toPrecision(12)),
    [1, 0.316227766017, 0.1, 0.0316227766017, 0.01],
  );
  assert.throws(() => geometricSigmas(0.01, 1, 5), ConfigError);
});

for (const [name, sde, predictor, corrector] of [
  ['VP, reverse diffusion + Langevin', vp, 'reverse_diffusion', 'langevin'],
  ['VE, reverse diffusion + Langevin', ve, 'reverse_diffusion', 'langevin'],
  ['sub-VP, Euler–Maruyama only', subVp, 'euler_maruyama', 'none'],
  ['VE, Euler–Maruyama + Langevin', ve, 'euler_maruyama', 'langevin'],
] as const) {
  test(`predictor–corrector (${name}, 200 steps) matches the mixture`, async () => {
    const sample = await samplePredictorCorrector({
      sde,
      score: oracleScore(sde),
      noise: initialNoise(),
      dim: DIM,
      noiseSource: seededNoise(8),
      numSteps: 200,
      predictor,
      corrector,
    });
    assertMatches(sample, name);
  });
}

test('predictor–corrector: the corrector alone needs many steps; the statistic notices too few', async () => {
  const run = (numSteps: number) =>
    samplePredictorCorrector({
      sde: ve,
      score: oracleScore(ve),
      noise: initialNoise(),
      dim: DIM,
      noiseSource: seededNoise(8),
      numSteps,
      predictor: 'none',
      correctorSteps: 2,
    });
  assert.ok(mmd(await run(50), reference, DIM) > threshold, '50 corrector-only levels should not suffice');
  assertMatches(await run(1000), 'corrector only, 1000 levels × 2');
});

test('predictor–corrector is reproducible from its seeds and rejects bad configurations', async () => {
  const request = {
    sde: vp,
    score: oracleScore(vp),
    noise: initialNoise().subarray(0, 20),
    dim: DIM,
    numSteps: 10,
  };
  const a = await samplePredictorCorrector({ ...request, noiseSource: seededNoise(1) });
  const b = await samplePredictorCorrector({ ...request, noiseSource: seededNoise(1) });
  const c = await samplePredictorCorrector({ ...request, noiseSource: seededNoise(2) });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  await assert.rejects(samplePredictorCorrector(request), UsageError);
  await assert.rejects(
    samplePredictorCorrector({ ...request, noiseSource: seededNoise(1), predictor: 'heun' as never }),
    NotFoundError,
  );
  await assert.rejects(
    samplePredictorCorrector({ ...request, noiseSource: seededNoise(1), numSteps: 0 }),
    ConfigError,
  );
  await assert.rejects(
    samplePredictorCorrector({ ...request, noiseSource: seededNoise(1), dim: 3 }),
    ConfigError,
  );
});

for (const [name, sde] of [
  ['VP', vp],
  ['VE', ve],
  ['sub-VP', subVp],
] as const) {
  test(`probability-flow ODE (${name}, RK45 rtol=atol=1e-5) matches the mixture`, async () => {
    const result = await sampleProbabilityFlow({ sde, score: oracleScore(sde), noise: initialNoise() });
    assertMatches(result.sample, `probability flow ${name} (NFE ${result.nfe})`);
    assert.ok(result.nfe < 500, `NFE ${result.nfe}`);
  });
}

test('probability-flow ODE: NFE drops as rtol grows', async () => {
  const nfes: number[] = [];
  for (const rtol of [1e-6, 1e-4, 1e-2, 1e-1]) {
    const result = await sampleProbabilityFlow({
      sde: vp,
      score: oracleScore(vp),
      noise: initialNoise().subarray(0, 100),
      rtol,
      atol: rtol,
    });
    nfes.push(result.nfe);
  }
  for (let i = 1; i < nfes.length; i++) assert.ok(nfes[i] < nfes[i - 1], `NFE by rtol: ${nfes.join(', ')}`);
});

test('probability-flow ODE transports a Gaussian exactly onto its closed-form image', async () => {
  // For Gaussian data N(μ, c) per coordinate the flow is linear: x(t) = α_t μ + √(C_t/C_1)·(x(1) − α_1 μ)
  // with C_t = α_t² c + σ_t²; the sampler, given the denoiser, must land there to the solver tolerance.
  const mean = [0.3, -0.2];
  const variance = [0.05, 0.2];
  const gaussian = mixtureParams({ weights: [1], means: [mean], variances: [variance] });
  const denoiser = async (x: Float64Array, t: number) => mixtureDenoise(gaussian, x, vp.marginal(t));
  const noise = new Random(3).normals(40);
  const result = await sampleProbabilityFlow({
    sde: vp,
    score: scoreFromDenoiser(denoiser, vp),
    noise,
    eps: 1e-3,
  });
  const start = vp.marginal(1);
  const end = vp.marginal(1e-3);
  result.sample.forEach((value, i) => {
    const d = i % 2;
    const c = (level: typeof start) => level.alpha ** 2 * variance[d] + level.sigma ** 2;
    const expected = end.alpha * mean[d] + Math.sqrt(c(end) / c(start)) * (noise[i] - start.alpha * mean[d]);
    assert.ok(Math.abs(value - expected) < 1e-4, `coordinate ${i}: ${value} vs ${expected}`);
  });
});

test('RK45 solves y′ = −y·cos t to tolerance and counts its evaluations', async () => {
  let calls = 0;
  const solution = await solveOde(
    async (t, y) => {
      calls++;
      return Float64Array.from(y, (v) => -v * Math.cos(t));
    },
    Float64Array.of(1, 2),
    0,
    5,
    { rtol: 1e-8, atol: 1e-10 },
  );
  const exact = Math.exp(-Math.sin(5));
  assert.ok(
    Math.abs(solution.y[0] - exact) < 1e-7 * exact && Math.abs(solution.y[1] - 2 * exact) < 2e-7 * exact,
  );
  assert.equal(solution.nfe, calls);
  assert.equal(solution.nfe, 2 + 6 * (solution.acceptedSteps + solution.rejectedSteps));
});

test('RK45 reports a non-finite right-hand side and bad tolerances as typed errors', async () => {
  await assert.rejects(
    solveOde(async () => Float64Array.of(NaN), Float64Array.of(1), 0, 1),
    NumericError,
  );
  await assert.rejects(
    solveOde(async (_, y) => y, Float64Array.of(1), 0, 1, { rtol: 0 }),
    UsageError,
  );
});
