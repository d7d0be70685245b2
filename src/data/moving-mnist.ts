/**
 * Moving MNIST (Srivastava et al. 2015) at CPU scale: short videos [1, F, S, S] of one or two MNIST
 * digits gliding and bouncing inside an S×S frame (S = 32 or 24, F = 8 frames by default). Each digit
 * is the package's 28×28 image shrunk to 14×14 by 2×2 averaging; it starts at a uniform position with a
 * uniform direction and a speed uniform in [1, 2.5] pixels per frame, moves in straight lines and
 * reflects off the walls (position p ↦ −p or 2·max − p, that velocity component negated), so it never
 * leaves the frame. Two digits are combined by the pixel-wise maximum. Pixels are bytes mapped to
 * [−1, 1] as for MNIST (ink +1). Everything is a pure function of the options: the same seed gives the
 * same videos. One-digit videos are labelled by their digit; the `test` split draws digits from
 * MNIST's held-out images.
 *
 * This module must not train or render files.
 */
import { z } from 'zod';
import { Random } from '../util/random.js';
import { ByteImageDataset, parseOptions } from './dataset.js';
import { loadMnistBytes, MNIST_SIDE, mnistSplitIndices } from './mnist.js';

/** Side of a shrunk digit (28 / 2). */
export const MOVING_DIGIT_SIDE = 14;

const movingMnistOptions = z
  .object({
    /** Number of videos (default 3000). */
    size: z.number().int().positive().max(100_000).default(3000),
    seed: z.number().int().default(0),
    /** Frames per video (default 8). */
    frames: z.number().int().min(2).max(64).default(8),
    /** Frame side in pixels, 24 or 32 (default 32). */
    imageSize: z.union([z.literal(24), z.literal(32)]).default(32),
    /** Digits per video, 1 (labelled) or 2 (default 1). */
    digits: z.union([z.literal(1), z.literal(2)]).default(1),
    /** Which MNIST images the digits come from: `train` (default) or `test`. */
    split: z.enum(['train', 'test']).default('train'),
  })
  .strict();

export type MovingMnistOptions = z.input<typeof movingMnistOptions>;

/** One coordinate of a bouncing digit: its integer pixel offsets over `frames` frames within [0, max]. */
export function bouncePath(start: number, velocity: number, frames: number, max: number): number[] {
  const path: number[] = [];
  let p = start;
  let v = velocity;
  for (let f = 0; f < frames; f++) {
    path.push(Math.min(max, Math.max(0, Math.round(p))));
    p += v;
    // Reflect off the walls; a step longer than the room reflects once per wall it reaches.
    while (p < 0 || p > max) {
      if (p < 0) p = -p;
      else p = 2 * max - p;
      v = -v;
    }
  }
  return path;
}

/** A 28×28 MNIST image shrunk to 14×14 bytes by 2×2 averaging. */
function shrunkDigit(pixels: Uint8Array, index: number): Uint8Array {
  const side = MOVING_DIGIT_SIDE;
  const out = new Uint8Array(side * side);
  const base = index * MNIST_SIDE * MNIST_SIDE;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const at = (yy: number, xx: number) => pixels[base + (2 * y + yy) * MNIST_SIDE + 2 * x + xx];
      out[y * side + x] = Math.round((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4);
    }
  }
  return out;
}

/** Pastes a shrunk digit into one frame at (row, col), keeping the brighter pixel where digits overlap. */
function paste(
  pixels: Uint8Array,
  digit: Uint8Array,
  frameStart: number,
  side: number,
  row: number,
  col: number,
): void {
  const d = MOVING_DIGIT_SIDE;
  for (let y = 0; y < d; y++) {
    for (let x = 0; x < d; x++) {
      const at = frameStart + (row + y) * side + col + x;
      pixels[at] = Math.max(pixels[at], digit[y * d + x]);
    }
  }
}

interface RenderedVideos {
  pixels: Uint8Array;
  labels: Int32Array;
  corners: Int32Array;
}

/** The videos' bytes [size, F, S, S], first-digit labels and per-frame digit corners. */
function renderVideos(o: z.output<typeof movingMnistOptions>): RenderedVideos {
  const { size, seed, frames, imageSize: side, digits, split } = o;
  const mnist = loadMnistBytes();
  const pool = mnistSplitIndices(split);
  const random = new Random(seed);
  const frameLength = side * side;
  const max = side - MOVING_DIGIT_SIDE;
  const pixels = new Uint8Array(size * frames * frameLength);
  const corners = new Int32Array(size * digits * frames * 2);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    for (let d = 0; d < digits; d++) {
      const source = pool[random.int(pool.length)];
      if (d === 0) labels[i] = mnist.labels[source];
      const angle = 2 * Math.PI * random.uniform();
      const speed = 1 + 1.5 * random.uniform();
      const rows = bouncePath(max * random.uniform(), speed * Math.sin(angle), frames, max);
      const cols = bouncePath(max * random.uniform(), speed * Math.cos(angle), frames, max);
      const digit = shrunkDigit(mnist.pixels, source);
      for (let f = 0; f < frames; f++) {
        const corner = ((i * digits + d) * frames + f) * 2;
        corners[corner] = rows[f];
        corners[corner + 1] = cols[f];
        paste(pixels, digit, (i * frames + f) * frameLength, side, rows[f], cols[f]);
      }
    }
  }
  return { pixels, labels, corners };
}

/** Videos as bytes [size, 1, F, S, S], gathered to [−1, 1] like every byte image dataset. */
export class MovingMnistDataset extends ByteImageDataset {
  /** Top-left corner of each digit per frame: [size, digits, F, 2] as (row, column). */
  readonly corners: Int32Array;

  constructor(options: MovingMnistOptions | Record<string, unknown> = {}) {
    const o = parseOptions('moving-mnist', movingMnistOptions, options);
    const { pixels, labels, corners } = renderVideos(o);
    const { size, frames, imageSize: side, digits, split } = o;
    super({
      name: `moving-mnist${split === 'test' ? ':test' : ''}`,
      shape: [1, frames, side, side],
      pixels,
      description: `${size} videos of ${digits} bouncing MNIST digit(s), ${frames} frames of ${side}x${side}, ink +1 on -1`,
      ...(digits === 1
        ? { labels, numClasses: 10, classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] }
        : {}),
    });
    this.corners = corners;
  }
}

/** Moving MNIST videos (see the module header). */
export function movingMnistDataset(
  options: MovingMnistOptions | Record<string, unknown> = {},
): MovingMnistDataset {
  return new MovingMnistDataset(options);
}
