/**
 * Animated GIF writing through gifenc, for denoising trajectories and sample sweeps. All frames share
 * one palette of at most `colors` entries, quantised from every frame together, so a colour does not
 * flicker between frames; transparent pixels are composited on white first (GIF has only 1-bit
 * alpha). GIF is lossy in colour: keep PNGs for results that must be exact. Writes are atomic.
 */
import gifenc from 'gifenc';
import { ShapeError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { WHITE, checkImage, flattenAlpha, type RgbaImage } from './rgba-image.js';

export interface GifOptions {
  /** Time each frame is shown, in milliseconds (GIF stores hundredths of a second; default 100). */
  delayMs?: number;
  /** Extra time on the last frame, so a loop pauses on the result (default 1000). */
  lastFrameDelayMs?: number;
  /** true (default) loops forever, false plays once, a number plays that many extra times. */
  loop?: boolean | number;
  /** Palette size, 2–256 (default 256). */
  colors?: number;
}

/** GIF bytes of an animation. */
export function encodeGif(frames: readonly RgbaImage[], options: GifOptions = {}): Uint8Array {
  const { delayMs = 100, lastFrameDelayMs = 1000, loop = true, colors = 256 } = options;
  if (frames.length === 0) throw new ShapeError('cannot make a GIF of zero frames');
  if (!Number.isInteger(colors) || colors < 2 || colors > 256) {
    throw new ShapeError(`GIF palette size must be an integer from 2 to 256, got ${colors}`);
  }
  const { width, height } = frames[0];
  if (width > 65535 || height > 65535) throw new ShapeError(`GIF frames are at most 65535 pixels a side`);
  const opaque = frames.map((frame, k) => {
    checkImage(frame, `GIF frame ${k}`);
    if (frame.width !== width || frame.height !== height) {
      throw new ShapeError(
        `GIF frame ${k} is ${frame.width}×${frame.height}, frame 0 is ${width}×${height}; all must match`,
      );
    }
    return flattenAlpha(frame, WHITE).data;
  });
  const repeat = gifRepeat(loop);
  const palette = gifenc.quantize(concatenate(opaque), colors);
  const gif = gifenc.GIFEncoder();
  opaque.forEach((pixels, k) => {
    const last = k === frames.length - 1;
    gif.writeFrame(gifenc.applyPalette(pixels, palette), width, height, {
      palette: k === 0 ? palette : undefined,
      delay: last && frames.length > 1 ? delayMs + lastFrameDelayMs : delayMs,
      repeat,
    });
  });
  gif.finish();
  return gif.bytes();
}

/** Writes an animated GIF, atomically. */
export function writeGif(path: string, frames: readonly RgbaImage[], options: GifOptions = {}): void {
  writeFileAtomic(path, encodeGif(frames, options));
}

/** gifenc's repeat field: 0 forever, −1 once, n > 0 that many extra times. */
function gifRepeat(loop: boolean | number): number {
  if (loop === true) return 0;
  if (loop === false || loop === 0) return -1;
  if (!Number.isInteger(loop) || loop < 0 || loop > 65535) {
    throw new ShapeError(`GIF loop must be true, false or a repeat count 0–65535, got ${loop}`);
  }
  return loop;
}

function concatenate(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
