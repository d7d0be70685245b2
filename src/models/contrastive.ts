/**
 * A small contrastive text–image encoder in the manner of CLIP (Radford et al. 2021): a text tower
 * (this project's `CLIPTextModel` with a bias-free `text_projection`) and an image tower (a small
 * conv net: conv3×3, then one stride-2 conv3×3 per further width, each after GroupNorm and SiLU, a
 * global mean over H×W and a bias-free `visual_projection`) map captions and images into one
 * L2-normalised embedding space of width `embed_dim`, trained with CLIP's symmetric cross-entropy
 * (`contrastiveLoss`, Fig. 3 of the paper). It is the embedding space an unCLIP prior and decoder work
 * in. A model folder holds config.json (`_class_name: "ContrastiveModel"`), model.safetensors (names
 * `text_model.*`, `text_projection.weight`, `vision_model.*`, `visual_projection.weight`,
 * `logit_scale`) and the tokenizer under `tokenizer/`; `embedImages` / `embedTexts` embed host data
 * with the weights frozen into one compiled graph.
 *
 * This module must not train or know diffusion; it defines the towers, the loss and the folder.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import {
  add,
  constant,
  div,
  exp,
  logSoftmax,
  matmul,
  matrixTranspose,
  mean,
  minimum,
  mul,
  OrtNodeRuntime,
  silu,
  sqrt,
  sum,
  type HostTensor,
  type Runtime,
} from '../engine/index.js';
import { readJsonFile, writeJsonFile } from '../io/json.js';
import type { Layer, ParamSpecs } from '../nn/index.js';
import { conv2d, groupNorm, initParams, linear, mergeSpecs, param, paramTypesOf } from '../nn/index.js';
import { loadClipTokenizer, writeClipTokenizerFiles, type ClipTokenizer } from '../text/index.js';
import { ConfigError, FormatError, NotFoundError, ShapeError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import type { Random } from '../util/random.js';
import { CLIPTextModel, clipTextConfig, clipTextConfigJson } from './clip-text.js';
import { parseModelConfig, positiveInt } from './config.js';
import type { Params, ParamTensors } from './types.js';
import { loadWeights, weightsToBytes } from './weights.js';

export const CONTRASTIVE_CLASS_NAME = 'ContrastiveModel';

/** ln(1/0.07): CLIP's initial temperature (Radford et al. 2021, §2.5). */
export const CLIP_LOGIT_SCALE_INIT = 2.6592;
/** CLIP clips the learnt logit scale at 100, i.e. its exponent at ln 100. */
export const MAX_LOGIT_SCALE_EXPONENT = Math.log(100);

const contrastiveConfigSchema = z
  .object({
    _class_name: z.literal('ContrastiveModel').optional(),
    /** Width D of the shared embedding space. */
    embed_dim: positiveInt.default(32),
    image_channels: positiveInt.default(1),
    image_size: positiveInt.default(28),
    /** Widths of the image tower; every width after the first halves the resolution. */
    vision_channels: z.array(positiveInt).min(1).default([16, 32, 64]),
    /** GroupNorm groups before each SiLU of the image tower; 0 leaves the norms out. */
    norm_num_groups: z.number().int().min(0).default(8),
    /** CLIPTextModel config keys; `architectures` and `projection_dim` are set from embed_dim. */
    text: z.record(z.string(), z.unknown()).default({}),
    /** Initial value of the `logit_scale` parameter (the logits are scaled by its exponential). */
    logit_scale_init_value: z.number().default(CLIP_LOGIT_SCALE_INIT),
  })
  .strict();

export type ContrastiveConfigInput = z.input<typeof contrastiveConfigSchema>;
export type ContrastiveConfig = Omit<z.output<typeof contrastiveConfigSchema>, 'text'> & {
  _class_name: typeof CONTRASTIVE_CLASS_NAME;
  /** The text tower's full config as transformers writes it. */
  text: Record<string, unknown>;
};

/** The text tower's config: the given keys plus the projection into the shared space. */
function textTowerConfig(text: Record<string, unknown>, embedDim: number): CLIPTextModel {
  if (text.projection_dim !== undefined && text.projection_dim !== embedDim) {
    throw new ConfigError(
      `${CONTRASTIVE_CLASS_NAME} config: 'text.projection_dim' ${String(text.projection_dim)} differs from embed_dim ${embedDim}`,
      { hint: 'leave text.projection_dim out; it is set to embed_dim' },
    );
  }
  try {
    clipTextConfig({ ...text, architectures: ['CLIPTextModelWithProjection'], projection_dim: embedDim });
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(`${CONTRASTIVE_CLASS_NAME} config: 'text': ${error.message}`, {
        hint: 'check the text keys of the ContrastiveModel config.json',
        cause: error,
      });
    }
    throw error;
  }
  return new CLIPTextModel({ ...text, architectures: ['CLIPTextModelWithProjection'], projection_dim: embedDim });
}

/** A validated config; ConfigError names the key. */
export function contrastiveConfig(input: ContrastiveConfigInput | Record<string, unknown> = {}): ContrastiveConfig {
  const parsed = parseModelConfig(contrastiveConfigSchema, input, CONTRASTIVE_CLASS_NAME);
  const { _class_name: _unused, ...keys } = parsed;
  const groups = keys.norm_num_groups;
  const bad = keys.vision_channels.find((c) => groups > 0 && c % groups !== 0);
  if (bad !== undefined) {
    throw new ConfigError(
      `${CONTRASTIVE_CLASS_NAME} config: 'norm_num_groups' ${groups} does not divide vision channel count ${bad}`,
      { hint: 'choose norm_num_groups dividing every vision_channels entry, or 0 for no norms' },
    );
  }
  const text = clipTextConfigJson(textTowerConfig(keys.text, keys.embed_dim).config);
  return {
    _class_name: CONTRASTIVE_CLASS_NAME,
    embed_dim: keys.embed_dim,
    image_channels: keys.image_channels,
    image_size: keys.image_size,
    vision_channels: [...keys.vision_channels],
    norm_num_groups: keys.norm_num_groups,
    text,
    logit_scale_init_value: keys.logit_scale_init_value,
  };
}

/** x / ‖x‖₂ along the last axis of [B, D] (ε under the root keeps the gradient finite at 0). */
function l2Normalize(x: Tensor): Tensor {
  return div(x, sqrt(add(sum(mul(x, x), [1], true), 1e-12)));
}

interface VisionStage {
  readonly norm: Layer | null;
  readonly conv: Layer;
}

export class ContrastiveModel {
  readonly className = CONTRASTIVE_CLASS_NAME;
  readonly config: ContrastiveConfig;
  readonly embedDim: number;
  readonly textModel: CLIPTextModel;
  private readonly convIn: Layer;
  private readonly stages: readonly VisionStage[];
  private readonly normOut: Layer | null;
  private readonly projection: Layer;
  private readonly visionSpecs: ParamSpecs;

  constructor(config: ContrastiveConfigInput | Record<string, unknown> = {}) {
    this.config = contrastiveConfig(config);
    const { embed_dim: d, image_channels: c, vision_channels: widths, norm_num_groups: groups } = this.config;
    this.embedDim = d;
    this.textModel = textTowerConfig(this.config.text, d);
    const norm = (prefix: string, channels: number) => (groups > 0 ? groupNorm(prefix, groups, channels) : null);
    this.convIn = conv2d('vision_model.conv_in', c, widths[0], { kernelSize: 3, padding: 1 });
    this.stages = widths.slice(1).map((width, i) => ({
      norm: norm(`vision_model.blocks.${i}.norm`, widths[i]),
      conv: conv2d(`vision_model.blocks.${i}.conv`, widths[i], width, { kernelSize: 3, stride: 2, padding: 1 }),
    }));
    const last = widths[widths.length - 1];
    this.normOut = norm('vision_model.norm_out', last);
    this.projection = linear('visual_projection', last, d, false);
    this.visionSpecs = mergeSpecs(
      this.convIn.specs,
      ...this.stages.map((s) => mergeSpecs(s.norm?.specs ?? {}, s.conv.specs)),
      this.normOut?.specs ?? {},
      this.projection.specs,
      { logit_scale: { shape: [], init: { kind: 'constant', value: this.config.logit_scale_init_value } } },
    );
  }

  /** float32 types of every parameter of both towers and `logit_scale`, keyed by name. */
  paramTypes(): Record<string, TensorType> {
    return { ...this.textModel.paramTypes(), ...paramTypesOf(this.visionSpecs) };
  }

  /** The text tower with transformers' CLIP init, the image tower with PyTorch's, logit_scale its init value. */
  init(random: Random): Params {
    return { ...this.textModel.init(random), ...initParams(this.visionSpecs, random) };
  }

  /** Unit-norm image embeddings [B, D] of images [B, C, H, W] (H = W = image_size). */
  encodeImages(params: ParamTensors, images: Tensor): Tensor {
    const { image_channels: c, image_size: s } = this.config;
    if (images.rank !== 4 || images.shape[1] !== c || images.shape[2] !== s || images.shape[3] !== s) {
      throw new ShapeError(
        `${CONTRASTIVE_CLASS_NAME}: images must be [batch, ${c}, ${s}, ${s}], got [${images.shape.join(', ')}]`,
      );
    }
    let h = this.convIn.apply(params, images);
    for (const stage of this.stages) {
      h = stage.conv.apply(params, silu(stage.norm ? stage.norm.apply(params, h) : h));
    }
    h = silu(this.normOut ? this.normOut.apply(params, h) : h);
    return l2Normalize(this.projection.apply(params, mean(h, [2, 3])));
  }

  /** Unit-norm text embeddings [B, D] of int64 token ids [B, S] (S ≤ the text tower's max positions). */
  encodeText(params: ParamTensors, inputIds: Tensor): Tensor {
    // No attention mask is needed: the causal mask keeps padding after EOS from reaching the pooled token.
    return l2Normalize(this.textModel.encode(params, inputIds).textEmbeds!);
  }

  /** exp(min(logit_scale, ln 100)): the clipped inverse temperature. */
  logitScale(params: ParamTensors): Tensor {
    return exp(minimum(param(params, 'logit_scale'), MAX_LOGIT_SCALE_EXPONENT));
  }
}

/** A [B, B] identity matrix. */
function identity(graph: Tensor['graph'], b: number): Tensor {
  const values = new Array<number>(b * b).fill(0);
  for (let i = 0; i < b; i++) values[i * b + i] = 1;
  return constant(graph, values, [b, b], 'float32');
}

/**
 * CLIP's symmetric cross-entropy (Radford et al. 2021, Fig. 3): logits = exp(min(s, ln 100))·I·Tᵀ over
 * the batch's unit image embeddings I and text embeddings T, then the mean of the cross-entropy over
 * the rows (image → text) and over the columns (text → image). The targets are the diagonal, or
 * `targets` [B, B] (each row a distribution over the texts; it must be symmetric up to row scaling —
 * e.g. the same-caption indicator normalised per row — since its transpose serves the columns).
 */
export function contrastiveLoss(
  model: ContrastiveModel,
  params: ParamTensors,
  images: Tensor,
  inputIds: Tensor,
  targets?: Tensor,
): Tensor {
  const b = images.shape[0];
  if (inputIds.shape[0] !== b) {
    throw new ShapeError(`contrastiveLoss: ${b} images but ${inputIds.shape[0]} captions`);
  }
  const imageEmbeds = model.encodeImages(params, images);
  const textEmbeds = model.encodeText(params, inputIds);
  const logits = mul(matmul(imageEmbeds, matrixTranspose(textEmbeds)), model.logitScale(params));
  const rowTargets = targets ?? identity(images.graph, b);
  const columnTargets = targets ? matrixTranspose(targets) : rowTargets;
  const rows = sum(mul(rowTargets, logSoftmax(logits, 1)));
  const columns = sum(mul(columnTargets, logSoftmax(logits, 0)));
  return mul(add(rows, columns), -1 / (2 * b));
}

// ---------------------------------------------------------------------------------------------------
// Model folders

export const CONTRASTIVE_CONFIG_FILE = 'config.json';
export const CONTRASTIVE_WEIGHTS_FILE = 'model.safetensors';
export const CONTRASTIVE_TOKENIZER_DIR = 'tokenizer';

export interface LoadedContrastive {
  readonly model: ContrastiveModel;
  readonly params: Params;
  readonly tokenizer: ClipTokenizer;
}

/** Writes config.json, model.safetensors and tokenizer/ at `dir`, replacing it as one atomic step. */
export function saveContrastiveModel(dir: string, loaded: LoadedContrastive): void {
  const { model, params, tokenizer } = loaded;
  // Exactly the model's tensors under their declared shapes, so the folder always loads back.
  const own: Params = {};
  for (const [name, type] of Object.entries(model.paramTypes())) {
    const p = params[name];
    if (!p || p.data.length !== type.shape.reduce((a, n) => a * n, 1)) {
      throw new ShapeError(
        `saveContrastiveModel: parameter '${name}' is ${p ? `of size ${p.data.length}` : 'missing'}, expected [${type.shape.join(', ')}]`,
        { hint: 'save the params that model.init or trainContrastive returned with that model' },
      );
    }
    own[name] = { ...p, shape: [...type.shape] };
  }
  const bytes = weightsToBytes(own);
  writeDirAtomic(dir, (temp) => {
    writeJsonFile(join(temp, CONTRASTIVE_CONFIG_FILE), model.config);
    writeFileAtomic(join(temp, CONTRASTIVE_WEIGHTS_FILE), bytes);
    writeClipTokenizerFiles(join(temp, CONTRASTIVE_TOKENIZER_DIR), tokenizer);
  });
}

/** The config.json of a model folder, checked to name a ContrastiveModel. */
function readFolderConfig(dir: string): Record<string, unknown> {
  const path = join(dir, CONTRASTIVE_CONFIG_FILE);
  if (!existsSync(path)) {
    throw new NotFoundError(`contrastive model folder '${dir}' has no ${CONTRASTIVE_CONFIG_FILE}`, {
      hint: 'a contrastive model folder holds config.json, model.safetensors and tokenizer/',
    });
  }
  const config = readJsonFile(path, 'contrastive model config');
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new FormatError(`contrastive model config '${path}' must be a JSON object`);
  }
  if (config._class_name !== CONTRASTIVE_CLASS_NAME) {
    throw new ConfigError(
      `'${path}' describes a ${JSON.stringify(config._class_name ?? null)}, not a ${CONTRASTIVE_CLASS_NAME}`,
      { hint: 'pass a folder written by saveContrastiveModel' },
    );
  }
  return config as Record<string, unknown>;
}

/** Reads a folder `saveContrastiveModel` wrote; a missing file or a missing/mis-shaped tensor is named. */
export function loadContrastiveModel(dir: string): LoadedContrastive {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError(`contrastive model folder '${dir}' does not exist`);
  }
  const model = new ContrastiveModel(readFolderConfig(dir));
  const weights = join(dir, CONTRASTIVE_WEIGHTS_FILE);
  if (!existsSync(weights)) {
    throw new NotFoundError(`contrastive model weights '${weights}' do not exist`, {
      hint: 'the folder is incomplete; save it again',
    });
  }
  const tokenizerDir = join(dir, CONTRASTIVE_TOKENIZER_DIR);
  if (!existsSync(tokenizerDir)) {
    throw new NotFoundError(`contrastive model folder '${dir}' has no ${CONTRASTIVE_TOKENIZER_DIR}/`, {
      hint: 'the folder is incomplete; save it again',
    });
  }
  return { model, params: loadWeights(weights, model.paramTypes()), tokenizer: loadClipTokenizer(tokenizerDir) };
}

// ---------------------------------------------------------------------------------------------------
// Host helpers

/** Rows per run of the host helpers; the last chunk is padded so one compiled graph serves every count. */
const MAX_CHUNK = 256;

/**
 * Runs `encode` over `count` rows of `rowLength` values in chunks of ≤ 256 through one graph compiled
 * with the weights frozen, and returns the [count, D] embeddings.
 */
async function embedRows<T extends Float32Array | BigInt64Array>(
  loaded: LoadedContrastive,
  data: T,
  count: number,
  rowShape: readonly number[],
  dtype: 'float32' | 'int64',
  encode: (params: ParamTensors, x: Tensor) => Tensor,
  runtime: Runtime,
): Promise<Float32Array> {
  const d = loaded.model.embedDim;
  const out = new Float32Array(count * d);
  if (count === 0) return out;
  const rowLength = rowShape.reduce((a, n) => a * n, 1);
  const chunk = Math.min(count, MAX_CHUNK);
  const compiled = runtime.compile(
    ((inputs: { params: ParamTensors; x: Tensor }) => encode(inputs.params, inputs.x)) as never,
    { params: loaded.model.paramTypes(), x: { shape: [chunk, ...rowShape], dtype } } as never,
    { frozen: { params: loaded.params } as never },
  );
  try {
    for (let start = 0; start < count; start += chunk) {
      const rows = Math.min(chunk, count - start);
      const x = (dtype === 'int64' ? new BigInt64Array(chunk * rowLength) : new Float32Array(chunk * rowLength)) as T;
      x.set(data.subarray(start * rowLength, (start + rows) * rowLength) as never);
      const result = (await compiled.run({ x } as never)) as unknown as HostTensor;
      out.set((result.data as Float32Array).subarray(0, rows * d), start * d);
    }
  } finally {
    await compiled.dispose();
  }
  return out;
}

/** Unit image embeddings [count, D] of `count` images [count, C, H, W] (flat float32). */
export async function embedImages(
  loaded: LoadedContrastive,
  images: Float32Array,
  count: number,
  runtime: Runtime = new OrtNodeRuntime(),
): Promise<Float32Array> {
  const { image_channels: c, image_size: s } = loaded.model.config;
  if (!Number.isSafeInteger(count) || count < 0 || images.length !== count * c * s * s) {
    throw new ShapeError(`embedImages: ${images.length} values are not ${count} images of [${c}, ${s}, ${s}]`);
  }
  return embedRows(loaded, images, count, [c, s, s], 'float32', (p, x) => loaded.model.encodeImages(p, x), runtime);
}

/** Unit text embeddings [count, D] of `texts`, tokenized and padded to the tokenizer's max length. */
export async function embedTexts(
  loaded: LoadedContrastive,
  texts: readonly string[],
  runtime: Runtime = new OrtNodeRuntime(),
): Promise<Float32Array> {
  const length = Math.min(loaded.tokenizer.modelMaxLength, loaded.model.textModel.config.max_position_embeddings);
  const { inputIds } = loaded.tokenizer.encodeBatch(texts, { maxLength: length });
  return embedRows(loaded, inputIds, texts.length, [length], 'int64', (p, x) => loaded.model.encodeText(p, x), runtime);
}
