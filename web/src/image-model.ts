/**
 * Image models in the tab: a trained pipeline folder in diffusers' layout (model_index.json,
 * unet/config.json + diffusion_pytorch_model.safetensors, scheduler/scheduler_config.json) is picked
 * with the browser's folder picker, its network built through the models registry with the weights
 * checked against the config, and sampled with a chosen registry sampler, step count, class and
 * classifier-free guidance scale (src/pipelines/generate.ts). The grid shows the model's running x₀
 * estimate after every step, so the trajectory is visible, then the final samples.
 *
 * This module must not touch the DOM beyond the elements it is given.
 */
import { parseJson } from '../../src/io/json-text.js';
import { parseSchedulerConfig, type SchedulerConfig } from '../../src/diffusion/scheduler-config.js';
import type { Runtime } from '../../src/engine/index.js';
import { buildNetwork } from '../../src/models/registry.js';
import type { DenoiserNetwork, Params } from '../../src/models/types.js';
import { weightsFromBytes } from '../../src/models/weights-bytes.js';
import { generate } from '../../src/pipelines/generate.js';
import { ConfigError, FormatError, NotFoundError } from '../../src/util/errors.js';
import { drawImage } from './plot.js';
import { toRgba } from './images.js';

export interface LoadedModel {
  name: string;
  network: DenoiserNetwork;
  params: Params;
  schedulerConfig: SchedulerConfig;
  /** Real classes of a class-conditional model (the last class embedding is the null class); 0 otherwise. */
  numClasses: number;
}

export interface ImageRequest {
  sampler: string;
  steps: number;
  numSamples: number;
  /** A class in 0..numClasses − 1, or null for unconditional samples. */
  classLabel: number | null;
  guidance: number;
  seed: number;
}

/** What a sampling run produced; the page publishes it. */
export interface ImageReport {
  phase: 'idle' | 'loading' | 'loaded' | 'sampling' | 'done' | 'error';
  model: string | null;
  step: number;
  seconds: number;
  /** Final samples, [N, C, H, W] flat in [−1, 1]. */
  samples: number[];
  shape: number[];
  error?: string;
}

/** The file of a picked folder at `path` below its top folder, or a NotFoundError naming it. */
function pickedFile(files: readonly File[], path: string): File {
  const found = files.find((file) => {
    const relative = file.webkitRelativePath || file.name;
    return relative.split('/').slice(1).join('/') === path;
  });
  if (!found)
    throw new NotFoundError(`the chosen folder has no ${path}`, {
      hint: 'pick a pipeline folder that a training run saved',
    });
  return found;
}

async function jsonObject(file: File, what: string): Promise<Record<string, unknown>> {
  const value = parseJson(await file.text(), what);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FormatError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** Loads a pipeline folder from the files of a folder picker. */
export async function loadPickedPipeline(files: readonly File[]): Promise<LoadedModel> {
  if (files.length === 0) throw new NotFoundError('no folder was chosen');
  const name = (files[0].webkitRelativePath || files[0].name).split('/')[0];
  const index = await jsonObject(pickedFile(files, 'model_index.json'), 'model_index.json');
  if (!Array.isArray(index.unet)) throw new FormatError('model_index.json lists no unet component');
  const config = await jsonObject(pickedFile(files, 'unet/config.json'), 'unet/config.json');
  const network = buildNetwork(config);
  const bytes = new Uint8Array(
    await pickedFile(files, 'unet/diffusion_pytorch_model.safetensors').arrayBuffer(),
  );
  const params = weightsFromBytes(bytes, network.paramTypes());
  const schedulerConfig = parseSchedulerConfig(
    await pickedFile(files, 'scheduler/scheduler_config.json').text(),
    'scheduler_config.json',
  );
  const numClasses = network.numClassEmbeds === null ? 0 : network.numClassEmbeds - 1;
  return { name, network, params, schedulerConfig, numClasses };
}

/** [C, H, W] of an image model; a ConfigError for vector models (the 2-D playground takes those). */
function imageShape(network: DenoiserNetwork): [number, number, number] {
  const shape = network.sampleShape;
  if (shape.length !== 3)
    throw new ConfigError(`a ${network.className} does not make images; pick an image pipeline`);
  return [shape[0], shape[1], shape[2]];
}

/** Draws N images [N, C, H, W] in [−1, 1] side by side with a 2-pixel gap. */
export function drawGrid(
  canvas: HTMLCanvasElement,
  images: Float32Array,
  shape: readonly [number, number, number],
): void {
  const [channels, height, width] = shape;
  const count = images.length / (channels * height * width);
  const gap = 2;
  const total = count * width + (count - 1) * gap;
  const rgba = new Uint8ClampedArray(total * height * 4).fill(255);
  for (let n = 0; n < count; n++) {
    const one = toRgba(images.subarray(n * channels * height * width, (n + 1) * channels * height * width), {
      channels: channels === 1 ? 1 : 3,
      width,
      height,
    });
    for (let y = 0; y < height; y++) {
      rgba.set(one.subarray(y * width * 4, (y + 1) * width * 4), (y * total + n * (width + gap)) * 4);
    }
  }
  drawImage(canvas, rgba, total, height);
}

/** Samples `request` from a loaded model, drawing the x₀ estimate after each step. */
export async function sampleImages(
  model: LoadedModel,
  request: ImageRequest,
  runtime: Runtime,
  canvas: HTMLCanvasElement,
  onStep: (step: number) => void,
): Promise<{ samples: Float32Array; shape: [number, number, number] }> {
  const shape = imageShape(model.network);
  if (request.classLabel !== null && model.numClasses === 0)
    throw new ConfigError(`${model.name} is unconditional; choose no class`);
  const samples = await generate({
    network: model.network,
    params: model.params,
    schedulerConfig: model.schedulerConfig,
    sampler: request.sampler,
    numSteps: request.steps,
    numSamples: request.numSamples,
    seed: request.seed,
    guidance: request.classLabel === null ? 1 : request.guidance,
    runtime,
    ...(request.classLabel === null ? {} : { classLabels: request.classLabel }),
    callback: async (info) => {
      drawGrid(
        canvas,
        info.predictedOriginal.map((v) => Math.max(-1, Math.min(1, v))),
        shape,
      );
      onStep(info.step + 1);
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  });
  drawGrid(canvas, samples, shape);
  return { samples, shape };
}
