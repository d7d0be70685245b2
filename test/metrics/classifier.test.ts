// The shipped MNIST classifier: its weights load and classify the 1,000 held-out digits at ≥ 98%, its
// features have the configured dimension, and FID on those features separates digit classes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mnistDataset } from '../../src/data/mnist.js';
import {
  centredImages,
  classAccuracy,
  loadClassifier,
  MNIST_CLASSIFIER_CONFIG,
  type MnistClassifier,
} from '../../src/metrics/classifier.js';
import { fid } from '../../src/metrics/fid.js';
import { DiffusionError } from '../../src/util/errors.js';

const test = mnistDataset({ split: 'test' });
const all = Int32Array.from({ length: test.size }, (_, i) => i);
const held = test.batch(all);
let classifier: MnistClassifier;

before(() => {
  classifier = loadClassifier();
});
after(async () => {
  await classifier.dispose();
});

/** The held-out images of one digit. */
function digit(label: number): Float32Array {
  const picked = all.filter((i) => held.labels![i] === label);
  return test.batch(picked).x;
}

describe('shipped MNIST classifier', () => {
  it('classifies the 1,000 held-out digits at ≥ 98% with probability rows summing to 1', async () => {
    const { labels, probabilities } = await classifier.classify(held.x);
    const accuracy = labels.filter((label, i) => label === held.labels![i]).length / test.size;
    assert.ok(accuracy >= 0.98, `held-out accuracy ${accuracy}`);
    for (let i = 0; i < 5; i++) {
      const row = probabilities.subarray(10 * i, 10 * i + 10).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(row - 1) < 1e-5);
    }
    assert.equal(await classAccuracy(held.x, held.labels!, classifier), accuracy);
  });

  it('gives the same answers for 32×32 (padded) digits, and rejects other sizes', async () => {
    const padded = mnistDataset({ split: 'test', imageSize: 32 }).batch(all.subarray(0, 40)).x;
    assert.deepEqual(centredImages(padded, 28), held.x.subarray(0, 40 * 784));
    const [small, big] = await Promise.all([
      classifier.classify(held.x.subarray(0, 40 * 784)),
      classifier.classify(padded),
    ]);
    assert.deepEqual(big.labels, small.labels);
    await assert.rejects(classifier.classify(new Float32Array(100)), DiffusionError);
  });

  it('features are [count, 64], non-negative, and FID(half, half) ≪ FID(zeros, ones)', async () => {
    const dim = MNIST_CLASSIFIER_CONFIG.featureDim;
    const features = await classifier.features(held.x);
    assert.equal(dim, 64);
    assert.equal(features.length, test.size * dim);
    assert.ok(features.every((v) => v >= 0));
    // The split is grouped by digit, so even/odd indices give two halves with every class.
    const even = features.filter((_, i) => Math.floor(i / dim) % 2 === 0);
    const odd = features.filter((_, i) => Math.floor(i / dim) % 2 === 1);
    const halves = fid(even, odd, dim);
    const zeros = await classifier.features(digit(0));
    const ones = await classifier.features(digit(1));
    const classes = fid(zeros, ones, dim);
    assert.ok(halves > 0 && halves * 20 < classes, `FID halves ${halves}, 0 vs 1 ${classes}`);
  });
});
