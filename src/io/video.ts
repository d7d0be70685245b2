/**
 * Short videos [count, C, F, H, W] (channel-first frames in [−1, 1]) as pictures: a still grid with one
 * row per video and its frames left to right, and an animated GIF whose frame f shows frame f of every
 * video side by side (a square-ish grid). Used for video diffusion samples and moving-MNIST data.
 *
 * This module must not sample or hold model code; it only converts and writes.
 */
import { ShapeError } from '../util/errors.js';
import { writeGif, type GifOptions } from './gif.js';
import { imageGrid } from './image-grid.js';
import { tensorToImages } from './image-tensor.js';
import type { RgbaImage } from './rgba-image.js';

/** [count, C, F, H, W] → [count·F, C, H, W]: the frames of video 0, then those of video 1, … */
export function videoFrames(samples: Float32Array, shape: readonly number[]): Float32Array {
  if (shape.length !== 5 || samples.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new ShapeError(
      `videos must be [count, C, F, H, W] with ${shape.reduce((a, b) => a * b, 1)} values, got shape [${shape.join(', ')}] and ${samples.length} values`,
    );
  }
  const [count, c, f, h, w] = shape;
  const plane = h * w;
  const out = new Float32Array(samples.length);
  for (let v = 0; v < count; v++)
    for (let ch = 0; ch < c; ch++)
      for (let k = 0; k < f; k++) {
        const from = ((v * c + ch) * f + k) * plane;
        const to = ((v * f + k) * c + ch) * plane;
        out.set(samples.subarray(from, from + plane), to);
      }
  return out;
}

/** One image per frame, video-major (see `videoFrames`). */
function frameImages(samples: Float32Array, shape: readonly number[]): RgbaImage[] {
  const [count, c, f, h, w] = shape;
  return tensorToImages(videoFrames(samples, shape), [count * f, c, h, w]);
}

/** A still: one row per video, its F frames left to right. */
export function videoGrid(samples: Float32Array, shape: readonly number[]): RgbaImage {
  return imageGrid(frameImages(samples, shape), { nrow: shape[2] });
}

/** F animation frames; frame f is a grid of every video's frame f. */
export function videoAnimationFrames(samples: Float32Array, shape: readonly number[]): RgbaImage[] {
  const images = frameImages(samples, shape);
  const [count, , f] = shape;
  const nrow = Math.ceil(Math.sqrt(count));
  return Array.from({ length: f }, (_, k) =>
    imageGrid(
      Array.from({ length: count }, (_, v) => images[v * f + k]),
      { nrow },
    ),
  );
}

/** Writes the videos as one animated GIF (atomically); 125 ms per frame and a short pause by default. */
export function writeVideoGif(
  path: string,
  samples: Float32Array,
  shape: readonly number[],
  options: GifOptions = {},
): void {
  writeGif(path, videoAnimationFrames(samples, shape), { delayMs: 125, lastFrameDelayMs: 375, ...options });
}
