/**
 * Training of the contrastive text–image encoder (`ContrastiveModel`, CLIP-style, Radford et al. 2021)
 * on a captioned dataset: a byte-level BPE tokenizer is learnt from the dataset's distinct captions
 * (as text-to-image training does), then both towers and the logit scale are trained with CLIP's
 * symmetric cross-entropy by AdamW, one engine `trainStep` graph per update (forward through both
 * towers, loss, backward, global-norm clipping, AdamW).
 *
 * Targets: template captions repeat within a batch (MNIST has 100 distinct captions, so a batch of 64
 * holds about 18 pairs of identical ones), and with the diagonal as the only target identical captions
 * would be pushed apart from each other's images — a false negative no model can fit. By default
 * (`softTargets`) each row's target is the same-caption indicator normalised per row (the diagonal when
 * a caption is unique in its batch); the indicator is symmetric, so its transpose serves the columns.
 * Captions that differ but name the same digit ("the digit 7", "a handwritten seven") stay negatives,
 * as in CLIP. Same config and seed → the same loss curve.
 *
 * This module must not parse flags or write files: callers save the model folder.
 */
import { z } from 'zod';
import { BatchIterator, type Dataset } from '../data/dataset.js';
import {
  adamw,
  hostZeros,
  OrtNodeRuntime,
  trainStep,
  trainStepTypes,
  type CompiledFunction,
  type Runtime,
  type Tensor,
  type TensorTree,
  type TypeTree,
} from '../engine/index.js';
import { ContrastiveModel, contrastiveLoss } from '../models/contrastive.js';
import type { Params, ParamTensors } from '../models/types.js';
import { trainClipTokenizer, type ClipTokenizer } from '../text/index.js';
import { ConfigError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { runCompiledSteps, type CompiledStepOut } from './compiled-loop.js';
import { LR_SCHEDULES, scheduleOf } from './lr.js';

/** A 2-layer CLIP text tower, 64 wide: enough to read which digit a template caption names. */
export const TINY_CONTRASTIVE_TEXT_CONFIG = {
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
};

export const contrastiveTrainConfigSchema = z
  .object({
    /** Width of the shared embedding space. */
    embedDim: z.number().int().positive().default(32),
    /** Widths of the image tower (see ContrastiveModel). */
    visionChannels: z.array(z.number().int().positive()).min(1).default([16, 32, 64]),
    /** GroupNorm groups of the image tower; 0: none. */
    normNumGroups: z.number().int().min(0).default(8),
    /** CLIPTextModel config keys; vocab size and special token ids come from the learnt tokenizer. */
    text: z.record(z.string(), z.unknown()).default(TINY_CONTRASTIVE_TEXT_CONFIG),
    /** Vocabulary size of the byte-level BPE tokenizer learnt from the captions (≥ 514). */
    tokenizerVocabSize: z.number().int().min(514).default(640),
    /** Tokens per caption, BOS and EOS included (the text tower's max_position_embeddings). */
    maxTokens: z.number().int().min(4).max(77).default(16),
    steps: z.number().int().positive(),
    batchSize: z.number().int().min(2),
    /** Peak AdamW learning rate. */
    lr: z.number().positive(),
    lrSchedule: z.enum(LR_SCHEDULES).default('cosine'),
    warmupSteps: z.number().int().nonnegative().default(0),
    /** Cosine floor as a fraction of the peak rate. */
    minLrRatio: z.number().min(0).max(1).default(0.1),
    weightDecay: z.number().nonnegative().default(0),
    clipNorm: z.number().positive().default(1),
    /** Same-caption indicator (row-normalised) as targets instead of the diagonal (see the header). */
    softTargets: z.boolean().default(true),
    seed: z.number().int().default(0),
  })
  .strict();

export type ContrastiveTrainConfig = z.output<typeof contrastiveTrainConfigSchema>;
export type ContrastiveTrainConfigInput = z.input<typeof contrastiveTrainConfigSchema>;

/** Validates a contrastive training config; the error lists every offending field. */
export function parseContrastiveTrainConfig(
  input: unknown,
  source = 'contrastive config',
): ContrastiveTrainConfig {
  const result = contrastiveTrainConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  throw new ConfigError(`${source} is invalid: ${problems.join('; ')}`);
}

export interface ContrastiveTrainOptions {
  /** A captioned dataset of square images, e.g. resolveDataset('mnist-captions'). */
  dataset: Dataset;
  config: ContrastiveTrainConfigInput;
  runtime?: Runtime;
  /** Wall-clock budget in seconds: the run ends after the step that passes it. */
  timeLimitSeconds?: number;
  onStep?: (report: { step: number; totalSteps: number; loss: number; gradNorm: number; lr: number }) => void;
}

export interface ContrastiveTrainResult {
  model: ContrastiveModel;
  /** The weights after the last update. */
  params: Params;
  tokenizer: ClipTokenizer;
  losses: number[];
  seconds: number;
}

/** The captions of a captioned dataset, or a ConfigError naming the dataset. */
function captionsOf(dataset: Dataset): readonly string[] {
  if (!dataset.captions) {
    throw new ConfigError(`dataset '${dataset.name}' has no captions`, {
      hint: 'contrastive training needs a captioned dataset such as mnist-captions',
    });
  }
  return dataset.captions;
}

/** The tokenizer learnt from the dataset's captions and the model sized for it and for the images. */
export function contrastiveModelFor(
  config: ContrastiveTrainConfig,
  dataset: Dataset,
): { model: ContrastiveModel; tokenizer: ClipTokenizer } {
  const tokenizer = trainClipTokenizer([...new Set(captionsOf(dataset))], {
    vocabSize: config.tokenizerVocabSize,
    modelMaxLength: config.maxTokens,
  });
  if (dataset.shape.length !== 3 || dataset.shape[1] !== dataset.shape[2]) {
    throw new ConfigError(`dataset '${dataset.name}' holds [${dataset.shape.join(', ')}], not square images`);
  }
  const model = new ContrastiveModel({
    embed_dim: config.embedDim,
    image_channels: dataset.shape[0],
    image_size: dataset.shape[1],
    vision_channels: config.visionChannels,
    norm_num_groups: config.normNumGroups,
    text: {
      ...config.text,
      vocab_size: tokenizer.vocabSize,
      max_position_embeddings: config.maxTokens,
      bos_token_id: tokenizer.bosTokenId,
      eos_token_id: tokenizer.eosTokenId,
      pad_token_id: tokenizer.padTokenId,
    },
  });
  return { model, tokenizer };
}

/**
 * Targets [B, B] for a batch of captions: the same-caption indicator normalised per row when `soft`,
 * else the identity (CLIP's diagonal).
 */
export function captionTargets(captions: readonly string[], soft: boolean): Float32Array {
  const b = captions.length;
  const targets = new Float32Array(b * b);
  for (let i = 0; i < b; i++) {
    const same = soft
      ? captions.map((c) => (c === captions[i] ? 1 : 0))
      : captions.map((_, j) => (j === i ? 1 : 0));
    const count = same.reduce((a: number, v) => a + v, 0);
    same.forEach((v, j) => (targets[i * b + j] = v / count));
  }
  return targets;
}

function compileStep(
  model: ContrastiveModel,
  config: ContrastiveTrainConfig,
  runtime: Runtime,
): CompiledFunction<CompiledStepOut<Params>> {
  const optimizer = adamw({ weightDecay: config.weightDecay });
  const fn = trainStep({
    loss: (params: TensorTree, batch: Record<string, Tensor>) =>
      contrastiveLoss(model, params as unknown as ParamTensors, batch.images, batch.inputIds, batch.targets),
    optimizer,
    clipNorm: config.clipNorm,
  });
  const b = config.batchSize;
  const { image_channels: c, image_size: s } = model.config;
  const batchTypes: TypeTree = {
    images: { shape: [b, c, s, s], dtype: 'float32' },
    inputIds: { shape: [b, config.maxTokens], dtype: 'int64' },
    targets: { shape: [b, b], dtype: 'float32' },
  };
  const types = trainStepTypes(model.paramTypes() as TypeTree, batchTypes, optimizer, false);
  return runtime.compile(fn as never, types) as unknown as CompiledFunction<CompiledStepOut<Params>>;
}

/** Learns the tokenizer, then trains both towers jointly on the captioned dataset (see the header). */
export async function trainContrastive(options: ContrastiveTrainOptions): Promise<ContrastiveTrainResult> {
  const config = parseContrastiveTrainConfig(options.config);
  const { dataset } = options;
  const { model, tokenizer } = contrastiveModelFor(config, dataset);
  const root = new Random(config.seed);
  const params = model.init(root.split());
  const iterator = new BatchIterator(dataset, { batchSize: config.batchSize, random: root.split() });
  const result = await runCompiledSteps<Params>({
    compiled: compileStep(model, config, options.runtime ?? new OrtNodeRuntime()),
    params,
    opt: hostZeros(adamw({ weightDecay: 0 }).stateTypes(model.paramTypes() as TypeTree)),
    ema: null,
    schedule: scheduleOf(config),
    batch: () => {
      const batch = iterator.next()!;
      const captions = batch.captions!;
      const inputIds = tokenizer.encodeBatch(captions, { maxLength: config.maxTokens }).inputIds;
      return { images: batch.x, inputIds, targets: captionTargets(captions, config.softTargets) };
    },
    what: 'contrastive training',
    ...(options.timeLimitSeconds !== undefined ? { timeLimitSeconds: options.timeLimitSeconds } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
  return { model, params: result.params, tokenizer, losses: result.losses, seconds: result.seconds };
}
