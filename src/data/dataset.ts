/**
 * What every dataset is and how training walks through one. A `Dataset` is a fixed, indexable set of
 * float32 examples of one shape (images channel-first [C, H, W] in [−1, 1]; points [D]; windows
 * [C, L]) with optional integer labels; `batch(indices, random)` gathers examples into one flat
 * row-major array. A `BatchIterator` walks a dataset in seeded shuffled order, epoch after epoch, and
 * its `state()` is a small JSON object a training checkpoint stores so that a resumed run sees exactly
 * the batches the uninterrupted run would have seen. `resolveDataset(name, options)` builds a built-in
 * dataset by name. This module holds no file formats and no model code: loaders live in their own
 * files and are imported lazily, so asking for the 2-D moons never reads MNIST from disk.
 */
import { z } from 'zod';
import { ConfigError, ShapeError, unknownChoice, UsageError } from '../util/errors.js';
import { Random, type RandomState } from '../util/random.js';

/** A gathered batch: `x` is [batch, ...shape] row-major; `labels` is [batch] when the dataset is labelled. */
export interface Batch {
  x: Float32Array;
  labels?: Int32Array;
  /** A conditioning image per example [batch, ...] (e.g. edge maps for a ControlNet), when the dataset has one. */
  condition?: Float32Array;
  /** One caption per example, when the dataset is captioned (see captions.ts). */
  captions?: string[];
}

export interface Dataset {
  /** A short name for logs and saved configs, e.g. `mnist`, `moons`, `image-folder:photos`. */
  readonly name: string;
  /** The shape of one example, e.g. [1, 28, 28] for MNIST, [2] for 2-D points. */
  readonly shape: readonly number[];
  /** Number of examples; valid indices are 0..size-1. */
  readonly size: number;
  /** Number of classes when the dataset is labelled (labels are 0..numClasses-1). */
  readonly numClasses?: number;
  /** Human-readable class names, index = label. */
  readonly classNames?: readonly string[];
  /** What the numbers mean, e.g. "pixels in [-1, 1], channel-first RGB". */
  readonly description: string;
  /** One caption per example (text-to-image data, see captions.ts); batches then carry theirs. */
  readonly captions?: readonly string[];
  /**
   * Gathers the examples at `indices`. `random`, when given, drives batch-time augmentation (for example
   * a random horizontal flip); without it the result is a pure function of the indices.
   */
  batch(indices: ArrayLike<number>, random?: Random): Batch;
}

/** Number of float32 values in one example. */
export function exampleLength(dataset: Pick<Dataset, 'shape'>): number {
  return dataset.shape.reduce((product, n) => product * n, 1);
}

/** One example as a batch of one. */
export function exampleAt(dataset: Dataset, index: number): Batch {
  return dataset.batch([index]);
}

/** Throws a ShapeError unless every index is an integer in [0, size). */
export function checkIndices(dataset: Pick<Dataset, 'name' | 'size'>, indices: ArrayLike<number>): void {
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (!Number.isInteger(index) || index < 0 || index >= dataset.size) {
      throw new ShapeError(
        `dataset '${dataset.name}' has ${dataset.size} examples; index ${index} is out of range`,
      );
    }
  }
}

/**
 * A dataset held in memory as one float32 array [size, ...shape] (plus labels). Toy data, time-series
 * windows and anything already decoded to floats use it.
 */
export class TensorDataset implements Dataset {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  readonly description: string;
  readonly data: Float32Array;
  readonly labels?: Int32Array;

  constructor(spec: {
    name: string;
    shape: readonly number[];
    data: Float32Array;
    labels?: Int32Array;
    numClasses?: number;
    classNames?: readonly string[];
    description: string;
  }) {
    const length = exampleLength(spec);
    if (length === 0 || spec.data.length % length !== 0) {
      throw new ShapeError(
        `dataset '${spec.name}': ${spec.data.length} values do not split into examples of shape [${spec.shape}]`,
      );
    }
    this.name = spec.name;
    this.shape = [...spec.shape];
    this.size = spec.data.length / length;
    this.data = spec.data;
    this.description = spec.description;
    if (spec.labels) {
      checkLabels(spec.name, spec.labels, this.size, spec.numClasses);
      this.labels = spec.labels;
      this.numClasses = spec.numClasses;
      this.classNames = spec.classNames;
    }
  }

  batch(indices: ArrayLike<number>): Batch {
    checkIndices(this, indices);
    const length = exampleLength(this);
    const x = new Float32Array(indices.length * length);
    for (let i = 0; i < indices.length; i++) {
      const start = indices[i] * length;
      x.set(this.data.subarray(start, start + length), i * length);
    }
    return this.labels ? { x, labels: gatherLabels(this.labels, indices) } : { x };
  }
}

/**
 * A dataset of 8-bit images held in memory as bytes [size, C, H, W] (four times smaller than floats)
 * and mapped to [−1, 1] when a batch is gathered by x = 2·float32(b/255) − 1 — the conversion of
 * diffusers' image processor and of io's `imagesToTensor` — so every pixel value is one of 256 exact
 * levels (what dequantised likelihoods assume). With `flip`, a batch gathered with a
 * `Random` mirrors each image left–right with probability ½ (one draw per example, in batch order).
 */
export class ByteImageDataset implements Dataset {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  readonly description: string;
  readonly pixels: Uint8Array;
  readonly labels?: Int32Array;
  readonly flip: boolean;

  constructor(spec: {
    name: string;
    /** [C, H, W], or [C, F, H, W] for videos (mirroring, when on, flips the last axis) */
    shape: readonly number[];
    pixels: Uint8Array;
    labels?: Int32Array;
    numClasses?: number;
    classNames?: readonly string[];
    description: string;
    flip?: boolean;
  }) {
    const length = exampleLength(spec);
    if (length === 0 || spec.pixels.length % length !== 0) {
      throw new ShapeError(
        `dataset '${spec.name}': ${spec.pixels.length} bytes do not split into images of shape [${spec.shape}]`,
      );
    }
    this.name = spec.name;
    this.shape = [...spec.shape];
    this.size = spec.pixels.length / length;
    this.pixels = spec.pixels;
    this.description = spec.description;
    this.flip = spec.flip ?? false;
    if (spec.labels) {
      checkLabels(spec.name, spec.labels, this.size, spec.numClasses);
      this.labels = spec.labels;
      this.numClasses = spec.numClasses;
      this.classNames = spec.classNames;
    }
  }

  batch(indices: ArrayLike<number>, random?: Random): Batch {
    checkIndices(this, indices);
    const length = exampleLength(this);
    const x = new Float32Array(indices.length * length);
    const width = this.shape[this.shape.length - 1];
    for (let i = 0; i < indices.length; i++) {
      const source = this.pixels.subarray(indices[i] * length, (indices[i] + 1) * length);
      const target = x.subarray(i * length, (i + 1) * length);
      const mirrored = this.flip && random !== undefined && random.uniform() < 0.5;
      if (mirrored) copyMirrored(source, target, width);
      else for (let j = 0; j < length; j++) target[j] = BYTE_TO_UNIT_RANGE[source[j]];
    }
    return this.labels ? { x, labels: gatherLabels(this.labels, indices) } : { x };
  }
}

/** Byte b → 2·float32(b/255) − 1, as a lookup table (the same numbers as io's `imagesToTensor`). */
const BYTE_TO_UNIT_RANGE = Float32Array.from({ length: 256 }, (_, b) => -1 + 2 * Math.fround(b / 255));

function copyMirrored(source: Uint8Array, target: Float32Array, width: number): void {
  for (let row = 0; row < source.length; row += width) {
    for (let col = 0; col < width; col++)
      target[row + col] = BYTE_TO_UNIT_RANGE[source[row + width - 1 - col]];
  }
}

function gatherLabels(labels: Int32Array, indices: ArrayLike<number>): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = labels[indices[i]];
  return out;
}

function checkLabels(name: string, labels: Int32Array, size: number, numClasses: number | undefined): void {
  if (labels.length !== size) {
    throw new ShapeError(`dataset '${name}' has ${size} examples but ${labels.length} labels`);
  }
  if (numClasses === undefined || !Number.isInteger(numClasses) || numClasses < 1) {
    throw new ConfigError(`dataset '${name}' is labelled but its number of classes is ${numClasses}`);
  }
  for (const label of labels) {
    if (label < 0 || label >= numClasses) {
      throw new ShapeError(`dataset '${name}' has label ${label} outside 0..${numClasses - 1}`);
    }
  }
}

/** A view of some examples of another dataset (a train or held-out split). */
export function subsetDataset(dataset: Dataset, indices: Int32Array, name: string): Dataset {
  checkIndices(dataset, indices);
  const mapped = (picked: ArrayLike<number>) => {
    checkIndices({ name, size: indices.length }, picked);
    return Int32Array.from({ length: picked.length }, (_, i) => indices[picked[i]]);
  };
  return {
    name,
    shape: dataset.shape,
    size: indices.length,
    numClasses: dataset.numClasses,
    classNames: dataset.classNames,
    description: dataset.description,
    captions: dataset.captions && Array.from(indices, (i) => dataset.captions![i]),
    batch: (picked, random) => dataset.batch(mapped(picked), random),
  };
}

// ---------------------------------------------------------------------------------------------------
// Batch iteration

/**
 * Where a `BatchIterator` stands, as plain JSON for checkpoints. The order of an epoch is the Fisher–
 * Yates permutation drawn from `epochRandom` (the generator's state when the epoch began), so it can
 * be rebuilt without storing the permutation; `random` is the generator's state now (after the
 * permutation and any augmentation draws of the batches already served).
 */
export interface BatchIteratorState {
  /** Completed epochs (0 during the first). */
  epoch: number;
  /** Examples of the current epoch already served. */
  position: number;
  epochRandom: RandomState;
  random: RandomState;
}

export interface BatchIteratorOptions {
  batchSize: number;
  /**
   * Drives the shuffle and batch-time augmentation; the iterator takes it over (do not draw from it
   * elsewhere). Required unless `resumeFrom` is given, which carries the generator's state itself.
   */
  random?: Random;
  /** Shuffle every epoch (default true); false serves 0..size-1 in order. */
  shuffle?: boolean;
  /** Skip the last incomplete batch of each epoch (default true), so every batch has `batchSize` examples. */
  dropLast?: boolean;
  /** Stop after this many epochs (default: never; `next()` rolls over into the next epoch). */
  epochs?: number;
  /** Continue from a saved `state()` instead of starting at epoch 0. */
  resumeFrom?: BatchIteratorState;
}

/** A served batch: the data plus which examples it holds and in which epoch. */
export interface IteratedBatch extends Batch {
  indices: Int32Array;
  epoch: number;
}

export class BatchIterator implements Iterable<IteratedBatch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly epochs: number;
  private random: Random;
  private epochRandom: RandomState;
  private order: Int32Array;
  private epoch: number;
  private position: number;

  constructor(dataset: Dataset, options: BatchIteratorOptions) {
    const { batchSize, shuffle = true, dropLast = true, epochs = Infinity } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ConfigError(`batch size must be a positive integer, got ${batchSize}`);
    }
    if (dropLast && batchSize > dataset.size) {
      throw new ConfigError(
        `batch size ${batchSize} is larger than dataset '${dataset.name}' (${dataset.size} examples)`,
        { hint: 'use a smaller batch size, or dropLast: false' },
      );
    }
    if (dataset.size === 0) throw new ConfigError(`dataset '${dataset.name}' is empty`);
    if (!(epochs === Infinity || (Number.isInteger(epochs) && epochs >= 1))) {
      throw new ConfigError(`epochs must be a positive integer, got ${epochs}`);
    }
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.epochs = epochs;
    const resume = options.resumeFrom;
    if (resume) {
      checkResumeState(resume, dataset.size);
      this.epoch = resume.epoch;
      this.position = resume.position;
      this.epochRandom = resume.epochRandom;
      this.order = this.epochOrder(Random.fromState(resume.epochRandom));
      this.random = Random.fromState(resume.random);
    } else {
      if (!options.random) {
        throw new ConfigError('a batch iterator needs a Random (or a saved state to resume from)');
      }
      this.epoch = 0;
      this.position = 0;
      this.random = options.random;
      this.epochRandom = this.random.state();
      this.order = this.epochOrder(this.random);
    }
  }

  /** Batches served per epoch. */
  get batchesPerEpoch(): number {
    const full = Math.floor(this.dataset.size / this.batchSize);
    return this.dropLast || this.dataset.size % this.batchSize === 0 ? full : full + 1;
  }

  /** A JSON snapshot; `new BatchIterator(dataset, { ..., resumeFrom: state })` continues exactly here. */
  state(): BatchIteratorState {
    return {
      epoch: this.epoch,
      position: this.position,
      epochRandom: this.epochRandom,
      random: this.random.state(),
    };
  }

  /** The next batch, or null once `epochs` epochs have been served. */
  next(): IteratedBatch | null {
    if (this.epoch >= this.epochs) return null;
    if (this.epochEnded()) this.startNextEpoch();
    if (this.epoch >= this.epochs) return null;
    const end = Math.min(this.position + this.batchSize, this.dataset.size);
    const indices = this.order.slice(this.position, end);
    this.position = end;
    const batch = this.dataset.batch(indices, this.random);
    return { ...batch, indices, epoch: this.epoch };
  }

  *[Symbol.iterator](): Iterator<IteratedBatch> {
    for (let batch = this.next(); batch !== null; batch = this.next()) yield batch;
  }

  private epochEnded(): boolean {
    const left = this.dataset.size - this.position;
    return left === 0 || (this.dropLast && left < this.batchSize);
  }

  private startNextEpoch(): void {
    this.epoch += 1;
    this.position = 0;
    if (this.epoch >= this.epochs) return;
    this.epochRandom = this.random.state();
    this.order = this.epochOrder(this.random);
  }

  private epochOrder(random: Random): Int32Array {
    if (this.shuffle) return random.permutation(this.dataset.size);
    return Int32Array.from({ length: this.dataset.size }, (_, i) => i);
  }
}

function checkResumeState(state: BatchIteratorState, size: number): void {
  const valid =
    state !== null &&
    typeof state === 'object' &&
    Number.isInteger(state.epoch) &&
    state.epoch >= 0 &&
    Number.isInteger(state.position) &&
    state.position >= 0 &&
    state.position <= size &&
    state.epochRandom !== undefined &&
    state.random !== undefined;
  if (!valid) {
    throw new ConfigError(`batch iterator state is invalid for a dataset of ${size} examples`, {
      hint: 'it must come from BatchIterator.state() over the same dataset',
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Registry of built-in datasets

/**
 * Options for `resolveDataset`. Each dataset reads the ones it knows and rejects the rest by name, so a
 * misspelt option fails loudly instead of being ignored.
 */
export type DatasetOptions = Record<string, unknown>;

interface DatasetEntry {
  summary: string;
  load(options: DatasetOptions): Promise<Dataset>;
}

const toyOptions = z
  .object({
    size: z.number().int().positive().default(10_000),
    seed: z.number().int().default(0),
    noise: z.number().nonnegative().optional(),
  })
  .strict();

function toyEntry(name: import('./toy2d.js').Toy2dName, summary: string): DatasetEntry {
  return {
    summary,
    async load(options) {
      const { toy2dDataset } = await import('./toy2d.js');
      const { size, seed, noise } = parseOptions(name, toyOptions, options);
      return toy2dDataset(name, { size, random: new Random(seed), noise });
    },
  };
}

const datasets: Record<string, DatasetEntry> = {
  moons: toyEntry('moons', '2-D two interleaved half circles, 2 classes'),
  'swiss-roll': toyEntry('swiss-roll', '2-D spiral (unlabelled)'),
  '8gaussians': toyEntry('8gaussians', '2-D eight Gaussians on a circle of radius 2, 8 classes'),
  checkerboard: toyEntry('checkerboard', '2-D 4×4 checkerboard on [-2, 2]² (unlabelled)'),
  pinwheel: toyEntry('pinwheel', '2-D five curved arms, 5 classes'),
  circles: toyEntry('circles', '2-D two concentric circles, 2 classes'),
  'gaussian-mixture': {
    summary: 'Gaussian mixture in any dimension from { weights, means, stds }, labelled by component',
    async load(options) {
      const { gaussianMixtureDataset } = await import('./toy2d.js');
      return gaussianMixtureDataset(options);
    },
  },
  mnist: {
    summary: 'MNIST digits 1×28×28 (or padded 1×32×32) in [-1, 1], 10 classes, train 9,000 / test 1,000',
    async load(options) {
      const { mnistDataset } = await import('./mnist.js');
      return mnistDataset(options);
    },
  },
  'mnist-14': {
    summary: 'MNIST area-pooled to 1×14×14 (a cascade base or middle stage), 10 classes',
    async load(options) {
      const { mnistLowResDataset } = await import('./mnist-lowres.js');
      return mnistLowResDataset(14, options);
    },
  },
  'mnist-7': {
    summary: 'MNIST area-pooled to 1×7×7 (a cascade base), 10 classes',
    async load(options) {
      const { mnistLowResDataset } = await import('./mnist-lowres.js');
      return mnistLowResDataset(7, options);
    },
  },
  'mnist-sr-7-14': {
    summary: 'MNIST 1×14×14 as super-resolution targets (the 7×7 inputs are pooled from them)',
    async load(options) {
      const { mnistLowResDataset } = await import('./mnist-lowres.js');
      return mnistLowResDataset(14, options);
    },
  },
  'mnist-sr-14-28': {
    summary: 'MNIST 1×28×28 as super-resolution targets (the 14×14 inputs are pooled from them)',
    async load(options) {
      const { mnistDataset } = await import('./mnist.js');
      return mnistDataset(options);
    },
  },
  'mnist-sr-7-28': {
    summary: 'MNIST 1×28×28 as ×4 super-resolution targets (the 7×7 inputs are pooled from them)',
    async load(options) {
      const { mnistDataset } = await import('./mnist.js');
      return mnistDataset(options);
    },
  },
  emoji: {
    summary: 'Google colour emoji 3×32×32 in [-1, 1] on white, labelled by category',
    async load(options) {
      const { emojiDataset } = await import('./emoji.js');
      return emojiDataset(options);
    },
  },
  'mnist-captions': {
    summary: 'MNIST digits with template captions ("a handwritten seven", "the digit 7"); option seed',
    async load(options) {
      const { mnistCaptionsDataset } = await import('./captions.js');
      return mnistCaptionsDataset(options);
    },
  },
  'emoji-captions': {
    summary: 'the emoji images captioned with their names and short names; option seed',
    async load(options) {
      const { emojiCaptionsDataset } = await import('./captions.js');
      return emojiCaptionsDataset(options);
    },
  },
  'image-folder': {
    summary: 'a folder of PNG/JPEG images (option path), resized and centre-cropped, labels from sub-folders',
    async load(options) {
      const { imageFolderDataset } = await import('./image-folder.js');
      return imageFolderDataset(options);
    },
  },
  timeseries: {
    summary: 'sliding windows over a CSV time series (option path), normalised per column',
    async load(options) {
      const { timeSeriesDataset } = await import('./timeseries.js');
      return timeSeriesDataset(options);
    },
  },
  'weather-forecast': {
    summary:
      'forecasting windows of Seattle daily weather (vega-datasets) or a CSV (option path), train part',
    async load(options) {
      const { forecastTrainingWindows } = await import('./forecast-windows.js');
      return forecastTrainingWindows(options);
    },
  },
  'maze2d-umaze': {
    summary: 'windows [x, y, a_x, a_y] × 48 steps of waypoint-controller demonstrations in the 2-D U-maze',
    async load(options) {
      const { mazeTrajectoryDataset } = await import('./maze-trajectories.js');
      return mazeTrajectoryDataset('umaze', options);
    },
  },
  'maze2d-medium': {
    summary: 'the same in the 2-D medium maze (8×8 cells)',
    async load(options) {
      const { mazeTrajectoryDataset } = await import('./maze-trajectories.js');
      return mazeTrajectoryDataset('medium', options);
    },
  },
  'moving-mnist': {
    summary: 'videos 1×8×32×32 of a bouncing MNIST digit (or two) in [-1, 1]; options size, seed, digits',
    async load(options) {
      const { movingMnistDataset } = await import('./moving-mnist.js');
      return movingMnistDataset(options);
    },
  },
  'spoken-digits': {
    summary:
      'spoken digits 0–9 (scripts/make-spoken-digits.ts, option path): 8 kHz clips of 4096 samples, labelled',
    async load(options) {
      const { audioFolderDataset } = await import('./audio-folder.js');
      return audioFolderDataset({ length: 4096, sampleRate: 8000, labels: 'folders', ...options });
    },
  },
  'audio-folder': {
    summary: 'a folder of WAV files (option path), mono, fixed length and sample rate',
    async load(options) {
      const { audioFolderDataset } = await import('./audio-folder.js');
      return audioFolderDataset(options);
    },
  },
};

/** Names of the built-in datasets, for help texts and error messages. */
export function datasetNames(): string[] {
  return Object.keys(datasets);
}

/** One line per built-in dataset: name and what it holds. */
export function datasetSummaries(): { name: string; summary: string }[] {
  return Object.entries(datasets).map(([name, entry]) => ({ name, summary: entry.summary }));
}

/** Builds a built-in dataset by name; an unknown name raises a NotFoundError listing the valid ones. */
export async function resolveDataset(name: string, options: DatasetOptions = {}): Promise<Dataset> {
  const entry = Object.hasOwn(datasets, name) ? datasets[name] : undefined;
  if (!entry) throw unknownChoice('dataset', name, datasetNames());
  return entry.load(options);
}

/**
 * Validates `options` for dataset `name` against `schema`; the error names the offending option and
 * what was expected. Exported for the loaders in this folder.
 */
export function parseOptions<T extends z.ZodType>(name: string, schema: T, options: unknown): z.output<T> {
  const result = schema.safeParse(options ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys')
      return `unknown option(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    const path = issue.path.join('.');
    return path ? `option '${path}': ${issue.message}` : issue.message;
  });
  throw new UsageError(`invalid options for dataset '${name}': ${problems.join('; ')}`);
}
