/**
 * Resampling of float image batches [N, C, H, W] (row-major, any value range) for super-resolution:
 * `areaDownsample` averages each factor × factor block (PyTorch's `avg_pool2d`, the area filter when
 * the factor divides the size); `upsample` enlarges with half-pixel centres and no antialiasing, either
 * `bilinear` (PyTorch's `interpolate(mode="bilinear", align_corners=False)`) or `bicubic` (the Keys
 * kernel with a = −0.75 and clamped borders, PyTorch's `mode="bicubic"`). Unlike src/io/image-resize.ts
 * it keeps floats (noise-augmented conditions are not bytes). No file or tensor-graph code here.
 */
import { ShapeError, unknownChoice } from '../util/errors.js';

export type UpsampleFilter = 'bilinear' | 'bicubic';
export const UPSAMPLE_FILTERS: readonly UpsampleFilter[] = ['bilinear', 'bicubic'];

/** Shape of a batch of planes: images × channels, then height and width. */
export interface PlaneShape {
  batch: number;
  channels: number;
  height: number;
  width: number;
}

function checkShape(data: Float32Array, shape: PlaneShape, what: string): void {
  const { batch, channels, height, width } = shape;
  if (data.length !== batch * channels * height * width) {
    throw new ShapeError(
      `${what}: ${data.length} values are not [${batch}, ${channels}, ${height}, ${width}]`,
    );
  }
}

/** Each factor × factor block averaged: [N, C, H/f, W/f]. */
export function areaDownsample(data: Float32Array, shape: PlaneShape, factor: number): Float32Array {
  checkShape(data, shape, 'areaDownsample');
  const { batch, channels, height, width } = shape;
  if (!Number.isInteger(factor) || factor < 1 || height % factor !== 0 || width % factor !== 0) {
    throw new ShapeError(`areaDownsample: factor ${factor} does not divide ${height}×${width}`);
  }
  const h = height / factor;
  const w = width / factor;
  const out = new Float32Array(batch * channels * h * w);
  const scale = 1 / (factor * factor);
  for (let p = 0; p < batch * channels; p++) {
    const src = p * height * width;
    const dst = p * h * w;
    for (let y = 0; y < height; y++) {
      const row = dst + Math.floor(y / factor) * w;
      for (let x = 0; x < width; x++) out[row + Math.floor(x / factor)] += data[src + y * width + x] * scale;
    }
  }
  return out;
}

/** Keys' cubic convolution kernel with a = −0.75 (PyTorch's bicubic). */
function cubicWeight(t: number): number {
  const a = -0.75;
  const x = Math.abs(t);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/** For each output index: source indices (clamped) and their weights. */
function taps(
  source: number,
  target: number,
  filter: UpsampleFilter,
): { index: number[]; weight: number[] }[] {
  const scale = source / target;
  return Array.from({ length: target }, (_, i) => {
    const clamp = (j: number) => Math.min(source - 1, Math.max(0, j));
    if (filter === 'bilinear') {
      const position = Math.max(0, (i + 0.5) * scale - 0.5);
      const first = Math.min(Math.floor(position), source - 1);
      const frac = position - first;
      return { index: [first, clamp(first + 1)], weight: [1 - frac, frac] };
    }
    // PyTorch's bicubic does not clamp the position at 0; it clamps the four source indices.
    const position = (i + 0.5) * scale - 0.5;
    const first = Math.floor(position);
    const frac = position - first;
    return {
      index: [first - 1, first, first + 1, first + 2].map(clamp),
      weight: [cubicWeight(frac + 1), cubicWeight(frac), cubicWeight(1 - frac), cubicWeight(2 - frac)],
    };
  });
}

/** The batch resampled to outHeight × outWidth with `filter` (module header): [N, C, outH, outW]. */
export function upsample(
  data: Float32Array,
  shape: PlaneShape,
  outHeight: number,
  outWidth: number,
  filter: UpsampleFilter = 'bilinear',
): Float32Array {
  checkShape(data, shape, 'upsample');
  if (!UPSAMPLE_FILTERS.includes(filter)) throw unknownChoice('upsample filter', filter, UPSAMPLE_FILTERS);
  const { batch, channels, height, width } = shape;
  const rowTaps = taps(height, outHeight, filter);
  const colTaps = taps(width, outWidth, filter);
  const out = new Float32Array(batch * channels * outHeight * outWidth);
  const rows = new Float32Array(height * outWidth);
  for (let p = 0; p < batch * channels; p++) {
    const src = p * height * width;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < outWidth; x++) {
        const { index, weight } = colTaps[x];
        let sum = 0;
        for (let k = 0; k < index.length; k++) sum += weight[k] * data[src + y * width + index[k]];
        rows[y * outWidth + x] = sum;
      }
    const dst = p * outHeight * outWidth;
    for (let y = 0; y < outHeight; y++) {
      const { index, weight } = rowTaps[y];
      for (let x = 0; x < outWidth; x++) {
        let sum = 0;
        for (let k = 0; k < index.length; k++) sum += weight[k] * rows[index[k] * outWidth + x];
        out[dst + y * outWidth + x] = sum;
      }
    }
  }
  return out;
}
