/**
 * Image models in the tab: a trained pipeline folder in diffusers' layout (model_index.json,
 * unet/config.json + diffusion_pytorch_model.safetensors, scheduler/scheduler_config.json) is picked
 * with the browser's folder picker, or fetched from the service that serves the page
 * (`GET /v1/models/files/<path>`), its network built through the models registry with the weights
 * checked against the config, and sampled with a chosen registry sampler, step count, class and
 * classifier-free guidance scale (src/pipelines/generate.ts). The grid shows the model's running x₀
 * estimate after every step, a trajectory strip keeps x_t and x̂₀ every few steps, then the final
 * samples show. An image and a drawn mask are inpainted with the library's pipeline
 * (src/pipelines/inpaint.ts: replacement or RePaint) on the same compiled network.
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
import { randomNoiseSource } from '../../src/diffusion/samplers/common.js';
import { compiledDenoiser, guidedModel } from '../../src/pipelines/generate.js';
import { editPredictionType, type EditScheduleConfig } from '../../src/pipelines/img2img.js';
import { inpaint, type InpaintMethod } from '../../src/pipelines/inpaint.js';
import { ConfigError, FormatError, NotFoundError, UnavailableError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { drawImage } from './plot.js';
import { toRgba } from './images.js';
import type { EditorImage } from './mask-editor.js';
import { pipelineMask } from './mask-editor.js';
import { TrajectoryStrip } from './trajectory.js';

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
  /** 1-based steps of the trajectory strip's frames. */
  trajectorySteps: number[];
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

async function jsonObject(file: Blob, what: string): Promise<Record<string, unknown>> {
  const value = parseJson(await file.text(), what);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FormatError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** Reads one file of a pipeline folder by its path below the folder. */
type FolderReader = (path: string) => Promise<Blob>;

/** Builds the model from a pipeline folder's files, whoever hands them out. */
async function loadPipelineFrom(name: string, read: FolderReader): Promise<LoadedModel> {
  const index = await jsonObject(await read('model_index.json'), 'model_index.json');
  if (!Array.isArray(index.unet)) throw new FormatError('model_index.json lists no unet component');
  if (index.vae !== undefined)
    throw new ConfigError(`${name} is a latent pipeline; the playground samples pixel-space models`);
  const config = await jsonObject(await read('unet/config.json'), 'unet/config.json');
  const network = buildNetwork(config);
  const bytes = new Uint8Array(await (await read('unet/diffusion_pytorch_model.safetensors')).arrayBuffer());
  const params = weightsFromBytes(bytes, network.paramTypes());
  const schedulerConfig = parseSchedulerConfig(
    await (await read('scheduler/scheduler_config.json')).text(),
    'scheduler_config.json',
  );
  const numClasses = network.numClassEmbeds === null ? 0 : network.numClassEmbeds - 1;
  return { name, network, params, schedulerConfig, numClasses };
}

/** Loads a pipeline folder from the files of a folder picker. */
export async function loadPickedPipeline(files: readonly File[]): Promise<LoadedModel> {
  if (files.length === 0) throw new NotFoundError('no folder was chosen');
  const name = (files[0].webkitRelativePath || files[0].name).split('/')[0];
  return loadPipelineFrom(name, async (path) => pickedFile(files, path));
}

/** Loads the model of the service at `origin` (the page's own server) through `/v1/models/files`. */
export async function loadServedPipeline(origin: string): Promise<LoadedModel> {
  const url = (path: string) => new URL(`/v1/models/files/${path}`, origin).href;
  const read = async (path: string) => {
    const response = await fetch(url(path));
    if (!response.ok) {
      throw new UnavailableError(`the page's server answered ${response.status} for the model's ${path}`, {
        hint: 'serve the playground with `diffusion serve --model DIR --static web/dist`',
      });
    }
    return response.blob();
  };
  return loadPipelineFrom('served model', read);
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

/** Samples `request` from a loaded model, drawing the x₀ estimate and the trajectory strip as it goes. */
export async function sampleImages(
  model: LoadedModel,
  request: ImageRequest,
  runtime: Runtime,
  canvases: { grid: HTMLCanvasElement; trajectory: HTMLCanvasElement },
  onStep: (step: number, strip: TrajectoryStrip) => void,
): Promise<{ samples: Float32Array; shape: [number, number, number] }> {
  const shape = imageShape(model.network);
  const canvas = canvases.grid;
  const strip = new TrajectoryStrip(canvases.trajectory, shape);
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
      strip.observe(info);
      onStep(info.step + 1, strip);
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  });
  drawGrid(canvas, samples, shape);
  return { samples, shape };
}

export interface InpaintRequest {
  /** The image to complete, [C, H, W] in [−1, 1] at the model's size. */
  image: EditorImage;
  /** 1 = fill, 0 = keep; one byte per pixel. */
  fill: Uint8Array;
  method: InpaintMethod;
  steps: number;
  /** A class in 0..numClasses − 1, or null for an unconditional fill. */
  classLabel: number | null;
  guidance: number;
  seed: number;
}

/**
 * The model's scheduler config as the editing pipelines read it. The service checks the same fields
 * (pipelines/edit-inputs.ts); that module also reads mask pictures from files, so the tab does not load it.
 */
function editSchedule(model: LoadedModel): EditScheduleConfig {
  const fields = model.schedulerConfig as unknown as Partial<EditScheduleConfig>;
  for (const key of ['numTrainTimesteps', 'timestepSpacing', 'stepsOffset', 'betaSchedule'] as const) {
    if (fields[key] === undefined)
      throw new ConfigError(
        `${model.name}'s ${model.schedulerConfig.className} config has no ${key}; inpainting needs a DDPM/DDIM-style schedule`,
      );
  }
  editPredictionType(fields as EditScheduleConfig);
  return fields as EditScheduleConfig;
}

/** Inpaints the masked pixels of `request.image` with the library's pipeline; known pixels stay exact. */
export async function inpaintImage(
  model: LoadedModel,
  request: InpaintRequest,
  runtime: Runtime,
  onStep: (step: number, numSteps: number) => void,
): Promise<Float32Array> {
  const [channels, height, width] = imageShape(model.network);
  const { image } = request;
  if (image.channels !== channels || image.height !== height || image.width !== width)
    throw new ConfigError(
      `the image is ${image.channels}×${image.height}×${image.width}; ${model.name} takes ${channels}×${height}×${width}`,
    );
  if (request.classLabel !== null && model.numClasses === 0)
    throw new ConfigError(`${model.name} is unconditional; choose no class`);
  const config = editSchedule(model);
  const { denoise, dispose } = compiledDenoiser(
    { network: model.network, params: model.params, numSamples: 1 },
    runtime,
  );
  const labels = request.classLabel === null ? null : new BigInt64Array([BigInt(request.classLabel)]);
  const nullClass = (model.network.numClassEmbeds ?? 1) - 1;
  try {
    return await inpaint(
      {
        model: guidedModel(denoise, labels, labels === null ? 1 : request.guidance, nullClass),
        config,
        numInferenceSteps: request.steps,
        noiseSource: randomNoiseSource(new Random(request.seed)),
        callback: async (info) => {
          onStep(info.step + 1, info.numSteps);
          await new Promise((resolve) => setTimeout(resolve, 0));
        },
      },
      {
        image: { data: image.values, shape: [1, channels, height, width] },
        mask: pipelineMask(request.fill, channels, height, width),
        method: request.method,
      },
    );
  } finally {
    await dispose();
  }
}
