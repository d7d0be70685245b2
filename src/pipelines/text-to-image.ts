/**
 * Text-conditioned pipelines over a UNet2DConditionModel, a CLIP text encoder and its tokenizer, in
 * pixel space (GLIDE-style) or in latent space (Stable-Diffusion-style, with an AutoencoderKL whose
 * latents are scaled by `scaling_factor`, LDM §4.3.2): text-to-image, image-to-image (SDEdit) and
 * inpainting with a prompt. Prompts are encoded once per call and the U-Net compiled once
 * (`text-conditioning.ts`), then called by the sampler through a `ModelFn`. Classifier-free guidance (Ho &
 * Salimans 2022, eq. 6) runs the conditional and the unconditional halves as one doubled batch:
 * ε̃ = ε_u + s (ε_c − ε_u), where the unconditional embedding is that of the negative prompt, or of the
 * empty prompt "" when none is given (diffusers' StableDiffusionPipeline); s = 1 is the conditional
 * prediction alone and s = 0 the unconditional one, each in a single batch.
 *
 * This module must not read files or implement a sampler's maths: samplers come from the registry and
 * the editing loops from `img2img.ts` / `inpaint.ts`.
 */
import { randomNoiseSource } from '../diffusion/samplers/common.js';
import { samplerSetup } from '../diffusion/samplers/registry.js';
import type { ModelFn, StepCallback } from '../diffusion/samplers/types.js';
import { OrtNodeRuntime, type Runtime } from '../engine/index.js';
import type { TextToImageComponents } from '../models/text-to-image-folder.js';
import { ConfigError, ShapeError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { editScheduleOf } from './edit-inputs.js';
import {
  encodePrompts,
  promptRows,
  textDenoiser,
  textGuidedModel,
  type PromptEmbeddings,
} from './text-conditioning.js';
import { img2img, type EditInput, type EditSampler } from './img2img.js';
import { inpaint, type InpaintMethod } from './inpaint.js';
import { decodeScaledLatents, encodeImages } from './latent.js';

/** What every text pipeline takes: the prompts, guidance and the run's randomness. */
export interface PromptOptions {
  /** One prompt for every image, or one per image (before `numImagesPerPrompt`). */
  prompt: string | readonly string[];
  /** The unconditional side of guidance: one for all, or one per prompt; default "". */
  negativePrompt?: string | readonly string[];
  /** Classifier-free guidance scale s; default 7.5 (diffusers' default). */
  guidance?: number;
  seed?: number;
  runtime?: Runtime;
  callback?: StepCallback;
}

export interface TextToImageOptions extends PromptOptions {
  /** Images per prompt (default 1): the batch is prompts × this, prompt-major. */
  numImagesPerPrompt?: number;
  numSteps: number;
  /** Sampler name or diffusers class; default the folder's own scheduler. */
  sampler?: string;
  /** Image size in pixels; default the U-Net's sample_size (× the VAE's factor for latent models). */
  height?: number;
  width?: number;
}

export interface TextImages {
  /** Images in [−1, 1] (not clipped), flat [count, ...shape]. */
  images: Float32Array;
  shape: [number, number, number];
}

/** `value` as `count` strings: one repeated, or a list of exactly `count`. */
function perPrompt(value: string | readonly string[], count: number, what: string): string[] {
  if (typeof value === 'string') return Array<string>(count).fill(value);
  if (value.length !== count) throw new UsageError(`got ${value.length} ${what}s for ${count} prompts`);
  return [...value];
}

/** The prompts and negatives of a batch, each repeated `repeat` times (prompt-major). */
export function promptBatch(options: PromptOptions, repeat = 1): { prompts: string[]; negatives: string[] } {
  const prompts = typeof options.prompt === 'string' ? [options.prompt] : [...options.prompt];
  if (prompts.length === 0) throw new UsageError('no prompt given');
  const negatives = perPrompt(options.negativePrompt ?? '', prompts.length, 'negative prompt');
  const expand = (list: string[]) => list.flatMap((p) => Array<string>(repeat).fill(p));
  return { prompts: expand(prompts), negatives: expand(negatives) };
}

/** The guidance scale, checked. */
function guidanceOf(options: PromptOptions): number {
  const guidance = options.guidance ?? 7.5;
  if (!Number.isFinite(guidance))
    throw new ConfigError(`guidance scale must be a finite number, got ${guidance}`);
  return guidance;
}

/** The image size [C, H, W] and the denoiser's sample shape for a requested height and width. */
export function textSampleShapes(
  components: TextToImageComponents,
  height?: number,
  width?: number,
): { image: [number, number, number]; sample: [number, number, number] } {
  const { unet, vae } = components;
  const factor = vae?.model.downsamplingFactor ?? 1;
  const [channels, baseH, baseW] = unet.sampleShape;
  const h = height ?? baseH * factor;
  const w = width ?? baseW * factor;
  // Each of the U-Net's downsamplers halves the side, and the skips need every halving exact.
  const multiple = factor * 2 ** (unet.config.block_out_channels.length - 1);
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1 || h % multiple || w % multiple) {
    throw new UsageError(`image size ${h}×${w} is not a positive multiple of ${multiple} for this model`, {
      hint: `use a height and width divisible by ${multiple}`,
    });
  }
  const imageChannels = vae ? vae.model.config.out_channels : channels;
  return { image: [imageChannels, h, w], sample: [channels, h / factor, w / factor] };
}

/** The prompt embeddings of a batch: conditional and unconditional. */
async function batchEmbeddings(
  components: TextToImageComponents,
  options: PromptOptions,
  repeat: number,
  runtime: Runtime,
): Promise<{ cond: PromptEmbeddings; uncond: PromptEmbeddings; count: number }> {
  const { prompts, negatives } = promptBatch(options, repeat);
  const both = await encodePrompts(components, [...prompts, ...negatives], runtime);
  const count = prompts.length;
  return { cond: promptRows(both, 0, count), uncond: promptRows(both, count, 2 * count), count };
}

/** Runs `body` with the guided model of this batch, disposing the compiled U-Net afterwards. */
async function withGuidedModel<T>(
  components: TextToImageComponents,
  options: PromptOptions,
  repeat: number,
  sampleShape: readonly number[],
  body: (model: ModelFn, count: number) => Promise<T>,
): Promise<T> {
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const guidance = guidanceOf(options);
  const { cond, uncond, count } = await batchEmbeddings(components, options, repeat, runtime);
  const doubled = guidance !== 0 && guidance !== 1;
  const denoiser = textDenoiser(components, sampleShape, doubled ? 2 * count : count, runtime);
  try {
    return await body(textGuidedModel(denoiser, cond, uncond, guidance), count);
  } finally {
    await denoiser.dispose();
  }
}

/** Images decoded from the denoiser's samples (latent models) or the samples themselves. */
async function toImages(
  components: TextToImageComponents,
  samples: Float32Array,
  sampleShape: readonly number[],
  runtime?: Runtime,
): Promise<Float32Array> {
  if (!components.vae) return samples;
  return decodeScaledLatents(components.vae, samples, sampleShape, runtime ? { runtime } : {});
}

function checkSteps(numSteps: number): void {
  if (!Number.isInteger(numSteps) || numSteps < 1) {
    throw new ConfigError(`number of steps must be a positive integer, got ${numSteps}`);
  }
}

/** Text-to-image: prompts × numImagesPerPrompt images from seeded noise (see the module header). */
export async function textToImage(
  components: TextToImageComponents,
  options: TextToImageOptions,
): Promise<TextImages> {
  checkSteps(options.numSteps);
  const repeat = options.numImagesPerPrompt ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new ConfigError(`images per prompt must be a positive integer, got ${repeat}`);
  }
  const shapes = textSampleShapes(components, options.height, options.width);
  const { entry, config } = samplerSetup(
    options.sampler ?? components.schedulerConfig.className,
    components.schedulerConfig,
  );
  const samples = await withGuidedModel(components, options, repeat, shapes.sample, async (model, count) => {
    const random = new Random(options.seed ?? 0);
    const perSample = shapes.sample.reduce((a, b) => a * b, 1);
    return entry.run(
      {
        model,
        noise: random.normals(count * perSample),
        numInferenceSteps: options.numSteps,
        batchSize: count,
        noiseSource: randomNoiseSource(random),
        ...(options.callback ? { callback: options.callback } : {}),
      },
      config,
      {},
    );
  });
  return { images: await toImages(components, samples, shapes.sample, options.runtime), shape: shapes.image };
}

/** What text img2img and inpainting share: the input images and the DDIM settings. */
export interface TextEditOptions extends PromptOptions {
  /** Images in [−1, 1], [count, C, H, W]; one prompt for all or one per image. */
  image: EditInput;
  /** Length N of the DDIM timetable. */
  numSteps: number;
  /** DDIM's η (default 0 for img2img, 1 for inpainting). */
  eta?: number;
}

/** The images' shape checked against the model; returns [count, C, H, W]. */
function checkedImages(
  components: TextToImageComponents,
  image: EditInput,
): [number, number, number, number] {
  const [count, c, h, w] = image.shape;
  const expected = textSampleShapes(components, h, w).image;
  if (image.shape.length !== 4 || c !== expected[0] || image.data.length !== count * c * h * w) {
    throw new ShapeError(
      `input images must be [count, ${expected[0]}, H, W] with their values; got [${image.shape.join(', ')}] and ${image.data.length} values`,
    );
  }
  return [count, c, h, w];
}

/** The images as the denoiser's samples: scaled VAE latents (latent models) or the images themselves. */
async function toSamples(
  components: TextToImageComponents,
  image: EditInput,
  runtime?: Runtime,
): Promise<EditInput> {
  const [count, c, h, w] = checkedImages(components, image);
  const { vae } = components;
  if (!vae) return image;
  const latents = await encodeImages(vae, image.data, [c, h, w], runtime ? { runtime } : {});
  const { scaling_factor: scale, shift_factor: shift } = vae.model.config;
  const scaled = latents.map((z) => (z - (shift ?? 0)) * scale);
  return { data: scaled, shape: [count, ...vae.model.latentShape(h, w)] };
}

/** Prompts per image of an edit: one for all images, or one per image. */
function editPrompts(options: PromptOptions, count: number): PromptOptions {
  const prompt =
    typeof options.prompt === 'string' ? Array<string>(count).fill(options.prompt) : options.prompt;
  const negativePrompt =
    options.negativePrompt === undefined || typeof options.negativePrompt !== 'string'
      ? options.negativePrompt
      : Array<string>(count).fill(options.negativePrompt);
  if (prompt.length !== count) throw new UsageError(`got ${prompt.length} prompts for ${count} images`);
  return { ...options, prompt, ...(negativePrompt !== undefined ? { negativePrompt } : {}) };
}

function editSampler(
  components: TextToImageComponents,
  options: TextEditOptions,
  model: ModelFn,
  eta: number,
): EditSampler {
  return {
    model,
    config: editScheduleOf(components.schedulerConfig),
    numInferenceSteps: options.numSteps,
    eta,
    noiseSource: randomNoiseSource(new Random(options.seed ?? 0)),
    ...(options.callback ? { callback: options.callback } : {}),
  };
}

/** Image-to-image with a prompt (SDEdit at `strength`, DDIM), in pixel or latent space. */
export async function textImg2img(
  components: TextToImageComponents,
  options: TextEditOptions & { strength: number },
): Promise<TextImages> {
  checkSteps(options.numSteps);
  const [count, c, h, w] = checkedImages(components, options.image);
  const samples = await toSamples(components, options.image, options.runtime);
  const sampleShape = samples.shape.slice(1);
  const prompts = editPrompts(options, count);
  const out = await withGuidedModel(components, prompts, 1, sampleShape, (model) =>
    img2img(editSampler(components, options, model, options.eta ?? 0), samples, options.strength),
  );
  return { images: await toImages(components, out, sampleShape, options.runtime), shape: [c, h, w] };
}

export interface TextInpaintOptions extends TextEditOptions {
  /** 1 = keep, 0 = fill, one image's shape [C, H, W] shared by the batch. */
  mask: EditInput;
  method?: InpaintMethod;
  jumpLength?: number;
  resamplings?: number;
}

/**
 * The keep mask at latent resolution: a latent cell is kept only when every pixel (all channels) of its
 * factor × factor patch is kept, so everything to fill is regenerated; one [latentChannels, h, w] example.
 */
export function latentKeepMask(mask: EditInput, factor: number, latentChannels: number): EditInput {
  const [c, h, w] = mask.shape;
  if (mask.shape.length !== 3 || h % factor || w % factor || mask.data.length !== c * h * w) {
    throw new ShapeError(
      `inpainting mask [${mask.shape.join(', ')}] must be [C, H, W] with H, W divisible by ${factor}`,
    );
  }
  const lh = h / factor;
  const lw = w / factor;
  const cell = new Float32Array(lh * lw).fill(1);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (mask.data[(ch * h + y) * w + x] === 0)
          cell[Math.floor(y / factor) * lw + Math.floor(x / factor)] = 0;
      }
    }
  }
  const data = new Float32Array(latentChannels * lh * lw);
  for (let ch = 0; ch < latentChannels; ch++) data.set(cell, ch * lh * lw);
  return { data, shape: [latentChannels, lh, lw] };
}

/**
 * Inpainting with a prompt: RePaint or replacement (`inpaint.ts`) on the denoiser's samples; for latent
 * models in latent space with `latentKeepMask`, and the kept pixels then pasted back exactly.
 */
export async function textInpaint(
  components: TextToImageComponents,
  options: TextInpaintOptions,
): Promise<TextImages> {
  checkSteps(options.numSteps);
  const [count, c, h, w] = checkedImages(components, options.image);
  if (options.mask.shape.join() !== [c, h, w].join()) {
    throw new ShapeError(
      `inpainting mask [${options.mask.shape.join(', ')}] must be one image's shape [${c}, ${h}, ${w}]`,
    );
  }
  const samples = await toSamples(components, options.image, options.runtime);
  const sampleShape = samples.shape.slice(1);
  const { vae } = components;
  const mask = vae
    ? latentKeepMask(options.mask, vae.model.downsamplingFactor, sampleShape[0])
    : options.mask;
  const prompts = editPrompts(options, count);
  const out = await withGuidedModel(components, prompts, 1, sampleShape, (model) =>
    inpaint(editSampler(components, options, model, options.eta ?? 1), {
      image: samples,
      mask,
      ...(options.method ? { method: options.method } : {}),
      ...(options.jumpLength ? { jumpLength: options.jumpLength } : {}),
      ...(options.resamplings ? { resamplings: options.resamplings } : {}),
    }),
  );
  const images = await toImages(components, out, sampleShape, options.runtime);
  if (vae) {
    const per = c * h * w;
    for (let i = 0; i < images.length; i++)
      if (options.mask.data[i % per] === 1) images[i] = options.image.data[i];
  }
  return { images, shape: [c, h, w] };
}
