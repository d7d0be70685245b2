// Moving MNIST: determinism per seed, shapes and labels, digits that stay in the frame, and paths that
// bounce off the walls with the velocity reversed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bouncePath, MOVING_DIGIT_SIDE, movingMnistDataset } from '../../src/data/moving-mnist.js';
import { resolveDataset } from '../../src/data/dataset.js';

test('bouncePath reflects off both walls and keeps every position inside [0, max]', () => {
  assert.deepEqual(bouncePath(2, 2, 6, 7), [2, 4, 6, 6, 4, 2]); // 8 → 6 (reflected), then back
  assert.deepEqual(bouncePath(1, -2, 4, 10), [1, 1, 3, 5]); // −1 → 1, velocity now +2
  for (let start = 0; start <= 18; start += 3) {
    const path = bouncePath(start, 2.4, 40, 18);
    assert.ok(
      path.every((p) => p >= 0 && p <= 18),
      `path from ${start} leaves the frame`,
    );
    // Steps keep their size (up to rounding) and change sign at a wall.
    for (let f = 1; f < path.length; f++) assert.ok(Math.abs(path[f] - path[f - 1]) <= 3);
  }
});

test('videos are deterministic per seed, shaped [1, F, S, S], in [−1, 1] and labelled', () => {
  const a = movingMnistDataset({ size: 6, seed: 4 });
  const b = movingMnistDataset({ size: 6, seed: 4 });
  const c = movingMnistDataset({ size: 6, seed: 5 });
  assert.deepEqual(a.shape, [1, 8, 32, 32]);
  assert.deepEqual(a.pixels, b.pixels);
  assert.notDeepEqual(a.pixels, c.pixels);
  const batch = a.batch([0, 5]);
  assert.equal(batch.x.length, 2 * 8 * 32 * 32);
  assert.ok(batch.x.every((v) => v >= -1 && v <= 1));
  assert.equal(batch.labels!.length, 2);
  assert.equal(a.numClasses, 10);
  assert.equal(movingMnistDataset({ size: 2, digits: 2 }).labels, undefined);
  const small = movingMnistDataset({ size: 2, imageSize: 24, frames: 4 });
  assert.deepEqual(small.shape, [1, 4, 24, 24]);
});

test('every digit stays in the frame and all ink lies inside its 14×14 box', () => {
  const data = movingMnistDataset({ size: 20, seed: 1, digits: 1 });
  const [, frames, side] = data.shape;
  const d = MOVING_DIGIT_SIDE;
  for (let v = 0; v < data.size; v++) {
    let moved = 0;
    for (let f = 0; f < frames; f++) {
      const row = data.corners[(v * frames + f) * 2];
      const col = data.corners[(v * frames + f) * 2 + 1];
      assert.ok(row >= 0 && col >= 0 && row + d <= side && col + d <= side);
      if (f > 0) moved += Math.abs(row - data.corners[(v * frames + f - 1) * 2]);
      const plane = data.pixels.subarray((v * frames + f) * side * side, (v * frames + f + 1) * side * side);
      let ink = 0;
      plane.forEach((p, i) => {
        const y = Math.floor(i / side);
        const x = i % side;
        if (p > 0) {
          ink++;
          assert.ok(y >= row && y < row + d && x >= col && x < col + d, 'ink outside the digit box');
        }
      });
      assert.ok(ink > 10, 'each frame shows a digit');
    }
    assert.ok(
      moved > 0 || data.corners[v * frames * 2 + 1] !== data.corners[(v * frames + frames - 1) * 2 + 1],
    );
  }
});

test('is a built-in dataset and rejects unknown options by name', async () => {
  const data = await resolveDataset('moving-mnist', { size: 3 });
  assert.equal(data.size, 3);
  await assert.rejects(resolveDataset('moving-mnist', { frame: 8 }), /unknown option\(s\) 'frame'/);
});
