// The consistency sampler (diffusers' CMStochasticIterativeScheduler) with the EXACT consistency function
// of Gaussian data. For x₀ ~ N(μ, s²) per coordinate and x = x₀ + σ ε, the denoiser is
// D(x; σ) = μ + s²/(s² + σ²)(x − μ), so the probability-flow ODE dx/dσ = (x − D)/σ = σ(x − μ)/(s² + σ²)
// keeps (x − μ)/√(s² + σ²) constant, and the consistency function (ODE solution at σ_min) is
// f(x, σ) = μ + (x − μ)√(s² + σ_min²)/√(s² + σ²). One step from σ_max noise then gives
// N(μ, σ_max²(s² + σ_min²)/(s² + σ_max²)), and each re-noised step keeps the law N(μ, s² + σ_min²).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomNoiseSource } from '../../src/diffusion/samplers/common.js';
import {
  boundaryScalings,
  consistencyInputScale,
  consistencySigmas,
  consistencyTimestep,
  sampleConsistency,
} from '../../src/diffusion/samplers/consistency.js';
import { resolveSampler, samplerSetup } from '../../src/diffusion/samplers/registry.js';
import type { ModelFn } from '../../src/diffusion/samplers/types.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { ConfigError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const MEANS = [0.3, -0.6];
const STDS = [0.5, 0.2];
const CONFIG = schedulerConfig('CMStochasticIterativeScheduler', { clipDenoised: false });
const LEVELS = { sigmaMin: 0.002, sigmaMax: 80, sigmaData: 0.5, rho: 7 };

/** The raw network output F = (f − c_skip x)/c_out of the exact Gaussian consistency function. */
const exactModel: ModelFn = async (input, timestep) => {
  const sigma = Math.exp(timestep / 250);
  const x = Array.from(input, (v) => v / consistencyInputScale(sigma, LEVELS));
  const { cSkip, cOut } = boundaryScalings(sigma, LEVELS);
  return Float32Array.from(x, (v, i) => {
    const k = i % 2;
    const s2 = STDS[k] ** 2;
    const f = MEANS[k] + (v - MEANS[k]) * Math.sqrt((s2 + 0.002 ** 2) / (s2 + sigma * sigma));
    return (f - cSkip * v) / cOut;
  });
};

function moments(samples: Float32Array, k: number): { mean: number; variance: number } {
  const values = samples.filter((_, i) => i % 2 === k);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1);
  return { mean, variance };
}

const COUNT = 20000;

for (const steps of [1, 2, 5]) {
  test(`${steps}-step consistency sampling with the exact consistency function reproduces the Gaussian`, async () => {
    const samples = await sampleConsistency(
      {
        model: exactModel,
        noise: new Random(1).normals(COUNT * 2),
        numInferenceSteps: steps,
        batchSize: COUNT,
        noiseSource: randomNoiseSource(new Random(2)),
      },
      CONFIG,
    );
    for (const k of [0, 1]) {
      const { mean, variance } = moments(samples, k);
      const s2 = STDS[k] ** 2 + 0.002 ** 2;
      const expected = steps === 1 ? (80 ** 2 * s2) / (STDS[k] ** 2 + 80 ** 2) : s2;
      // Standard errors: sd/√n for the mean, variance·√(2/n) for the variance; 5 of them allowed.
      assert.ok(
        Math.abs(mean - MEANS[k]) < (5 * STDS[k]) / Math.sqrt(COUNT),
        `coordinate ${k}: mean ${mean}`,
      );
      assert.ok(
        Math.abs(variance - expected) < 5 * expected * Math.sqrt(2 / COUNT),
        `coordinate ${k}: variance ${variance} vs ${expected}`,
      );
    }
  });
}

test("σ levels follow diffusers' set_timesteps: Karras at i·⌊N_train/N⌋/(N_train − 1), then σ_min", () => {
  const karras = (r: number) => (80 ** (1 / 7) + r * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7;
  assert.deepEqual([...consistencySigmas(CONFIG, 1)], [80, 0.002]);
  const two = consistencySigmas(CONFIG, 2);
  assert.ok(Math.abs(two[1] - karras(20 / 39)) < 1e-12);
  const four = consistencySigmas(CONFIG, 4);
  [0, 10, 20, 30].forEach((position, i) => assert.ok(Math.abs(four[i] - karras(position / 39)) < 1e-9));
  assert.throws(() => consistencySigmas(CONFIG, 41), ConfigError);
  assert.ok(Math.abs(consistencyTimestep(80) - 250 * Math.log(80)) < 1e-9);
});

test('the boundary condition holds exactly: f(x, σ_min) = x', () => {
  const { cSkip, cOut } = boundaryScalings(0.002, LEVELS);
  assert.equal(cSkip, 1);
  assert.equal(cOut, 0);
  // Far from σ_min the scalings approach EDM's (σ_d²/(σ² + σ_d²), σσ_d/√(σ² + σ_d²)).
  const { cSkip: s80, cOut: o80 } = boundaryScalings(80, LEVELS);
  assert.ok(Math.abs(s80 - 0.25 / (79.998 ** 2 + 0.25)) < 1e-15);
  assert.ok(Math.abs(o80 - (79.998 * 0.5) / Math.sqrt(6400.25)) < 1e-12);
});

test('the registry finds it by class name and short names; one step needs no noise source', async () => {
  assert.equal(resolveSampler('CMStochasticIterativeScheduler').name, 'consistency');
  assert.equal(resolveSampler('cm').name, 'consistency');
  const { entry, config } = samplerSetup('consistency');
  assert.equal(config.className, 'CMStochasticIterativeScheduler');
  const one = await entry.run(
    { model: exactModel, noise: new Random(1).normals(8), numInferenceSteps: 1, batchSize: 4 },
    CONFIG,
    {},
  );
  assert.equal(one.length, 8);
  await assert.rejects(
    entry.run(
      { model: exactModel, noise: new Random(1).normals(8), numInferenceSteps: 2, batchSize: 4 },
      CONFIG,
      {},
    ),
    /noiseSource/,
  );
});
