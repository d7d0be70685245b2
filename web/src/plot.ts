/**
 * Canvas drawing for the playground: an image at its native resolution (the page scales it up with
 * pixelated CSS, so every canvas pixel is one image pixel and can be read back exactly), a line plot of
 * one curve with an optional marker, and a scatter of 2-D point sets over a fixed square extent.
 *
 * This module must not compute anything about diffusion; it only draws the numbers it is given.
 */
import { UnavailableError } from '../../src/util/errors.js';

/** Draws RGBA bytes onto `canvas`, resized to the image. */
export function drawImage(
  canvas: HTMLCanvasElement,
  rgba: Uint8ClampedArray,
  width: number,
  height: number,
): void {
  canvas.width = width;
  canvas.height = height;
  const image = new ImageData(width, height);
  image.data.set(rgba);
  context(canvas).putImageData(image, 0, 0);
}

export interface CurveStyle {
  color: string;
  /** Plot log10 of the values (values ≤ 0 and non-finite ones are skipped). */
  log?: boolean;
  /** Index of a vertical marker (e.g. the current timestep), if any. */
  marker?: number | null;
  title: string;
}

const MARGIN = 28;

/** One curve, x = index, y scaled to the finite values' range (log10 when asked). */
export function drawCurve(canvas: HTMLCanvasElement, values: ArrayLike<number>, style: CurveStyle): void {
  const ctx = context(canvas);
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const ys = Array.from(values, (v) => (style.log ? (v > 0 ? Math.log10(v) : NaN) : v));
  const finite = ys.filter((y) => Number.isFinite(y));
  drawFrame(ctx, width, height, style.title);
  if (finite.length === 0) return;
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (high - low < 1e-12) [low, high] = [low - 0.5, high + 0.5];
  const x = (i: number) => MARGIN + ((width - 2 * MARGIN) * i) / Math.max(1, ys.length - 1);
  const y = (v: number) => height - MARGIN - ((height - 2 * MARGIN) * (v - low)) / (high - low);
  ctx.strokeStyle = style.color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  let pen = false;
  ys.forEach((v, i) => {
    if (!Number.isFinite(v)) return void (pen = false);
    if (pen) ctx.lineTo(x(i), y(v));
    else ctx.moveTo(x(i), y(v));
    pen = true;
  });
  ctx.stroke();
  ctx.fillStyle = '#444';
  ctx.font = '11px sans-serif';
  const fmt = (v: number) => (style.log ? (10 ** v).toPrecision(2) : v.toPrecision(3));
  ctx.fillText(fmt(high), 2, MARGIN - 4);
  ctx.fillText(fmt(low), 2, height - MARGIN + 12);
  if (style.marker !== null && style.marker !== undefined) {
    ctx.strokeStyle = '#d62728';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x(style.marker), MARGIN);
    ctx.lineTo(x(style.marker), height - MARGIN);
    ctx.stroke();
  }
}

export interface PointLayer {
  /** Row-major [N, 2]. */
  points: ArrayLike<number>;
  color: string;
  radius: number;
}

/** Point layers over the square [−extent, extent]², first layer underneath. */
export function drawScatter(canvas: HTMLCanvasElement, layers: readonly PointLayer[], extent = 3): void {
  const ctx = context(canvas);
  const { width, height } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = '#ddd';
  ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
  const sx = (v: number) => ((v + extent) / (2 * extent)) * width;
  const sy = (v: number) => height - ((v + extent) / (2 * extent)) * height;
  for (const layer of layers) {
    ctx.fillStyle = layer.color;
    for (let i = 0; i + 1 < layer.points.length; i += 2) {
      ctx.fillRect(
        sx(layer.points[i]) - layer.radius,
        sy(layer.points[i + 1]) - layer.radius,
        2 * layer.radius,
        2 * layer.radius,
      );
    }
  }
}

function drawFrame(ctx: CanvasRenderingContext2D, width: number, height: number, title: string): void {
  ctx.strokeStyle = '#bbb';
  ctx.lineWidth = 1;
  ctx.strokeRect(MARGIN, MARGIN, width - 2 * MARGIN, height - 2 * MARGIN);
  ctx.fillStyle = '#222';
  ctx.font = '12px sans-serif';
  ctx.fillText(title, MARGIN, 14);
}

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new UnavailableError(`canvas '${canvas.id}' has no 2-D context`);
  return ctx;
}
