/**
 * Image-to-image (SDEdit) on the Gaussian-mixture oracle: strength 0 returns the input bit for bit,
 * strength 1 equals the registry's unconditional DDIM sample from the same noise (η = 0 and η = 1),
 * intermediate strengths run ⌊N·s⌋ steps and stay closer to the input the lower the strength, and a
 * strength outside [0, 1] is a UsageError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomNoiseSource } from '../../src/diffusion/samplers/common.js';
import { sample } from '../../src/diffusion/samplers/registry.js';
import { img2img, strengthStart, type EditSampler } from '../../src/pipelines/img2img.js';
import { UsageError } from '../../src/util/errors.js';
import { expectSchedulerClass } from '../../src/diffusion/scheduler-config.js';
import { Random } from '../../src/util/random.js';
import { oracleSetup, rmsDifference } from '../diffusion/oracle-harness.js';

const COUNT = 64;
const input = {
  data: Float32Array.from(
    { length: COUNT * 2 },
    (_, k) => (k % 2 === 0 ? -0.45 : -0.25) + 0.01 * Math.sin(k),
  ),
  shape: [COUNT, 2],
};

function sampler(seed: number, eta: number, steps = 20): EditSampler {
  const { config: anyConfig, model } = oracleSetup('ddim');
  const config = expectSchedulerClass(anyConfig, 'DDIMScheduler');
  return { model, config, numInferenceSteps: steps, eta, noiseSource: randomNoiseSource(new Random(seed)) };
}

test('strength 0 returns the input exactly', async () => {
  let calls = 0;
  const s = sampler(1, 0);
  const counted: EditSampler = { ...s, model: (x, t) => (calls++, s.model(x, t)) };
  const out = await img2img(counted, input, 0);
  assert.deepEqual(out, input.data);
  assert.notEqual(out, input.data, 'a copy, not the input array');
  assert.equal(calls, 0);
});

for (const eta of [0, 1]) {
  test(`strength 1 equals an unconditional DDIM sample from the same seed (eta ${eta})`, async () => {
    const out = await img2img(sampler(5, eta), input, 1);
    const { config: anyConfig, model } = oracleSetup('ddim');
    const config = expectSchedulerClass(anyConfig, 'DDIMScheduler');
    const random = new Random(5);
    const noise = random.normals(COUNT * 2);
    const reference = await sample(
      config,
      { model, noise, numInferenceSteps: 20, batchSize: COUNT, noiseSource: randomNoiseSource(random) },
      { eta },
    );
    assert.deepEqual(out, reference);
  });
}

test('strength s runs the last ⌊N·s⌋ timesteps; lower strength stays closer to the input', async () => {
  assert.equal(strengthStart(20, 0.5), 10);
  assert.equal(strengthStart(20, 0.33), 14);
  assert.equal(strengthStart(20, 1), 0);
  const seen: number[] = [];
  const s = sampler(3, 0);
  await img2img({ ...s, callback: (info) => void seen.push(info.timestep) }, input, 0.3);
  assert.deepEqual(seen, [250, 200, 150, 100, 50, 0]);
  const distances = [];
  for (const strength of [0.1, 0.4, 0.8]) {
    const out = await img2img(sampler(3, 0), input, strength);
    distances.push(rmsDifference(out, input.data));
  }
  assert.ok(distances[0] < distances[1] && distances[1] < distances[2], `distances ${distances}`);
  assert.ok(distances[0] < 0.15, `strength 0.1 moved the input by ${distances[0]}`);
});

test('strength outside [0, 1] is a UsageError', async () => {
  for (const strength of [-0.1, 1.5, Number.NaN]) {
    await assert.rejects(img2img(sampler(1, 0), input, strength), UsageError);
  }
});
