/**
 * unCLIP model folders: the three trained parts of a DALL·E-2-style model side by side, each in its
 * own layout, with a `model_index.json` naming them:
 *
 * ```
 * model_index.json   {"_class_name": "UnCLIPPipeline", "clip": ["diffusion_ts", "ContrastiveModel"],
 *                     "prior": ["diffusion_ts", "EmbeddingPrior"], "decoder": ["diffusers", "UNet2DConditionModel"]}
 * clip/              config.json, model.safetensors, tokenizer/        (the contrastive text–image encoder)
 * prior/             a pipeline folder: unet/ (the EmbeddingPrior), scheduler/, model_index.json
 * decoder/           a pipeline folder: unet/ (UNet2DConditionModel, class_embed_type 'projection'), scheduler/
 * ```
 *
 * The whole folder is written as one atomic step. This module must not train or sample.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import { readJsonFile } from '../io/json.js';
import { FormatError, NotFoundError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { loadContrastiveModel, saveContrastiveModel, type LoadedContrastive } from './contrastive.js';
import { EmbeddingPrior } from './embedding-prior.js';
import { loadPipeline, savePipeline } from './pipeline-folder.js';
import type { Params } from './types.js';
import { UNet2DConditionModel } from './unet2d-condition.js';

export const UNCLIP_PIPELINE_CLASS = 'UnCLIPPipeline';

export interface UnclipPart<Network> {
  readonly network: Network;
  readonly params: Params;
  readonly schedulerConfig: SchedulerConfig;
}

export interface UnclipComponents {
  readonly clip: LoadedContrastive;
  readonly prior: UnclipPart<EmbeddingPrior>;
  readonly decoder: UnclipPart<UNet2DConditionModel>;
}

/** Writes the folder (see the module header) at `dir`, replacing it as one atomic step. */
export function saveUnclip(dir: string, components: UnclipComponents, extra: Readonly<Record<string, string>> = {}): void {
  writeDirAtomic(dir, (temp) => {
    saveContrastiveModel(join(temp, 'clip'), components.clip);
    for (const part of ['prior', 'decoder'] as const) {
      const { network, params, schedulerConfig } = components[part];
      savePipeline(join(temp, part), { network, params, scheduler: schedulerConfig });
    }
    const index = {
      _class_name: UNCLIP_PIPELINE_CLASS,
      clip: ['diffusion_ts', 'ContrastiveModel'],
      prior: ['diffusion_ts', 'EmbeddingPrior'],
      decoder: ['diffusers', 'UNet2DConditionModel'],
    };
    writeFileAtomic(join(temp, 'model_index.json'), `${JSON.stringify(index, null, 2)}\n`);
    for (const [path, text] of Object.entries(extra)) writeFileAtomic(join(temp, path), text);
  });
}

/** Whether `dir` holds an unCLIP folder (its model_index.json names UnCLIPPipeline). */
export function isUnclipFolder(dir: string): boolean {
  const index = join(dir, 'model_index.json');
  if (!existsSync(index)) return false;
  const parsed = readJsonFile(index, 'model_index.json') as { _class_name?: unknown };
  return parsed._class_name === UNCLIP_PIPELINE_CLASS;
}

/** The three parts of the folder at `dir`, each checked to be the network it must be. */
export function loadUnclip(dir: string): UnclipComponents {
  if (!existsSync(join(dir, 'model_index.json'))) {
    throw new NotFoundError(`'${dir}' is not a model folder: model_index.json is missing`);
  }
  if (!isUnclipFolder(dir)) {
    throw new FormatError(`'${dir}' is not an unCLIP folder: its model_index.json does not name ${UNCLIP_PIPELINE_CLASS}`, {
      hint: 'train one with scripts/unclip-mnist.ts or `diffusion train-unclip`',
    });
  }
  const prior = loadPipeline(join(dir, 'prior'));
  const decoder = loadPipeline(join(dir, 'decoder'));
  if (!(prior.network instanceof EmbeddingPrior)) {
    throw new FormatError(`${join(dir, 'prior')} holds a ${prior.network.className}, not an EmbeddingPrior`);
  }
  if (!(decoder.network instanceof UNet2DConditionModel) || decoder.network.config.class_embed_type !== 'projection') {
    throw new FormatError(
      `${join(dir, 'decoder')} must hold a UNet2DConditionModel with class_embed_type 'projection', found ${decoder.network.className}`,
    );
  }
  const clip = loadContrastiveModel(join(dir, 'clip'));
  const width = clip.model.embedDim;
  if (prior.network.config.embedding_dim !== width || prior.network.config.condition_dim !== width) {
    throw new FormatError(`the prior maps ${prior.network.config.condition_dim} → ${prior.network.config.embedding_dim}, the encoder embeds into ${width}`);
  }
  if (decoder.network.classEmbedsWidth !== width) {
    throw new FormatError(`the decoder takes embeddings of width ${decoder.network.classEmbedsWidth}, the encoder embeds into ${width}`);
  }
  return {
    clip,
    prior: { network: prior.network, params: prior.params, schedulerConfig: prior.schedulerConfig },
    decoder: { network: decoder.network, params: decoder.params, schedulerConfig: decoder.schedulerConfig },
  };
}
