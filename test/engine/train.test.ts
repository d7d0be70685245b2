// End-to-end training with ONE compiled train step (forward, loss, backward, clipping, AdamW, EMA per
// run): an MLP regression of sin(3x) over 1,000 steps whose memory must stay flat, and a small CNN
// classifier of bar orientations that must reach high held-out accuracy.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/graph.js';
import { cast, equal, mul } from '../../src/engine/ops/elementwise.js';
import { argmax, mean, sum } from '../../src/engine/ops/reduce.js';
import { constant } from '../../src/engine/ops/constant.js';
import { linear, mse, relu, silu } from '../../src/engine/ops/composite.js';
import { reshape, unsqueeze } from '../../src/engine/ops/shape.js';
import { conv2d } from '../../src/engine/ops/conv.js';
import { logSoftmax } from '../../src/engine/ops/softmax.js';
import { adamw, hostCopy, hostZeros, trainStep, trainStepTypes } from '../../src/engine/optim.js';
import type { TensorTree, TypeTree } from '../../src/engine/trace.js';
import { isTensorType, mapTree } from '../../src/engine/trace.js';
import { OrtNodeRuntime } from '../../src/engine/runtime/ort-node.js';
import type { HostTensor } from '../../src/engine/runtime/types.js';
import { shapeSize } from '../../src/engine/graph.js';
import { Random } from '../../src/util/random.js';

type Params = Record<string, Tensor>;
type HostTree = Record<string, HostTensor>;
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

/** PyTorch's default init: uniform(±1/√fan_in) for weights and biases of a layer. */
function initParams(
  types: Record<string, { shape: number[] }>,
  fanIn: Record<string, number>,
  rng: Random,
): HostTree {
  return mapTree(types as unknown as TypeTree, isTensorType, (t, name) => {
    const bound = 1 / Math.sqrt(fanIn[name]);
    const data = Float32Array.from({ length: shapeSize(t.shape) }, () => (2 * rng.uniform() - 1) * bound);
    return { data, shape: t.shape, dtype: 'float32' as const };
  }) as HostTree;
}

describe('MLP regression, 1,000 steps', () => {
  it('fits sin(3x) to MSE < 1e-4 (from ≈ 0.5) with RSS growth < 16 MiB over the last 800 steps', async () => {
    const width = 32;
    const n = 64;
    const types = {
      'l1.w': f32([width, 1]),
      'l1.b': f32([width]),
      'l2.w': f32([width, width]),
      'l2.b': f32([width]),
      'l3.w': f32([1, width]),
      'l3.b': f32([1]),
    };
    const fanIn = { 'l1.w': 1, 'l1.b': 1, 'l2.w': width, 'l2.b': width, 'l3.w': width, 'l3.b': width };
    const mlp = (p: Params, x: Tensor) =>
      linear(silu(linear(silu(linear(x, p['l1.w'], p['l1.b'])), p['l2.w'], p['l2.b'])), p['l3.w'], p['l3.b']);
    const optimizer = adamw({ weightDecay: 0 });
    const step = trainStep({
      loss: (p: TensorTree, batch: { x: Tensor; y: Tensor }) => mse(mlp(p as Params, batch.x), batch.y),
      optimizer,
      clipNorm: 1,
      emaDecay: 0.99,
    });
    const compiled = new OrtNodeRuntime().compile(
      step as never,
      trainStepTypes(types, { x: f32([n, 1]), y: f32([n, 1]) }, optimizer, true),
    );
    const x = Float32Array.from({ length: n }, (_, i) => -1 + (2 * i) / (n - 1));
    const batch = { x, y: x.map((v) => Math.sin(3 * v)) };
    let params = initParams(types, fanIn, new Random(0)) as unknown;
    let opt = hostZeros(optimizer.stateTypes(types)) as unknown;
    let ema = hostCopy(params as HostTree) as unknown;
    let loss = Infinity;
    let first = 0;
    let rssAt200 = 0;
    for (let t = 1; t <= 1000; t++) {
      const out = (await compiled.run({ params, opt, ema, batch, step: t, lr: 1e-2 } as never)) as {
        loss: HostTensor;
        params: unknown;
        opt: unknown;
        ema: unknown;
      };
      ({ params, opt, ema } = out);
      loss = out.loss.data[0] as number;
      if (t === 1) first = loss;
      if (t === 200) rssAt200 = process.memoryUsage().rss;
    }
    const growth = (process.memoryUsage().rss - rssAt200) / 2 ** 20;
    await compiled.dispose();
    assert.ok(loss < 1e-4 && first > 0.1, `loss ${first} → ${loss}`);
    assert.ok(growth < 16, `RSS grew ${growth.toFixed(1)} MiB over 800 steps`);
  });
});

/** 8×8 images of a bar through a random position: class 0 horizontal, 1 vertical, 2 diagonal; plus noise. */
function bars(count: number, rng: Random): { images: Float32Array; labels: BigInt64Array } {
  const images = new Float32Array(count * 64);
  const labels = new BigInt64Array(count);
  for (let i = 0; i < count; i++) {
    const label = rng.int(3);
    const offset = rng.int(8);
    labels[i] = BigInt(label);
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const on = label === 0 ? r === offset : label === 1 ? c === offset : (r + c) % 8 === offset;
        images[i * 64 + r * 8 + c] = (on ? 1 : 0) + 0.3 * rng.normal();
      }
    }
  }
  return { images, labels };
}

describe('small CNN classifier', () => {
  it('learns bar orientation to ≥ 97% held-out accuracy and loss < 0.1 in 150 steps', async () => {
    const batchSize = 32;
    const types = {
      'c1.w': f32([8, 1, 3, 3]),
      'c1.b': f32([8]),
      'c2.w': f32([16, 8, 3, 3]),
      'c2.b': f32([16]),
      'fc.w': f32([3, 16]),
      'fc.b': f32([3]),
    };
    const fanIn = { 'c1.w': 9, 'c1.b': 9, 'c2.w': 72, 'c2.b': 72, 'fc.w': 16, 'fc.b': 16 };
    const logits = (p: Params, images: Tensor) => {
      const x = reshape(images, [-1, 1, 8, 8]);
      const h = relu(
        conv2d(relu(conv2d(x, p['c1.w'], p['c1.b'], { padding: 1 })), p['c2.w'], p['c2.b'], {
          padding: 1,
          stride: 2,
        }),
      );
      return linear(mean(h, [2, 3]), p['fc.w'], p['fc.b']);
    };
    const crossEntropy = (z: Tensor, labels: Tensor) => {
      const classes = constant(z.graph, [0, 1, 2], [1, 3], 'int64');
      const oneHot = cast(equal(unsqueeze(labels, [1]), classes), 'float32');
      return mul(mean(sum(mul(oneHot, logSoftmax(z, 1)), [1])), -1);
    };
    const optimizer = adamw({ weightDecay: 1e-4 });
    const step = trainStep({
      loss: (p: TensorTree, b: { images: Tensor; labels: Tensor }) =>
        crossEntropy(logits(p as Params, b.images), b.labels),
      optimizer,
      clipNorm: 5,
    });
    const runtime = new OrtNodeRuntime();
    const compiled = runtime.compile(
      step as never,
      trainStepTypes(
        types,
        { images: f32([batchSize, 64]), labels: { shape: [batchSize], dtype: 'int64' } },
        optimizer,
      ),
    );
    const evalSize = 300;
    const predict = runtime.compile(
      ({ p, images }: { p: Params; images: Tensor }) => argmax(logits(p, images), 1),
      { p: types, images: f32([evalSize, 64]) },
    );
    const rng = new Random(5);
    let params = initParams(types, fanIn, rng) as unknown;
    let opt = hostZeros(optimizer.stateTypes(types)) as unknown;
    let loss = Infinity;
    for (let t = 1; t <= 150; t++) {
      const { images, labels } = bars(batchSize, rng);
      const out = (await compiled.run({
        params,
        opt,
        batch: { images, labels },
        step: t,
        lr: 1e-2,
      } as never)) as { loss: HostTensor; params: unknown; opt: unknown };
      ({ params, opt } = out);
      loss = out.loss.data[0] as number;
    }
    const test = bars(evalSize, new Random(99));
    const predicted = (await predict.run({ p: params, images: test.images } as never)) as HostTensor;
    const correct = test.labels.filter((l, i) => l === (predicted.data as BigInt64Array)[i]).length;
    await Promise.all([compiled.dispose(), predict.dispose()]);
    assert.ok(correct / evalSize >= 0.97, `accuracy ${correct}/${evalSize}, last loss ${loss}`);
    assert.ok(loss < 0.1, `last training loss ${loss}`);
  });
});
