/**
 * Edge maps of images in [0, 1], the conditioning images a ControlNet learns from: the Sobel gradient
 * magnitude (3×3 kernels, borders replicated, divided by 4 so that a unit step has magnitude 1),
 * a thresholded Sobel map, and a small Canny detector (Canny 1986) — non-maximum suppression across the
 * gradient direction (quantised to 0°, 45°, 90°, 135°), then hysteresis: pixels above `high` are edges,
 * pixels above `low` are edges when 8-connected to one. No Gaussian pre-blur: the images here are
 * 16–64 pixels wide, where a blur erases strokes. Colour images become grey by ITU-R 601 luma first.
 * Everything is deterministic; `edgeConditionedDataset` wraps a dataset ([−1, 1] pixels) so that each
 * batch carries the edge map of its images as `condition`.
 *
 * This module must not know networks or training; it only computes maps from pixels.
 */
import { ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { Batch, Dataset } from './dataset.js';

/** The kinds of conditioning image this project derives from a dataset. */
export const CONDITION_KINDS = ['edges'] as const;
export type ConditionKind = (typeof CONDITION_KINDS)[number];

export interface CannyOptions {
  /** Hysteresis low threshold on the normalised gradient magnitude (a unit step is 1). */
  low?: number;
  /** Hysteresis high threshold. */
  high?: number;
}

export const DEFAULT_CANNY: Required<CannyOptions> = { low: 0.2, high: 0.4 };

/** One grey plane [H, W] from [C, H, W] (C = 1 unchanged, C = 3 by luma). */
export function greyPlane(
  image: Float32Array,
  channels: number,
  height: number,
  width: number,
): Float32Array {
  const n = height * width;
  if (image.length !== channels * n) {
    throw new ShapeError(
      `edge map: ${image.length} values are not a [${channels}, ${height}, ${width}] image`,
    );
  }
  if (channels === 1) return image.slice();
  if (channels !== 3) throw new ShapeError(`edge map: images must have 1 or 3 channels, got ${channels}`);
  const grey = new Float32Array(n);
  for (let i = 0; i < n; i++) grey[i] = 0.299 * image[i] + 0.587 * image[n + i] + 0.114 * image[2 * n + i];
  return grey;
}

/** Sobel gradients (gx, gy) of a plane, each divided by 4, with replicated borders. */
export function sobelGradients(
  plane: Float32Array,
  height: number,
  width: number,
): { gx: Float32Array; gy: Float32Array } {
  const at = (y: number, x: number) =>
    plane[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))];
  const gx = new Float32Array(height * width);
  const gy = new Float32Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const a = at(y - 1, x - 1),
        b = at(y - 1, x),
        c = at(y - 1, x + 1);
      const d = at(y, x - 1),
        f = at(y, x + 1);
      const g = at(y + 1, x - 1),
        h = at(y + 1, x),
        k = at(y + 1, x + 1);
      gx[y * width + x] = (c + 2 * f + k - a - 2 * d - g) / 4;
      gy[y * width + x] = (g + 2 * h + k - a - 2 * b - c) / 4;
    }
  }
  return { gx, gy };
}

/** The normalised Sobel gradient magnitude √(gx² + gy²) of a plane. */
export function sobelMagnitude(plane: Float32Array, height: number, width: number): Float32Array {
  const { gx, gy } = sobelGradients(plane, height, width);
  return gx.map((v, i) => Math.hypot(v, gy[i]));
}

/** 1 where the Sobel magnitude reaches `threshold`, else 0. */
export function sobelEdges(
  plane: Float32Array,
  height: number,
  width: number,
  threshold = 0.5,
): Float32Array {
  return sobelMagnitude(plane, height, width).map((m) => (m >= threshold ? 1 : 0));
}

/** Offsets of the two neighbours across the gradient direction, by quantised angle. */
function acrossOffsets(gx: number, gy: number): [number, number] {
  // Angle of the gradient in [0°, 180°): the edge runs perpendicular to it.
  let angle = (Math.atan2(gy, gx) * 180) / Math.PI;
  if (angle < 0) angle += 180;
  if (angle < 22.5 || angle >= 157.5) return [0, 1];
  if (angle < 67.5) return [1, 1];
  if (angle < 112.5) return [1, 0];
  return [1, -1];
}

/** The magnitude where it is a local maximum across the gradient direction, else 0. */
function suppressedMagnitude(
  gx: Float32Array,
  gy: Float32Array,
  height: number,
  width: number,
): Float32Array {
  const magnitude = gx.map((v, i) => Math.hypot(v, gy[i]));
  const out = new Float32Array(height * width);
  const mag = (y: number, x: number) =>
    y < 0 || y >= height || x < 0 || x >= width ? 0 : magnitude[y * width + x];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const [dy, dx] = acrossOffsets(gx[i], gy[i]);
      // Strict on one side, non-strict on the other: of two equal neighbours exactly one survives.
      if (magnitude[i] > mag(y - dy, x - dx) && magnitude[i] >= mag(y + dy, x + dx)) out[i] = magnitude[i];
    }
  }
  return out;
}

/** Hysteresis: strong pixels, and weak ones 8-connected to a strong one through weak ones. */
function hysteresis(
  thin: Float32Array,
  height: number,
  width: number,
  low: number,
  high: number,
): Float32Array {
  const edges = new Float32Array(height * width);
  const stack: number[] = [];
  thin.forEach((m, i) => {
    if (m >= high) {
      edges[i] = 1;
      stack.push(i);
    }
  });
  while (stack.length > 0) {
    const i = stack.pop()!;
    const y = Math.floor(i / width);
    const x = i % width;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const ny = y + dy;
        const nx = x + dx;
        if (ny < 0 || ny >= height || nx < 0 || nx >= width) continue;
        const j = ny * width + nx;
        if (edges[j] === 0 && thin[j] >= low) {
          edges[j] = 1;
          stack.push(j);
        }
      }
    }
  }
  return edges;
}

/** The Canny edge map (1 on edges, 0 elsewhere) of a plane in [0, 1]. */
export function cannyEdges(
  plane: Float32Array,
  height: number,
  width: number,
  options: CannyOptions = {},
): Float32Array {
  const { low, high } = { ...DEFAULT_CANNY, ...options };
  const { gx, gy } = sobelGradients(plane, height, width);
  return hysteresis(suppressedMagnitude(gx, gy, height, width), height, width, low, high);
}

/**
 * Canny edge maps [N, 1, H, W] of images [N, C, H, W] whose pixels are in [0, 1] (`range01`) or in
 * [−1, 1] (the datasets' and samples' range, mapped by (x + 1) / 2 first).
 */
export function edgeMaps(
  images: Float32Array,
  shape: readonly [number, number, number, number],
  options: CannyOptions & { range?: 'zero-one' | 'minus-one-one' } = {},
): Float32Array {
  const [count, channels, height, width] = shape;
  const per = channels * height * width;
  if (images.length !== count * per) {
    throw new ShapeError(`edge maps: ${images.length} values are not images of shape [${shape.join(', ')}]`);
  }
  const out = new Float32Array(count * height * width);
  for (let n = 0; n < count; n++) {
    let image = images.subarray(n * per, (n + 1) * per);
    if (options.range === 'minus-one-one') image = image.map((v) => (v + 1) / 2);
    out.set(
      cannyEdges(greyPlane(image, channels, height, width), height, width, options),
      n * height * width,
    );
  }
  return out;
}

/** A dataset of [C, H, W] images whose batches also carry their edge maps [batch, 1, H, W] as `condition`. */
export function edgeConditionedDataset(dataset: Dataset, options: CannyOptions = {}): Dataset {
  if (dataset.shape.length !== 3) {
    throw new ShapeError(
      `edge conditioning needs images [C, H, W]; dataset '${dataset.name}' has [${dataset.shape.join(', ')}]`,
    );
  }
  const [channels, height, width] = dataset.shape;
  return {
    name: dataset.name,
    shape: dataset.shape,
    size: dataset.size,
    ...(dataset.numClasses !== undefined ? { numClasses: dataset.numClasses } : {}),
    ...(dataset.classNames !== undefined ? { classNames: dataset.classNames } : {}),
    description: `${dataset.description}; condition: Canny edge maps [1, ${height}, ${width}]`,
    batch(indices: ArrayLike<number>, random?: Random): Batch {
      const batch = dataset.batch(indices, random);
      const shape = [indices.length, channels, height, width] as const;
      return { ...batch, condition: edgeMaps(batch.x, shape, { ...options, range: 'minus-one-one' }) };
    },
  };
}
