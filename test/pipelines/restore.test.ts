/**
 * Restoration on the Gaussian-mixture oracle: mixture points plus known Gaussian noise come back closer
 * to the clean points (MSE) than the noisy input, by a stated margin; the σ → timestep match follows the
 * formula; the Immerkær/MAD σ estimate recovers the noise level of a smooth image; bad σ is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleMixture } from '../../src/diffusion/oracle.js';
import { trainingAlphasCumprod, type TrainingScheduleConfig } from '../../src/diffusion/timesteps.js';
import { meanSquaredError } from '../../src/metrics/image.js';
import { estimateNoiseSigma, restore, timestepForSigma } from '../../src/pipelines/restore.js';
import type { EditSampler } from '../../src/pipelines/img2img.js';
import { UsageError } from '../../src/util/errors.js';
import { expectSchedulerClass } from '../../src/diffusion/scheduler-config.js';
import { Random } from '../../src/util/random.js';
import { TEST_MIXTURE, oracleSetup } from '../diffusion/oracle-harness.js';

function sampler(steps = 50): EditSampler {
  const { config: anyConfig, model } = oracleSetup('ddim');
  const config = expectSchedulerClass(anyConfig, 'DDIMScheduler');
  return { model, config, numInferenceSteps: steps };
}

test('timestepForSigma picks the t whose √(1−ᾱ)/√ᾱ is nearest σ', () => {
  const alphas = trainingAlphasCumprod(oracleSetup('ddim').config as TrainingScheduleConfig);
  const sigmaAt = (t: number) => Math.sqrt((1 - alphas[t]) / alphas[t]);
  for (const t of [3, 40, 200, 700]) assert.equal(timestepForSigma(alphas, sigmaAt(t)), t);
  const t = timestepForSigma(alphas, 0.1);
  assert.ok(sigmaAt(t - 1) < 0.1 + 1e-3 && sigmaAt(t + 1) > 0.1 - 1e-3);
  assert.ok(Math.abs(sigmaAt(t) - 0.1) <= Math.abs(sigmaAt(t + 1) - 0.1));
});

/**
 * For one Gaussian component of variance c the DDIM map is the linear transport y ↦ √(c/(c+σ²))·y, whose
 * MSE ratio to the noisy input is ((1−a)²c + a²σ²)/σ² with a = √(c/(c+σ²)): ≈ 0.85, 0.59, 0.40 for c = 0.01
 * at σ = 0.05, 0.1, 0.2. The bounds leave a little room above the measured 0.77, 0.47, 0.35.
 */
const MAX_MSE_RATIO: Record<number, number> = { 0.05: 0.85, 0.1: 0.6, 0.2: 0.45 };

test('restored mixture points are closer to the clean ones than the noisy input, by a stated MSE ratio', async () => {
  const random = new Random(11);
  const count = 500;
  for (const sigma of [0.05, 0.1, 0.2]) {
    const clean = sampleMixture(TEST_MIXTURE, count, random);
    const noisy = Float32Array.from(clean, (v) => v + sigma * random.normal());
    const restored = await restore(sampler(), { image: { data: noisy, shape: [count, 2] }, sigma });
    const before = meanSquaredError(noisy, clean);
    const after = meanSquaredError(restored, clean);
    console.log(
      `σ ${sigma}: MSE noisy ${before.toFixed(5)}, restored ${after.toFixed(5)}, ratio ${(after / before).toFixed(3)}`,
    );
    assert.ok(after < MAX_MSE_RATIO[sigma] * before, `σ ${sigma}: ${after} vs ${before}`);
  }
});

test('σ = 0 returns the input; negative or too large σ is a UsageError', async () => {
  const data = Float32Array.from([0.1, -0.2, 0.3, 0.4]);
  assert.deepEqual(await restore(sampler(), { image: { data, shape: [2, 2] }, sigma: 0 }), data);
  await assert.rejects(restore(sampler(), { image: { data, shape: [2, 2] }, sigma: -0.1 }), UsageError);
  await assert.rejects(restore(sampler(), { image: { data, shape: [2, 2] }, sigma: 1e6 }), UsageError);
});

test('the Immerkær/MAD estimate recovers the noise σ of a smooth image within 10%', () => {
  const random = new Random(2);
  const [h, w] = [48, 48];
  for (const sigma of [0.03, 0.1, 0.3]) {
    const data = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const smooth = 0.6 * Math.sin(x / 9 + c) * Math.cos(y / 11);
          data[(c * h + y) * w + x] = smooth + sigma * random.normal();
        }
    const estimate = estimateNoiseSigma({ data, shape: [1, 3, h, w] });
    assert.ok(Math.abs(estimate / sigma - 1) < 0.1, `σ ${sigma}: estimated ${estimate}`);
  }
  assert.ok(estimateNoiseSigma({ data: new Float32Array(100).fill(0.3), shape: [10, 10] }) === 0);
});
