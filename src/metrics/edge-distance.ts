/**
 * How well two binary edge maps agree, for judging spatially conditioned samples: the symmetric
 * Chamfer distance — the mean, over the edge pixels of each map, of the Euclidean distance in pixels
 * to the nearest edge pixel of the other map, averaged over both directions (0 for identical maps) —
 * and the intersection over union after dilating each map by `tolerance` pixels (a one-pixel shift
 * of a thin edge should not count as a miss). A map without edges is at the image diagonal from any
 * map with edges, and at 0 from another empty map.
 *
 * This module must not compute edge maps or call networks; it only compares maps.
 */
import { ShapeError } from '../util/errors.js';

function checkPair(a: Float32Array, b: Float32Array, height: number, width: number): void {
  if (a.length !== height * width || b.length !== height * width) {
    throw new ShapeError(`edge maps must both be ${height}×${width}, got ${a.length} and ${b.length} values`);
  }
}

/** Mean distance from each edge pixel of `from` to the nearest edge pixel of `to`. */
function directedChamfer(from: Float32Array, to: Float32Array, height: number, width: number): number {
  const targets: [number, number][] = [];
  to.forEach((v, i) => {
    if (v > 0.5) targets.push([Math.floor(i / width), i % width]);
  });
  let total = 0;
  let count = 0;
  from.forEach((v, i) => {
    if (v <= 0.5) return;
    const y = Math.floor(i / width);
    const x = i % width;
    let best = Infinity;
    for (const [ty, tx] of targets) best = Math.min(best, (ty - y) ** 2 + (tx - x) ** 2);
    total += Math.sqrt(best);
    count++;
  });
  return count === 0 ? 0 : total / count;
}

const hasEdges = (map: Float32Array) => map.some((v) => v > 0.5);

/** Symmetric Chamfer distance in pixels between two binary maps [H, W] (see the module header). */
export function chamferDistance(a: Float32Array, b: Float32Array, height: number, width: number): number {
  checkPair(a, b, height, width);
  if (hasEdges(a) !== hasEdges(b)) return Math.hypot(height, width);
  return (directedChamfer(a, b, height, width) + directedChamfer(b, a, height, width)) / 2;
}

/** The map with every pixel within Chebyshev distance `radius` of an edge pixel set. */
function dilate(map: Float32Array, height: number, width: number, radius: number): Float32Array {
  const out = new Float32Array(map.length);
  map.forEach((v, i) => {
    if (v <= 0.5) return;
    const y = Math.floor(i / width);
    const x = i % width;
    for (let dy = -radius; dy <= radius; dy++)
      for (let dx = -radius; dx <= radius; dx++) {
        const ny = y + dy;
        const nx = x + dx;
        if (ny >= 0 && ny < height && nx >= 0 && nx < width) out[ny * width + nx] = 1;
      }
  });
  return out;
}

/** Intersection over union of the two maps, each dilated by `tolerance` pixels (1 for two empty maps). */
export function edgeIoU(
  a: Float32Array,
  b: Float32Array,
  height: number,
  width: number,
  tolerance = 1,
): number {
  checkPair(a, b, height, width);
  const da = dilate(a, height, width, tolerance);
  const db = dilate(b, height, width, tolerance);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < da.length; i++) {
    if (da[i] > 0 && db[i] > 0) inter++;
    if (da[i] > 0 || db[i] > 0) union++;
  }
  return union === 0 ? 1 : inter / union;
}
