/**
 * Image-to-image (SDEdit, Meng et al. 2022): noise an input to strength s ∈ [0, 1] and denoise it back,
 * so the result keeps the input's coarse layout and takes its detail from the model. Strength follows
 * diffusers' img2img pipeline: of the N timesteps of the sampler's own timetable the last ⌊N·s⌋ are run,
 * starting from q(x_t | x₀) at the first of them; s = 0 runs none and returns the input, s = 1 starts from
 * pure noise (diffusers' `is_strength_max` path) and so equals an unconditional sample from the same seed.
 * This module also holds the DDIM step loop (Song et al. 2021, eq. 12) that inpainting and restoration
 * share: it runs any contiguous tail of a timetable on a `ModelFn`. It builds no network and writes no file.
 */
import { ConfigError, ShapeError, UsageError } from '../util/errors.js';
import { clipped, toDenoised, toEpsilon } from '../diffusion/samplers/common.js';
import {
  spacedTimesteps,
  trainingAlphasCumprod,
  type SpacingConfig,
  type TrainingScheduleConfig,
} from '../diffusion/timesteps.js';
import type { ModelFn, NoiseSource, PredictionType, StepCallback } from '../diffusion/samplers/types.js';

/** The parts of a diffusers scheduler config an editing pipeline reads (every DDIM/DDPM config has them). */
export interface EditScheduleConfig extends TrainingScheduleConfig, SpacingConfig {
  /** 'epsilon', 'sample' or 'v_prediction' (other values, e.g. flow matching's, are refused). */
  predictionType: string;
  /** ᾱ after the last step: 1 when true (DDIM's default), ᾱ_0 when false. */
  setAlphaToOne?: boolean;
  clipSample?: boolean;
  clipSampleRange?: number;
}

/** How an editing pipeline denoises: the model, its schedule, and the DDIM settings of the run. */
export interface EditSampler {
  model: ModelFn;
  config: EditScheduleConfig;
  /** Length N of the full timetable (diffusers' `num_inference_steps`). */
  numInferenceSteps: number;
  /** DDIM's η: 0 = deterministic DDIM (default), 1 = DDPM's ancestral variance. */
  eta?: number;
  /** Required when η > 0 or when the pipeline noises its input. */
  noiseSource?: NoiseSource;
  callback?: StepCallback;
}

/** A batch of inputs: flat values and their shape, the first axis the batch. */
export interface EditInput {
  data: Float32Array;
  shape: readonly number[];
}

/** The descending timetable t_0 > t_1 > … of N steps and the ᾱ the last step lands on. */
export function editTimetable(sampler: EditSampler): {
  timesteps: Float64Array;
  alphas: Float64Array;
  finalAlpha: number;
} {
  editPredictionType(sampler.config);
  const alphas = trainingAlphasCumprod(sampler.config);
  const timesteps = spacedTimesteps(sampler.config, sampler.numInferenceSteps, true);
  const finalAlpha = sampler.config.setAlphaToOne === false ? alphas[0] : 1;
  return { timesteps, alphas, finalAlpha };
}

const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'sample', 'v_prediction'];

/** The config's prediction type, or a ConfigError for one these ᾱ-space pipelines cannot read. */
export function editPredictionType(config: EditScheduleConfig): PredictionType {
  const type = config.predictionType as PredictionType;
  if (!PREDICTION_TYPES.includes(type)) {
    throw new ConfigError(`editing pipelines cannot use prediction_type '${config.predictionType}'`, {
      hint: `use a model trained with ${PREDICTION_TYPES.join(', ')}`,
    });
  }
  return type;
}

/** ᾱ of the level after timetable entry i (the next entry's ᾱ, or the final ᾱ after the last). */
export function nextAlpha(
  timesteps: Float64Array,
  i: number,
  alphas: Float64Array,
  finalAlpha: number,
): number {
  return i + 1 < timesteps.length ? alphas[timesteps[i + 1]] : finalAlpha;
}

/**
 * One DDIM step from x at timestep t (ᾱ_t) to ᾱ_prev (Song et al. 2021, eq. 12):
 *   x' = √ᾱ_prev x̂₀ + √(1 − ᾱ_prev − σ²) ε̂ + σ z,  σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev).
 * Returns the new state and x̂₀.
 */
export async function ddimStep(
  sampler: EditSampler,
  x: Float64Array,
  t: number,
  alphaT: number,
  alphaPrev: number,
): Promise<{ x: Float64Array; x0: Float64Array }> {
  const { config } = sampler;
  const predictionType = editPredictionType(config);
  const eta = sampler.eta ?? 0;
  const raw = await sampler.model(Float32Array.from(x), t);
  if (raw.length !== x.length) {
    throw new ShapeError(`the model returned ${raw.length} values for an input of ${x.length}`);
  }
  const output = Float64Array.from(raw);
  let x0 = toDenoised(output, x, alphaT, predictionType);
  const epsilon = toEpsilon(output, x, alphaT, predictionType);
  if (config.clipSample) x0 = clipped(x0, config.clipSampleRange ?? 1);
  const variance = ((1 - alphaPrev) / (1 - alphaT)) * (1 - alphaT / alphaPrev);
  const std = eta * Math.sqrt(variance);
  const direction = Math.sqrt(Math.max(0, 1 - alphaPrev - std * std));
  const next = x.map((_, k) => Math.sqrt(alphaPrev) * x0[k] + direction * epsilon[k]);
  if (eta > 0) {
    const noise = drawNormal(sampler, next.length);
    for (let k = 0; k < next.length; k++) next[k] += std * noise[k];
  }
  return { x: next, x0 };
}

/** `count` N(0, 1) values from the sampler's noise source, or a UsageError when it has none. */
export function drawNormal(sampler: EditSampler, count: number): Float64Array {
  if (!sampler.noiseSource) {
    throw new UsageError('this pipeline draws noise and needs noiseSource', {
      hint: 'pass randomNoiseSource(new Random(seed))',
    });
  }
  const noise = sampler.noiseSource.normal(count);
  if (noise.length !== count) {
    throw new ShapeError(`the noise source returned ${noise.length} values, expected ${count}`);
  }
  return Float64Array.from(noise);
}

/**
 * Runs the timetable from entry `start` to the end on state x (which must be at noise level
 * timesteps[start]); steps are reported to the callback with indices counted from `start`.
 */
export async function denoiseFrom(
  sampler: EditSampler,
  x: Float64Array,
  timetable: ReturnType<typeof editTimetable>,
  start: number,
): Promise<Float64Array> {
  const { timesteps, alphas, finalAlpha } = timetable;
  const numSteps = timesteps.length - start;
  for (let i = start; i < timesteps.length; i++) {
    const t = timesteps[i];
    const step = await ddimStep(sampler, x, t, alphas[t], nextAlpha(timesteps, i, alphas, finalAlpha));
    x = step.x;
    await sampler.callback?.({
      step: i - start,
      numSteps,
      timestep: t,
      sample: Float32Array.from(x),
      predictedOriginal: Float32Array.from(step.x0),
    });
  }
  return x;
}

/** The index of the first timetable entry img2img runs: N − ⌊N·s⌋ (diffusers' `get_timesteps`). */
export function strengthStart(numInferenceSteps: number, strength: number): number {
  if (!(strength >= 0 && strength <= 1)) {
    throw new UsageError(`strength must be in [0, 1], got ${strength}`, {
      hint: '0 returns the input, 1 ignores it',
    });
  }
  const initTimestep = Math.min(Math.floor(numInferenceSteps * strength), numInferenceSteps);
  return numInferenceSteps - initTimestep;
}

/**
 * SDEdit: the input noised to timetable entry N − ⌊N·s⌋ by q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I), then
 * denoised. The first N values of the noise source are the initial noise (as an unconditional sample
 * draws them), so s = 1 reproduces `sample('ddim', …)` with the same noise.
 */
export async function img2img(
  sampler: EditSampler,
  input: EditInput,
  strength: number,
): Promise<Float32Array> {
  checkInput(input, 'img2img input');
  const start = strengthStart(sampler.numInferenceSteps, strength);
  if (start === sampler.numInferenceSteps) return Float32Array.from(input.data);
  const timetable = editTimetable(sampler);
  const noise = drawNormal(sampler, input.data.length);
  let x: Float64Array;
  if (start === 0) {
    x = noise;
  } else {
    const alpha = timetable.alphas[timetable.timesteps[start]];
    x = noise.map((e, k) => Math.sqrt(alpha) * input.data[k] + Math.sqrt(1 - alpha) * e);
  }
  return Float32Array.from(await denoiseFrom(sampler, x, timetable, start));
}

/** Throws a ShapeError unless the shape is positive integers that fit the data. */
export function checkInput(input: EditInput, what: string): void {
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (
    input.shape.length === 0 ||
    !input.shape.every((d) => Number.isInteger(d) && d > 0) ||
    count !== input.data.length
  ) {
    throw new ShapeError(
      `${what} shape [${input.shape.join(', ')}] does not fit ${input.data.length} values`,
    );
  }
}
