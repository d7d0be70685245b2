/**
 * A folder of WAV files as a dataset of fixed-length mono clips for 1-D diffusion models. Files are
 * found recursively (sorted, hidden ones skipped), read once, mixed down to mono ((L + R)/2 …) and kept
 * in memory at full length; each example is [1, length] in the file's own amplitude range ([−1, 1] for
 * integer PCM), no loudness normalisation. A clip longer than `length` is cropped — from the start, the
 * centre, or at a random offset drawn when a batch is gathered with a generator (`crop: 'random'`; with
 * no generator it falls back to the centre) — and a shorter one is padded with silence at the end. All
 * files must have one sample rate: the `sampleRate` option, or the first file's when it is omitted; a
 * file at another rate is an error naming it (resampling is deliberately not done here: it changes the
 * data, and should be an explicit step). Labels come from first-level sub-folder names, as for images.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { mixToMono, readWav } from '../io/audio.js';
import { checkIndices, parseOptions, type Batch, type Dataset } from './dataset.js';
import { findFiles, folderLabels } from './folder.js';

const audioFolderOptions = z
  .object({
    /** The folder to read. */
    path: z.string().min(1),
    /** Samples per example (default 16384). */
    length: z.number().int().min(1).default(16_384),
    /** Required sample rate in Hz (default: the first file's). */
    sampleRate: z.number().int().positive().optional(),
    /** Where a long clip is cut: 'start' (default), 'center', or 'random' at batch time. */
    crop: z.enum(['start', 'center', 'random']).default('start'),
    /** 'auto' (default): labels from sub-folders when every file lies in one; 'folders' demands them; 'none'. */
    labels: z.enum(['auto', 'folders', 'none']).default('auto'),
  })
  .strict();

export type AudioFolderOptions = z.input<typeof audioFolderOptions>;

export class AudioFolderDataset implements Dataset {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  readonly description: string;
  readonly sampleRate: number;
  readonly crop: 'start' | 'center' | 'random';
  readonly root: string;
  /** Paths relative to the folder, index = example. */
  readonly files: readonly string[];
  /** Full-length mono clips, index = example. */
  readonly clips: readonly Float32Array[];
  readonly labels?: Int32Array;

  constructor(spec: {
    root: string;
    files: readonly string[];
    clips: readonly Float32Array[];
    sampleRate: number;
    length: number;
    crop: 'start' | 'center' | 'random';
    classes: { classNames: string[]; labels: Int32Array } | null;
  }) {
    if (spec.clips.length !== spec.files.length) {
      throw new ShapeError(`audio folder: ${spec.files.length} files but ${spec.clips.length} clips`);
    }
    this.name = `audio-folder:${spec.root}`;
    this.root = spec.root;
    this.files = spec.files;
    this.clips = spec.clips;
    this.size = spec.clips.length;
    this.shape = [1, spec.length];
    this.sampleRate = spec.sampleRate;
    this.crop = spec.crop;
    this.description =
      `${spec.files.length} mono clips of ${spec.length} samples at ${spec.sampleRate} Hz from '${spec.root}'` +
      ` (${spec.crop} crop, silence-padded)`;
    if (spec.classes) {
      this.labels = spec.classes.labels;
      this.classNames = spec.classes.classNames;
      this.numClasses = spec.classes.classNames.length;
    }
  }

  batch(indices: ArrayLike<number>, random?: Random): Batch {
    checkIndices(this, indices);
    const length = this.shape[1];
    const x = new Float32Array(indices.length * length);
    for (let i = 0; i < indices.length; i++) {
      const clip = this.clips[indices[i]];
      const offset = this.cropOffset(clip.length - length, random);
      // subarray clamps at the clip's end; the rest of the row stays 0 (silence).
      x.set(clip.subarray(offset, offset + length), i * length);
    }
    if (!this.labels) return { x };
    const labels = Int32Array.from({ length: indices.length }, (_, i) => this.labels![indices[i]]);
    return { x, labels };
  }

  /** First sample of the crop; `excess` = clip length − example length (≤ 0: no crop, pad instead). */
  private cropOffset(excess: number, random: Random | undefined): number {
    if (excess <= 0 || this.crop === 'start') return 0;
    if (this.crop === 'random' && random) return random.int(excess + 1);
    return Math.floor(excess / 2);
  }
}

/** Reads a folder of WAV files into a dataset (see the module header). */
export function audioFolderDataset(
  options: AudioFolderOptions | Record<string, unknown>,
): AudioFolderDataset {
  const { path, length, sampleRate, crop, labels } = parseOptions(
    'audio-folder',
    audioFolderOptions,
    options,
  );
  const files = findFiles(path, ['.wav'], 'WAV files');
  const classes = folderLabels(path, files, labels);
  let rate = sampleRate;
  const clips = files.map((file) => {
    const audio = readWav(join(path, file), { expectedSampleRate: rate });
    rate ??= audio.sampleRate;
    return mixToMono(audio.channels);
  });
  return new AudioFolderDataset({ root: path, files, clips, sampleRate: rate!, length, crop, classes });
}
