/**
 * unCLIP (Ramesh et al. 2022, "DALL·E 2"): images from a contrastive encoder's embedding space.
 * Text to image: caption → text embedding (the encoder's text tower) → image embedding (the diffusion
 * prior, guided) → renormalised to the unit sphere the encoder embeds onto → image (the decoder, guided).
 * Variations (§3.1): an input image's own embedding decoded from fresh noise, so the variations keep
 * what the embedding holds (for digits: which digit, roughly its style) and re-draw the rest.
 *
 * This module must not read files or train: folders come from `models/unclip-folder.ts`.
 */
import { OrtNodeRuntime, type Runtime } from '../engine/index.js';
import { embedImages, embedTexts } from '../models/contrastive.js';
import type { UnclipComponents } from '../models/unclip-folder.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import { samplePrior } from './embedding-prior.js';
import { decodeEmbeddings } from './unclip-decoder.js';

export interface UnclipSamplingOptions {
  /** Decoder guidance against the zero embedding (default 3). */
  guidance?: number;
  /** Decoder steps and sampler (default the decoder's scheduler). */
  numSteps: number;
  sampler?: string;
  seed?: number;
  runtime?: Runtime;
}

export interface UnclipTextOptions extends UnclipSamplingOptions {
  /** Prior guidance against the zero text embedding (default 2), steps (default 25) and sampler (default ddim). */
  priorGuidance?: number;
  priorSteps?: number;
  priorSampler?: string;
  numImagesPerPrompt?: number;
}

export interface UnclipVariationOptions extends UnclipSamplingOptions {
  /** Variations drawn for each input image (default 4). */
  numVariations?: number;
}

export interface UnclipImages {
  /** Images in [−1, 1] (not clipped), flat [count, ...shape], grouped by prompt or by input image. */
  images: Float32Array;
  shape: number[];
  /** The image embeddings the decoder drew them from, [count, D]. */
  embeddings: Float32Array;
}

/** Each row of [rows, width] scaled to unit length (zero rows stay zero). */
export function unitRows(rows: Float32Array, width: number): Float32Array {
  const out = Float32Array.from(rows);
  for (let r = 0; r < out.length / width; r++) {
    let norm = 0;
    for (let i = r * width; i < (r + 1) * width; i++) norm += out[i] * out[i];
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let i = r * width; i < (r + 1) * width; i++) out[i] *= scale;
  }
  return out;
}

/** Every row of [rows, width] repeated `times` times, row-major (a0 a0 … a1 a1 …). */
function repeatRows(rows: Float32Array, width: number, times: number): Float32Array {
  const count = rows.length / width;
  const out = new Float32Array(count * times * width);
  for (let r = 0; r < count; r++) {
    for (let k = 0; k < times; k++)
      out.set(rows.subarray(r * width, (r + 1) * width), (r * times + k) * width);
  }
  return out;
}

function positiveCount(value: number | undefined, fallback: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${what} must be a positive integer, got ${n}`);
  return n;
}

/** Image embeddings [count, D] for prompts (each `numImagesPerPrompt` times) through the prior. */
export async function priorEmbeddings(
  components: UnclipComponents,
  prompts: readonly string[],
  options: Omit<UnclipTextOptions, 'numSteps'> = {},
): Promise<Float32Array> {
  if (prompts.length === 0) throw new ConfigError('no prompt given');
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const width = components.clip.model.embedDim;
  const repeat = positiveCount(options.numImagesPerPrompt, 1, 'images per prompt');
  const texts = await embedTexts(components.clip, prompts, runtime);
  const sampled = await samplePrior({
    ...components.prior,
    conditions: repeatRows(texts, width, repeat),
    sampler: options.priorSampler ?? 'ddim',
    steps: options.priorSteps ?? 25,
    guidance: options.priorGuidance ?? 2,
    seed: options.seed ?? 0,
    runtime,
  });
  // Guided prior samples leave the sphere (‖x‖ grows with s); the decoder was trained on unit vectors.
  return unitRows(sampled, width);
}

/** Text to image through prior and decoder; `numImagesPerPrompt` images per prompt, prompt-major. */
export async function unclipTextToImage(
  components: UnclipComponents,
  prompts: readonly string[],
  options: UnclipTextOptions,
): Promise<UnclipImages> {
  const embeddings = await priorEmbeddings(components, prompts, options);
  const images = await decodeEmbeddings(components.decoder, embeddings, options);
  return { images, shape: [...components.decoder.network.sampleShape], embeddings };
}

/** `numVariations` new images for each of `count` input images [count, C, H, W] in [−1, 1]. */
export async function imageVariations(
  components: UnclipComponents,
  images: Float32Array,
  count: number,
  options: UnclipVariationOptions,
): Promise<UnclipImages> {
  const shape = components.decoder.network.sampleShape;
  const perImage = shape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(count) || count < 1 || images.length !== count * perImage) {
    throw new ShapeError(
      `variations need images of [${shape.join(', ')}]: got ${images.length} values for ${count}`,
    );
  }
  const times = positiveCount(options.numVariations, 4, 'variations per image');
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const own = await embedImages(components.clip, images, count, runtime);
  const embeddings = repeatRows(own, components.clip.model.embedDim, times);
  const out = await decodeEmbeddings(components.decoder, embeddings, { ...options, runtime });
  return { images: out, shape: [...shape], embeddings };
}
