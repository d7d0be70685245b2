// The LCM sampler (diffusers' LCMScheduler): its timestep grid, one step worked by hand, the boundary
// condition, and sampling the Gaussian-mixture oracle. Two oracle "networks" are used. (a) The exact
// denoiser E[x₀ | x_t], which is what an ordinary diffusion model learns: LCM then re-noises a posterior
// mean at every step and ends on one, so its samples are too narrow (measured below) yet improve with
// every step. (b) The exact consistency function of the mixture, what an LCM is distilled to be: the
// probability-flow ODE endpoint f(x_t, t), computed here by 100 DDIM (η = 0) steps with the exact
// denoiser from t down to 0; with it LCM must reproduce the mixture at 1, 2, 4 and 8 steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { discreteNoiseLevel, mixtureDenoise, sampleMixture } from '../../src/diffusion/oracle.js';
import { lcmBoundaryScalings, lcmTimesteps, sampleLcm } from '../../src/diffusion/samplers/lcm.js';
import { resolveSampler, sample, samplerSetup } from '../../src/diffusion/samplers/registry.js';
import type { ModelFn, NoiseSource, StepInfo } from '../../src/diffusion/samplers/types.js';
import {
  expectSchedulerClass,
  parseSchedulerConfig,
  schedulerConfig,
  withSchedulerFields,
  type LCMSchedulerConfig,
} from '../../src/diffusion/scheduler-config.js';
import { trainingAlphasCumprod } from '../../src/diffusion/timesteps.js';
import { ConfigError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import {
  DIM,
  mmd,
  nullThreshold,
  oracleSetup,
  ORACLE_SCHEDULE,
  referenceSet,
  seededNoise,
  TEST_MIXTURE,
} from './oracle-harness.js';

const DEFAULTS = schedulerConfig('LCMScheduler');

test("diffusers' defaults: Stable Diffusion's scaled-linear β, a 50-step grid, timestep_scaling 10", () => {
  assert.equal(DEFAULTS.betaSchedule, 'scaled_linear');
  assert.equal(DEFAULTS.betaStart, 0.00085);
  assert.equal(DEFAULTS.betaEnd, 0.012);
  assert.equal(DEFAULTS.originalInferenceSteps, 50);
  assert.equal(DEFAULTS.timestepScaling, 10);
  assert.equal(DEFAULTS.clipSample, false);
  assert.equal(DEFAULTS.thresholding, false);
});

test("the timestep grid for 1, 2, 4 and 8 steps is diffusers'", () => {
  // T = 1000, original_inference_steps = 50: skipping step k = 20, grid [1..50]·20 − 1 = 19, 39, …, 999,
  // reversed to 999, 979, …, 19 (entry j is 999 − 20j). Indices floor(linspace(0, 50, N, endpoint=False)):
  //   N = 1: [0]                          → [999]
  //   N = 2: [0, 25]                      → [999, 499]
  //   N = 4: [0, 12.5, 25, 37.5] → 0, 12, 25, 37            → [999, 759, 499, 259]
  //   N = 8: [0, 6.25, 12.5, …, 43.75] → 0, 6, 12, 18, 25, 31, 37, 43
  //                                       → [999, 879, 759, 639, 499, 379, 259, 139]
  const expected: Record<number, number[]> = {
    1: [999],
    2: [999, 499],
    4: [999, 759, 499, 259],
    8: [999, 879, 759, 639, 499, 379, 259, 139],
  };
  for (const [steps, timesteps] of Object.entries(expected))
    assert.deepEqual([...lcmTimesteps(DEFAULTS, Number(steps))], timesteps, `${steps} steps`);
  // N = 3: 50/3 = 16.67 → indices 0, 16, 33 → [999, 679, 339]; N = 50 is the whole grid, down to 19.
  assert.deepEqual([...lcmTimesteps(DEFAULTS, 3)], [999, 679, 339]);
  const all = lcmTimesteps(DEFAULTS, 50);
  assert.equal(all.length, 50);
  assert.equal(all[49], 19);
  assert.throws(() => lcmTimesteps(DEFAULTS, 51), ConfigError);
  assert.throws(() => lcmTimesteps(DEFAULTS, 0), ConfigError);
  assert.throws(() => schedulerConfig('LCMScheduler', { originalInferenceSteps: 2000 }), /cannot exceed/);
});

/** ᾱ_t of the scaled-linear schedule, written out: β_i = (√β₀ + i(√β₁ − √β₀)/(T − 1))². */
function scaledLinearAlpha(t: number): number {
  const [low, high] = [Math.sqrt(0.00085), Math.sqrt(0.012)];
  let product = 1;
  for (let i = 0; i <= t; i++) product *= 1 - (low + (i * (high - low)) / 999) ** 2;
  return product;
}

/** A noise source that replays fixed values. */
function fixedNoise(values: number[]): NoiseSource {
  return { normal: (count) => Float32Array.from({ length: count }, (_, i) => values[i % values.length]) };
}

test('two steps worked by hand (ε prediction, default config)', async () => {
  const x = [0.3, -1.2];
  const epsilon = [0.1, 0.5];
  const z = [0.7, -0.4];
  const model: ModelFn = async () => Float32Array.from(epsilon);
  const steps: StepInfo[] = [];
  const out = await sampleLcm(
    {
      model,
      noise: Float32Array.from(x),
      numInferenceSteps: 2,
      noiseSource: fixedNoise(z),
      callback: (info) => void steps.push(info),
    },
    DEFAULTS,
  );
  // Step at t: x̂₀ = (x − √(1−ᾱ_t) ε)/√ᾱ_t; f = c_out x̂₀ + c_skip x with s·t = 10t, σ_d = 0.5.
  const consistency = (input: number[], t: number) => {
    const a = scaledLinearAlpha(t);
    const cSkip = 0.25 / ((10 * t) ** 2 + 0.25);
    const cOut = (10 * t) / Math.sqrt((10 * t) ** 2 + 0.25);
    return input.map((v, k) => cOut * ((v - Math.sqrt(1 - a) * epsilon[k]) / Math.sqrt(a)) + cSkip * v);
  };
  const f999 = consistency(x, 999);
  const a499 = scaledLinearAlpha(499);
  const x499 = f999.map((v, k) => Math.sqrt(a499) * v + Math.sqrt(1 - a499) * z[k]);
  const f499 = consistency(x499, 499);
  assert.deepEqual(
    steps.map((s) => s.timestep),
    [999, 499],
  );
  for (let k = 0; k < 2; k++) {
    assert.ok(Math.abs(steps[0].predictedOriginal[k] - f999[k]) < 1e-4, `f at 999: ${f999[k]}`);
    assert.ok(Math.abs(steps[0].sample[k] - x499[k]) < 1e-4, `x at 499: ${x499[k]}`);
    assert.ok(Math.abs(out[k] - f499[k]) < 1e-4, `result: ${out[k]} vs ${f499[k]}`);
  }
  // The last step returns the consistency estimate itself; no noise is added.
  assert.deepEqual([...out], [...steps[1].predictedOriginal]);
});

test('the boundary condition: at timestep 0 the step returns its input whatever the network says', async () => {
  const { cSkip, cOut } = lcmBoundaryScalings(0, 10);
  assert.equal(cSkip, 1);
  assert.equal(cOut, 0);
  // T = 10 and a 10-step grid: skipping step 1, timesteps 9, 8, …, 0.
  const config = schedulerConfig('LCMScheduler', { numTrainTimesteps: 10, originalInferenceSteps: 10 });
  assert.deepEqual([...lcmTimesteps(config, 10)], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  let lastInput: Float32Array = new Float32Array();
  const model: ModelFn = async (input) => {
    lastInput = input;
    return input.map(() => 123);
  };
  const out = await sampleLcm(
    { model, noise: new Random(1).normals(6), numInferenceSteps: 10, noiseSource: seededNoise(2) },
    config,
  );
  assert.deepEqual([...out], [...lastInput]);
});

test('clip_sample and thresholding limit x̂₀; one step needs no noise source, more steps do', async () => {
  const config = schedulerConfig('LCMScheduler', { predictionType: 'sample', clipSample: true });
  const model: ModelFn = async (input) => input.map(() => 5);
  const one = await sampleLcm({ model, noise: Float32Array.from([0.2, -0.2]), numInferenceSteps: 1 }, config);
  // At t = 999, c_out = 9990/√(9990² + 0.25) and c_skip ≈ 2.5·10⁻⁹: the clipped x̂₀ = 1 comes through.
  for (const v of one) assert.ok(Math.abs(v - 1) < 1e-6, `got ${v}`);
  // Dynamic thresholding: s = the 0.995 quantile of |x̂₀| = 3, capped at sample_max_value 2; x̂₀ → clamp(±2)/2.
  const thresholding = schedulerConfig('LCMScheduler', {
    predictionType: 'sample',
    thresholding: true,
    sampleMaxValue: 2,
  });
  const spread: ModelFn = async () => Float32Array.from([3, 0.5, -3, 1.5]);
  const limited = await sampleLcm(
    { model: spread, noise: new Float32Array(4), numInferenceSteps: 1 },
    thresholding,
  );
  [1, 0.25, -1, 0.75].forEach((v, i) => assert.ok(Math.abs(limited[i] - v) < 1e-6, `${limited[i]}`));
  await assert.rejects(
    sampleLcm({ model, noise: Float32Array.from([0.2, -0.2]), numInferenceSteps: 2 }, config),
    (error: unknown) => error instanceof UsageError && /noiseSource/.test(error.message),
  );
});

test('the registry resolves lcm and LCMScheduler, and runs a diffusers LCM scheduler_config.json', async () => {
  assert.equal(resolveSampler('lcm').name, 'lcm');
  assert.equal(resolveSampler('LCMScheduler'), resolveSampler('lcm'));
  assert.equal(samplerSetup('lcm').config.className, 'LCMScheduler');
  const file = parseSchedulerConfig(
    JSON.stringify({
      _class_name: 'LCMScheduler',
      _diffusers_version: '0.22.0.dev0',
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      clip_sample: false,
      num_train_timesteps: 1000,
      original_inference_steps: 50,
      prediction_type: 'epsilon',
      set_alpha_to_one: true,
      steps_offset: 1,
      trained_betas: null,
    }),
  );
  assert.equal(samplerSetup(file).entry.name, 'lcm');
  const timesteps: number[] = [];
  const out = await sample(file, {
    model: async (input) => input.map(() => 0),
    noise: new Random(3).normals(4),
    numInferenceSteps: 4,
    noiseSource: seededNoise(4),
    callback: (info) => void timesteps.push(info.timestep),
  });
  assert.equal(out.length, 4);
  assert.deepEqual(timesteps, [999, 759, 499, 259]);
});

// ---- The Gaussian-mixture oracle (same schedule, sizes and MMD² statistic as sampler-oracle.test.ts). ----

const SAMPLES = 500;
const reference = referenceSet(TEST_MIXTURE, 2000, 1);
const { threshold } = nullThreshold(TEST_MIXTURE, reference, SAMPLES, 100, 3);
const DATA = sampleMixture(TEST_MIXTURE, 100_000, new Random(5));

/** Per-coordinate mean and variance of interleaved 2-D points. */
function moments(points: ArrayLike<number>): { mean: number[]; variance: number[] } {
  const mean = [0, 0];
  const variance = [0, 0];
  const n = points.length / DIM;
  for (let i = 0; i < points.length; i++) mean[i % DIM] += points[i] / n;
  for (let i = 0; i < points.length; i++) variance[i % DIM] += (points[i] - mean[i % DIM]) ** 2 / (n - 1);
  return { mean, variance };
}

async function runOracle(model: ModelFn, config: LCMSchedulerConfig, steps: number, noiseSeed = 8) {
  return sampleLcm(
    {
      model,
      noise: new Random(7).normals(SAMPLES * DIM),
      numInferenceSteps: steps,
      batchSize: SAMPLES,
      noiseSource: seededNoise(noiseSeed),
    },
    config,
  );
}

test('with the exact denoiser x̂₀ = E[x₀|x_t] every added step brings the samples closer to the mixture', async () => {
  // Measured (500 samples; data mean (−0.019, −0.100), variance (0.202, 0.150); MMD² null threshold 0.015):
  //   steps  MMD²    mean              variance
  //   1      3.89    (−0.020, −0.100)  (0.000, 0.000)   every point at the data mean
  //   2      2.66    (−0.019, −0.101)  (0.004, 0.003)
  //   4      1.22    (−0.031, −0.111)  (0.030, 0.021)
  //   8      0.50    (−0.034, −0.132)  (0.074, 0.048)
  // The mean is the data's, the spread is not: LCM ends on a posterior mean at t = 259 (4 steps) or 139
  // (8 steps). A model distilled to the consistency function does not have this gap (next test).
  const setup = oracleSetup('lcm');
  const config = expectSchedulerClass(setup.config, 'LCMScheduler');
  const data = moments(DATA);
  const distances: number[] = [];
  const variances: number[] = [];
  for (const steps of [1, 2, 4, 8]) {
    const samples = await runOracle(setup.model, config, steps);
    distances.push(mmd(samples, reference, DIM));
    const { mean, variance } = moments(samples);
    variances.push(variance[0] + variance[1]);
    if (steps >= 4)
      for (let k = 0; k < DIM; k++)
        assert.ok(
          Math.abs(mean[k] - data.mean[k]) < 0.05,
          `${steps} steps: mean ${mean[k]} vs ${data.mean[k]}`,
        );
  }
  const listing = distances.map((d) => d.toFixed(3)).join(', ');
  for (let i = 1; i < distances.length; i++) {
    assert.ok(distances[i] < 0.7 * distances[i - 1], `MMD² at 1, 2, 4, 8 steps: ${listing}`);
    assert.ok(variances[i] > variances[i - 1], `variances ${variances.join(', ')}`);
  }
  assert.ok(distances[3] < 0.6, listing);
  assert.ok(variances[3] > 0.1 && variances[3] < data.variance[0] + data.variance[1], `${variances[3]}`);
});

/** The exact consistency function of the mixture: 100 DDIM (η = 0) steps with the exact denoiser from t to 0. */
function consistencyModel(config: LCMSchedulerConfig): ModelFn {
  const alphas = trainingAlphasCumprod(config);
  const odeEndpoint = (x: Float64Array, t: number): Float64Array => {
    const grid = Array.from({ length: 101 }, (_, i) => Math.round(t - (i * t) / 100));
    let y = x;
    for (let i = 0; ; i++) {
      const x0 = mixtureDenoise(TEST_MIXTURE, y, discreteNoiseLevel(alphas, grid[i]));
      if (i === grid.length - 1) return x0;
      const [a, next] = [alphas[grid[i]], alphas[grid[i + 1]]];
      y = y.map((v, k) => {
        const epsilon = (v - Math.sqrt(a) * x0[k]) / Math.sqrt(1 - a);
        return Math.sqrt(next) * x0[k] + Math.sqrt(1 - next) * epsilon;
      });
    }
  };
  // As a 'sample'-prediction network: the x̂₀ for which c_out x̂₀ + c_skip x_t is f(x_t, t).
  return async (input, t) => {
    const x = Float64Array.from(input);
    const f = odeEndpoint(x, t);
    const { cSkip, cOut } = lcmBoundaryScalings(t, config.timestepScaling);
    return Float32Array.from(f, (v, k) => (v - cSkip * x[k]) / cOut);
  };
}

test('with the exact consistency function LCM reproduces the mixture at 1, 2, 4 and 8 steps', async () => {
  // Measured MMD² (threshold 0.015): 1 step 0.0034, 2 steps −0.0019, 4 steps 0.0003, 8 steps −0.0034.
  const config = withSchedulerFields(DEFAULTS, { ...ORACLE_SCHEDULE, predictionType: 'sample' } as never);
  const model = consistencyModel(config);
  for (const steps of [1, 2, 4, 8]) {
    const distance = mmd(await runOracle(model, config, steps), reference, DIM);
    assert.ok(distance < threshold, `${steps} steps: MMD² ${distance.toFixed(4)} ≥ ${threshold.toFixed(4)}`);
  }
});

test('ε, x₀ and v networks give the same samples; a run is fixed by its seeds', async () => {
  const results: Float32Array[] = [];
  for (const prediction of ['epsilon', 'sample', 'v_prediction'] as const) {
    const setup = oracleSetup('lcm', prediction);
    results.push(await runOracle(setup.model, expectSchedulerClass(setup.config, 'LCMScheduler'), 4));
  }
  for (const other of results.slice(1))
    for (let i = 0; i < other.length; i++) assert.ok(Math.abs(other[i] - results[0][i]) < 1e-4);
  const setup = oracleSetup('lcm');
  const config = expectSchedulerClass(setup.config, 'LCMScheduler');
  assert.deepEqual(await runOracle(setup.model, config, 4), results[0]);
  const reseeded = await runOracle(setup.model, config, 4, 9);
  assert.ok(
    reseeded.some((v, i) => Math.abs(v - results[0][i]) > 1e-3),
    'another noise seed changes the samples',
  );
});
