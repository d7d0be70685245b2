/**
 * Latent diffusion around a trained AutoencoderKL (Rombach et al. 2022): images are encoded to the
 * posterior means z = μ(x) (deterministic, so a dataset encodes once), handed to the denoiser as
 * latents z·scaling_factor (with scaling_factor = 1/std(z) measured on the data, LDM §4.3.2 / appendix
 * G, so the diffusion model sees unit-variance inputs), and samples drawn in latent space are decoded
 * back to images. The encoder and decoder are each compiled once with their weights frozen into the
 * graph and run in fixed-size chunks.
 *
 * A VAE on its own is saved as diffusers saves `AutoencoderKL.save_pretrained(dir)`: config.json and
 * diffusion_pytorch_model.safetensors.
 *
 * This module must not train or implement a sampler (sampling goes through `generate`); it maps
 * between image space and latent space and reads and writes VAE folders.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { exampleLength, TensorDataset, type Dataset } from '../data/dataset.js';
import {
  OrtNodeRuntime,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TypeTree,
} from '../engine/index.js';
import { DIFFUSERS_VERSION } from '../diffusion/scheduler-config.js';
import { readJsonFile, stringifyJson } from '../io/json.js';
import { AutoencoderKL } from '../models/autoencoder-kl.js';
import { CONFIG_NAME, WEIGHTS_NAME, type VaeComponent } from '../models/pipeline-folder.js';
import type { ParamTensors } from '../models/types.js';
import { loadWeights, weightsToBytes } from '../models/weights.js';
import { ConfigError, NotFoundError, ShapeError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { generate, type GenerateOptions } from './generate.js';

/** Examples per compiled encoder/decoder run. */
const CHUNK = 64;

export interface LatentOptions {
  runtime?: Runtime;
  /** Examples per run (default 64). */
  chunkSize?: number;
}

type Mapping = (params: ParamTensors, x: Tensor) => Tensor;

/** Runs `fn` (compiled once, weights frozen) over `input` of examples `inShape`, in chunks. */
async function mapInChunks(
  vae: VaeComponent,
  fn: Mapping,
  input: Float32Array,
  inShape: readonly number[],
  outShape: readonly number[],
  options: LatentOptions,
): Promise<Float32Array> {
  const inLength = exampleLength({ shape: inShape });
  const outLength = exampleLength({ shape: outShape });
  if (input.length % inLength !== 0)
    throw new ShapeError(
      `${input.length} values do not split into examples of shape [${inShape.join(', ')}]`,
    );
  const count = input.length / inLength;
  const chunk = Math.min(options.chunkSize ?? CHUNK, Math.max(count, 1));
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const compiled = runtime.compile(
    ((inputs: { params: ParamTensors; x: Tensor }) => fn(inputs.params, inputs.x)) as never,
    {
      params: vae.model.paramTypes() as TypeTree,
      x: { shape: [chunk, ...inShape], dtype: 'float32' },
    },
    { frozen: { params: vae.params } as never },
  );
  const out = new Float32Array(count * outLength);
  try {
    for (let start = 0; start < count; start += chunk) {
      const n = Math.min(chunk, count - start);
      // The last chunk is padded to the compiled batch size; its padding rows are dropped.
      const x = new Float32Array(chunk * inLength);
      x.set(input.subarray(start * inLength, (start + n) * inLength));
      const result = (await compiled.run({
        x: { data: x, shape: [chunk, ...inShape], dtype: 'float32' },
      } as never)) as HostTensor;
      out.set((result.data as Float32Array).subarray(0, n * outLength), start * outLength);
    }
  } finally {
    await compiled.dispose();
  }
  return out;
}

/** Throws a ShapeError unless `shape` is an image shape [C, H, W] the autoencoder encodes. */
function checkImageShape(model: AutoencoderKL, shape: readonly number[]): void {
  const f = model.downsamplingFactor;
  if (shape.length !== 3 || shape[0] !== model.config.in_channels || shape[1] % f || shape[2] % f) {
    throw new ShapeError(
      `the VAE encodes images [${model.config.in_channels}, H, W] with H, W divisible by ${f}; got [${shape.join(', ')}]`,
    );
  }
}

/** Posterior means z = μ(x) (unscaled) of images [N, ...imageShape], flat [N, ...latentShape]. */
export async function encodeImages(
  vae: VaeComponent,
  images: Float32Array,
  imageShape: readonly number[],
  options: LatentOptions = {},
): Promise<Float32Array> {
  checkImageShape(vae.model, imageShape);
  const latentShape = vae.model.latentShape(imageShape[1], imageShape[2]);
  const encode: Mapping = (params, x) => vae.model.encode(params, x).mean;
  return mapInChunks(vae, encode, images, imageShape, latentShape, options);
}

/** The image shape [out_channels, H, W] the decoder gives for latents [latent_channels, h, w]. */
export function decodedShape(model: AutoencoderKL, latentShape: readonly number[]): number[] {
  if (latentShape.length !== 3 || latentShape[0] !== model.config.latent_channels) {
    throw new ShapeError(
      `the VAE decodes latents [${model.config.latent_channels}, h, w]; got [${latentShape.join(', ')}]`,
      { hint: 'the unet of a latent pipeline must work on the VAE latent shape' },
    );
  }
  const f = model.downsamplingFactor;
  return [model.config.out_channels, latentShape[1] * f, latentShape[2] * f];
}

/** Images decoded from unscaled latents z [N, ...latentShape], flat [N, ...decodedShape]. */
export async function decodeLatents(
  vae: VaeComponent,
  latents: Float32Array,
  latentShape: readonly number[],
  options: LatentOptions = {},
): Promise<Float32Array> {
  const imageShape = decodedShape(vae.model, latentShape);
  const decode: Mapping = (params, z) => vae.model.decode(params, z);
  return mapInChunks(vae, decode, latents, latentShape, imageShape, options);
}

/** decode(μ(x)): the autoencoder's deterministic reconstruction of images [N, ...imageShape]. */
export async function reconstructImages(
  vae: VaeComponent,
  images: Float32Array,
  imageShape: readonly number[],
  options: LatentOptions = {},
): Promise<Float32Array> {
  const latents = await encodeImages(vae, images, imageShape, options);
  return decodeLatents(vae, latents, vae.model.latentShape(imageShape[1], imageShape[2]), options);
}

/** 1/std of unscaled latents (std about their mean over every element): diffusers' scaling_factor. */
export function scalingFactorOf(latents: Float32Array): number {
  let sum = 0;
  for (const v of latents) sum += v;
  const mean = sum / latents.length;
  let squares = 0;
  for (const v of latents) squares += (v - mean) ** 2;
  const std = Math.sqrt(squares / latents.length);
  if (!(std > 0) || !Number.isFinite(std))
    throw new ConfigError(`latents have standard deviation ${std}; cannot derive a scaling factor`);
  return 1 / std;
}

/** (z − shift_factor)·scaling_factor in place, as `AutoencoderKL.scaleLatents` does on tensors. */
function scaleInPlace(model: AutoencoderKL, z: Float32Array): Float32Array {
  const { scaling_factor: scale, shift_factor: shift } = model.config;
  for (let i = 0; i < z.length; i++) z[i] = (z[i] - (shift ?? 0)) * scale;
  return z;
}

/** z = latents/scaling_factor + shift_factor, a new array. */
function unscaled(model: AutoencoderKL, latents: Float32Array): Float32Array {
  const { scaling_factor: scale, shift_factor: shift } = model.config;
  return latents.map((v) => v / scale + (shift ?? 0));
}

/** Every image of `dataset` encoded once, as scaled latents with the dataset's labels kept. */
export async function encodeDataset(
  vae: VaeComponent,
  dataset: Dataset,
  options: LatentOptions = {},
): Promise<TensorDataset> {
  checkImageShape(vae.model, dataset.shape);
  const all = dataset.batch(Int32Array.from({ length: dataset.size }, (_, i) => i));
  const latents = scaleInPlace(vae.model, await encodeImages(vae, all.x, dataset.shape, options));
  const shape = vae.model.latentShape(dataset.shape[1], dataset.shape[2]);
  return new TensorDataset({
    name: `${dataset.name}:latents`,
    shape,
    data: latents,
    ...(all.labels && dataset.numClasses
      ? { labels: all.labels, numClasses: dataset.numClasses, classNames: dataset.classNames }
      : {}),
    description: `VAE latents [${shape.join(', ')}] of ${dataset.description}, scaled by ${vae.model.config.scaling_factor}`,
  });
}

/** Images from scaled latents [N, ...latentShape] as a latent denoiser samples them. */
export async function decodeScaledLatents(
  vae: VaeComponent,
  latents: Float32Array,
  latentShape: readonly number[],
  options: LatentOptions = {},
): Promise<Float32Array> {
  return decodeLatents(vae, unscaled(vae.model, latents), latentShape, options);
}

/** Samples drawn by `generate` in latent space, then decoded: images [numSamples, ...decodedShape]. */
export async function generateLatent(
  options: GenerateOptions & { vae: VaeComponent },
): Promise<{ images: Float32Array; shape: number[] }> {
  const { vae, network } = options;
  const shape = decodedShape(vae.model, network.sampleShape);
  const latents = await generate(options);
  const runtime = options.runtime ? { runtime: options.runtime } : {};
  return { images: await decodeScaledLatents(vae, latents, network.sampleShape, runtime), shape };
}

/** A pipeline's samples as output: images decoded by its VAE when it has one, else unchanged. */
export async function pipelineOutput(
  samples: Float32Array,
  sampleShape: readonly number[],
  vae?: VaeComponent,
): Promise<{ samples: Float32Array; sampleShape: readonly number[] }> {
  if (!vae) return { samples, sampleShape };
  const images = await decodeScaledLatents(vae, samples, sampleShape);
  return { samples: images, sampleShape: decodedShape(vae.model, sampleShape) };
}

/**
 * A UNet2DModel config trimmed to the levels a latent side allows: every level but the last halves the
 * side, and the skip connections need each halving to be exact, so a side of 14 keeps 2 levels (14 → 7).
 */
export function fitUNetLevels(config: Record<string, unknown>, side: number): Record<string, unknown> {
  const widths = (config.block_out_channels as number[] | undefined) ?? [];
  if (widths.length === 0) return config;
  let levels = 1;
  while (levels < widths.length && side % 2 ** levels === 0) levels++;
  if (levels === widths.length) return config;
  const trim = (key: string) =>
    Array.isArray(config[key]) ? { [key]: (config[key] as unknown[]).slice(0, levels) } : {};
  const up = Array.isArray(config.up_block_types)
    ? { up_block_types: (config.up_block_types as unknown[]).slice(-levels) }
    : {};
  return { ...config, ...trim('block_out_channels'), ...trim('down_block_types'), ...up };
}

/** Writes `vae` as a diffusers AutoencoderKL folder (config.json + weights), replacing `dir` atomically. */
export function saveVaeFolder(dir: string, vae: VaeComponent): void {
  const config = {
    ...vae.model.config,
    _diffusers_version: vae.model.config._diffusers_version ?? DIFFUSERS_VERSION,
  };
  const configText = `${stringifyJson(config, { indent: 2, sortKeys: true })}\n`;
  const weights = weightsToBytes(vae.params);
  writeDirAtomic(dir, (temp) => {
    writeFileAtomic(join(temp, CONFIG_NAME), configText);
    writeFileAtomic(join(temp, WEIGHTS_NAME), weights);
  });
}

/** Reads a diffusers AutoencoderKL folder: a `vae/` of a pipeline or a folder `saveVaeFolder` wrote. */
export function loadVaeFolder(dir: string): VaeComponent {
  const configPath = join(dir, CONFIG_NAME);
  const weightsPath = join(dir, WEIGHTS_NAME);
  for (const path of [configPath, weightsPath]) {
    if (!existsSync(path)) {
      throw new NotFoundError(`VAE folder '${dir}' has no ${path.slice(dir.length + 1)}`, {
        hint: 'pass a folder written by `diffusion train-vae`, holding config.json and the safetensors weights',
      });
    }
  }
  const config = readJsonFile(configPath, 'VAE config');
  if (
    config === null ||
    typeof config !== 'object' ||
    Array.isArray(config) ||
    config._class_name !== 'AutoencoderKL'
  ) {
    throw new ConfigError(`'${configPath}' is not an AutoencoderKL config`, {
      hint: 'its _class_name must be AutoencoderKL',
    });
  }
  const model = new AutoencoderKL(config);
  return { model, params: loadWeights(weightsPath, model.paramTypes()) };
}

/** The same VAE with `scaling_factor` set (the weights are shared, not copied). */
export function withScalingFactor(vae: VaeComponent, scalingFactor: number): VaeComponent {
  return {
    model: new AutoencoderKL({ ...vae.model.config, scaling_factor: scalingFactor }),
    params: vae.params,
  };
}
