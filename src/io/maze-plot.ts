/**
 * A picture of a 2-D grid maze with paths drawn over it: wall cells dark grey, free cells white with a
 * faint grid, and any number of layers — a polyline through (x, y) points (one cell = `cellPixels`
 * pixels, x to the right, y downwards as in the map) with a dot at each point, or single markers with an
 * optional ring (e.g. the goal's success radius). Drawn straight into an RGBA buffer; write it with
 * `writePng`. Several pictures side by side make a row with `pictureRow`.
 *
 * This module must not read or write files or know how the maze or the paths were made.
 */
import { ConfigError } from '../util/errors.js';
import { blankImage, type Rgba, type RgbaImage } from './rgba-image.js';

/** The grid: its size and which cells are walls. */
export interface MazeGrid {
  rows: number;
  columns: number;
  isFreeCell(row: number, column: number): boolean;
}

/** A path (points joined by lines) or a set of markers. */
export interface MazeLayer {
  /** Flat (x, y) pairs in cells. */
  points: ArrayLike<number>;
  color: Rgba;
  /** Join consecutive points by lines (default true). */
  line?: boolean;
  /** Dot radius in pixels (default 2). */
  radius?: number;
  /** A ring of this radius in cells around every point (e.g. the success radius). */
  ring?: number;
}

export const WALL: Rgba = [70, 70, 80, 255];
const GRID: Rgba = [225, 225, 225, 255];

function paint(image: RgbaImage, x: number, y: number, color: Rgba): void {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  image.data.set(color, (y * image.width + x) * 4);
}

function disc(image: RgbaImage, cx: number, cy: number, radius: number, color: Rgba): void {
  for (let dy = -radius; dy <= radius; dy++)
    for (let dx = -radius; dx <= radius; dx++)
      if (dx * dx + dy * dy <= radius * radius) paint(image, Math.round(cx + dx), Math.round(cy + dy), color);
}

function segment(image: RgbaImage, from: [number, number], to: [number, number], color: Rgba): void {
  const steps = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1])));
  for (let k = 0; k <= steps; k++) {
    const t = k / steps;
    disc(image, from[0] + t * (to[0] - from[0]), from[1] + t * (to[1] - from[1]), 1, color);
  }
}

function ring(image: RgbaImage, cx: number, cy: number, radius: number, color: Rgba): void {
  const count = Math.max(16, Math.ceil(2 * Math.PI * radius));
  for (let k = 0; k < count; k++) {
    const angle = (2 * Math.PI * k) / count;
    paint(image, Math.round(cx + radius * Math.cos(angle)), Math.round(cy + radius * Math.sin(angle)), color);
  }
}

/** The maze with its layers drawn in order (later layers on top). */
export function mazePlot(grid: MazeGrid, layers: readonly MazeLayer[], cellPixels = 64): RgbaImage {
  if (!Number.isInteger(cellPixels) || cellPixels < 4) {
    throw new ConfigError(`maze plot: cellPixels must be an integer ≥ 4, got ${cellPixels}`);
  }
  const image = blankImage(grid.columns * cellPixels, grid.rows * cellPixels);
  for (let y = 0; y < image.height; y++)
    for (let x = 0; x < image.width; x++) {
      const [r, c] = [Math.floor(y / cellPixels), Math.floor(x / cellPixels)];
      if (!grid.isFreeCell(r, c)) paint(image, x, y, WALL);
      else if (x % cellPixels === 0 || y % cellPixels === 0) paint(image, x, y, GRID);
    }
  const pixel = (v: number) => v * cellPixels;
  for (const layer of layers) {
    if (layer.points.length % 2 !== 0) {
      throw new ConfigError(`maze plot: a layer needs (x, y) pairs, got ${layer.points.length} values`);
    }
    const points = Array.from({ length: layer.points.length / 2 }, (_, i): [number, number] => [
      pixel(layer.points[2 * i]),
      pixel(layer.points[2 * i + 1]),
    ]);
    if (layer.line ?? true)
      for (let i = 1; i < points.length; i++) segment(image, points[i - 1], points[i], layer.color);
    for (const [x, y] of points) {
      disc(image, x, y, layer.radius ?? 2, layer.color);
      if (layer.ring !== undefined) ring(image, x, y, pixel(layer.ring), layer.color);
    }
  }
  return image;
}

/** Pictures of one height side by side, `gap` white pixels apart. */
export function pictureRow(pictures: readonly RgbaImage[], gap = 8): RgbaImage {
  const height = Math.max(...pictures.map((p) => p.height));
  const width = pictures.reduce((w, p) => w + p.width, 0) + gap * (pictures.length - 1);
  const row = blankImage(width, height);
  let left = 0;
  for (const picture of pictures) {
    for (let y = 0; y < picture.height; y++) {
      const from = y * picture.width * 4;
      row.data.set(picture.data.subarray(from, from + picture.width * 4), (y * width + left) * 4);
    }
    left += picture.width + gap;
  }
  return row;
}
