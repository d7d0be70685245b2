/**
 * A saved pipeline in diffusers' folder layout, the public contract between this project and
 * diffusers (`DiffusionPipeline.from_pretrained(dir)` reads the same folder):
 *
 *   model_index.json                           {_class_name, _diffusers_version, unet, scheduler[, vae]}
 *   unet/config.json                           the denoiser's config (any registered network)
 *   unet/diffusion_pytorch_model.safetensors   its weights
 *   scheduler/scheduler_config.json
 *   vae/config.json, vae/diffusion_pytorch_model.safetensors   (optional AutoencoderKL)
 *
 * The denoiser is always the `unet` component, whatever its class. Components whose class diffusers
 * has with the same config (UNet2DModel, AutoencoderKL, the schedulers) are listed under the
 * library 'diffusers'; this project's own networks (MLPDenoiser, and UNet1DModel whose config
 * differs from diffusers') under 'diffusion_ts'. Extra files of this project (e.g. `training_state/`)
 * ride along; diffusers ignores them. A save replaces the whole folder atomically.
 *
 * This module must not train, sample or compile: it only reads and writes folders.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { readJsonFile } from '../io/json.js';
import { stringifyJson, type JsonValue } from '../io/json.js';
import { DIFFUSERS_VERSION, formatSchedulerConfig } from '../diffusion/scheduler-config.js';
import { readSchedulerConfig } from '../diffusion/scheduler-config-file.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import { ConfigError, FormatError, NotFoundError, UsageError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { AutoencoderKL } from './autoencoder-kl.js';
import { buildNetwork } from './registry.js';
import type { DenoiserNetwork, Params } from './types.js';
import { loadWeights, weightsToBytes } from './weights.js';

export const MODEL_INDEX = 'model_index.json';
export const CONFIG_NAME = 'config.json';
export const WEIGHTS_NAME = 'diffusion_pytorch_model.safetensors';
export const SCHEDULER_CONFIG_NAME = 'scheduler_config.json';

/** Network classes diffusers has with the same config; every other one is this project's own. */
const DIFFUSERS_CLASSES = new Set(['UNet2DModel', 'UNet2DConditionModel', 'AutoencoderKL']);
const OWN_LIBRARY = 'diffusion_ts';
const RESERVED = new Set(['unet', 'scheduler', 'vae', MODEL_INDEX]);

/** `model_index.json`: the pipeline class and one [library, class] pair per component. */
export interface ModelIndex {
  readonly _class_name: string;
  readonly _diffusers_version: string;
  readonly [component: string]: string | readonly [string, string] | JsonValue;
}

export interface VaeComponent {
  readonly model: AutoencoderKL;
  readonly params: Params;
}

export interface PipelineToSave {
  readonly network: DenoiserNetwork;
  readonly params: Params;
  readonly scheduler: SchedulerConfig;
  readonly vae?: VaeComponent;
  /** diffusers' pipeline class for model_index.json; 'DDPMPipeline' by default. */
  readonly pipelineClass?: string;
  /** Further files by path relative to the folder (e.g. `training_state/state.json`). */
  readonly extra?: Readonly<Record<string, string | Uint8Array>>;
  /** Further model_index.json entries (e.g. a `controlnet` component next to its files in `extra`). */
  readonly indexEntries?: Readonly<Record<string, JsonValue>>;
}

export interface LoadedPipeline {
  readonly network: DenoiserNetwork;
  readonly params: Params;
  readonly schedulerConfig: SchedulerConfig;
  readonly modelIndex: ModelIndex;
  readonly vae?: VaeComponent;
}

const libraryOf = (className: string): string =>
  DIFFUSERS_CLASSES.has(className) ? 'diffusers' : OWN_LIBRARY;

/** The model_index.json object for these components. */
export function modelIndexFor(pipeline: PipelineToSave): ModelIndex {
  const index: Record<string, JsonValue> = {
    _class_name: pipeline.pipelineClass ?? 'DDPMPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    unet: [libraryOf(pipeline.network.className), pipeline.network.className],
    scheduler: ['diffusers', pipeline.scheduler.className],
  };
  if (pipeline.vae) index.vae = ['diffusers', pipeline.vae.model.className];
  for (const [key, value] of Object.entries(pipeline.indexEntries ?? {}))
    if (!(key in index)) index[key] = value;
  return index as ModelIndex;
}

/** A component's config.json text: its config with `_class_name` and `_diffusers_version`. */
function configText(className: string, config: unknown): string {
  const fields = { ...(config as Record<string, unknown>) };
  const json = {
    ...fields,
    _class_name: className,
    _diffusers_version: fields._diffusers_version ?? DIFFUSERS_VERSION,
  };
  return `${stringifyJson(json, { indent: 2, sortKeys: true })}\n`;
}

/** A relative path inside the folder that names no diffusers component; UsageError otherwise. */
function checkedExtraPath(path: string): string {
  const clean = normalize(path);
  const top = clean.split(sep)[0];
  if (isAbsolute(path) || clean.startsWith('..') || clean === '.' || RESERVED.has(top)) {
    throw new UsageError(
      `pipeline extra file '${path}' must be a relative path outside unet/, scheduler/ and vae/`,
      {
        hint: 'put project files under their own folder, e.g. training_state/',
      },
    );
  }
  return clean;
}

/** Every file of the pipeline folder as [relative path, contents], serialised in memory. */
export function pipelineFiles(pipeline: PipelineToSave): [string, string | Uint8Array][] {
  const { network, params, scheduler, vae } = pipeline;
  const extras = Object.entries(pipeline.extra ?? {}).map(
    ([path, data]) => [checkedExtraPath(path), data] as [string, string | Uint8Array],
  );
  const files: [string, string | Uint8Array][] = [
    [MODEL_INDEX, `${stringifyJson(modelIndexFor(pipeline), { indent: 2, sortKeys: true })}\n`],
    [join('unet', CONFIG_NAME), configText(network.className, network.config)],
    [join('unet', WEIGHTS_NAME), weightsToBytes(checkedParams(network.paramTypes(), params, 'unet'))],
    [join('scheduler', SCHEDULER_CONFIG_NAME), formatSchedulerConfig(scheduler)],
    ...extras,
  ];
  if (vae) {
    files.push(
      [join('vae', CONFIG_NAME), configText(vae.model.className, vae.model.config)],
      [join('vae', WEIGHTS_NAME), weightsToBytes(checkedParams(vae.model.paramTypes(), vae.params, 'vae'))],
    );
  }
  return files;
}

/** Writes the pipeline folder at `dir`, replacing any folder there as one atomic step. */
export function savePipeline(dir: string, pipeline: PipelineToSave): void {
  // Serialise before touching the disk: a bad tensor fails here and nothing is written.
  const files = pipelineFiles(pipeline);
  writeDirAtomic(dir, (temp) => {
    for (const [path, data] of files) writeFileAtomic(join(temp, path), data);
  });
}

/** The params, checked to be exactly the component's parameters (names and shapes). */
function checkedParams(
  types: Readonly<Record<string, { shape: readonly number[] }>>,
  params: Params,
  component: string,
): Params {
  for (const [name, type] of Object.entries(types)) {
    const p = params[name];
    if (!p) throw new FormatError(`${component}: parameter '${name}' is missing from the params to save`);
    if (p.shape.length !== type.shape.length || p.shape.some((d, i) => d !== type.shape[i])) {
      throw new FormatError(
        `${component}: parameter '${name}' has shape [${p.shape.join(', ')}], the config needs [${type.shape.join(', ')}]`,
      );
    }
  }
  const unexpected = Object.keys(params).find((name) => !(name in types));
  if (unexpected)
    throw new FormatError(`${component}: parameter '${unexpected}' does not belong to this network`);
  return params;
}

function requireFile(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new NotFoundError(`pipeline folder has no ${what} '${path}'`, {
      hint: 'a pipeline folder holds model_index.json, unet/ and scheduler/ (save one with savePipeline)',
    });
  }
  return path;
}

/** A [library, class] pair of model_index.json. */
function componentClass(index: Record<string, JsonValue>, name: string, source: string): string | null {
  const entry = index[name];
  if (entry === undefined || entry === null) return null;
  if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[1] !== 'string') {
    throw new FormatError(
      `${source}: '${name}' must be a [library, class] pair, got ${JSON.stringify(entry)}`,
    );
  }
  return entry[1];
}

function readModelIndex(dir: string): ModelIndex {
  const path = requireFile(join(dir, MODEL_INDEX), MODEL_INDEX);
  const value = readJsonFile(path, 'model index');
  if (
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    typeof value._class_name !== 'string'
  ) {
    throw new FormatError(`model index '${path}' must be a JSON object with a _class_name`);
  }
  return value as unknown as ModelIndex;
}

/** A component's config.json as an object whose class agrees with model_index.json. */
function readComponentConfig(
  dir: string,
  component: string,
  indexClass: string | null,
): Record<string, unknown> {
  const path = requireFile(join(dir, component, CONFIG_NAME), `${component} config`);
  const config = readJsonFile(path, `${component} config`);
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new FormatError(`${component} config '${path}' must be a JSON object`);
  }
  if (indexClass !== null && config._class_name !== indexClass) {
    throw new ConfigError(
      `${component} config '${path}' is a ${String(config._class_name)}, but model_index.json says ${indexClass}`,
      { hint: 'save the folder again, or fix the class in model_index.json' },
    );
  }
  return config;
}

/**
 * Reads a pipeline folder: the network (built by `_class_name` through the models registry) with its
 * weights checked against its config, the scheduler config, the model index, and the VAE when listed.
 */
export function loadPipeline(dir: string): LoadedPipeline {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError(`pipeline folder '${dir}' does not exist`, {
      hint: 'pass the folder a training run or savePipeline wrote',
    });
  }
  const modelIndex = readModelIndex(dir);
  const source = join(dir, MODEL_INDEX);
  const index = modelIndex as unknown as Record<string, JsonValue>;
  const unetClass = componentClass(index, 'unet', source);
  if (unetClass === null) throw new FormatError(`${source} lists no 'unet' component`);
  const network = buildNetwork(readComponentConfig(dir, 'unet', unetClass));
  const params = loadWeights(
    requireFile(join(dir, 'unet', WEIGHTS_NAME), 'unet weights'),
    network.paramTypes(),
  );
  const schedulerConfig = readSchedulerConfig(
    requireFile(join(dir, 'scheduler', SCHEDULER_CONFIG_NAME), 'scheduler config'),
  );
  const vaeClass = componentClass(index, 'vae', source);
  return {
    network,
    params,
    schedulerConfig,
    modelIndex,
    ...(vaeClass ? { vae: loadVae(dir, vaeClass) } : {}),
  };
}

function loadVae(dir: string, className: string): VaeComponent {
  if (className !== 'AutoencoderKL') {
    throw new ConfigError(`vae class '${className}' is not supported`, {
      hint: 'only AutoencoderKL VAEs load',
    });
  }
  const model = new AutoencoderKL(readComponentConfig(dir, 'vae', className));
  const params = loadWeights(requireFile(join(dir, 'vae', WEIGHTS_NAME), 'vae weights'), model.paramTypes());
  return { model, params };
}
