/**
 * Trains the three parts of an unCLIP model (Ramesh et al. 2022) on one captioned dataset, in order:
 * (1) the contrastive text–image encoder (`contrastive.ts`); (2) with it frozen, every example's image
 * embedding and its caption's text embedding; (3) the diffusion prior from text to image embeddings
 * (`embedding-prior.ts`); (4) the decoder from image embeddings to images (`unclip-decoder.ts`),
 * optionally warm-started from a trained pixel-space U-Net of the same layout. Each stage has its own
 * step count and wall-clock budget.
 *
 * This module must not write files or sample: callers save with `models/unclip-folder.ts`.
 */
import type { Dataset } from '../data/dataset.js';
import { OrtNodeRuntime, type Runtime } from '../engine/index.js';
import { embedImages, embedTexts, type LoadedContrastive } from '../models/contrastive.js';
import { EmbeddingPrior, type EmbeddingPriorConfigInput } from '../models/embedding-prior.js';
import type { Params } from '../models/types.js';
import type { UnclipComponents } from '../models/unclip-folder.js';
import { ConfigError } from '../util/errors.js';
import { trainContrastive, type ContrastiveTrainConfigInput } from './contrastive.js';
import { trainEmbeddingPrior } from './embedding-prior.js';
import {
  parseUnclipDecoderConfig,
  trainUnclipDecoder,
  unclipDecoderNetwork,
  unclipDecoderScheduler,
  withEmbeddings,
  type UnclipDecoderConfigInput,
} from './unclip-decoder.js';

export interface UnclipPriorSettings {
  /** EmbeddingPrior config keys besides the widths (hidden_dim, num_layers, …). */
  network?: Omit<EmbeddingPriorConfigInput, 'embedding_dim' | 'condition_dim'>;
  steps: number;
  batchSize: number;
  lr: number;
  conditionDropout?: number;
  emaDecay?: number;
}

export interface UnclipTrainOptions {
  /** A captioned dataset of square images (e.g. mnist-captions). */
  dataset: Dataset;
  clip: ContrastiveTrainConfigInput;
  prior: UnclipPriorSettings;
  decoder: UnclipDecoderConfigInput;
  /** Starting decoder weights (tensors matching by name and shape are copied). */
  initialDecoder?: Params;
  /** Wall-clock budget per stage, seconds. */
  timeLimits?: { clip?: number; prior?: number; decoder?: number };
  seed?: number;
  runtime?: Runtime;
  /** One line per stage and progress report. */
  onLog?: (line: string) => void;
}

export interface UnclipTrainResult {
  components: UnclipComponents;
  /** Per stage: updates run, seconds, mean loss of the last 50 updates. */
  stages: Record<'clip' | 'prior' | 'decoder', { steps: number; seconds: number; finalLoss: number }>;
  embedSeconds: number;
}

const tailMean = (losses: readonly number[]) => {
  const tail = losses.slice(-50);
  return tail.reduce((a, b) => a + b, 0) / Math.max(tail.length, 1);
};

/** Image embeddings [size, D] of every example, and the text embedding of each example's caption. */
export async function datasetEmbeddings(
  clip: LoadedContrastive,
  dataset: Dataset,
  runtime: Runtime,
): Promise<{ images: Float32Array; texts: Float32Array }> {
  if (!dataset.captions) throw new ConfigError(`dataset '${dataset.name}' has no captions`);
  const width = clip.model.embedDim;
  const images = new Float32Array(dataset.size * width);
  const chunk = 2048;
  for (let start = 0; start < dataset.size; start += chunk) {
    const indices = Array.from({ length: Math.min(chunk, dataset.size - start) }, (_, i) => start + i);
    images.set(await embedImages(clip, dataset.batch(indices).x, indices.length, runtime), start * width);
  }
  const unique = [...new Set(dataset.captions)];
  const byCaption = await embedTexts(clip, unique, runtime);
  const row = new Map(unique.map((caption, i) => [caption, i]));
  const texts = new Float32Array(dataset.size * width);
  dataset.captions.forEach((caption, i) => {
    const r = row.get(caption)!;
    texts.set(byCaption.subarray(r * width, (r + 1) * width), i * width);
  });
  return { images, texts };
}

/** The four stages of the module header, in order. */
export async function trainUnclip(options: UnclipTrainOptions): Promise<UnclipTrainResult> {
  const { dataset } = options;
  const log = options.onLog ?? (() => {});
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const limits = options.timeLimits ?? {};
  const every = (n: number) => (step: number) => step % n === 0;
  const clipReport = every(100);
  const trainedClip = await trainContrastive({
    dataset,
    config: options.clip,
    runtime,
    ...(limits.clip !== undefined ? { timeLimitSeconds: limits.clip } : {}),
    onStep: (r) =>
      clipReport(r.step) && log(`clip: step ${r.step}/${r.totalSteps} loss ${r.loss.toFixed(4)}`),
  });
  const clip: LoadedContrastive = {
    model: trainedClip.model,
    params: trainedClip.params,
    tokenizer: trainedClip.tokenizer,
  };
  const width = clip.model.embedDim;

  const embedStart = performance.now();
  const pairs = await datasetEmbeddings(clip, dataset, runtime);
  const embedSeconds = (performance.now() - embedStart) / 1000;
  log(`embedded ${dataset.size} images and captions in ${embedSeconds.toFixed(1)} s`);

  const priorNetwork = new EmbeddingPrior({
    ...options.prior.network,
    embedding_dim: width,
    condition_dim: width,
  });
  const priorReport = every(200);
  const prior = await trainEmbeddingPrior({
    network: priorNetwork,
    embeddings: pairs.images,
    conditions: pairs.texts,
    steps: options.prior.steps,
    batchSize: options.prior.batchSize,
    lr: options.prior.lr,
    seed: options.seed ?? 0,
    runtime,
    ...(options.prior.conditionDropout !== undefined
      ? { conditionDropout: options.prior.conditionDropout }
      : {}),
    ...(options.prior.emaDecay !== undefined ? { emaDecay: options.prior.emaDecay } : {}),
    ...(limits.prior !== undefined ? { timeLimitSeconds: limits.prior } : {}),
    onStep: (r) =>
      priorReport(r.step) && log(`prior: step ${r.step}/${r.totalSteps} loss ${r.loss.toFixed(4)}`),
  });

  const decoderConfig = parseUnclipDecoderConfig(options.decoder);
  const decoderNetwork = unclipDecoderNetwork(decoderConfig, dataset, width);
  const decoderReport = every(20);
  const decoder = await trainUnclipDecoder({
    config: decoderConfig,
    network: decoderNetwork,
    dataset: withEmbeddings(dataset, pairs.images, width),
    runtime,
    ...(options.initialDecoder ? { initialParams: options.initialDecoder } : {}),
    ...(limits.decoder !== undefined ? { timeLimitSeconds: limits.decoder } : {}),
    onStep: (r) =>
      decoderReport(r.step) && log(`decoder: step ${r.step}/${r.totalSteps} loss ${r.loss.toFixed(4)}`),
  });

  return {
    components: {
      clip,
      prior: { network: priorNetwork, params: prior.samplingParams, schedulerConfig: prior.schedulerConfig },
      decoder: {
        network: decoderNetwork,
        params: decoder.samplingParams,
        schedulerConfig: unclipDecoderScheduler(decoderConfig),
      },
    },
    stages: {
      clip: {
        steps: trainedClip.losses.length,
        seconds: trainedClip.seconds,
        finalLoss: tailMean(trainedClip.losses),
      },
      prior: { steps: prior.losses.length, seconds: prior.seconds, finalLoss: tailMean(prior.losses) },
      decoder: {
        steps: decoder.losses.length,
        seconds: decoder.seconds,
        finalLoss: tailMean(decoder.losses),
      },
    },
    embedSeconds,
  };
}
