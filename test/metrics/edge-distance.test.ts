// Edge-map agreement: Chamfer distance 0 for identical maps and exactly the shift for a shifted line;
// IoU 1 for identical maps, 1 for a one-pixel shift at tolerance 1 and lower without tolerance; empty maps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chamferDistance, edgeIoU } from '../../src/metrics/edge-distance.js';
import { ShapeError } from '../../src/util/errors.js';

const N = 10;
function verticalLine(x: number): Float32Array {
  const map = new Float32Array(N * N);
  for (let y = 2; y < 8; y++) map[y * N + x] = 1;
  return map;
}

describe('edge-map distances', () => {
  it('Chamfer: 0 for identical maps, the shift for a shifted line, the diagonal against an empty map', () => {
    assert.equal(chamferDistance(verticalLine(3), verticalLine(3), N, N), 0);
    assert.equal(chamferDistance(verticalLine(3), verticalLine(6), N, N), 3);
    const empty = new Float32Array(N * N);
    assert.equal(chamferDistance(verticalLine(3), empty, N, N), Math.hypot(N, N));
    assert.equal(chamferDistance(empty, empty, N, N), 0);
    assert.throws(() => chamferDistance(empty, new Float32Array(5), N, N), ShapeError);
  });

  it('IoU with tolerance forgives a one-pixel shift, without it does not', () => {
    assert.equal(edgeIoU(verticalLine(3), verticalLine(3), N, N), 1);
    assert.equal(edgeIoU(verticalLine(3), verticalLine(4), N, N, 0), 0);
    // Dilated by 1: columns 2–4 vs 3–5 over rows 1–8: 2/4 of the columns overlap.
    assert.equal(edgeIoU(verticalLine(3), verticalLine(4), N, N, 1), 0.5);
    const empty = new Float32Array(N * N);
    assert.equal(edgeIoU(empty, empty, N, N), 1);
  });
});
