/**
 * Text-to-image pipeline folders in diffusers' Stable Diffusion layout, read and written:
 *
 *   model_index.json       {_class_name, unet: ["diffusers", "UNet2DConditionModel"],
 *                           text_encoder: ["transformers", "CLIPTextModel"],
 *                           tokenizer: ["transformers", "CLIPTokenizer"], scheduler, [vae]}
 *   unet/                  config.json + diffusion_pytorch_model[.fp16].safetensors
 *   text_encoder/          config.json + model[.fp16].safetensors (transformers' CLIPTextModel)
 *   tokenizer/             vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json
 *   scheduler/             scheduler_config.json
 *   vae/                   config.json + diffusion_pytorch_model[.fp16].safetensors (latent models)
 *
 * A folder a user downloaded from the Hugging Face Hub (Stable Diffusion 1.x/2.x) loads unchanged:
 * float16 weights are upcast per tensor, the `fp16` variant file is taken when it is the only one, and
 * components this project does not run (`safety_checker`, `feature_extractor`) are ignored. PyTorch
 * `.bin` pickles are refused with a FormatError naming the file. A pixel-space model (no vae) is
 * written with the pipeline class `TextToImagePipeline` (diffusers has no pixel-space CLIP pipeline); a
 * latent one as `StableDiffusionPipeline` with the safety checker marked absent, as diffusers saves
 * `StableDiffusionPipeline(..., safety_checker=None)`.
 *
 * This module must not sample, train or tokenize text; it only maps folders to components and back.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSchedulerConfig } from '../diffusion/scheduler-config-file.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import { readJsonFile, type JsonValue } from '../io/json.js';
import { loadClipTokenizer, writeClipTokenizerFiles, type ClipTokenizer } from '../text/index.js';
import { ConfigError, FormatError, NotFoundError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { AutoencoderKL } from './autoencoder-kl.js';
import { CLIPTextModel, loadClipTextModel, writeClipTextFiles } from './clip-text.js';
import {
  CONFIG_NAME,
  MODEL_INDEX,
  pipelineFiles,
  SCHEDULER_CONFIG_NAME,
  type ModelIndex,
  type VaeComponent,
} from './pipeline-folder.js';
import { buildNetwork } from './registry.js';
import type { Params } from './types.js';
import { UNet2DConditionModel } from './unet2d-condition.js';
import { loadWeights } from './weights.js';

/** The components of a text-to-image pipeline with their weights. */
export interface TextToImageComponents {
  readonly unet: UNet2DConditionModel;
  readonly unetParams: Params;
  readonly textEncoder: CLIPTextModel;
  readonly textEncoderParams: Params;
  readonly tokenizer: ClipTokenizer;
  readonly schedulerConfig: SchedulerConfig;
  /** The AutoencoderKL of a latent (Stable-Diffusion-style) model; absent in pixel space. */
  readonly vae?: VaeComponent;
}

export interface LoadedTextToImagePipeline extends TextToImageComponents {
  readonly modelIndex: ModelIndex;
}

export const PIXEL_PIPELINE_CLASS = 'TextToImagePipeline';
export const LATENT_PIPELINE_CLASS = 'StableDiffusionPipeline';

/** Every file of the folder as [relative path, contents] except the text encoder's and the tokenizer's. */
function diffusersFiles(components: TextToImageComponents, extra: Readonly<Record<string, string | Uint8Array>>) {
  const latent = components.vae !== undefined;
  const indexEntries: Record<string, JsonValue> = {
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    ...(latent ? { safety_checker: [null, null], feature_extractor: [null, null], requires_safety_checker: false } : {}),
  };
  return pipelineFiles({
    network: components.unet,
    params: components.unetParams,
    scheduler: components.schedulerConfig,
    ...(components.vae ? { vae: components.vae } : {}),
    pipelineClass: latent ? LATENT_PIPELINE_CLASS : PIXEL_PIPELINE_CLASS,
    indexEntries,
    extra,
  });
}

/**
 * Writes the folder (see the module header) at `dir`, replacing it as one atomic step; `extra` files
 * (relative paths, e.g. `training_summary.json`) ride along.
 */
export function saveTextToImagePipeline(
  dir: string,
  components: TextToImageComponents,
  extra: Readonly<Record<string, string | Uint8Array>> = {},
): void {
  // Serialise the diffusers components first: a bad tensor fails here and nothing is written.
  const files = diffusersFiles(components, extra);
  writeDirAtomic(dir, (temp) => {
    for (const [path, data] of files) writeFileAtomic(join(temp, path), data);
    writeClipTextFiles(join(temp, 'text_encoder'), components.textEncoder, components.textEncoderParams);
    writeClipTokenizerFiles(join(temp, 'tokenizer'), components.tokenizer);
  });
}

/** A [library, class] pair of model_index.json, or null when the component is absent or [null, null]. */
function componentClass(index: ModelIndex, name: string, source: string): string | null {
  const entry = (index as unknown as Record<string, JsonValue>)[name];
  if (entry === undefined || entry === null) return null;
  if (!Array.isArray(entry) || entry.length !== 2) {
    throw new FormatError(`${source}: '${name}' must be a [library, class] pair, got ${JSON.stringify(entry)}`);
  }
  return typeof entry[1] === 'string' ? entry[1] : null;
}

function requiredClass(index: ModelIndex, name: string, source: string, valid: readonly string[]): string {
  const className = componentClass(index, name, source);
  if (className === null) {
    throw new FormatError(`${source} lists no '${name}' component`, {
      hint: 'a text-to-image folder holds unet/, text_encoder/, tokenizer/ and scheduler/',
    });
  }
  if (!valid.includes(className)) {
    throw new ConfigError(`${source}: ${name} class '${className}' is not supported`, {
      hint: `supported: ${valid.join(', ')}`,
    });
  }
  return className;
}

function readModelIndex(dir: string): ModelIndex {
  const path = join(dir, MODEL_INDEX);
  if (!existsSync(path)) {
    throw new NotFoundError(`pipeline folder '${dir}' has no ${MODEL_INDEX}`, {
      hint: 'pass a diffusers text-to-image folder (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/)',
    });
  }
  const value = readJsonFile(path, 'model index');
  if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof value._class_name !== 'string') {
    throw new FormatError(`model index '${path}' must be a JSON object with a _class_name`);
  }
  return value as unknown as ModelIndex;
}

/**
 * The safetensors weights file of a component: `<stem>.<variant>.safetensors` when a variant is asked
 * for; else `<stem>.safetensors`, or the fp16 variant when it is the only one. A `.bin` pickle in its
 * place is a FormatError naming it.
 */
export function componentWeightsPath(dir: string, stem: string, variant?: string): string {
  const names = variant ? [`${stem}.${variant}.safetensors`] : [`${stem}.safetensors`, `${stem}.fp16.safetensors`];
  const found = names.map((name) => join(dir, name)).find((path) => existsSync(path));
  if (found) return found;
  const pickle = join(dir, variant ? `${stem}.${variant}.bin` : `${stem}.bin`);
  if (existsSync(pickle)) {
    throw new FormatError(`'${pickle}' is a PyTorch pickle, which is not read (it can run code when loaded)`, {
      hint: `download or convert the safetensors weights (${names[0]}), e.g. from_pretrained(..., use_safetensors=True).save_pretrained(dir)`,
    });
  }
  throw new NotFoundError(`weights '${join(dir, names[0])}' do not exist`, {
    hint: variant ? `leave out the variant '${variant}' or download that variant` : 'the folder is incomplete; download it again',
  });
}

/** A component's config.json as an object. */
function componentConfig(dir: string, component: string): Record<string, unknown> {
  const path = join(dir, component, CONFIG_NAME);
  if (!existsSync(path)) throw new NotFoundError(`pipeline folder has no ${component} config '${path}'`);
  const config = readJsonFile(path, `${component} config`);
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new FormatError(`${component} config '${path}' must be a JSON object`);
  }
  return config;
}

function loadUnet(dir: string, variant?: string): { unet: UNet2DConditionModel; unetParams: Params } {
  const config = componentConfig(dir, 'unet');
  const network = buildNetwork({ _class_name: 'UNet2DConditionModel', ...config });
  if (!(network instanceof UNet2DConditionModel)) {
    throw new ConfigError(`unet config in '${dir}' is a ${network.className}, not a UNet2DConditionModel`);
  }
  const path = componentWeightsPath(join(dir, 'unet'), 'diffusion_pytorch_model', variant);
  return { unet: network, unetParams: loadWeights(path, network.paramTypes()) };
}

function loadVae(dir: string, variant?: string): VaeComponent {
  const model = new AutoencoderKL(componentConfig(dir, 'vae'));
  const path = componentWeightsPath(join(dir, 'vae'), 'diffusion_pytorch_model', variant);
  return { model, params: loadWeights(path, model.paramTypes()) };
}

function loadTextEncoder(dir: string, variant?: string): { textEncoder: CLIPTextModel; textEncoderParams: Params } {
  const folder = join(dir, 'text_encoder');
  const path = componentWeightsPath(folder, 'model', variant);
  const found = path.endsWith('.fp16.safetensors') && !variant ? 'fp16' : variant;
  const { model, params } = loadClipTextModel(folder, found);
  return { textEncoder: model, textEncoderParams: params };
}

export interface LoadTextToImageOptions {
  /** Weights variant, e.g. 'fp16' for `*.fp16.safetensors` (default: the plain files, else fp16). */
  readonly variant?: string;
}

/** Reads a text-to-image folder (see the module header) with every component's weights. */
export function loadTextToImagePipeline(dir: string, options: LoadTextToImageOptions = {}): LoadedTextToImagePipeline {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError(`pipeline folder '${dir}' does not exist`, {
      hint: 'pass a folder `diffusion train --data mnist-captions` wrote, or a downloaded Stable Diffusion folder',
    });
  }
  const modelIndex = readModelIndex(dir);
  const source = join(dir, MODEL_INDEX);
  requiredClass(modelIndex, 'unet', source, ['UNet2DConditionModel']);
  requiredClass(modelIndex, 'text_encoder', source, ['CLIPTextModel']);
  requiredClass(modelIndex, 'tokenizer', source, ['CLIPTokenizer', 'CLIPTokenizerFast']);
  if (componentClass(modelIndex, 'scheduler', source) === null) throw new FormatError(`${source} lists no 'scheduler' component`);
  const vaeClass = componentClass(modelIndex, 'vae', source);
  if (vaeClass !== null && vaeClass !== 'AutoencoderKL') {
    throw new ConfigError(`${source}: vae class '${vaeClass}' is not supported`, { hint: 'only AutoencoderKL VAEs load' });
  }
  const schedulerPath = join(dir, 'scheduler', SCHEDULER_CONFIG_NAME);
  if (!existsSync(schedulerPath)) throw new NotFoundError(`pipeline folder has no scheduler config '${schedulerPath}'`);
  return {
    modelIndex,
    ...loadUnet(dir, options.variant),
    ...loadTextEncoder(dir, options.variant),
    tokenizer: loadClipTokenizer(join(dir, 'tokenizer')),
    schedulerConfig: readSchedulerConfig(schedulerPath),
    ...(vaeClass ? { vae: loadVae(dir, options.variant) } : {}),
  };
}
