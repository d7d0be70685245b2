// Edge maps on synthetic images: a constant image has no edges; a white square's Sobel and Canny edges
// lie on its border (within one pixel of the boundary) and cover all four sides; Canny lines are one
// pixel thin; colour goes through luma; the conditioned dataset carries one map per example.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cannyEdges,
  edgeConditionedDataset,
  edgeMaps,
  greyPlane,
  sobelEdges,
  sobelMagnitude,
} from '../../src/data/edges.js';
import { TensorDataset } from '../../src/data/dataset.js';
import { ShapeError } from '../../src/util/errors.js';

const SIDE = 16;
/** A SIDE×SIDE image: 1 inside rows/cols [lo, hi), 0 outside. */
function square(lo = 5, hi = 11): Float32Array {
  const image = new Float32Array(SIDE * SIDE);
  for (let y = lo; y < hi; y++) for (let x = lo; x < hi; x++) image[y * SIDE + x] = 1;
  return image;
}

/** Chebyshev distance of pixel (y, x) to the square's boundary ring (the pixels just inside it). */
function ringDistance(y: number, x: number, lo = 5, hi = 11): number {
  const inside = y >= lo && y < hi && x >= lo && x < hi;
  if (inside) return Math.min(y - lo, hi - 1 - y, x - lo, hi - 1 - x);
  return Math.max(lo - y, y - (hi - 1), lo - x, x - (hi - 1)) - 1;
}

function edgePixels(map: Float32Array): [number, number][] {
  const out: [number, number][] = [];
  map.forEach((v, i) => {
    if (v > 0) out.push([Math.floor(i / SIDE), i % SIDE]);
  });
  return out;
}

describe('edge maps', () => {
  it('a constant image has no edges (Sobel magnitude exactly 0, borders replicated)', () => {
    const flat = new Float32Array(SIDE * SIDE).fill(0.7);
    assert.ok(sobelMagnitude(flat, SIDE, SIDE).every((m) => m === 0));
    assert.equal(edgePixels(sobelEdges(flat, SIDE, SIDE)).length, 0);
    assert.equal(edgePixels(cannyEdges(flat, SIDE, SIDE)).length, 0);
  });

  it('a unit step has Sobel magnitude 1 on both sides of it', () => {
    const mag = sobelMagnitude(square(), SIDE, SIDE);
    assert.equal(mag[8 * SIDE + 4], 1); // left of the left side, mid-height
    assert.equal(mag[8 * SIDE + 5], 1);
    assert.equal(mag[8 * SIDE + 8], 0); // the middle
    assert.equal(mag[8 * SIDE + 2], 0);
  });

  it("a square's Sobel edges are its border: a two-pixel band around the boundary", () => {
    const pixels = edgePixels(sobelEdges(square(), SIDE, SIDE, 0.5));
    assert.ok(pixels.length > 0);
    for (const [y, x] of pixels)
      assert.ok(ringDistance(y, x) <= 0 && ringDistance(y, x) >= -1, `(${y}, ${x})`);
    // The inner ring (6×6: 20 pixels) and the outer ring (8×8: 28) less its four corners, whose
    // magnitude is only √2/4 (one diagonal neighbour inside).
    assert.equal(pixels.length, 20 + 28 - 4);
  });

  it("a square's Canny edges lie within one pixel of the boundary, cover every side and are thin", () => {
    const map = cannyEdges(square(), SIDE, SIDE);
    const pixels = edgePixels(map);
    for (const [y, x] of pixels) assert.ok(Math.abs(ringDistance(y, x) + 0.5) <= 0.5, `(${y}, ${x})`);
    // Every side is found at mid-length: left, right, top, bottom.
    const has = (test: (y: number, x: number) => boolean) => pixels.some(([y, x]) => test(y, x));
    assert.ok(has((y, x) => y === 8 && x <= 5));
    assert.ok(has((y, x) => y === 8 && x >= 10));
    assert.ok(has((y, x) => x === 8 && y <= 5));
    assert.ok(has((y, x) => x === 8 && y >= 10));
    // Thin: on the middle row, exactly one edge pixel per side.
    assert.equal(pixels.filter(([y]) => y === 8).length, 2);
    assert.ok(pixels.length >= 20 && pixels.length <= 28, `${pixels.length} edge pixels`);
  });

  it('hysteresis keeps weak edges only when connected to a strong one', () => {
    const image = new Float32Array(SIDE * SIDE);
    for (let y = 0; y < SIDE; y++) for (let x = 8; x < SIDE; x++) image[y * SIDE + x] = y < 8 ? 1 : 0.3;
    // Top half: a unit step (strong); bottom half: a 0.3 step (weak but above low = 0.2).
    const connected = edgePixels(cannyEdges(image, SIDE, SIDE, { low: 0.2, high: 0.6 }));
    assert.ok(
      connected.some(([y]) => y >= 12),
      'weak part kept through the strong part',
    );
    const weakOnly = new Float32Array(SIDE * SIDE);
    for (let y = 0; y < SIDE; y++) for (let x = 8; x < SIDE; x++) weakOnly[y * SIDE + x] = 0.3;
    assert.equal(edgePixels(cannyEdges(weakOnly, SIDE, SIDE, { low: 0.2, high: 0.6 })).length, 0);
  });

  it('maps batches in [−1, 1], colour through luma, deterministically', () => {
    const grey = square().map((v) => 2 * v - 1);
    const maps = edgeMaps(Float32Array.from([...grey, ...grey]), [2, 1, SIDE, SIDE], {
      range: 'minus-one-one',
    });
    assert.deepEqual(maps.subarray(0, SIDE * SIDE), cannyEdges(square(), SIDE, SIDE));
    assert.deepEqual(maps.subarray(SIDE * SIDE), maps.subarray(0, SIDE * SIDE));
    const rgb = Float32Array.from([...square(), ...square(), ...square()]);
    const plane = greyPlane(rgb, 3, SIDE, SIDE);
    assert.ok(Math.abs(plane[8 * SIDE + 8] - 1) < 1e-6 && plane[0] === 0);
    assert.throws(() => edgeMaps(new Float32Array(10), [1, 1, SIDE, SIDE]), ShapeError);
  });

  it('the edge-conditioned dataset yields each example with its edge map', () => {
    const base = new TensorDataset({
      name: 'squares',
      shape: [1, SIDE, SIDE],
      data: Float32Array.from([...square(), ...square(3, 9)].map((v) => 2 * v - 1)),
      labels: Int32Array.from([0, 1]),
      numClasses: 2,
      description: 'two squares',
    });
    const dataset = edgeConditionedDataset(base);
    const batch = dataset.batch([1, 0]);
    assert.deepEqual(batch.labels, Int32Array.from([1, 0]));
    assert.deepEqual(batch.condition!.subarray(0, SIDE * SIDE), cannyEdges(square(3, 9), SIDE, SIDE));
    assert.deepEqual(batch.condition!.subarray(SIDE * SIDE), cannyEdges(square(), SIDE, SIDE));
    assert.equal(dataset.numClasses, 2);
  });
});
