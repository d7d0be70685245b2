/**
 * The small vocabulary every discrete sampler shares (k-diffusion's `to_d`, `get_ancestral_step` and
 * friends): calling the network and checking its output, turning an output into x₀ in ᾱ-space or σ-space,
 * limiting x₀ (clip, dynamic thresholding), drawing temperature-scaled noise, reporting a step, and the
 * `SamplerEntry` shape the registry lists. Samplers keep their state as Float64Array and hand the network
 * float32. Nothing here knows a particular sampler or builds a schedule.
 */
import { ConfigError, ShapeError, UsageError } from '../../util/errors.js';
import type { Random } from '../../util/random.js';
import { noiseLevelFromAlphaCumprod } from '../noise-levels.js';
import { convertPrediction } from '../parameterization.js';
import { expectSchedulerClass } from '../scheduler-config.js';
import type { SchedulerClassName, SchedulerConfig, SchedulerConfigOf } from '../scheduler-config.js';
import {
  sigmaSchedule,
  type SigmaSchedule,
  type SigmaScheduleConfig,
  type SigmaScheduleOptions,
} from '../timesteps.js';
import type { NoiseSource, PredictionType, SampleRequest } from './types.js';

/** Run-time settings of a sampling run that are not part of `scheduler_config.json` (diffusers' `step()` arguments). */
export interface SamplerOptions {
  /** A scheduler config to start from (e.g. the model's), converted to the sampler's class as `from_config` does. */
  config?: SchedulerConfig;
  /** DDIM's η (Song et al. 2021, eq. 16): 0 = deterministic DDIM, 1 = DDPM's ancestral variance. */
  eta?: number;
  /** DDIM: recompute ε from the clipped x₀ (diffusers' `use_clipped_model_output`). */
  useClippedModelOutput?: boolean;
  /** EDM stochastic churn (Karras et al. 2022, Alg. 2): total churn S_churn, spread over the steps. */
  sChurn?: number;
  /** Churn only steps with S_tmin ≤ σ ≤ S_tmax. */
  sTmin?: number;
  sTmax?: number;
  /** Standard deviation of the churn noise, slightly above 1 to offset detail loss (S_noise). */
  sNoise?: number;
  /** LMS: how many past derivatives the linear multistep update uses (1–4). */
  order?: number;
  /** An explicit σ schedule, replacing the one the config would build (σ-space samplers only). */
  sigmaSchedule?: SigmaSchedule;
}

/** One row of the sampler registry: a name users know, the diffusers class it runs, and how to run it. */
export interface SamplerEntry {
  /** k-diffusion / web-UI name, e.g. `euler_a`, `dpm_2_karras`. */
  name: string;
  /** Further accepted names (the diffusers class name is accepted for the entry without config changes). */
  aliases: readonly string[];
  className: SchedulerClassName;
  /** Config fields this name sets on top of the base config, e.g. `{ useKarrasSigmas: true }`. */
  configFields?: Readonly<Record<string, unknown>>;
  /** Whether the sampler draws noise with its default options (then `request.noiseSource` is needed). */
  stochastic: boolean;
  /** One line for listings (`diffusion samplers`). */
  summary: string;
  run(request: SampleRequest, config: SchedulerConfig, options: SamplerOptions): Promise<Float32Array>;
}

/** A registry entry's `run` for `sample`: checks the config is a `className` config, then samples with it. */
export function runAs<C extends SchedulerClassName>(
  className: C,
  sample: (
    request: SampleRequest,
    config: SchedulerConfigOf<C>,
    options: SamplerOptions,
  ) => Promise<Float32Array>,
): SamplerEntry['run'] {
  return (request, config, options) => sample(request, expectSchedulerClass(config, className), options);
}

/** The σ schedule a σ-space sampler runs: the caller's explicit one, or the one its config describes. */
export function scheduleFor(
  config: SigmaScheduleConfig,
  request: SampleRequest,
  options: SamplerOptions,
  scheduleOptions: SigmaScheduleOptions = {},
): SigmaSchedule {
  return options.sigmaSchedule ?? sigmaSchedule(config, request.numInferenceSteps, scheduleOptions);
}

/** Where a σ-space sampler starts: its σ schedule, the number of steps, and x = σ_init · noise. */
export interface SigmaSpaceStart extends SigmaSchedule {
  steps: number;
  x: Float64Array;
}

/**
 * The opening every σ-space sampler shares: check the request, build or take the
 * σ schedule, and scale the request's unit noise to the initial σ.
 */
export function startSigmaSpace(
  request: SampleRequest,
  sampler: string,
  stochastic: boolean,
  config: SigmaScheduleConfig,
  options: SamplerOptions,
  scheduleOptions: SigmaScheduleOptions = {},
): SigmaSpaceStart {
  checkRequest(request, sampler, stochastic);
  const schedule = scheduleFor(config, request, options, scheduleOptions);
  return {
    ...schedule,
    steps: schedule.timesteps.length,
    x: initialSample(request, schedule.initNoiseSigma),
  };
}

/** Config fields of the `_karras` registry names: Karras σ spacing (ρ = 7) and no other spacing. */
export const KARRAS_SIGMAS = { useKarrasSigmas: true, useExponentialSigmas: false, useBetaSigmas: false };

/** A NoiseSource drawing from the project's seeded generator. */
export function randomNoiseSource(random: Random): NoiseSource {
  return { normal: (count) => random.normals(count) };
}

/** The network output for `input` at `timestep`, checked to hold `factor` × the input's length. */
export async function callModel(
  request: SampleRequest,
  input: Float64Array,
  timestep: number,
  factor = 1,
): Promise<Float64Array> {
  const output = await request.model(Float32Array.from(input), timestep);
  if (output.length !== input.length * factor) {
    throw new ShapeError(
      `the model returned ${output.length} values for an input of ${input.length} at timestep ${timestep}`,
      {
        hint:
          factor === 1 ? 'the output must have the input shape' : 'learned variances need twice the channels',
      },
    );
  }
  return Float64Array.from(output);
}

/** x₀ from a network output in ᾱ-space, x_t = √ᾱ x₀ + √(1−ᾱ) ε (Ho et al. 2020, eq. 15; v: Salimans & Ho 2022). */
export function toDenoised(
  modelOutput: Float64Array,
  sample: Float64Array,
  alphaCumprod: number,
  predictionType: PredictionType,
): Float64Array {
  return convertPrediction(
    modelOutput,
    sample,
    predictionType,
    'sample',
    noiseLevelFromAlphaCumprod(alphaCumprod),
  );
}

/** ε from a network output in ᾱ-space. */
export function toEpsilon(
  modelOutput: Float64Array,
  sample: Float64Array,
  alphaCumprod: number,
  predictionType: PredictionType,
): Float64Array {
  return convertPrediction(
    modelOutput,
    sample,
    predictionType,
    'epsilon',
    noiseLevelFromAlphaCumprod(alphaCumprod),
  );
}

/** The network input at σ: x / √(σ² + 1), i.e. the ᾱ-space sample for ᾱ = 1/(1 + σ²) (diffusers' `scale_model_input`). */
export function scaledInput(x: Float64Array, sigma: number): Float64Array {
  const scale = 1 / Math.sqrt(sigma * sigma + 1);
  return x.map((v) => v * scale);
}

/**
 * The denoiser D(x; σ) of a σ-space sampler, x = x₀ + σ ε: the network sees x / √(σ² + 1) at `timestep`,
 * and its output is read as a prediction at ᾱ = 1/(1 + σ²) (ε gives x − σ ε).
 */
export async function denoiseAtSigma(
  request: SampleRequest,
  x: Float64Array,
  sigma: number,
  timestep: number,
  predictionType: PredictionType,
): Promise<Float64Array> {
  const input = scaledInput(x, sigma);
  const output = await callModel(request, input, timestep);
  return toDenoised(output, input, 1 / (1 + sigma * sigma), predictionType);
}

/** The probability-flow ODE derivative dx/dσ = (x − D(x; σ)) / σ (Karras et al. 2022, eq. 4; k-diffusion's `to_d`). */
export function toDerivative(x: Float64Array, denoised: Float64Array, sigma: number): Float64Array {
  return x.map((v, i) => (v - denoised[i]) / sigma);
}

/** x + d · dt: one Euler step along a derivative. */
export function eulerStep(x: Float64Array, derivative: Float64Array, dt: number): Float64Array {
  return x.map((v, i) => v + derivative[i] * dt);
}

/**
 * Split of an ancestral step σ → σ_next into a deterministic step down to σ_down and fresh noise of
 * size σ_up, with σ_down² + σ_up² = σ_next² (k-diffusion's `get_ancestral_step`, η = 1).
 */
export function ancestralStep(sigma: number, sigmaNext: number): { sigmaUp: number; sigmaDown: number } {
  const sigmaUp = Math.sqrt(
    (sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma),
  );
  return { sigmaUp, sigmaDown: Math.sqrt(Math.max(0, sigmaNext * sigmaNext - sigmaUp * sigmaUp)) };
}

/** x₀ clamped to ±range. */
export function clipped(x0: Float64Array, range: number): Float64Array {
  return x0.map((v) => Math.min(range, Math.max(-range, v)));
}

/**
 * Dynamic thresholding (Saharia et al. 2022, §2.3): per example, s = the `ratio` quantile of |x₀|
 * (linear interpolation, as torch.quantile), clamped to [1, maxValue]; x₀ is clamped to ±s and divided by s.
 */
export function thresholded(
  x0: Float64Array,
  batchSize: number,
  ratio: number,
  maxValue: number,
): Float64Array {
  const size = perExample(x0.length, batchSize);
  const out = new Float64Array(x0.length);
  for (let b = 0; b < batchSize; b++) {
    const item = x0.subarray(b * size, (b + 1) * size);
    const sorted = Float64Array.from(item, Math.abs).sort();
    const position = ratio * (size - 1);
    const low = Math.floor(position);
    const high = Math.min(low + 1, size - 1);
    const quantile = sorted[low] + (sorted[high] - sorted[low]) * (position - low);
    const s = Math.min(maxValue, Math.max(1, quantile));
    for (let i = 0; i < size; i++) out[b * size + i] = Math.min(s, Math.max(-s, item[i])) / s;
  }
  return out;
}

/** Values per example of a batch, or a ShapeError. */
export function perExample(length: number, batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1 || length % batchSize !== 0) {
    throw new ShapeError(`${length} values do not split into ${batchSize} examples`, {
      hint: 'set request.batchSize to the number of examples in request.noise',
    });
  }
  return length / batchSize;
}

/** Checks what every sampler needs from a request before the first network call. */
export function checkRequest(request: SampleRequest, sampler: string, stochastic: boolean): void {
  if (!(request.noise instanceof Float32Array) || request.noise.length === 0) {
    throw new UsageError(`${sampler}: request.noise must be a non-empty Float32Array`);
  }
  const temperature = request.temperature ?? 1;
  if (!(temperature >= 0 && Number.isFinite(temperature))) {
    throw new UsageError(`${sampler}: temperature must be a finite number ≥ 0, got ${temperature}`);
  }
  if (stochastic && !request.noiseSource) {
    throw new UsageError(`${sampler} is stochastic and needs request.noiseSource`, {
      hint: 'pass randomNoiseSource(new Random(seed)) for reproducible samples',
    });
  }
  perExample(request.noise.length, request.batchSize ?? 1);
}

/** `count` fresh N(0, I) values from the request's noise source, scaled by its temperature. */
export function drawNoise(request: SampleRequest, count: number): Float64Array {
  if (!request.noiseSource) throw new UsageError('this sampler is stochastic and needs request.noiseSource');
  const noise = request.noiseSource.normal(count);
  if (noise.length !== count) {
    throw new ShapeError(`the noise source returned ${noise.length} values, expected ${count}`);
  }
  const temperature = request.temperature ?? 1;
  return Float64Array.from(noise, (v) => v * temperature);
}

/** The initial state: the request's unit noise times the sampler's initial σ. */
export function initialSample(request: SampleRequest, initNoiseSigma: number): Float64Array {
  return Float64Array.from(request.noise, (v) => v * initNoiseSigma);
}

/** Reports one finished model-call step to the request's callback. */
export async function report(
  request: SampleRequest,
  step: number,
  numSteps: number,
  timestep: number,
  sample: Float64Array,
  predictedOriginal: Float64Array,
  sigma?: number,
): Promise<void> {
  if (!request.callback) return;
  await request.callback({
    step,
    numSteps,
    timestep,
    sigma,
    sample: Float32Array.from(sample),
    predictedOriginal: Float32Array.from(predictedOriginal),
  });
}

/** A non-negative finite option value, or a ConfigError naming it. */
export function nonNegativeOption(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v >= 0) || Number.isNaN(v)) throw new ConfigError(`${name} must be ≥ 0, got ${v}`);
  return v;
}
