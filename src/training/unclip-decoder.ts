/**
 * unCLIP's decoder (Ramesh et al. 2022, §2.1): a diffusion model of images conditioned on an image
 * embedding — here a UNet2DConditionModel that takes the embedding twice, as GLIDE takes text: projected
 * and added to the time embedding (`class_embed_type: 'projection'`) and as a one-token cross-attention
 * context. The embedding is dropped to the zero vector with probability `embeddingDropout` (the paper
 * uses 10%), so one network learns ε(x_t, e) and ε(x_t, ∅) for classifier-free guidance. Embeddings are
 * precomputed once per example by a frozen image encoder and ride with the batches (`withEmbeddings`).
 * Forward, ε-MSE, backward, clipping, AdamW and EMA are one graph and one run per update.
 *
 * This module must not compute embeddings, write files or sample.
 */
import { z } from 'zod';
import { BatchIterator, type Batch, type Dataset } from '../data/dataset.js';
import { schedulerConfig, type SchedulerConfig } from '../diffusion/scheduler-config.js';
import { alphasCumprod, betaSchedule, DEFAULT_BETA_SCHEDULE } from '../diffusion/schedules.js';
import {
  adamw,
  hostCopy,
  hostZeros,
  mean,
  mul,
  OrtNodeRuntime,
  reshape,
  sub,
  trainStep,
  trainStepTypes,
  type CompiledFunction,
  type Runtime,
  type Tensor,
  type TensorTree,
} from '../engine/index.js';
import type { DenoiserInputs, Params, ParamTensors } from '../models/types.js';
import { UNet2DConditionModel } from '../models/unet2d-condition.js';
import { ConfigError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { droppedRows, noisedBatch } from './batch.js';
import { runCompiledSteps, type CompiledStepOut, type StepReport } from './compiled-loop.js';
import { LR_SCHEDULES, scheduleOf } from './lr.js';
import { withMatchingParams } from './text-to-image.js';

export const unclipDecoderConfigSchema = z
  .object({
    /** UNet2DConditionModel config keys; size, channels and the embedding widths are filled in. */
    unet: z.record(z.string(), z.unknown()),
    /** Probability of training an example with the zero embedding (classifier-free guidance). */
    embeddingDropout: z.number().min(0).max(1).default(0.1),
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    lr: z.number().positive(),
    lrSchedule: z.enum(LR_SCHEDULES).default('cosine'),
    warmupSteps: z.number().int().nonnegative().default(0),
    minLrRatio: z.number().min(0).max(1).default(0.1),
    clipNorm: z.number().positive().default(1),
    emaDecay: z.number().min(0).max(1).nullable().default(0.995),
    numTrainTimesteps: z.number().int().positive().default(1000),
    seed: z.number().int().default(0),
  })
  .strict();

export type UnclipDecoderConfig = z.output<typeof unclipDecoderConfigSchema>;
export type UnclipDecoderConfigInput = z.input<typeof unclipDecoderConfigSchema>;

/** Validates a decoder training config; the error lists every offending field. */
export function parseUnclipDecoderConfig(input: unknown): UnclipDecoderConfig {
  const result = unclipDecoderConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  throw new ConfigError(`unCLIP decoder config is invalid: ${problems.join('; ')}`);
}

/**
 * The `mnist-captions` text U-Net's layout (28 → 14 → 7, cross-attention at 14×14 and 7×7), so the
 * resnets of a trained `mnist` UNet2DModel can start it.
 */
export const TINY_DECODER_UNET_CONFIG = {
  block_out_channels: [32, 64, 64],
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  layers_per_block: 1,
  attention_head_dim: 8,
  norm_num_groups: 8,
};

/** A decoder U-Net for `dataset`'s square images and embeddings of width `embedDim`. */
export function unclipDecoderNetwork(
  config: UnclipDecoderConfig,
  dataset: Pick<Dataset, 'name' | 'shape'>,
  embedDim: number,
): UNet2DConditionModel {
  if (dataset.shape.length !== 3 || dataset.shape[1] !== dataset.shape[2]) {
    throw new ConfigError(`dataset '${dataset.name}' holds [${dataset.shape.join(', ')}], not square images`);
  }
  const [channels, side] = dataset.shape;
  return new UNet2DConditionModel({
    ...config.unet,
    sample_size: side,
    in_channels: channels,
    out_channels: channels,
    cross_attention_dim: embedDim,
    class_embed_type: 'projection',
    projection_class_embeddings_input_dim: embedDim,
  });
}

/** The decoder's inputs for embeddings [B, D]: the projected class vector and a one-token context. */
export function decoderInputs(sample: Tensor, timestep: Tensor, embeddings: Tensor): DenoiserInputs {
  const [batch, width] = embeddings.shape;
  return {
    sample,
    timestep,
    classEmbeds: embeddings,
    encoderHiddenStates: reshape(embeddings, [batch, 1, width]),
  };
}

/** The DDPM schedule the decoder is trained under (linear β, ε-prediction), as a scheduler config. */
export function unclipDecoderScheduler(config: UnclipDecoderConfig): SchedulerConfig {
  return schedulerConfig('DDPMScheduler', {
    numTrainTimesteps: config.numTrainTimesteps,
    betaStart: DEFAULT_BETA_SCHEDULE.betaStart,
    betaEnd: DEFAULT_BETA_SCHEDULE.betaEnd,
    betaSchedule: DEFAULT_BETA_SCHEDULE.betaSchedule,
    predictionType: 'epsilon',
    clipSample: true,
  });
}

/** `dataset` whose batches carry each example's row of `embeddings` [size, width] as `condition`. */
export function withEmbeddings(dataset: Dataset, embeddings: Float32Array, width: number): Dataset {
  if (embeddings.length !== dataset.size * width) {
    throw new ConfigError(
      `${embeddings.length / width} embeddings of width ${width} for the ${dataset.size} examples of '${dataset.name}'`,
    );
  }
  return {
    ...dataset,
    batch(indices: ArrayLike<number>, random?: Random): Batch {
      const condition = new Float32Array(indices.length * width);
      for (let i = 0; i < indices.length; i++) {
        const row = indices[i];
        condition.set(embeddings.subarray(row * width, (row + 1) * width), i * width);
      }
      return { ...dataset.batch(indices, random), condition };
    },
  };
}

export interface UnclipDecoderTrainOptions {
  config: UnclipDecoderConfig;
  network: UNet2DConditionModel;
  /** A dataset whose batches carry the embeddings as `condition` (see `withEmbeddings`). */
  dataset: Dataset;
  runtime?: Runtime;
  timeLimitSeconds?: number;
  /** Starting weights: every tensor whose name and shape match is copied (e.g. a trained UNet2DModel). */
  initialParams?: Params;
  onStep?: (report: StepReport) => void;
}

export interface UnclipDecoderTrainResult {
  params: Params;
  /** The EMA weights when enabled, else `params`. */
  samplingParams: Params;
  losses: number[];
  seconds: number;
  timeLimited: boolean;
  copiedParams: number;
}

function compileStep(
  options: UnclipDecoderTrainOptions,
  width: number,
  runtime: Runtime,
): CompiledFunction<CompiledStepOut<Params>> {
  const { config, network } = options;
  const optimizer = adamw({ weightDecay: 0 });
  const loss = (params: TensorTree, batch: Record<string, Tensor>) => {
    const inputs = decoderInputs(batch.sample, batch.timestep, batch.embeddings);
    const diff = sub(network.apply(params as ParamTensors, inputs), batch.target);
    return mean(mul(diff, diff));
  };
  const fn = trainStep({
    loss,
    optimizer,
    clipNorm: config.clipNorm,
    ...(config.emaDecay !== null ? { emaDecay: config.emaDecay, emaWarmup: true } : {}),
  });
  const b = config.batchSize;
  const sample = { shape: [b, ...network.sampleShape], dtype: 'float32' as const };
  const batchTypes = {
    sample,
    target: sample,
    timestep: { shape: [b], dtype: 'float32' as const },
    embeddings: { shape: [b, width], dtype: 'float32' as const },
  };
  const types = trainStepTypes(network.paramTypes(), batchTypes, optimizer, config.emaDecay !== null);
  return runtime.compile(fn as never, types) as unknown as CompiledFunction<CompiledStepOut<Params>>;
}

/** Trains the decoder on (image, embedding) pairs; see the module header. */
export async function trainUnclipDecoder(
  options: UnclipDecoderTrainOptions,
): Promise<UnclipDecoderTrainResult> {
  const { config, network, dataset } = options;
  const width = network.classEmbedsWidth;
  if (width === null) throw new ConfigError("the unCLIP decoder needs class_embed_type 'projection'");
  const setup = {
    alphasCumprod: alphasCumprod(
      betaSchedule({ ...DEFAULT_BETA_SCHEDULE, numTrainTimesteps: config.numTrainTimesteps }),
    ),
    objective: 'epsilon' as const,
    minSnrGamma: null,
    numClasses: null,
    labelDropout: 0,
  };
  const root = new Random(config.seed);
  const start = withMatchingParams(network.init(root.split()), options.initialParams ?? {});
  const iterator = new BatchIterator(dataset, { batchSize: config.batchSize, random: root.split() });
  const random = root.split();
  const result = await runCompiledSteps<Params>({
    compiled: compileStep(options, width, options.runtime ?? new OrtNodeRuntime()),
    params: start.params,
    opt: hostZeros(adamw({ weightDecay: 0 }).stateTypes(network.paramTypes())),
    ema: config.emaDecay === null ? null : (hostCopy(start.params as never) as unknown as Params),
    schedule: scheduleOf(config),
    batch: () => {
      const clean = iterator.next()!;
      if (!clean.condition) {
        throw new ConfigError(`dataset '${dataset.name}' carries no embeddings (see withEmbeddings)`);
      }
      const noised = noisedBatch(clean, config.batchSize, setup, random);
      const embeddings = droppedRows(clean.condition, width, config.embeddingDropout, random);
      return { sample: noised.sample, timestep: noised.timestep, target: noised.target, embeddings };
    },
    what: 'unCLIP decoder training',
    ...(options.timeLimitSeconds !== undefined ? { timeLimitSeconds: options.timeLimitSeconds } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
  return {
    ...result,
    copiedParams: start.copied,
  };
}
