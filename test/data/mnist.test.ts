import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnistBytes, mnistDataset, mnistSplitIndices } from '../../src/data/mnist.js';
import { resolveDataset } from '../../src/data/dataset.js';
import { UsageError } from '../../src/util/errors.js';

test('MNIST loads 10,000 digits once (load time printed)', () => {
  const start = performance.now();
  const bytes = loadMnistBytes();
  const elapsed = performance.now() - start;
  console.log(`MNIST package parsed in ${elapsed.toFixed(0)} ms`);
  assert.equal(bytes.labels.length, 10_000);
  assert.equal(bytes.pixels.length, 10_000 * 784);
  assert.equal(loadMnistBytes(), bytes, 'cached');
});

test('splits: 9,000 train and 1,000 test, disjoint, 100 test images per digit', () => {
  const train = mnistSplitIndices('train');
  const held = mnistSplitIndices('test');
  assert.equal(train.length, 9000);
  assert.equal(held.length, 1000);
  const union = new Set([...train, ...held]);
  assert.equal(union.size, 10_000);
  const { labels } = loadMnistBytes();
  const perDigit = new Array<number>(10).fill(0);
  for (const i of held) perDigit[labels[i]]++;
  assert.deepEqual(perDigit, new Array(10).fill(100));
});

test('train split: 1×28×28 in [-1, 1], 10 classes, known mean pixel, mostly background', () => {
  const dataset = mnistDataset();
  assert.equal(dataset.name, 'mnist');
  assert.deepEqual(dataset.shape, [1, 28, 28]);
  assert.equal(dataset.size, 9000);
  assert.equal(dataset.numClasses, 10);
  const all = dataset.batch(Int32Array.from({ length: dataset.size }, (_, i) => i));
  let sum = 0;
  let background = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of all.x) {
    sum += v;
    if (v === -1) background++;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.equal(min, -1);
  assert.equal(max, 1);
  // MNIST's mean intensity on [0, 1] is 0.1307 (train) / 0.1325 (test): about -0.737 on [-1, 1].
  const mean01 = (sum / all.x.length + 1) / 2;
  assert.ok(mean01 > 0.125 && mean01 < 0.14, `mean pixel ${mean01}`);
  assert.ok(background / all.x.length > 0.75, 'most pixels are background');
  const perClass = new Array<number>(10).fill(0);
  for (const label of all.labels!) perClass[label]++;
  assert.ok(
    perClass.every((n) => n > 700 && n < 1100),
    `class counts ${perClass}`,
  );
  // Every value is one of the 256 byte levels.
  for (let i = 0; i < 2000; i++) {
    const level = (all.x[i * 97] + 1) * 127.5;
    assert.ok(Math.abs(level - Math.round(level)) < 1e-4);
  }
});

test('padding to 32×32 surrounds the same digit with two pixels of background', async () => {
  const small = mnistDataset({ split: 'test' });
  const padded = await resolveDataset('mnist', { split: 'test', imageSize: 32 });
  assert.deepEqual(padded.shape, [1, 32, 32]);
  assert.equal(padded.size, 1000);
  const a = small.batch([17]);
  const b = padded.batch([17]);
  assert.deepEqual(a.labels, b.labels);
  for (let row = 0; row < 32; row++) {
    for (let col = 0; col < 32; col++) {
      const inside = row >= 2 && row < 30 && col >= 2 && col < 30;
      const want = inside ? a.x[(row - 2) * 28 + (col - 2)] : -1;
      assert.equal(b.x[row * 32 + col], want);
    }
  }
  assert.throws(() => mnistDataset({ imageSize: 30 }), UsageError);
  assert.throws(() => mnistDataset({ split: 'validation' }), /option 'split'/);
});
