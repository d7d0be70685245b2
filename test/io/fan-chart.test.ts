import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fanChart } from '../../src/io/fan-chart.js';

const pixel = (image: { width: number; data: Uint8Array }, x: number, y: number) =>
  Array.from(image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 4));

test('a fan chart draws the bands, the median, the past and the truth where the numbers put them', () => {
  // Steps 0..4 past, 5..8 horizon → x = t/8 · 77 (3 px right margin); values span [0, 10] → y = (10.5 − v)/11 · 109 with 5% margins.
  const image = fanChart(
    {
      past: [5, 5, 5, 5, 5],
      outer: [
        [0, 0, 0, 0],
        [10, 10, 10, 10],
      ],
      inner: [
        [4, 4, 4, 4],
        [6, 6, 6, 6],
      ],
      median: [5, 5, 5, 5],
      truth: [9, 9, 9, 9],
    },
    { width: 81, height: 110 },
  );
  assert.deepEqual([image.width, image.height], [81, 110]);
  const toY = (v: number) => Math.round(((10.5 - v) / 11) * 109);
  assert.deepEqual(pixel(image, 79, toY(9)), [214, 39, 40, 255]); // truth dot at the last step (x 77 ± 2)
  assert.deepEqual(pixel(image, 70, toY(1)), [198, 219, 239, 255]); // outer band only
  assert.deepEqual(pixel(image, 70, toY(4.5)), [107, 174, 214, 255]); // inner band
  assert.deepEqual(pixel(image, 70, toY(5)), [8, 81, 156, 255]); // median line
  assert.deepEqual(pixel(image, 20, toY(5)), [40, 40, 40, 255]); // past line
  assert.deepEqual(pixel(image, 20, toY(1)), [255, 255, 255, 255]); // nothing before the origin
  assert.throws(
    () => fanChart({ past: [1], outer: [[1], [2, 3]], inner: [[1], [1]], median: [1] }),
    /fan chart/,
  );
});
