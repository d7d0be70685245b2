/**
 * A pipeline folder with a ControlNet: the base pipeline as `savePipeline` writes it, plus
 *
 *   controlnet/config.json                           the ControlNetModel config (base keys + conditioning)
 *   controlnet/diffusion_pytorch_model.safetensors   its weights
 *
 * and two model_index.json entries: `controlnet: ["diffusion_ts", "ControlNetModel"]` and
 * `controlnet_condition` (how the conditioning image is derived, e.g. "edges"). Such a folder still loads
 * as a plain pipeline (`loadPipeline` ignores the extra component); `loadControlNet` reads the rest.
 *
 * This module must not train, sample or compute edge maps; it only reads and writes folders.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, stringifyJson, type JsonValue } from '../io/json.js';
import { DIFFUSERS_VERSION } from '../diffusion/scheduler-config.js';
import { ConfigError, FormatError, NotFoundError } from '../util/errors.js';
import { CONTROLNET_CLASS, ControlNetModel } from './controlnet.js';
import {
  CONFIG_NAME,
  MODEL_INDEX,
  savePipeline,
  WEIGHTS_NAME,
  type PipelineToSave,
} from './pipeline-folder.js';
import type { Params } from './types.js';
import { loadWeights, weightsToBytes } from './weights.js';

export const CONTROLNET_DIR = 'controlnet';
/** The model_index.json key naming how the conditioning image is made from an image. */
export const CONDITION_KEY = 'controlnet_condition';

export interface ControlNetComponent {
  readonly model: ControlNetModel;
  readonly params: Params;
  /** How the conditioning image is derived from a picture (e.g. 'edges'). */
  readonly condition: string;
}

/** The ControlNet's files, keyed by path inside the pipeline folder. */
function controlNetFiles(component: ControlNetComponent): Record<string, string | Uint8Array> {
  const { model, params } = component;
  const types = model.paramTypes();
  const missing = Object.keys(types).find((name) => !params[name]);
  if (missing) throw new FormatError(`controlnet: parameter '${missing}' is missing from the params to save`);
  const extra = Object.keys(params).find((name) => !(name in types));
  if (extra) throw new FormatError(`controlnet: parameter '${extra}' does not belong to this ControlNet`);
  const config = { ...model.config, _class_name: CONTROLNET_CLASS, _diffusers_version: DIFFUSERS_VERSION };
  return {
    [join(CONTROLNET_DIR, CONFIG_NAME)]: `${stringifyJson(config as unknown as JsonValue, { indent: 2, sortKeys: true })}\n`,
    [join(CONTROLNET_DIR, WEIGHTS_NAME)]: weightsToBytes(params),
  };
}

/** Writes the base pipeline with its ControlNet as one folder, atomically. */
export function saveControlPipeline(dir: string, base: PipelineToSave, control: ControlNetComponent): void {
  savePipeline(dir, {
    ...base,
    extra: { ...(base.extra ?? {}), ...controlNetFiles(control) },
    indexEntries: {
      ...(base.indexEntries ?? {}),
      [CONTROLNET_DIR]: ['diffusion_ts', CONTROLNET_CLASS],
      [CONDITION_KEY]: control.condition,
    },
  });
}

/** The folder's ControlNet, or null when its model_index.json lists none. */
export function loadControlNet(dir: string): ControlNetComponent | null {
  const index = readJsonFile(join(dir, MODEL_INDEX), 'model index') as Record<string, JsonValue> | null;
  const entry = index?.[CONTROLNET_DIR];
  if (entry === undefined || entry === null) return null;
  if (!Array.isArray(entry) || entry[1] !== CONTROLNET_CLASS) {
    throw new ConfigError(`model index: controlnet ${JSON.stringify(entry)} is not supported`, {
      hint: `only ["diffusion_ts", "${CONTROLNET_CLASS}"] loads`,
    });
  }
  const condition = index?.[CONDITION_KEY];
  if (typeof condition !== 'string') {
    throw new FormatError(`model index: '${CONDITION_KEY}' must name how the condition is made (e.g. "edges")`);
  }
  const configPath = join(dir, CONTROLNET_DIR, CONFIG_NAME);
  const weightsPath = join(dir, CONTROLNET_DIR, WEIGHTS_NAME);
  for (const path of [configPath, weightsPath]) {
    if (!existsSync(path)) throw new NotFoundError(`pipeline folder has no ControlNet file '${path}'`);
  }
  const model = new ControlNetModel(readJsonFile(configPath, 'controlnet config'));
  return { model, params: loadWeights(weightsPath, model.paramTypes()), condition };
}
