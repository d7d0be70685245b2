/**
 * Denoising trajectories: a `StepCallback` that keeps x_t and the model's x̂₀ at chosen steps of any
 * sampler or editing pipeline, and renderings of what it kept — for image data a PNG-ready strip (top
 * row x_t, bottom row x̂₀, left to right in sampling order) and GIF animation frames (the whole batch as a
 * grid per kept step), for 2-D point data a row of scatter plots. Renderings are `RgbaImage`s or GIF
 * bytes; writing them to disk is the caller's (`writePng`, `writeGif`). Nothing here calls a model.
 */
import { ConfigError, ShapeError } from '../util/errors.js';
import type { StepCallback } from '../diffusion/samplers/types.js';
import { encodeGif, imageGrid, tensorToImages, type GifOptions, type RgbaImage } from '../io/images.js';
import { scatterPlot } from '../io/scatter.js';

export interface TrajectoryFrame {
  /** 0-based step index within the run. */
  step: number;
  timestep: number;
  /** x after the step (the whole batch). */
  sample: Float32Array;
  /** The model's x̂₀ at the step (the whole batch). */
  predictedOriginal: Float32Array;
}

export interface TrajectoryOptions {
  /** Keep these 0-based step indices (negative counts from the end: −1 is the last step). */
  steps?: readonly number[];
  /** Or keep this many steps spread evenly from the first to the last; default: every step. */
  count?: number;
}

/** Whether step `step` of `numSteps` is kept under the options. */
export function keepsStep(options: TrajectoryOptions, step: number, numSteps: number): boolean {
  if (options.steps) return options.steps.some((s) => (s < 0 ? numSteps + s : s) === step);
  if (options.count === undefined) return true;
  const count = Math.min(options.count, numSteps);
  if (count === 1) return step === numSteps - 1;
  for (let i = 0; i < count; i++) if (Math.round((i * (numSteps - 1)) / (count - 1)) === step) return true;
  return false;
}

/** A callback collecting frames, and the frames it has collected so far. */
export function trajectoryCollector(options: TrajectoryOptions = {}): {
  callback: StepCallback;
  frames: TrajectoryFrame[];
} {
  if (options.count !== undefined && !(Number.isInteger(options.count) && options.count >= 1)) {
    throw new ConfigError(`trajectory frame count must be a positive integer, got ${options.count}`);
  }
  const frames: TrajectoryFrame[] = [];
  const callback: StepCallback = (info) => {
    if (!keepsStep(options, info.step, info.numSteps)) return;
    frames.push({
      step: info.step,
      timestep: info.timestep,
      sample: Float32Array.from(info.sample),
      predictedOriginal: Float32Array.from(info.predictedOriginal),
    });
  };
  return { callback, frames };
}

function checkFrames(frames: readonly TrajectoryFrame[]): void {
  if (frames.length === 0)
    throw new ShapeError('the trajectory holds no frames; was the collector passed as callback?');
}

/** One example's [C, H, W] slice of a batch as an image. */
function exampleImage(values: Float32Array, exampleShape: readonly number[], index: number): RgbaImage {
  const size = exampleShape.reduce((a, b) => a * b, 1);
  if (values.length % size !== 0 || (index + 1) * size > values.length) {
    throw new ShapeError(
      `trajectory of ${values.length} values has no example ${index} of shape [${exampleShape.join(', ')}]`,
    );
  }
  return tensorToImages(values.subarray(index * size, (index + 1) * size), exampleShape)[0];
}

/** Two rows, x_t above x̂₀, one column per frame, for example `index` of images shaped [C, H, W]. */
export function trajectoryStrip(
  frames: readonly TrajectoryFrame[],
  exampleShape: readonly number[],
  options: { index?: number; padding?: number } = {},
): RgbaImage {
  checkFrames(frames);
  const index = options.index ?? 0;
  const top = frames.map((f) => exampleImage(f.sample, exampleShape, index));
  const bottom = frames.map((f) => exampleImage(f.predictedOriginal, exampleShape, index));
  return imageGrid([...top, ...bottom], { nrow: frames.length, padding: options.padding ?? 2 });
}

/** One grid of the whole batch's x_t per frame (`nrow` images per row), for an animation. */
export function trajectoryGifFrames(
  frames: readonly TrajectoryFrame[],
  exampleShape: readonly number[],
  options: { nrow?: number; padding?: number } = {},
): RgbaImage[] {
  checkFrames(frames);
  return frames.map((frame) => {
    const batch = frame.sample.length / exampleShape.reduce((a, b) => a * b, 1);
    const images = tensorToImages(frame.sample, [batch, ...exampleShape]);
    return imageGrid(images, { nrow: options.nrow ?? Math.ceil(Math.sqrt(batch)), padding: options.padding });
  });
}

/** The animation as GIF bytes (write them with `writeFileAtomic`, or the frames with `writeGif`). */
export function trajectoryGif(
  frames: readonly TrajectoryFrame[],
  exampleShape: readonly number[],
  options: GifOptions & { nrow?: number } = {},
): Uint8Array {
  return encodeGif(trajectoryGifFrames(frames, exampleShape, options), options);
}

/**
 * For 2-D points: x_t scatter plots in the top row and x̂₀ in the bottom row, one column per frame, all
 * on the same square view [−extent, extent]² (default 1.5) so the panels line up.
 */
export function trajectoryScatter(
  frames: readonly TrajectoryFrame[],
  options: { size?: number; extent?: number; padding?: number } = {},
): RgbaImage {
  checkFrames(frames);
  const plot = { size: options.size ?? 160, extent: options.extent ?? 1.5, radius: 1 };
  const top = frames.map((f) => scatterPlot(f.sample, plot));
  const bottom = frames.map((f) => scatterPlot(f.predictedOriginal, plot));
  return imageGrid([...top, ...bottom], { nrow: frames.length, padding: options.padding ?? 2 });
}
