/**
 * Imputation of missing stretches of a 1-D signal with a diffusion model trained on windows of L steps:
 * inpainting along time (`inpaint`, RePaint or the replacement method) applied window by window, so a
 * series of any length T ≥ L can be filled. Each pass takes the first still-missing stretch and places a
 * window of L steps on it — centred when the stretch leaves at least L/4 known steps on each side, else
 * starting L/4 steps before it — fills every missing step inside, and repeats; values filled by an earlier
 * window are known context for a later, overlapping one, so a stretch longer than a window is filled
 * continuously. The series is standardised with the model's stored statistics before inpainting and the
 * filled values mapped back; known values of the result are the given ones exactly (copied, never
 * round-tripped through the normalisation). Missing stretches are written `start:end` (0-based, end
 * exclusive, as Python slices), comma-separated.
 *
 * This module holds no model and reads or writes no file.
 */
import { ShapeError, UsageError } from '../util/errors.js';
import type { EditSampler } from './img2img.js';
import { inpaint, type InpaintMethod } from './inpaint.js';

/** A missing stretch [start, end) of time steps. */
export interface MissingRange {
  start: number;
  end: number;
}

export interface ImputeOptions {
  /** The series, one array per channel, all of length T; values at missing steps are ignored. */
  series: readonly Float64Array[];
  /** 1 = missing (to fill), 0 = known, per time step (shared by all channels); length T. */
  missing: Uint8Array;
  /** The model's sample shape: [C, L] (a 1-D U-Net) or [L] (a network on flat windows, C = 1). */
  sampleShape: readonly number[];
  /** Per-channel statistics the model's training windows were standardised with (default: none). */
  normalization?: { mean: readonly number[]; std: readonly number[] } | null;
  /** Default 'repaint'. */
  method?: InpaintMethod;
  jumpLength?: number;
  resamplings?: number;
}

const RANGE = /^\s*(\d+)\s*:\s*(\d+)\s*$/;

/** The ranges of a `start:end[,start:end…]` text, checked against a series of `length` steps. */
export function parseMissingRanges(text: string, length: number): MissingRange[] {
  const ranges = text.split(',').map((part) => {
    const match = RANGE.exec(part);
    if (!match) {
      throw new UsageError(`missing range '${part.trim()}' is not START:END`, {
        hint: 'e.g. 120:180,300:340 (0-based, end exclusive)',
      });
    }
    return { start: Number(match[1]), end: Number(match[2]) };
  });
  for (const { start, end } of ranges) {
    if (start >= end) throw new UsageError(`missing range ${start}:${end} is empty (END must exceed START)`);
    if (end > length) {
      throw new UsageError(`missing range ${start}:${end} lies outside the series of ${length} steps`, {
        hint: `ranges must lie within 0:${length}`,
      });
    }
  }
  return ranges;
}

/** The 0/1 missing mask of length T for a list of ranges. */
export function missingMask(ranges: readonly MissingRange[], length: number): Uint8Array {
  const mask = new Uint8Array(length);
  for (const { start, end } of ranges) mask.fill(1, Math.max(0, start), Math.min(length, end));
  return mask;
}

/** Channels C and window length L of a model sample shape ([C, L] or [L]). */
export function windowShape(sampleShape: readonly number[]): { channels: number; length: number } {
  if (sampleShape.length === 1) return { channels: 1, length: sampleShape[0] };
  if (sampleShape.length === 2) return { channels: sampleShape[0], length: sampleShape[1] };
  throw new ShapeError(`imputation needs a 1-D model; its samples have shape [${sampleShape.join(', ')}]`, {
    hint: 'use a model trained on time series or audio',
  });
}

/** First step of the window that fills the missing run [from, to) of a series of T steps (module header). */
export function windowStart(from: number, to: number, length: number, total: number): number {
  const context = Math.floor(length / 4);
  const margin = Math.max(context, Math.floor((length - (to - from)) / 2));
  return Math.min(Math.max(0, from - margin), total - length);
}

function checkSeries(options: ImputeOptions, channels: number, length: number): number {
  const { series, missing } = options;
  if (series.length !== channels) {
    throw new ShapeError(`the model works on ${channels} channels, the series has ${series.length}`);
  }
  const total = missing.length;
  if (series.some((s) => s.length !== total)) {
    throw new ShapeError(`every channel must have the mask's ${total} steps`);
  }
  if (total < length) {
    throw new UsageError(`the series has ${total} steps, fewer than the model's window of ${length}`, {
      hint: `give at least ${length} steps`,
    });
  }
  const norm = options.normalization;
  if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
    throw new ShapeError(`the normalisation has ${norm.mean.length} channels, the series ${channels}`);
  }
  series.forEach((values, c) => {
    const bad = values.findIndex((v, t) => missing[t] === 0 && !Number.isFinite(v));
    if (bad >= 0) {
      throw new UsageError(`channel ${c} is ${values[bad]} at step ${bad}, which is not marked missing`, {
        hint: 'mark it missing, or fill it before imputing',
      });
    }
  });
  return total;
}

/** The series with its missing steps filled; known values are the given ones exactly. */
export async function impute(sampler: EditSampler, options: ImputeOptions): Promise<Float64Array[]> {
  const { channels, length } = windowShape(options.sampleShape);
  const total = checkSeries(options, channels, length);
  const mean = options.normalization?.mean ?? Array<number>(channels).fill(0);
  const std = options.normalization?.std ?? Array<number>(channels).fill(1);
  // Standardised working copy; filled steps are written into it so later windows see them as known.
  const work = options.series.map((values, c) => values.map((v) => (v - mean[c]) / std[c]));
  const pending = Uint8Array.from(options.missing);
  for (let from = pending.indexOf(1); from >= 0; from = pending.indexOf(1)) {
    let to = from;
    while (to < total && pending[to]) to++;
    const start = windowStart(from, to, length, total);
    const image = new Float32Array(channels * length);
    const mask = new Float32Array(channels * length);
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < length; i++) {
        image[c * length + i] = pending[start + i] ? 0 : work[c][start + i];
        mask[c * length + i] = pending[start + i] ? 0 : 1;
      }
    const filled = await inpaint(sampler, {
      image: { data: image, shape: [1, ...options.sampleShape] },
      mask: { data: mask, shape: [...options.sampleShape] },
      ...(options.method ? { method: options.method } : {}),
      ...(options.jumpLength ? { jumpLength: options.jumpLength } : {}),
      ...(options.resamplings ? { resamplings: options.resamplings } : {}),
    });
    for (let i = 0; i < length; i++) {
      if (!pending[start + i]) continue;
      for (let c = 0; c < channels; c++) work[c][start + i] = filled[c * length + i];
      pending[start + i] = 0;
    }
  }
  return options.series.map((values, c) =>
    values.map((v, t) => (options.missing[t] ? work[c][t] * std[c] + mean[c] : v)),
  );
}

/** The linear-interpolation baseline: each missing run joined straight between its known neighbours. */
export function linearlyInterpolated(values: Float64Array, missing: Uint8Array): Float64Array {
  const out = Float64Array.from(values);
  for (let from = missing.indexOf(1); from >= 0;) {
    let to = from;
    while (to < missing.length && missing[to]) to++;
    const left = from > 0 ? values[from - 1] : to < values.length ? values[to] : 0;
    const right = to < values.length ? values[to] : left;
    for (let t = from; t < to; t++) out[t] = left + ((right - left) * (t - from + 1)) / (to - from + 1);
    from = missing.indexOf(1, to);
  }
  return out;
}
