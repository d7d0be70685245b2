/**
 * Bits per dimension of held-out 8-bit images under a trained DDPM-style image model, through the
 * probability-flow ODE of src/diffusion/likelihood.ts. A model trained on T discrete steps of the linear
 * β schedule is read as the VP SDE it discretises (Song et al. 2021, App. B): β(t) = T·β_start +
 * t·T·(β_end − β_start) on t ∈ [0, 1], network timestep label t·(T − 1) as score_sde does for DDPM
 * checkpoints, and score s(x, t) = −ε̂(x, t)/σ(t) with ε̂ converted from the model's prediction type.
 * Data values are rounded to the 8-bit grid they came from and dequantised with seeded uniform noise
 * (`dequantize8Bit`); class-conditional models are scored unconditionally (the null class), i.e. log p(x).
 * The divergence is Hutchinson's estimator with one Rademacher probe per image held fixed along the
 * trajectory (or the exact trace, d products per evaluation: only for tiny images), the Jacobian
 * products by central finite differences of the drift. This module must not sample or train; it only
 * evaluates the given network on the given data.
 */
import {
  bitsPerDim,
  dequantize8Bit,
  logLikelihood,
  type DivergenceEstimator,
} from '../diffusion/likelihood.js';
import { toEpsilon } from '../diffusion/samplers/common.js';
import { scoreFromEpsilon, type ScoreFn } from '../diffusion/samplers/ode.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import { createSde, type Sde } from '../diffusion/sde.js';
import { OrtNodeRuntime, type Runtime } from '../engine/index.js';
import type { DenoiserNetwork, Params } from '../models/types.js';
import { compiledDenoiser } from '../pipelines/generate.js';
import { ShapeError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';

/** Settings of a bits/dim estimate (all reported with the result). */
export interface BitsPerDimSettings {
  /** 'hutchinson' (default) or 'exact' (d Jacobian products per ODE evaluation). */
  estimator: DivergenceEstimator;
  /** Relative and absolute tolerance of the adaptive RK45 solver (default 1e-3 each). */
  tolerance: number;
  /** Start time ε of the integration (default 1e-3, Song et al.'s value for VP). */
  eps: number;
  /** Step of the finite-difference Jacobian products (default 1e-3, right for float32 networks). */
  finiteDifferenceStep: number;
  /** Seed of the dequantisation noise and the probes. */
  seed: number;
}

export const DEFAULT_BPD_SETTINGS: BitsPerDimSettings = {
  estimator: 'hutchinson',
  tolerance: 1e-3,
  eps: 1e-3,
  finiteDifferenceStep: 1e-3,
  seed: 0,
};

/** What `bitsPerDimension` returns. */
export interface BitsPerDimReport {
  /** Mean bits/dim over the examples, and its standard error. */
  bpd: number;
  bpdStdError: number;
  /** Bits/dim per example. */
  perExample: number[];
  numExamples: number;
  /** Network evaluations (drift and divergence products) and accepted ODE steps of the solver. */
  nfe: number;
  odeSteps: number;
  settings: BitsPerDimSettings;
  /** The SDE the discrete schedule was read as. */
  sde: { kind: 'vp'; betaMin: number; betaMax: number };
  seconds: number;
}

/** The VP SDE a linear-β DDPM schedule discretises; a UsageError for schedules it does not match. */
export function vpSdeOfSchedule(config: SchedulerConfig): Sde {
  const c = config as unknown as {
    betaSchedule?: string;
    betaStart?: number;
    betaEnd?: number;
    numTrainTimesteps?: number;
    trainedBetas?: unknown;
    rescaleBetasZeroSnr?: boolean;
  };
  if (c.betaSchedule !== 'linear' || c.trainedBetas || c.rescaleBetasZeroSnr) {
    throw new UsageError(
      `bits/dim needs a model trained on the linear β schedule, this one uses '${c.betaSchedule ?? 'trained betas'}'`,
      { hint: 'the probability-flow ODE here reads the schedule as a VP SDE with linear β(t)' },
    );
  }
  const steps = c.numTrainTimesteps!;
  return createSde({ kind: 'vp', betaMin: c.betaStart! * steps, betaMax: c.betaEnd! * steps });
}

/** The 8-bit grid values v ∈ {0, …, 255} of images in [−1, 1] (rounded, so the data's own bins). */
export function eightBitValues(images: ArrayLike<number>): Uint8Array {
  return Uint8Array.from({ length: images.length }, (_, i) =>
    Math.min(255, Math.max(0, Math.round((images[i] + 1) * 127.5))),
  );
}

/** A batched ε-style network call: the model's raw output for x at a (fractional) timestep label. */
export type ModelOutputFn = (x: Float32Array, timestep: number) => Promise<Float32Array>;

/** The score at SDE time t: the model's ε̂ at timestep label t·(T − 1), divided by −σ(t). */
function networkScore(model: ModelOutputFn, sde: Sde, config: SchedulerConfig): ScoreFn {
  const steps = (config as unknown as { numTrainTimesteps: number }).numTrainTimesteps;
  const prediction = (config as unknown as { predictionType: 'epsilon' | 'sample' | 'v_prediction' })
    .predictionType;
  const epsilon = async (x: Float64Array, t: number) => {
    const output = await model(Float32Array.from(x), t * (steps - 1));
    if (prediction === 'epsilon') return output;
    const { alpha } = sde.marginal(t);
    return toEpsilon(Float64Array.from(output), x, alpha * alpha, prediction);
  };
  return scoreFromEpsilon(epsilon, sde);
}

/**
 * Bits/dim of images [n, dim] flat in [−1, 1] under a model given as a function (see the module
 * header); `bitsPerDimension` runs it with a compiled network.
 */
export async function bitsPerDimensionOf(
  model: ModelOutputFn,
  schedulerConfig: SchedulerConfig,
  images: Float32Array,
  dim: number,
  partial: Partial<BitsPerDimSettings> = {},
): Promise<BitsPerDimReport> {
  const settings = { ...DEFAULT_BPD_SETTINGS, ...partial };
  const count = images.length / dim;
  if (!Number.isInteger(count) || count < 1) {
    throw new ShapeError(`bits/dim: ${images.length} values are not whole images of ${dim} values`);
  }
  const sde = vpSdeOfSchedule(schedulerConfig);
  const started = performance.now();
  const random = new Random(settings.seed);
  const data = dequantize8Bit(eightBitValues(images), random);
  const result = await logLikelihood({
    sde,
    score: networkScore(model, sde, schedulerConfig),
    data,
    dim,
    eps: settings.eps,
    estimator: settings.estimator,
    probe: 'rademacher',
    random: random.split(),
    finiteDifferenceStep: settings.finiteDifferenceStep,
    rtol: settings.tolerance,
    atol: settings.tolerance,
  });
  const perExample = Array.from(result.logLikelihood, (ll) => bitsPerDim(ll, dim));
  const mean = perExample.reduce((a, b) => a + b, 0) / count;
  const variance = count > 1 ? perExample.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1) : Number.NaN;
  const vp = sde.config as { betaMin: number; betaMax: number };
  return {
    bpd: mean,
    bpdStdError: Math.sqrt(variance / count),
    perExample,
    numExamples: count,
    nfe: result.nfe,
    odeSteps: result.odeSteps,
    settings,
    sde: { kind: 'vp', betaMin: vp.betaMin, betaMax: vp.betaMax },
    seconds: (performance.now() - started) / 1000,
  };
}

/** Options of `bitsPerDimension`. */
export interface BitsPerDimOptions {
  network: DenoiserNetwork;
  params: Params;
  schedulerConfig: SchedulerConfig;
  /** Held-out images [n, ...sampleShape] flat, in [−1, 1] on (or near) the 8-bit grid. */
  images: Float32Array;
  settings?: Partial<BitsPerDimSettings>;
  runtime?: Runtime;
}

/** Bits/dim of held-out images under the model (see the module header for the conventions). */
export async function bitsPerDimension(options: BitsPerDimOptions): Promise<BitsPerDimReport> {
  const { network, images } = options;
  if (network.sampleShape.length !== 3) {
    throw new UsageError('bits/dim applies to image models (samples [channels, height, width])');
  }
  const dim = network.sampleShape.reduce((a, b) => a * b, 1);
  const count = images.length / dim;
  if (!Number.isInteger(count) || count < 1) {
    throw new ShapeError(`bits/dim: ${images.length} values are not whole images of ${dim} values`);
  }
  vpSdeOfSchedule(options.schedulerConfig); // refuse an unsupported schedule before compiling
  const { denoise, dispose } = compiledDenoiser(
    { network, params: options.params, numSamples: count },
    options.runtime ?? new OrtNodeRuntime(),
  );
  try {
    // Class-conditional networks get the null class: the unconditional density p(x).
    return await bitsPerDimensionOf(
      (x, t) => denoise(x, t, null),
      options.schedulerConfig,
      images,
      dim,
      options.settings,
    );
  } finally {
    await dispose();
  }
}
