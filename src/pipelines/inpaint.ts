/**
 * Inpainting with an unconditional model: fill the unknown part of an input so that it fits the known
 * part. Two methods share one loop over noise levels. `replace` (the replacement method of Song et al.
 * 2021, App. I.2) runs the sampler and after every step overwrites the known part of x_t with a fresh draw
 * of q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I). `repaint` (Lugmayr et al. 2022, Alg. 1) does the same and,
 * every `jumpLength` levels, goes back up that many levels with forward noise
 * q(x_t | x_{t−1}) = N(√(ᾱ_t/ᾱ_{t−1}) x_{t−1}, (1 − ᾱ_t/ᾱ_{t−1}) I) and denoises again, `resamplings` times
 * in all, which lets the generated part harmonise with the known part. The steps are DDIM steps with
 * η = 1 (DDPM's posterior) unless the sampler says otherwise. Known values of the result equal the
 * given ones exactly. This module holds no model and writes no file.
 */
import { ConfigError, ShapeError, unknownChoice } from '../util/errors.js';
import {
  checkInput,
  ddimStep,
  drawNormal,
  editTimetable,
  type EditInput,
  type EditSampler,
} from './img2img.js';

export const INPAINT_METHODS = ['replace', 'repaint'] as const;
export type InpaintMethod = (typeof INPAINT_METHODS)[number];

export interface InpaintOptions {
  /** The input; values where the mask is 0 are ignored. */
  image: EditInput;
  /** 1 = known (kept), 0 = to generate; the image's shape, or one example's shape shared by the batch. */
  mask: EditInput;
  /** Default 'repaint'. */
  method?: InpaintMethod;
  /** RePaint's jump length j: levels gone back up per resampling (default 10). */
  jumpLength?: number;
  /** RePaint's r: times each jump interval is denoised in all (default 10; 1 = the replace method). */
  resamplings?: number;
}

/**
 * The sequence of levels RePaint visits (Lugmayr et al. 2022, `get_schedule_jump`): level i < N is
 * timetable entry i, level N the clean end. Starting at 0 it goes down one level at a time; on reaching
 * a level N − m·j (m = 1, 2, …, down to the clean end) for one of its first r − 1 times it goes back up j
 * levels. Consecutive levels differ by exactly one.
 */
export function repaintLevels(numSteps: number, jumpLength: number, resamplings: number): number[] {
  const jumps = new Map<number, number>();
  for (let t = 0; t < numSteps - jumpLength; t += jumpLength) jumps.set(t, resamplings - 1);
  const levels = [0];
  let t = numSteps;
  while (t >= 1) {
    t -= 1;
    levels.push(numSteps - t);
    const left = jumps.get(t) ?? 0;
    if (left > 0) {
      jumps.set(t, left - 1);
      for (let k = 0; k < jumpLength; k++) levels.push(numSteps - ++t);
    }
  }
  return levels;
}

/** The mask as 0/1 per image value (broadcast over the batch), or a ShapeError naming both shapes. */
export function knownMask(image: EditInput, mask: EditInput): Uint8Array {
  checkInput(image, 'inpainting image');
  checkInput(mask, 'inpainting mask');
  const same = sameShape(mask.shape, image.shape) || sameShape(mask.shape, image.shape.slice(1));
  if (!same) {
    throw new ShapeError(
      `inpainting mask shape [${mask.shape.join(', ')}] does not match image shape [${image.shape.join(', ')}]`,
      { hint: 'give the mask the image shape, or the shape of one example to share it across the batch' },
    );
  }
  const out = new Uint8Array(image.data.length);
  for (let k = 0; k < out.length; k++) {
    const m = mask.data[k % mask.data.length];
    if (m !== 0 && m !== 1) {
      throw new ConfigError(`inpainting mask values must be 0 or 1, got ${m} at ${k % mask.data.length}`, {
        hint: 'threshold the mask first (1 = known, 0 = to generate)',
      });
    }
    out[k] = m;
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Overwrites the known values of x with a draw of q(x at ᾱ | x₀) = √ᾱ x₀ + √(1−ᾱ) z. */
function replaceKnown(
  sampler: EditSampler,
  x: Float64Array,
  known: Uint8Array,
  x0: Float32Array,
  alpha: number,
): void {
  const noise = drawNormal(sampler, x.length);
  const a = Math.sqrt(alpha);
  const s = Math.sqrt(1 - alpha);
  for (let k = 0; k < x.length; k++) if (known[k]) x[k] = a * x0[k] + s * noise[k];
}

/** x one level up: q(x_t | x_{t'}) = N(√(ᾱ_t/ᾱ_{t'}) x, (1 − ᾱ_t/ᾱ_{t'}) I) for ᾱ_t < ᾱ_{t'}. */
function noisedUp(sampler: EditSampler, x: Float64Array, alphaFrom: number, alphaTo: number): Float64Array {
  const ratio = alphaTo / alphaFrom;
  const noise = drawNormal(sampler, x.length);
  return x.map((v, k) => Math.sqrt(ratio) * v + Math.sqrt(1 - ratio) * noise[k]);
}

/** The inpainted batch: generated where the mask is 0, exactly the image where it is 1. */
export async function inpaint(sampler: EditSampler, options: InpaintOptions): Promise<Float32Array> {
  const { image } = options;
  const known = knownMask(image, options.mask);
  const method = options.method ?? 'repaint';
  if (!INPAINT_METHODS.includes(method)) throw unknownChoice('inpainting method', method, INPAINT_METHODS);
  const run: EditSampler = { ...sampler, eta: sampler.eta ?? 1 };
  const timetable = editTimetable(run);
  const { timesteps, alphas, finalAlpha } = timetable;
  const N = timesteps.length;
  const levels =
    method === 'replace'
      ? repaintLevels(N, 1, 1)
      : repaintLevels(
          N,
          Math.min(positiveInteger('jumpLength', options.jumpLength ?? 10), N),
          positiveInteger('resamplings', options.resamplings ?? 10),
        );
  const alphaOf = (level: number) => (level < N ? alphas[timesteps[level]] : finalAlpha);
  let x = drawNormal(run, image.data.length);
  replaceKnown(run, x, known, image.data, alphaOf(0));
  for (let m = 1; m < levels.length; m++) {
    const from = levels[m - 1];
    const to = levels[m];
    if (to > from) {
      const t = timesteps[from];
      const step = await ddimStep(run, x, t, alphas[t], alphaOf(to));
      x = step.x;
      replaceKnown(run, x, known, image.data, alphaOf(to));
      await run.callback?.({
        step: m - 1,
        numSteps: levels.length - 1,
        timestep: t,
        sample: Float32Array.from(x),
        predictedOriginal: Float32Array.from(step.x0),
      });
    } else {
      x = noisedUp(run, x, alphaOf(from), alphaOf(to));
    }
  }
  const out = Float32Array.from(x);
  for (let k = 0; k < out.length; k++) if (known[k]) out[k] = image.data[k];
  return out;
}
