/**
 * A probabilistic forecast as a fan-chart image: on a white canvas, the observed past as a dark line,
 * the forecast's outer and inner quantile bands (e.g. 10–90% and 25–75%) as light and darker blue fills,
 * its median as a blue line, and what actually happened as red dots, all on one shared time axis (past
 * steps, then horizon steps) and a y range fitted to everything drawn plus 5%. Lines are drawn segment
 * by segment with one dot per pixel column, so no anti-aliasing; combine panels with `imageGrid` and
 * write with `writePng`.
 *
 * This module must not read or write files or compute quantiles; it only draws given numbers.
 */
import { ShapeError } from '../util/errors.js';
import { blankImage, type Rgba, type RgbaImage } from './rgba-image.js';

export interface FanChartData {
  /** Observed values before the forecast origin. */
  past: ArrayLike<number>;
  /** Outer band [lower, upper] per horizon step, e.g. the 10% and 90% quantiles. */
  outer: [ArrayLike<number>, ArrayLike<number>];
  /** Inner band, e.g. the 25% and 75% quantiles. */
  inner: [ArrayLike<number>, ArrayLike<number>];
  median: ArrayLike<number>;
  /** Observed values over the horizon (optional). */
  truth?: ArrayLike<number>;
}

const PAST: Rgba = [40, 40, 40, 255];
const OUTER: Rgba = [198, 219, 239, 255];
const INNER: Rgba = [107, 174, 214, 255];
const MEDIAN: Rgba = [8, 81, 156, 255];
const TRUTH: Rgba = [214, 39, 40, 255];
const ORIGIN: Rgba = [200, 200, 200, 255];

function paint(image: RgbaImage, x: number, y: number, color: Rgba): void {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  image.data.set(color, (y * image.width + x) * 4);
}

function valueRange(data: FanChartData): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  const all = [data.past, ...data.outer, ...data.inner, data.median, ...(data.truth ? [data.truth] : [])];
  for (const values of all)
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) continue;
      lo = Math.min(lo, values[i]);
      hi = Math.max(hi, values[i]);
    }
  if (!Number.isFinite(lo)) return [-1, 1];
  const margin = Math.max(hi - lo, 1e-9) * 0.05;
  return [lo - margin, hi + margin];
}

/** The fan chart of one forecast (see the module header). */
export function fanChart(data: FanChartData, size: { width?: number; height?: number } = {}): RgbaImage {
  const { width = 480, height = 200 } = size;
  const P = data.past.length;
  const H = data.median.length;
  const fits = [
    data.outer[0],
    data.outer[1],
    data.inner[0],
    data.inner[1],
    ...(data.truth ? [data.truth] : []),
  ];
  if (P < 1 || H < 1 || fits.some((v) => v.length !== H)) {
    throw new ShapeError(`fan chart: needs a past and ${H} values per band, median and truth`);
  }
  const image = blankImage(width, height);
  const [lo, hi] = valueRange(data);
  const steps = P + H - 1;
  // Three pixels of room on the right, so the last step's truth dot is drawn whole.
  const toX = (t: number) => Math.round((t / steps) * (width - 4));
  const toY = (v: number) => Math.round(((hi - v) / (hi - lo)) * (height - 1));
  const at = (values: ArrayLike<number>, t: number, from: number) => {
    // Linear between the values at whole steps; `from` is the step of values[0].
    const i = Math.min(Math.max(t - from, 0), values.length - 1);
    const k = Math.min(Math.floor(i), values.length - 2);
    return values.length === 1 ? values[0] : values[k] + (i - k) * (values[k + 1] - values[k]);
  };
  for (let y = 0; y < height; y++) paint(image, toX(P - 1), y, ORIGIN);
  const band = ([lower, upper]: [ArrayLike<number>, ArrayLike<number>], color: Rgba) => {
    // Bands start at the last observed value so that the fan opens from the origin.
    const withOrigin = (v: ArrayLike<number>) => [data.past[P - 1], ...Array.from(v)];
    const [l, u] = [withOrigin(lower), withOrigin(upper)];
    for (let x = toX(P - 1); x <= toX(steps); x++) {
      const t = (x / (width - 4)) * steps;
      const [y0, y1] = [toY(at(u, t, P - 1)), toY(at(l, t, P - 1))];
      for (let y = Math.min(y0, y1); y <= Math.max(y0, y1); y++) paint(image, x, y, color);
    }
  };
  band(data.outer, OUTER);
  band(data.inner, INNER);
  const line = (values: number[], from: number, color: Rgba) => {
    let previous: number | null = null;
    for (let x = toX(from); x <= toX(from + values.length - 1); x++) {
      const t = (x / (width - 4)) * steps;
      const y = toY(at(values, t, from));
      // A vertical run from the previous column's height keeps steep segments connected.
      const [top, bottom] = previous === null ? [y, y] : [Math.min(previous, y), Math.max(previous, y)];
      for (let yy = top; yy <= bottom + 1; yy++) paint(image, x, yy, color);
      previous = y;
    }
  };
  line(Array.from(data.past), 0, PAST);
  line([data.past[P - 1], ...Array.from(data.median)], P - 1, MEDIAN);
  if (data.truth) {
    for (let h = 0; h < H; h++) {
      const [cx, cy] = [toX(P + h), toY(data.truth[h])];
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) paint(image, cx + dx, cy + dy, TRUTH);
    }
  }
  return image;
}
