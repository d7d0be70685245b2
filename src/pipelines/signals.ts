/**
 * 1-D signals out of a model: what a pipeline folder records about the signals its model was trained on,
 * and turning generated [C, L] samples back into series and clips. The record is `signal.json` beside
 * model_index.json (diffusers ignores it): `sample_rate` in Hz for audio and `normalization` (per-column
 * mean and std, as the time-series dataset computed them) for a series; either may be null. Samples are
 * mapped back to the data's units by x = x'·std + mean per channel, then written as a CSV with one column
 * per sample (per sample and channel when C > 1) and one row per time step, or as one WAV file at the
 * model's sample rate in which the clips follow each other separated by CLIP_GAP_SECONDS of silence
 * (C channels become C WAV channels; 16-bit PCM clips values outside [−1, 1]).
 *
 * This module must not sample, train or read a series to impute; it only describes and converts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import type { SeriesNormalization } from '../data/timeseries.js';
import { encodeWav } from '../io/audio.js';
import { readJsonFile, stringifyJson } from '../io/json.js';
import { ConfigError, ShapeError, UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** The record's file name inside a pipeline folder. */
export const SIGNAL_INFO_NAME = 'signal.json';

/** Silence between consecutive clips of a generated WAV, so that they can be told apart by ear. */
export const CLIP_GAP_SECONDS = 0.25;

/** What a 1-D model knows about its signals. */
export interface SignalInfo {
  /** Samples per second of the audio the model was trained on; null for a plain series. */
  sampleRate: number | null;
  /** Per-channel statistics the training windows were standardised with; null: raw values. */
  normalization: SeriesNormalization | null;
}

const signalInfoSchema = z.strictObject({
  sample_rate: z.number().int().positive().nullable(),
  normalization: z
    .strictObject({
      columns: z.array(z.string()),
      mean: z.array(z.number()),
      std: z.array(z.number().positive()),
    })
    .nullable(),
});

/** The record for a training dataset: a series' normalisation or an audio folder's rate; null for others. */
export function signalInfoFor(dataset: Dataset): SignalInfo | null {
  const fields = dataset as Partial<{ normalization: SeriesNormalization; sampleRate: number }>;
  if (dataset.shape.length !== 2) return null;
  if (fields.normalization === undefined && fields.sampleRate === undefined) return null;
  return { sampleRate: fields.sampleRate ?? null, normalization: fields.normalization ?? null };
}

/** `signal.json`'s text for a record. */
export function signalInfoText(info: SignalInfo): string {
  const json = { sample_rate: info.sampleRate, normalization: info.normalization };
  return `${stringifyJson(json as never, { indent: 2 })}\n`;
}

/** The record of a pipeline folder; a folder without one gets {null, null} (raw values, no rate). */
export function readSignalInfo(dir: string): SignalInfo {
  const path = join(dir, SIGNAL_INFO_NAME);
  if (!existsSync(path)) return { sampleRate: null, normalization: null };
  const parsed = signalInfoSchema.safeParse(readJsonFile(path, 'signal record'));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`'${path}' is invalid: ${problems.join('; ')}`, {
      hint: 'expected {"sample_rate": Hz or null, "normalization": {columns, mean, std} or null}',
    });
  }
  const { sample_rate: sampleRate, normalization } = parsed.data;
  if (normalization && !sameLengths(normalization)) {
    throw new ConfigError(`'${path}': normalization columns, mean and std must have the same length`);
  }
  return { sampleRate, normalization };
}

function sameLengths({ columns, mean, std }: SeriesNormalization): boolean {
  return columns.length === mean.length && mean.length === std.length;
}

/** Checks that samples are `count` examples of [C, L] and the normalisation has C channels; returns count. */
function sampleCount(
  samples: Float32Array,
  shape: readonly number[],
  normalization: SeriesNormalization | null,
): number {
  if (shape.length !== 2) {
    throw new ShapeError(`1-D signal samples must have shape [channels, length], got [${shape.join(', ')}]`);
  }
  const per = shape[0] * shape[1];
  if (per === 0 || samples.length % per !== 0) {
    throw new ShapeError(`${samples.length} values do not split into samples of [${shape.join(', ')}]`);
  }
  if (normalization && normalization.mean.length !== shape[0]) {
    throw new ShapeError(
      `the stored normalisation has ${normalization.mean.length} channels, the samples ${shape[0]}`,
    );
  }
  return samples.length / per;
}

/** A copy of [N, C, L] samples in the data's units: x·std + mean per channel (unchanged without statistics). */
export function denormalizedSamples(
  samples: Float32Array,
  shape: readonly number[],
  normalization: SeriesNormalization | null,
): Float64Array {
  sampleCount(samples, shape, normalization);
  const out = Float64Array.from(samples);
  if (!normalization) return out;
  const [channels, length] = shape;
  for (let k = 0; k < out.length; k++) {
    const c = Math.floor(k / length) % channels;
    out[k] = out[k] * normalization.std[c] + normalization.mean[c];
  }
  return out;
}

/** CSV text: a header row, then one row per time step and one column per sample (and channel). */
export function samplesCsv(samples: Float32Array, shape: readonly number[], info: SignalInfo): string {
  const count = sampleCount(samples, shape, info.normalization);
  const [channels, length] = shape;
  const values = denormalizedSamples(samples, shape, info.normalization);
  const names = info.normalization?.columns ?? Array.from({ length: channels }, (_, c) => `channel_${c}`);
  const header: string[] = [];
  for (let n = 0; n < count; n++)
    for (let c = 0; c < channels; c++)
      header.push(channels === 1 ? `sample_${n}` : `sample_${n}_${names[c]}`);
  const lines = [header.map(csvCell).join(',')];
  for (let t = 0; t < length; t++) {
    const row: string[] = [];
    for (let n = 0; n < count; n++)
      for (let c = 0; c < channels; c++) row.push(String(values[(n * channels + c) * length + t]));
    lines.push(row.join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** A header cell quoted as RFC 4180 requires when it holds a comma, quote or newline. */
export function csvCell(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The clips as WAV channels: clip after clip, CLIP_GAP_SECONDS of silence between consecutive ones. */
export function concatenatedClips(
  samples: Float32Array,
  shape: readonly number[],
  info: SignalInfo,
  sampleRate: number,
): Float32Array[] {
  const count = sampleCount(samples, shape, info.normalization);
  const [channels, length] = shape;
  const values = denormalizedSamples(samples, shape, info.normalization);
  const gap = Math.round(CLIP_GAP_SECONDS * sampleRate);
  const total = count * length + (count - 1) * gap;
  return Array.from({ length: channels }, (_, c) => {
    const out = new Float32Array(total);
    for (let n = 0; n < count; n++) {
      const from = (n * channels + c) * length;
      out.set(values.subarray(from, from + length), n * (length + gap));
    }
    return out;
  });
}

/** The sample rate a WAV of this model's signals is written at, or a UsageError when it has none. */
export function wavSampleRate(info: SignalInfo): number {
  if (info.sampleRate === null) {
    throw new UsageError('this model records no sample rate (it was not trained on audio)', {
      hint: 'write its samples as .csv instead',
    });
  }
  return info.sampleRate;
}

/** Writes generated [N, C, L] samples as CSV or WAV (see the module header). */
export function writeSignalSamples(
  path: string,
  samples: Float32Array,
  shape: readonly number[],
  info: SignalInfo,
  format: 'csv' | 'wav',
): void {
  if (format === 'csv') {
    writeFileAtomic(path, samplesCsv(samples, shape, info));
    return;
  }
  const rate = wavSampleRate(info);
  writeFileAtomic(path, encodeWav(concatenatedClips(samples, shape, info, rate), rate));
}
