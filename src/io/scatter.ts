/**
 * 2-D points as a scatter-plot image: a white square canvas with light axes through the origin, each
 * point a small filled disc in a colour per class (or one colour), drawn straight into an RGBA buffer.
 * The view is the symmetric square [−extent, extent]² so that plots of data and samples line up.
 * Write the result with `writePng`.
 *
 * This module must not read or write files or know where the points came from.
 */
import { ConfigError } from '../util/errors.js';
import { blankImage, type Rgba, type RgbaImage } from './rgba-image.js';

export interface ScatterOptions {
  /** Canvas width and height in pixels. */
  size?: number;
  /** Half-width of the plotted square; default: the largest |coordinate| × 1.1 (at least 1). */
  extent?: number;
  /** Disc radius in pixels. */
  radius?: number;
  /** One class index per point, coloured from a fixed palette. */
  labels?: ArrayLike<number>;
}

const PALETTE: readonly Rgba[] = [
  [31, 119, 180, 255],
  [255, 127, 14, 255],
  [44, 160, 44, 255],
  [214, 39, 40, 255],
  [148, 103, 189, 255],
  [140, 86, 75, 255],
  [227, 119, 194, 255],
  [127, 127, 127, 255],
];
const AXIS: Rgba = [220, 220, 220, 255];

function paint(image: RgbaImage, x: number, y: number, color: Rgba): void {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  image.data.set(color, (y * image.width + x) * 4);
}

function defaultExtent(points: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < points.length; i++)
    if (Number.isFinite(points[i])) largest = Math.max(largest, Math.abs(points[i]));
  return Math.max(1, largest * 1.1);
}

/** The scatter plot of `points` (flat x0, y0, x1, y1, …). Non-finite points are skipped. */
export function scatterPlot(points: ArrayLike<number>, options: ScatterOptions = {}): RgbaImage {
  if (points.length % 2 !== 0)
    throw new ConfigError(`scatter plot needs pairs of coordinates, got ${points.length} values`);
  const { size = 512, labels } = options;
  // Whole pixels: a fractional offset would write colours across channel boundaries.
  const radius = Math.max(0, Math.round(options.radius ?? 2));
  const extent = options.extent ?? defaultExtent(points);
  const image = blankImage(size, size);
  const toPixel = (v: number) => Math.round(((v + extent) / (2 * extent)) * (size - 1));
  const centre = toPixel(0);
  for (let i = 0; i < size; i++) {
    paint(image, i, centre, AXIS);
    paint(image, centre, i, AXIS);
  }
  for (let p = 0; p < points.length / 2; p++) {
    const [x, y] = [points[2 * p], points[2 * p + 1]];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const color = PALETTE[(labels ? labels[p] : 0) % PALETTE.length];
    const [cx, cy] = [toPixel(x), toPixel(-y)]; // image rows grow downwards
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++)
        if (dx * dx + dy * dy <= radius * radius) paint(image, cx + dx, cy + dy, color);
    }
  }
  return image;
}
