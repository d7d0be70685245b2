// Gradient accumulation: an update from k micro-batches of size B equals (to float32 round-off) one
// update from the single batch of size k·B holding the same examples — parameters, AdamW moments, EMA,
// loss and gradient norm — and the trainer runs with accumulation, reading k batches per update.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDataset } from '../../src/data/dataset.js';
import { hostCopy, hostZeros, OrtNodeRuntime, type TypeTree } from '../../src/engine/index.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import type { Params } from '../../src/models/types.js';
import type { NoisedBatch } from '../../src/training/batch.js';
import { parseTrainConfig } from '../../src/training/config.js';
import { compileTrainStep, type TrainState } from '../../src/training/step.js';
import { train } from '../../src/training/trainer.js';
import { ConfigError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const network = new MLPDenoiser({ in_features: 2, hidden_size: 32, num_layers: 2, num_class_embeds: 4 });

function randomBatch(size: number, random: Random): NoisedBatch {
  return {
    sample: Float32Array.from(random.normals(size * 2)),
    timestep: Float32Array.from({ length: size }, () => random.int(1000)),
    target: Float32Array.from(random.normals(size * 2)),
    weight: Float32Array.from({ length: size }, () => 0.5 + random.uniform()),
    classLabels: BigInt64Array.from({ length: size }, () => BigInt(random.int(4))),
  };
}

/** The two micro-batches laid end to end as one batch. */
function concatBatches(a: NoisedBatch, b: NoisedBatch): NoisedBatch {
  const join = <T extends Float32Array | BigInt64Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x as never);
    out.set(y as never, x.length);
    return out;
  };
  const f32 = (n: number) => new Float32Array(n);
  return {
    sample: join(a.sample, b.sample, f32),
    timestep: join(a.timestep, b.timestep, f32),
    target: join(a.target, b.target, f32),
    weight: join(a.weight, b.weight, f32),
    classLabels: join(a.classLabels!, b.classLabels!, (n) => new BigInt64Array(n)),
  };
}

function freshState(): TrainState {
  const params = network.init(new Random(3));
  const zeros = () => hostZeros(network.paramTypes() as TypeTree) as Params;
  return { params, opt: { m: zeros(), v: zeros() }, ema: hostCopy(params) as Params };
}

function maxRelativeDifference(a: Params, b: Params): number {
  let worst = 0;
  for (const name of Object.keys(a)) {
    const x = a[name].data as Float32Array;
    const y = b[name].data as Float32Array;
    let scale = 1e-6;
    for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(y[i]));
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / scale);
  }
  return worst;
}

describe('gradient accumulation', () => {
  const runtime = new OrtNodeRuntime();
  const settings = { weightDecay: 0.01, clipNorm: 0.5, emaDecay: 0.9, classConditional: true };

  it('two micro-batches of 4 give the same update as one batch of 8', async () => {
    const random = new Random(11);
    const a = randomBatch(4, random);
    const b = randomBatch(4, random);
    const whole = compileTrainStep(runtime, network, { ...settings, batchSize: 8 });
    const split = compileTrainStep(runtime, network, { ...settings, batchSize: 4, accumulation: 2 });
    let wholeState = freshState();
    let splitState = freshState();
    // Three updates, so the AdamW moments and the EMA carry the accumulated gradients forward.
    for (let step = 1; step <= 3; step++) {
      const one = await whole.run(wholeState, [concatBatches(a, b)], step, 1e-2);
      const two = await split.run(splitState, [a, b], step, 1e-2);
      assert.ok(
        Math.abs(one.loss - two.loss) <= 1e-5 * Math.abs(one.loss),
        `loss ${one.loss} vs ${two.loss}`,
      );
      assert.ok(Math.abs(one.gradNorm - two.gradNorm) <= 1e-5 * one.gradNorm, 'gradient norm');
      assert.ok(one.gradNorm > 0.5, 'clipping is active, so the norm must agree before clipping');
      wholeState = one;
      splitState = two;
    }
    assert.ok(maxRelativeDifference(splitState.params, wholeState.params) < 1e-5);
    assert.ok(maxRelativeDifference(splitState.opt.v, wholeState.opt.v) < 1e-4);
    assert.ok(maxRelativeDifference(splitState.ema!, wholeState.ema!) < 1e-5);
    await whole.dispose();
    await split.dispose();
  });

  it('a step given the wrong number of micro-batches, or accumulation 0, is a ConfigError', async () => {
    const split = compileTrainStep(runtime, network, { ...settings, batchSize: 4, accumulation: 2 });
    await assert.rejects(split.run(freshState(), [randomBatch(4, new Random(1))], 1, 1e-3), ConfigError);
    await split.dispose();
    assert.throws(
      () => compileTrainStep(runtime, network, { ...settings, batchSize: 4, accumulation: 0 }),
      ConfigError,
    );
  });

  it('the trainer reads k batches per update and the loss falls', async () => {
    const dataset = await resolveDataset('8gaussians', { size: 2048 });
    const config = parseTrainConfig({
      data: '8gaussians',
      model: { className: 'MLPDenoiser', config: {} },
      steps: 150,
      batchSize: 64,
      gradientAccumulation: 3,
      lr: 2e-3,
      seed: 5,
    });
    const mlp = new MLPDenoiser({ in_features: 2 });
    const result = await train({ config, network: mlp, dataset });
    assert.equal(result.step, 150);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const early = mean(result.losses.slice(0, 20));
    const late = mean(result.losses.slice(-20));
    assert.ok(late < 0.75 * early, `loss ${early.toFixed(3)} → ${late.toFixed(3)}`);
  });
});
