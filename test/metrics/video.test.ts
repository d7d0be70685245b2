// Frame-consistency scores: frame change on hand-made videos, label consistency on hand-made labels, and
// digit consistency of real moving-MNIST videos (high) against videos whose frames come from different
// videos (low), read by the shipped MNIST classifier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { movingMnistDataset } from '../../src/data/moving-mnist.js';
import { loadClassifier } from '../../src/metrics/classifier.js';
import { digitConsistency, frameChange, labelConsistency, videoShape } from '../../src/metrics/video.js';

test('frame change is 0 for still videos and the step size for a flicker', () => {
  const still = new Float32Array(2 * 3 * 16).fill(0.3);
  assert.equal(frameChange(still, [2, 1, 3, 4, 4]), 0);
  // Frames −1, +1, −1: every pixel moves by 2 at each of the two steps.
  const flicker = Float32Array.from({ length: 3 * 16 }, (_, i) => (Math.floor(i / 16) % 2 ? 1 : -1));
  assert.equal(frameChange(flicker, [1, 1, 3, 4, 4]), 2);
  assert.throws(() => videoShape(still, [2, 3, 4, 4]), /\[count, 1, F ≥ 2, S, S\]/);
});

test('label consistency counts unanimous videos and majority shares', () => {
  const labels = Int32Array.from([3, 3, 3, 3, 1, 1, 2, 5]);
  const scores = labelConsistency(labels, 2, 4);
  assert.equal(scores.sameDigitRate, 0.5);
  assert.equal(scores.majorityAgreement, (1 + 0.5) / 2);
});

test('real moving-MNIST videos are digit-consistent; frames mixed across videos are not', async () => {
  const data = movingMnistDataset({ size: 24, seed: 2, split: 'test' });
  const [, frames, side] = data.shape;
  const shape = [data.size, 1, frames, side, side];
  const videos = data.batch(Int32Array.from({ length: data.size }, (_, i) => i)).x;
  // Frame f of mixed video v is frame f of real video (v + f) mod count.
  const plane = side * side;
  const mixed = new Float32Array(videos.length);
  for (let v = 0; v < data.size; v++)
    for (let f = 0; f < frames; f++) {
      const from = (((v + f) % data.size) * frames + f) * plane;
      mixed.set(videos.subarray(from, from + plane), (v * frames + f) * plane);
    }
  const classifier = loadClassifier();
  try {
    const real = await digitConsistency(videos, shape, classifier);
    const shuffled = await digitConsistency(mixed, shape, classifier);
    assert.ok(real.majorityAgreement > 0.85, `real majority agreement ${real.majorityAgreement}`);
    assert.ok(shuffled.majorityAgreement < 0.6, `mixed majority agreement ${shuffled.majorityAgreement}`);
    assert.ok(real.sameDigitRate > shuffled.sameDigitRate + 0.4);
    // The crops are legible: most frames are read as the video's true digit.
    let correct = 0;
    for (let i = 0; i < real.labels.length; i++)
      if (real.labels[i] === data.labels![Math.floor(i / frames)]) correct++;
    assert.ok(correct / real.labels.length > 0.8, `per-frame accuracy ${correct / real.labels.length}`);
  } finally {
    await classifier.dispose();
  }
  // Jumping between videos changes more pixels per step than gliding does.
  assert.ok(frameChange(mixed, shape) > 1.3 * frameChange(videos, shape));
});
