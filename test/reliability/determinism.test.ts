// Determinism: the same seed and config give bit-identical samples across two runs (a deterministic
// and an ancestral sampler, with and without classifier-free guidance) and bit-identical training
// losses and weights; another seed gives other samples. Across runtimes the samples agree to float32
// rounding only: the reference interpreter computes in float64, onnxruntime in float32.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDataset } from '../../src/data/dataset.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { OrtNodeRuntime, ReferenceRuntime, type Runtime } from '../../src/engine/index.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { generate } from '../../src/pipelines/generate.js';
import { parseTrainConfig } from '../../src/training/config.js';
import { train } from '../../src/training/trainer.js';
import { Random } from '../../src/util/random.js';

const network = new MLPDenoiser({ hidden_size: 16, num_layers: 2, num_class_embeds: 3 });
const params = network.init(new Random(7));
const scheduler = schedulerConfig('DDPMScheduler', { numTrainTimesteps: 1000 });

function samples(sampler: string, seed: number, runtime: Runtime = new OrtNodeRuntime(), guidance = 1) {
  return generate({
    network,
    params,
    schedulerConfig: scheduler,
    sampler,
    numSteps: 8,
    numSamples: 32,
    seed,
    classLabels: 1,
    guidance,
    runtime,
  });
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('determinism', () => {
  for (const [sampler, guidance] of [
    ['dpmpp_2m', 1],
    ['euler_a', 1],
    ['euler_a', 3],
  ] as const) {
    it(`${sampler} (guidance ${guidance}): same seed → identical samples, other seed → other samples`, async () => {
      const a = await samples(sampler, 42, new OrtNodeRuntime(), guidance);
      const b = await samples(sampler, 42, new OrtNodeRuntime(), guidance);
      const c = await samples(sampler, 43, new OrtNodeRuntime(), guidance);
      assert.equal(a.length, 32 * 2);
      assert.ok(a.every(Number.isFinite));
      assert.deepEqual(Array.from(a), Array.from(b));
      assert.ok(maxAbsDiff(a, c) > 0.1, 'another seed changes the samples');
    });
  }

  it('the float64 reference interpreter agrees with onnxruntime to float32 rounding', async () => {
    const ort = await samples('dpmpp_2m', 42);
    const reference = await samples('dpmpp_2m', 42, new ReferenceRuntime());
    const again = await samples('dpmpp_2m', 42, new ReferenceRuntime());
    assert.deepEqual(Array.from(reference), Array.from(again));
    // An untrained network drives the samples far out (|x| up to ~10³), so the bound is relative:
    // float32 rounding (ε ≈ 1.2e-7) accumulated over 8 steps, measured ≈ 1.5e-7 of the largest value.
    const scale = ort.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = maxAbsDiff(ort, reference);
    assert.ok(diff > 0, 'float32 and float64 runtimes are expected to differ in the last bits');
    assert.ok(diff < 1e-5 * scale, `max |ort − reference| = ${diff} at scale ${scale}`);
  });

  it('training twice with one seed gives identical losses and weights', async () => {
    const config = parseTrainConfig({
      data: 'moons',
      model: { className: 'MLPDenoiser', config: {} },
      steps: 20,
      batchSize: 32,
      lr: 1e-2,
      seed: 3,
    });
    const dataset = await resolveDataset('moons', { size: 200 });
    const run = () =>
      train({ config, network: new MLPDenoiser({ hidden_size: 16, num_layers: 1 }), dataset });
    const [a, b] = [await run(), await run()];
    assert.equal(a.losses.length, 20);
    assert.deepEqual(a.losses, b.losses);
    for (const name of Object.keys(a.state.params)) {
      assert.deepEqual(
        Array.from(a.state.params[name].data as Float32Array),
        Array.from(b.state.params[name].data as Float32Array),
        name,
      );
    }
  });
});
