/**
 * Pictures of the forward process: an image noised by q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I) at chosen t as
 * one strip (seeded), and a plot of a named beta schedule — ᾱ_t and log-SNR_t = log(ᾱ_t/(1−ᾱ_t)) against t —
 * drawn as pixel lines straight into an RGBA buffer, with no plotting library. Here t counts forward
 * steps as in Ho et al. 2020 (t = 0 is the clean image, t = 1..T uses ᾱ_t = ∏_{s≤t}(1−β_s), which is
 * diffusers' table entry t − 1). Results are `RgbaImage`s; writing them is the caller's (`writePng`).
 */
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { alphasCumprod, betaSchedule, type BetaScheduleConfig } from '../diffusion/schedules.js';
import { blankImage, imageStrip, tensorToImages, type Rgba, type RgbaImage } from '../io/images.js';

/** ᾱ after t forward steps: 1 at t = 0, the schedule's cumulative product at entry t − 1 after. */
export function alphaCumprodAfter(alphas: Float64Array, t: number): number {
  if (!Number.isInteger(t) || t < 0 || t > alphas.length) {
    throw new ConfigError(`forward timestep ${t} must be an integer from 0 to ${alphas.length}`);
  }
  return t === 0 ? 1 : alphas[t - 1];
}

/**
 * One [C, H, W] image (values in [−1, 1]) noised to each of `timesteps`, side by side. Noise is drawn
 * from `random` in timestep order; the t = 0 panel is the input itself.
 */
export function forwardStrip(
  image: { data: Float32Array; shape: readonly number[] },
  schedule: BetaScheduleConfig,
  timesteps: readonly number[],
  random: Random,
  options: { padding?: number } = {},
): RgbaImage {
  const shape = image.shape.length === 4 && image.shape[0] === 1 ? image.shape.slice(1) : image.shape;
  if (shape.length !== 3 || shape.reduce((a, b) => a * b, 1) !== image.data.length) {
    throw new ShapeError(
      `forward illustration needs one [C, H, W] image; shape [${image.shape.join(', ')}] with ${image.data.length} values is not one`,
    );
  }
  if (timesteps.length === 0) throw new ConfigError('forward illustration needs at least one timestep');
  const alphas = alphasCumprod(betaSchedule(schedule));
  const panels = timesteps.map((t) => {
    const alpha = alphaCumprodAfter(alphas, t);
    if (alpha === 1) return tensorToImages(image.data, shape)[0];
    const noise = random.normals(image.data.length);
    const noisy = image.data.map((v, k) => Math.sqrt(alpha) * v + Math.sqrt(1 - alpha) * noise[k]);
    return tensorToImages(noisy, shape)[0];
  });
  return imageStrip(panels, { padding: options.padding ?? 2 });
}

export const ALPHA_COLOR: Rgba = [31, 119, 180, 255];
export const LOG_SNR_COLOR: Rgba = [214, 39, 40, 255];
const AXIS_COLOR: Rgba = [160, 160, 160, 255];

/** Where the schedule plot puts things: the plot area and the value ranges of its two curves. */
export interface SchedulePlotLayout {
  width: number;
  height: number;
  /** Plot area margin in pixels on every side. */
  margin: number;
  numTrainTimesteps: number;
  /** log-SNR range mapped to the plot's full height (ᾱ uses [0, 1]). */
  logSnrRange: [number, number];
}

/** Pixel column of forward step t ∈ [1, T]. */
export function plotColumn(layout: SchedulePlotLayout, t: number): number {
  const span = layout.width - 2 * layout.margin - 1;
  return layout.margin + Math.round(((t - 1) / Math.max(1, layout.numTrainTimesteps - 1)) * span);
}

/** Pixel row of `value` in [lo, hi] (top row = hi). */
export function plotRow(layout: SchedulePlotLayout, value: number, range: readonly [number, number]): number {
  const span = layout.height - 2 * layout.margin - 1;
  const fraction = (value - range[0]) / (range[1] - range[0]);
  return layout.margin + Math.round((1 - Math.min(1, Math.max(0, fraction))) * span);
}

function paint(image: RgbaImage, x: number, y: number, color: Rgba): void {
  if (x >= 0 && y >= 0 && x < image.width && y < image.height)
    image.data.set(color, (y * image.width + x) * 4);
}

/** A curve as a connected pixel line: per column the row of the value, joined vertically to the last row. */
function drawCurve(
  image: RgbaImage,
  layout: SchedulePlotLayout,
  values: Float64Array,
  range: readonly [number, number],
  color: Rgba,
): void {
  let previous: number | null = null;
  for (let t = 1; t <= values.length; t++) {
    const x = plotColumn(layout, t);
    const y = plotRow(layout, values[t - 1], range);
    const from = previous ?? y;
    for (let r = Math.min(from, y); r <= Math.max(from, y); r++) paint(image, x, r, color);
    previous = y;
  }
}

/**
 * The schedule plot: ᾱ_t (blue, 0 at the bottom to 1 at the top) and log-SNR_t (red, its own min to max
 * over t, non-finite values left out) against t = 1..T, on white with grey axes. Returns the image and
 * the layout so a reader (or a test) can find any t on it.
 */
export function schedulePlot(
  schedule: BetaScheduleConfig,
  options: { width?: number; height?: number } = {},
): { image: RgbaImage; layout: SchedulePlotLayout } {
  const { width = 480, height = 320 } = options;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 32 && height >= 32)) {
    throw new ConfigError(`schedule plot size must be integers ≥ 32, got ${width}×${height}`);
  }
  const alphas = alphasCumprod(betaSchedule(schedule));
  const logSnr = alphas.map((a) => Math.log(a / (1 - a)));
  const finite = Array.from(logSnr).filter(Number.isFinite);
  const logSnrRange: [number, number] = [Math.min(...finite), Math.max(...finite)];
  if (logSnrRange[0] === logSnrRange[1]) logSnrRange[1] += 1;
  const layout: SchedulePlotLayout = {
    width,
    height,
    margin: 16,
    numTrainTimesteps: alphas.length,
    logSnrRange,
  };
  const image = blankImage(width, height);
  for (let x = layout.margin - 1; x < width - layout.margin + 1; x++)
    paint(image, x, height - layout.margin, AXIS_COLOR);
  for (let y = layout.margin - 1; y <= height - layout.margin; y++)
    paint(image, layout.margin - 1, y, AXIS_COLOR);
  drawCurve(
    image,
    layout,
    logSnr.map((v) => (Number.isFinite(v) ? v : logSnrRange[0])),
    logSnrRange,
    LOG_SNR_COLOR,
  );
  drawCurve(image, layout, alphas, [0, 1], ALPHA_COLOR);
  return { image, layout };
}
