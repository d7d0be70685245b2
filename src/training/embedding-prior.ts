/**
 * Training of a diffusion prior over embedding vectors (unCLIP, Ramesh et al. 2022, §2.2): pairs
 * (x₀ [N, D], c [N, Dc]) — e.g. an image embedding and its caption's text embedding — and a network
 * such as `EmbeddingPrior` that takes c as `DenoiserInputs.classEmbeds`. Each step draws a batch with
 * replacement, timesteps t and noise ε, forms x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (Ho et al. 2020, eq. 4,
 * `noisedBatch`), and replaces each condition by the zero vector with probability `conditionDropout`,
 * so one network learns both the conditional and the unconditional prediction that classifier-free
 * guidance combines (Ho & Salimans 2022). The loss is the plain MSE against x₀ (objective 'sample',
 * DALL·E 2's choice: "predict the unnoised z_i directly") or against ε. Forward, loss, backward,
 * clipping, AdamW and the EMA are one engine graph and one run per update (`trainStep`). The returned
 * scheduler config carries the objective as `prediction_type` and no x₀ clipping (embedding entries
 * need not lie in [−1, 1]), so every registered sampler reads the output correctly.
 *
 * This module must not know what the vectors are, write files or sample.
 */
import { schedulerConfig, type DDPMSchedulerConfig } from '../diffusion/scheduler-config.js';
import {
  alphasCumprod,
  betaSchedule,
  BETA_SCHEDULES,
  type BetaScheduleName,
} from '../diffusion/schedules.js';
import {
  adamw,
  hostCopy,
  hostZeros,
  mean,
  mul,
  OrtNodeRuntime,
  sub,
  trainStep,
  trainStepTypes,
  type CompiledFunction,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TensorTree,
  type TypeTree,
} from '../engine/index.js';
import type { VectorConditionedNetwork } from '../models/embedding-prior.js';
import type { Params, ParamTensors } from '../models/types.js';
import { ConfigError, ShapeError, unknownChoice } from '../util/errors.js';
import { Random } from '../util/random.js';
import { droppedRows, noisedBatch, type NoisedBatch, type NoisingSetup } from './batch.js';
import { runCompiledSteps } from './compiled-loop.js';

export const PRIOR_OBJECTIVES = ['sample', 'epsilon'] as const;
export type PriorObjective = (typeof PRIOR_OBJECTIVES)[number];

export interface EmbeddingPriorTrainOptions {
  network: VectorConditionedNetwork;
  /** Target vectors x₀, flat [N, D] with D = the network's sample width. */
  embeddings: Float32Array;
  /** Condition vectors, flat [N, Dc] with Dc = `network.classEmbedsWidth`; row i goes with x₀ row i. */
  conditions: Float32Array;
  steps: number;
  batchSize: number;
  /** Peak AdamW learning rate (cosine decay to a tenth of it over the run). */
  lr: number;
  /** What the network regresses: x₀ ('sample', default, as DALL·E 2's prior) or the noise ε. */
  objective?: PriorObjective;
  /** Probability of training an example with the zero condition (classifier-free guidance); default 0.1. */
  conditionDropout?: number;
  /** T, the number of training timesteps; default 1000. */
  numTrainTimesteps?: number;
  /** β schedule; default 'squaredcos_cap_v2' (Nichol & Dhariwal 2021's cosine ᾱ). */
  betaSchedule?: BetaScheduleName;
  /** Seeds the init and every draw; same options and seed → the same loss curve. Default 0. */
  seed?: number;
  /** EMA decay of the sampling weights (diffusers' warm-up min(decay, n/(n+9))); absent: raw weights. */
  emaDecay?: number;
  /** AdamW weight decay; default 0. */
  weightDecay?: number;
  /** Global gradient-norm clip; default 1. */
  clipNorm?: number;
  /** Wall-clock budget in seconds: the run ends after the step that passes it, as if complete. */
  timeLimitSeconds?: number;
  runtime?: Runtime;
  onStep?: (report: { step: number; totalSteps: number; loss: number; gradNorm: number; lr: number }) => void;
}

export interface EmbeddingPriorTrainResult {
  /** The raw weights after the last update. */
  params: Params;
  /** The weights to sample with: the EMA when `emaDecay` is set, else `params`. */
  samplingParams: Params;
  /** The loss of every update, in order. */
  losses: number[];
  seconds: number;
  /** True when `timeLimitSeconds` ended the run before `steps` updates. */
  timeLimited: boolean;
  /** The training schedule as a DDPMScheduler config, with the objective as prediction_type. */
  schedulerConfig: DDPMSchedulerConfig;
}

/** Options with defaults filled in and every field checked. */
interface Settings {
  steps: number;
  batchSize: number;
  lr: number;
  objective: PriorObjective;
  conditionDropout: number;
  numTrainTimesteps: number;
  betaSchedule: BetaScheduleName;
  seed: number;
  emaDecay: number | null;
  weightDecay: number;
  clipNorm: number;
  count: number;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`embedding prior training: '${name}' must be a positive integer, got ${value}`);
  return value;
}

function inRange(value: number, name: string, lo: number, hi: number): number {
  if (!(value >= lo && value <= hi))
    throw new ConfigError(`embedding prior training: '${name}' must be in [${lo}, ${hi}], got ${value}`);
  return value;
}

/** The number of pairs N, after checking both arrays against the network's widths. */
function pairCount(options: EmbeddingPriorTrainOptions): number {
  const d = options.network.sampleShape.reduce((a, b) => a * b, 1);
  const dc = options.network.classEmbedsWidth;
  const n = options.embeddings.length / d;
  if (!Number.isInteger(n) || n < 1) {
    throw new ShapeError(
      `embeddings must be a non-empty flat [N, ${d}], got ${options.embeddings.length} values`,
    );
  }
  if (options.conditions.length !== n * dc) {
    throw new ShapeError(
      `conditions must be [${n}, ${dc}] (one row per embedding), got ${options.conditions.length} values`,
    );
  }
  return n;
}

function settingsOf(options: EmbeddingPriorTrainOptions): Settings {
  const objective = options.objective ?? 'sample';
  if (!PRIOR_OBJECTIVES.includes(objective))
    throw unknownChoice('prior objective', objective, PRIOR_OBJECTIVES);
  const schedule = options.betaSchedule ?? 'squaredcos_cap_v2';
  if (!BETA_SCHEDULES.includes(schedule)) throw unknownChoice('beta schedule', schedule, BETA_SCHEDULES);
  if (!(options.lr > 0 && Number.isFinite(options.lr)))
    throw new ConfigError(`embedding prior training: 'lr' must be a positive number, got ${options.lr}`);
  return {
    steps: positiveInteger(options.steps, 'steps'),
    batchSize: positiveInteger(options.batchSize, 'batchSize'),
    lr: options.lr,
    objective,
    conditionDropout: inRange(options.conditionDropout ?? 0.1, 'conditionDropout', 0, 1),
    numTrainTimesteps: positiveInteger(options.numTrainTimesteps ?? 1000, 'numTrainTimesteps'),
    betaSchedule: schedule,
    seed: options.seed ?? 0,
    emaDecay: options.emaDecay === undefined ? null : inRange(options.emaDecay, 'emaDecay', 0, 1),
    weightDecay: inRange(options.weightDecay ?? 0, 'weightDecay', 0, Infinity),
    clipNorm: inRange(options.clipNorm ?? 1, 'clipNorm', Number.MIN_VALUE, Infinity),
    count: pairCount(options),
  };
}

/**
 * The scheduler config a trained prior samples with: its training schedule, its objective as
 * prediction_type, and clip_sample off (diffusers' DDPM/DDIM default would clamp x₀ to [−1, 1]).
 */
export function priorSchedulerConfig(
  objective: PriorObjective = 'sample',
  numTrainTimesteps = 1000,
  schedule: BetaScheduleName = 'squaredcos_cap_v2',
): DDPMSchedulerConfig {
  return schedulerConfig('DDPMScheduler', {
    numTrainTimesteps,
    betaSchedule: schedule,
    predictionType: objective,
    clipSample: false,
  });
}

type Batch = Record<string, Tensor>;

/** MSE of the network's output given the (possibly zeroed) condition, against the objective's target. */
function priorLoss(network: VectorConditionedNetwork, params: TensorTree, batch: Batch): Tensor {
  const prediction = network.apply(params as ParamTensors, {
    sample: batch.sample,
    timestep: batch.timestep,
    classEmbeds: batch.condition,
  });
  const diff = sub(prediction, batch.target);
  return mean(mul(diff, diff));
}

type StepOut = { loss: HostTensor; gradNorm: HostTensor; params: Params; opt: unknown; ema?: Params };

function compileStep(
  network: VectorConditionedNetwork,
  settings: Settings,
  runtime: Runtime,
): CompiledFunction<StepOut> {
  const optimizer = adamw({ weightDecay: settings.weightDecay });
  const withEma = settings.emaDecay !== null;
  const fn = trainStep({
    loss: (params: TensorTree, batch: Batch) => priorLoss(network, params, batch),
    optimizer,
    clipNorm: settings.clipNorm,
    ...(withEma ? { emaDecay: settings.emaDecay!, emaWarmup: true } : {}),
  });
  const b = settings.batchSize;
  const sample = { shape: [b, ...network.sampleShape], dtype: 'float32' as const };
  const batchTypes: TypeTree = {
    sample,
    timestep: { shape: [b], dtype: 'float32' },
    target: sample,
    condition: { shape: [b, network.classEmbedsWidth], dtype: 'float32' },
  };
  const types = trainStepTypes(network.paramTypes() as TypeTree, batchTypes, optimizer, withEma);
  return runtime.compile(fn as never, types) as unknown as CompiledFunction<StepOut>;
}

/** Rows `indices` of a flat [N, width] array. */
function rows(data: Float32Array, width: number, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length * width);
  indices.forEach((row, i) => out.set(data.subarray(row * width, (row + 1) * width), i * width));
  return out;
}

/** One training batch: pairs drawn with replacement, noised, conditions dropped. */
function trainingBatch(
  options: EmbeddingPriorTrainOptions,
  settings: Settings,
  setup: NoisingSetup,
  random: Random,
): NoisedBatch & { condition: Float32Array } {
  const { network, embeddings, conditions } = options;
  const d = embeddings.length / settings.count;
  const dc = network.classEmbedsWidth;
  const indices = Int32Array.from({ length: settings.batchSize }, () => random.int(settings.count));
  const noised = noisedBatch({ x: rows(embeddings, d, indices) }, settings.batchSize, setup, random);
  const condition = droppedRows(rows(conditions, dc, indices), dc, settings.conditionDropout, random);
  return { ...noised, condition };
}

/** Trains the prior on (embedding, condition) pairs; see the module header. */
export async function trainEmbeddingPrior(
  options: EmbeddingPriorTrainOptions,
): Promise<EmbeddingPriorTrainResult> {
  const settings = settingsOf(options);
  const { network } = options;
  const scheduler = priorSchedulerConfig(
    settings.objective,
    settings.numTrainTimesteps,
    settings.betaSchedule,
  );
  // β from the returned config itself, so training and sampling cannot disagree on the schedule.
  const betas = betaSchedule(scheduler);
  const setup: NoisingSetup = {
    alphasCumprod: alphasCumprod(betas),
    objective: settings.objective,
    minSnrGamma: null,
    numClasses: null,
    labelDropout: 0,
  };
  const root = new Random(settings.seed);
  const params = network.init(root.split());
  const random = root.split();
  const result = await runCompiledSteps<Params>({
    compiled: compileStep(network, settings, options.runtime ?? new OrtNodeRuntime()),
    params,
    opt: hostZeros(adamw({ weightDecay: 0 }).stateTypes(network.paramTypes() as TypeTree)),
    ema: settings.emaDecay === null ? null : (hostCopy(params as never) as unknown as Params),
    schedule: {
      peak: settings.lr,
      warmupSteps: 0,
      totalSteps: settings.steps,
      name: 'cosine',
      minRatio: 0.1,
    },
    batch: () => {
      const { sample, timestep, target, condition } = trainingBatch(options, settings, setup, random);
      return { sample, timestep, target, condition };
    },
    what: 'embedding prior training',
    ...(options.timeLimitSeconds !== undefined ? { timeLimitSeconds: options.timeLimitSeconds } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
  return {
    ...result,
    schedulerConfig: scheduler,
  };
}
