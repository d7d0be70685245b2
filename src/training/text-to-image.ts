/**
 * Text-to-image training, GLIDE-style (Nichol et al. 2022, §2–3): a CLIP-style text encoder trained
 * jointly with a UNet2DConditionModel in pixel space. Each caption is tokenized on the host, dropped
 * to the empty prompt "" with probability `captionDropout` (so one network learns both ε(x_t, y) and
 * ε(x_t, ∅), which classifier-free guidance combines at sampling, Ho & Salimans 2022, eq. 6), encoded
 * by the text encoder, and the U-Net cross-attends to the encoder's last hidden state. The loss is the
 * plain MSE of the objective's target on x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (`batch.ts`). Forward through both
 * networks, backward, clipping, AdamW and the EMA of both networks are one graph and one run per
 * update (engine `trainStep`) over the parameter tree { unet, textEncoder }. The tokenizer is learnt
 * from the dataset's captions first. Presets (`TEXT_TO_IMAGE_PRESETS`) give the small CPU-sized
 * networks; same config and seed → the same loss curve.
 *
 * This module must not parse flags, write files or sample: callers save the folder and draw images.
 */
import { z } from 'zod';
import { BatchIterator, type Dataset } from '../data/dataset.js';
import { alphasCumprod, betaSchedule } from '../diffusion/schedules.js';
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
import { CLIPTextModel } from '../models/clip-text.js';
import type { Params, ParamTensors } from '../models/types.js';
import { UNet2DConditionModel } from '../models/unet2d-condition.js';
import { ClipTokenizer, trainClipTokenizer } from '../text/index.js';
import { ConfigError, unknownChoice } from '../util/errors.js';
import { Random } from '../util/random.js';
import { noisedBatch, type NoisingSetup } from './batch.js';
import { runCompiledSteps } from './compiled-loop.js';
import { LR_SCHEDULES, scheduleOf } from './lr.js';

export const textToImageConfigSchema = z
  .object({
    /** A captioned built-in dataset (`mnist-captions`, `emoji-captions`) and its options. */
    data: z.string().min(1),
    dataOptions: z.record(z.string(), z.unknown()).default({}),
    /** UNet2DConditionModel config keys; sample size, channels and cross_attention_dim are filled in. */
    unet: z.record(z.string(), z.unknown()),
    /** CLIPTextModel config keys; vocab size and special token ids come from the learnt tokenizer. */
    textEncoder: z.record(z.string(), z.unknown()),
    /** Vocabulary size of the byte-level BPE tokenizer learnt from the captions (≥ 514). */
    tokenizerVocabSize: z.number().int().min(514).default(640),
    /** Tokens per prompt, BOS and EOS included (the text encoder's max_position_embeddings). */
    maxTokens: z.number().int().min(4).max(77).default(16),
    /** Probability of training a caption as the empty prompt (classifier-free guidance). */
    captionDropout: z.number().min(0).max(1).default(0.1),
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    /** Peak AdamW learning rate. */
    lr: z.number().positive(),
    lrSchedule: z.enum(LR_SCHEDULES).default('cosine'),
    warmupSteps: z.number().int().nonnegative().default(0),
    /** Cosine floor as a fraction of the peak rate. */
    minLrRatio: z.number().min(0).max(1).default(0.1),
    weightDecay: z.number().nonnegative().default(0),
    clipNorm: z.number().positive().default(1),
    /** EMA decay (with diffusers' warm-up min(decay, n/(n+9))) of the saved weights; null: raw weights. */
    emaDecay: z.number().min(0).max(1).nullable().default(0.999),
    objective: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
    numTrainTimesteps: z.number().int().positive().default(1000),
    betaSchedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2', 'sigmoid']).default('linear'),
    betaStart: z.number().positive().default(1e-4),
    betaEnd: z.number().positive().default(0.02),
    seed: z.number().int().default(0),
  })
  .strict();

export type TextToImageConfig = z.output<typeof textToImageConfigSchema>;
export type TextToImageConfigInput = z.input<typeof textToImageConfigSchema>;

/** Validates a text-to-image training config; the error lists every offending field. */
export function parseTextToImageConfig(input: unknown, source = 'text-to-image config'): TextToImageConfig {
  const result = textToImageConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  throw new ConfigError(`${source} is invalid: ${problems.join('; ')}`);
}

/**
 * A U-Net for 28-px digits small enough to train on two CPU cores: 28 → 14 → 7 with cross-attention
 * at 14×14 and in the 7×7 mid block only (self-attention over 784 positions at full size would dominate
 * the step). Its resnets have the names and shapes of the `mnist` preset's UNet2DModel, so a trained
 * one can start it (`initialUnet`).
 */
export const TINY_CONDITION_UNET_CONFIG = {
  block_out_channels: [32, 64, 64],
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  layers_per_block: 1,
  attention_head_dim: 8,
  norm_num_groups: 8,
  // GLIDE's second path for the text: the pooled prompt vector joins the time embedding, so every
  // resnet sees which digit is asked for, not only the two cross-attention levels.
  class_embed_type: 'projection',
};

/** A 2-layer CLIP text encoder, 64 wide: enough to read which digit a template caption names. */
export const TINY_TEXT_ENCODER_CONFIG = {
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
};

/** Presets per captioned dataset: what `diffusion train --data NAME` starts from. */
export const TEXT_TO_IMAGE_PRESETS: Readonly<Record<string, TextToImageConfigInput>> = {
  'mnist-captions': {
    data: 'mnist-captions',
    dataOptions: { imageSize: 28 },
    unet: TINY_CONDITION_UNET_CONFIG,
    textEncoder: TINY_TEXT_ENCODER_CONFIG,
    steps: 2000,
    batchSize: 32,
    lr: 1e-3,
    warmupSteps: 100,
  },
};

export function textToImagePresetNames(): string[] {
  return Object.keys(TEXT_TO_IMAGE_PRESETS);
}

/** The preset for a captioned dataset, or a NotFoundError listing them. */
export function textToImagePreset(name: string): TextToImageConfigInput {
  if (!Object.hasOwn(TEXT_TO_IMAGE_PRESETS, name))
    throw unknownChoice('text-to-image preset', name, textToImagePresetNames());
  return structuredClone(TEXT_TO_IMAGE_PRESETS[name]);
}

/** The three components a text-to-image model is made of, before any weights. */
export interface TextToImageModels {
  readonly unet: UNet2DConditionModel;
  readonly textEncoder: CLIPTextModel;
  readonly tokenizer: ClipTokenizer;
}

/** The captions of a captioned dataset, or a ConfigError naming the dataset. */
function captionsOf(dataset: Dataset): readonly string[] {
  if (!dataset.captions) {
    throw new ConfigError(`dataset '${dataset.name}' has no captions`, {
      hint: 'text-to-image training needs a captioned dataset such as mnist-captions',
    });
  }
  return dataset.captions;
}

/** Tokenizer learnt from the dataset's captions, and both networks sized for it and for the images. */
export function textToImageModels(config: TextToImageConfig, dataset: Dataset): TextToImageModels {
  const tokenizer = trainClipTokenizer([...new Set(captionsOf(dataset))], {
    vocabSize: config.tokenizerVocabSize,
    modelMaxLength: config.maxTokens,
  });
  const textEncoder = new CLIPTextModel({
    ...config.textEncoder,
    vocab_size: tokenizer.vocabSize,
    max_position_embeddings: config.maxTokens,
    bos_token_id: tokenizer.bosTokenId,
    eos_token_id: tokenizer.eosTokenId,
    pad_token_id: tokenizer.padTokenId,
  });
  if (dataset.shape.length !== 3 || dataset.shape[1] !== dataset.shape[2]) {
    throw new ConfigError(`dataset '${dataset.name}' holds [${dataset.shape.join(', ')}], not square images`);
  }
  const [channels, side] = dataset.shape;
  const unet = new UNet2DConditionModel({
    ...(config.unet.class_embed_type === 'projection'
      ? { projection_class_embeddings_input_dim: textEncoder.promptVectorWidth }
      : {}),
    ...config.unet,
    sample_size: side,
    in_channels: channels,
    out_channels: channels,
    cross_attention_dim: textEncoder.config.hidden_size,
  });
  return { unet, textEncoder, tokenizer };
}

/** Both networks' weights: the parameter tree the train step updates. */
export interface TextToImageParams {
  unet: Params;
  textEncoder: Params;
}

export interface TextToImageTrainOptions {
  config: TextToImageConfig;
  models: TextToImageModels;
  dataset: Dataset;
  runtime?: Runtime;
  /** Wall-clock budget in seconds: the run ends after the step that passes it, as if complete. */
  timeLimitSeconds?: number;
  /** Stops the run after the current step. */
  signal?: AbortSignal;
  /**
   * Starting U-Net weights (e.g. a UNet2DModel trained on the same images): every tensor whose name
   * and shape match a U-Net parameter is copied, the rest (cross-attention) keep their seeded init.
   */
  initialUnet?: Params;
  onStep?: (report: { step: number; totalSteps: number; loss: number; gradNorm: number; lr: number }) => void;
}

export interface TextToImageTrainResult {
  /** The raw weights after the last update. */
  params: TextToImageParams;
  /** The weights to sample with: the EMA when enabled, else `params`. */
  samplingParams: TextToImageParams;
  losses: number[];
  steps: number;
  seconds: number;
  timeLimited: boolean;
  /** U-Net parameters copied from `initialUnet` (0 without one). */
  copiedUnetParams: number;
}

type Batch = Record<string, Tensor>;

/** Weighted MSE of the U-Net's prediction given the text encoder's last hidden state (step.ts's loss). */
function textToImageLoss(models: TextToImageModels, params: TensorTree, batch: Batch): Tensor {
  const p = params as unknown as { unet: ParamTensors; textEncoder: ParamTensors };
  const text = models.textEncoder.encode(p.textEncoder, batch.inputIds);
  const prediction = models.unet.apply(p.unet, {
    sample: batch.sample,
    timestep: batch.timestep,
    encoderHiddenStates: text.lastHiddenState,
    ...(models.unet.classEmbedsWidth !== null ? { classEmbeds: CLIPTextModel.promptVector(text) } : {}),
  });
  const diff = sub(prediction, batch.target);
  return mean(mul(diff, diff));
}

type StepOut = {
  loss: HostTensor;
  gradNorm: HostTensor;
  params: TextToImageParams;
  opt: unknown;
  ema?: TextToImageParams;
};

function paramTypes(models: TextToImageModels): TypeTree {
  return { unet: models.unet.paramTypes(), textEncoder: models.textEncoder.paramTypes() } as TypeTree;
}

function compileStep(options: TextToImageTrainOptions, runtime: Runtime): CompiledFunction<StepOut> {
  const { config, models } = options;
  const optimizer = adamw({ weightDecay: config.weightDecay });
  const fn = trainStep({
    loss: (params: TensorTree, batch: Batch) => textToImageLoss(models, params, batch),
    optimizer,
    clipNorm: config.clipNorm,
    ...(config.emaDecay !== null ? { emaDecay: config.emaDecay, emaWarmup: true } : {}),
  });
  const b = config.batchSize;
  const sample = { shape: [b, ...models.unet.sampleShape], dtype: 'float32' as const };
  const batchTypes: TypeTree = {
    sample,
    timestep: { shape: [b], dtype: 'float32' },
    target: sample,
    inputIds: { shape: [b, config.maxTokens], dtype: 'int64' },
  };
  const types = trainStepTypes(paramTypes(models), batchTypes, optimizer, config.emaDecay !== null);
  return runtime.compile(fn as never, types) as unknown as CompiledFunction<StepOut>;
}

/** Captions with each replaced by "" with probability `dropout`, tokenized to int64 [B, maxTokens]. */
export function captionIds(
  tokenizer: ClipTokenizer,
  captions: readonly string[],
  dropout: number,
  maxTokens: number,
  random: Random,
): BigInt64Array {
  const kept = captions.map((caption) => (random.uniform() < dropout ? '' : caption));
  return tokenizer.encodeBatch(kept, { maxLength: maxTokens }).inputIds;
}

function noisingSetup(config: TextToImageConfig): NoisingSetup {
  const betas = betaSchedule({
    betaSchedule: config.betaSchedule,
    betaStart: config.betaStart,
    betaEnd: config.betaEnd,
    numTrainTimesteps: config.numTrainTimesteps,
  });
  return {
    alphasCumprod: alphasCumprod(betas),
    objective: config.objective,
    minSnrGamma: null,
    numClasses: null,
    labelDropout: 0,
  };
}

/** `params` with every tensor of `from` of the same name and shape copied in, and how many were. */
export function withMatchingParams(params: Params, from: Params): { params: Params; copied: number } {
  const out: Params = { ...params };
  let copied = 0;
  for (const [name, p] of Object.entries(params)) {
    const source = from[name];
    if (source && source.shape.length === p.shape.length && source.shape.every((n, i) => n === p.shape[i])) {
      out[name] = { ...p, data: Float32Array.from(source.data as Float32Array) };
      copied++;
    }
  }
  return { params: out, copied };
}

/** Trains both networks jointly on the captioned dataset; see the module header. */
export async function trainTextToImage(options: TextToImageTrainOptions): Promise<TextToImageTrainResult> {
  const { config, models, dataset } = options;
  captionsOf(dataset);
  const setup = noisingSetup(config);
  const root = new Random(config.seed);
  const initRandom = root.split();
  const start = withMatchingParams(models.unet.init(initRandom), options.initialUnet ?? {});
  const params: TextToImageParams = { unet: start.params, textEncoder: models.textEncoder.init(initRandom) };
  const iterator = new BatchIterator(dataset, { batchSize: config.batchSize, random: root.split() });
  const random = root.split();
  const result = await runCompiledSteps<TextToImageParams>({
    compiled: compileStep(options, options.runtime ?? new OrtNodeRuntime()),
    params,
    opt: hostZeros(adamw({ weightDecay: 0 }).stateTypes(paramTypes(models))),
    ema: config.emaDecay === null ? null : (hostCopy(params as never) as unknown as TextToImageParams),
    schedule: scheduleOf(config),
    batch: () => {
      const clean = iterator.next()!;
      const noised = noisedBatch(clean, config.batchSize, setup, random);
      const inputIds = captionIds(
        models.tokenizer,
        clean.captions!,
        config.captionDropout,
        config.maxTokens,
        random,
      );
      return { sample: noised.sample, timestep: noised.timestep, target: noised.target, inputIds };
    },
    what: 'text-to-image training',
    ...(options.timeLimitSeconds !== undefined ? { timeLimitSeconds: options.timeLimitSeconds } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
  return {
    ...result,
    steps: result.losses.length,
    copiedUnetParams: start.copied,
  };
}
