/**
 * The CLIP text encoder (Radford et al. 2021, §2.4) as transformers' `CLIPTextModel` defines it, the
 * text tower of Stable Diffusion: token + learned position embeddings, pre-LN transformer blocks
 * (h += attn(LN₁(h)) with a causal mask; h += fc2(act(fc1(LN₂(h))))), a final layer norm, and the
 * pooled output taken at each row's EOS token. Parameter names (`text_model.encoder.layers.0.self_attn.
 * q_proj.weight`, …) and config.json keys are transformers', so a `text_encoder/` folder
 * (config.json + model.safetensors, float32 or float16) loads as is and saves in the same layout.
 * Hidden states of every layer are returned, so diffusers' `clip_skip` is
 * final_layer_norm(hidden_states[−(clip_skip + 1)]). A config whose `architectures` names
 * `CLIPTextModelWithProjection` (SDXL's second text encoder) adds the bias-free `text_projection` of
 * the pooled output (`text_embeds`).
 *
 * This module must not tokenize text or know diffusion; it maps int64 token ids to embeddings.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import {
  add,
  argmax,
  cast,
  constant,
  equal,
  gelu,
  mul,
  reshape,
  sigmoid,
  slice,
  sub,
  sum,
  transpose,
  attention,
} from '../engine/index.js';
import { readJsonFile, writeJsonFile } from '../io/json.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import type { Layer, ParamInit, ParamSpecs } from '../nn/index.js';
import { embedding, initParams, layerNorm, linear, mergeSpecs, param, paramTypesOf } from '../nn/index.js';
import { ConfigError, NotFoundError, ShapeError } from '../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import type { Random } from '../util/random.js';
import { parseModelConfig, positiveInt } from './config.js';
import type { ParamTensors, Params } from './types.js';
import { paramsFromSafetensors, weightsToBytes } from './weights-bytes.js';

/** transformers' CLIPTextConfig keys with its defaults (other keys, e.g. `_name_or_path`, are ignored). */
const clipTextConfigSchema = z.object({
  /** ['CLIPTextModelWithProjection'] (SDXL's second text encoder) adds `text_projection`. */
  architectures: z.array(z.string()).default(['CLIPTextModel']),
  vocab_size: positiveInt.default(49408),
  hidden_size: positiveInt.default(512),
  intermediate_size: positiveInt.default(2048),
  /** Output width of `text_projection` (CLIPTextModelWithProjection only). */
  projection_dim: positiveInt.default(512),
  num_hidden_layers: positiveInt.default(12),
  num_attention_heads: positiveInt.default(8),
  max_position_embeddings: positiveInt.default(77),
  /** quick_gelu x·σ(1.702x) (OpenAI CLIP, SD 1.x), gelu (erf; OpenCLIP, SD 2.x), gelu_new (tanh form). */
  hidden_act: z.enum(['quick_gelu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh']).default('quick_gelu'),
  layer_norm_eps: z.number().positive().default(1e-5),
  attention_dropout: z.number().min(0).max(1).default(0),
  dropout: z.number().min(0).max(1).default(0),
  initializer_range: z.number().positive().default(0.02),
  initializer_factor: z.number().positive().default(1),
  pad_token_id: z.number().int().default(1),
  bos_token_id: z.number().int().default(49406),
  /** 2 marks legacy configs (SD 1.x): the pooled position is then the argmax of the ids, as transformers does. */
  eos_token_id: z.number().int().default(49407),
});

export type ClipTextConfigInput = z.input<typeof clipTextConfigSchema>;
export type ClipTextConfig = z.output<typeof clipTextConfigSchema> & { _class_name: 'CLIPTextModel' };

/** A validated config; ConfigError names the key. Extra keys of transformers' files are dropped. */
export function clipTextConfig(input: ClipTextConfigInput | Record<string, unknown> = {}): ClipTextConfig {
  const config = parseModelConfig(clipTextConfigSchema, input, 'CLIPTextModel');
  if (config.hidden_size % config.num_attention_heads !== 0) {
    throw new ConfigError(
      `CLIPTextModel config: hidden_size ${config.hidden_size} does not split into ${config.num_attention_heads} heads`,
      { hint: 'num_attention_heads must divide hidden_size' },
    );
  }
  return config;
}

/** What the encoder returns for ids [B, S]. */
export interface ClipTextOutputs {
  /** final_layer_norm(last block's output), [B, S, hidden] — the `prompt_embeds` of diffusers. */
  readonly lastHiddenState: Tensor;
  /** lastHiddenState at each row's EOS token, [B, hidden]. */
  readonly pooledOutput: Tensor;
  /** The embeddings, then each block's output (no final norm): num_hidden_layers + 1 tensors [B, S, hidden]. */
  readonly hiddenStates: readonly Tensor[];
  /** text_projection(pooledOutput), [B, projection_dim]: CLIPTextModelWithProjection's `text_embeds`. */
  readonly textEmbeds?: Tensor;
}

export interface ClipTextOptions {
  /** 1 for tokens, 0 for padding, [B, S] (int64 or float32); padded keys are masked out. Default none. */
  readonly attentionMask?: Tensor;
}

const PREFIX = 'text_model';

/** The activation of the MLP: quick_gelu x·σ(1.702x) (Hendrycks & Gimpel 2016, §2) or GELU. */
function activation(kind: ClipTextConfig['hidden_act'], x: Tensor): Tensor {
  if (kind === 'quick_gelu') return mul(x, sigmoid(mul(x, 1.702)));
  return gelu(x, kind === 'gelu' ? 'none' : 'tanh');
}

/** `layer`'s specs with its weight drawn from N(0, std²) and its bias zero, as transformers' `_init_weights`. */
function normalInit(layer: Layer, std: number): Layer {
  const specs: Record<string, { shape: readonly number[]; init: ParamInit }> = {};
  for (const [name, spec] of Object.entries(layer.specs)) {
    const init: ParamInit = name.endsWith('.bias') ? { kind: 'constant', value: 0 } : { kind: 'normal', std };
    specs[name] = { shape: spec.shape, init };
  }
  return { ...layer, specs };
}

interface EncoderLayer {
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, h: Tensor, mask: Tensor | null): Tensor;
}

function encoderLayer(index: number, config: ClipTextConfig): EncoderLayer {
  const prefix = `${PREFIX}.encoder.layers.${index}`;
  const d = config.hidden_size;
  const heads = config.num_attention_heads;
  const factor = config.initializer_factor;
  // transformers' CLIP init: in_proj_std = d^−½ (2L)^−½, out_proj_std = d^−½, fc_std = (2d)^−½.
  const inStd = d ** -0.5 * (2 * config.num_hidden_layers) ** -0.5 * factor;
  const outStd = d ** -0.5 * factor;
  const fcStd = (2 * d) ** -0.5 * factor;
  const q = normalInit(linear(`${prefix}.self_attn.q_proj`, d, d), inStd);
  const k = normalInit(linear(`${prefix}.self_attn.k_proj`, d, d), inStd);
  const v = normalInit(linear(`${prefix}.self_attn.v_proj`, d, d), inStd);
  const out = normalInit(linear(`${prefix}.self_attn.out_proj`, d, d), outStd);
  const norm1 = layerNorm(`${prefix}.layer_norm1`, d, config.layer_norm_eps);
  const norm2 = layerNorm(`${prefix}.layer_norm2`, d, config.layer_norm_eps);
  const fc1 = normalInit(linear(`${prefix}.mlp.fc1`, d, config.intermediate_size), fcStd);
  const fc2 = normalInit(linear(`${prefix}.mlp.fc2`, config.intermediate_size, d), inStd);
  const split = (x: Tensor) => {
    const [b, s] = x.shape;
    return transpose(reshape(x, [b, s, heads, d / heads]), [0, 2, 1, 3]);
  };
  const selfAttention = (params: ParamTensors, x: Tensor, mask: Tensor | null): Tensor => {
    const [b, s] = x.shape;
    const scale = (d / heads) ** -0.5;
    const options = { scale, causal: true, mask };
    const o = attention(split(q.apply(params, x)), split(k.apply(params, x)), split(v.apply(params, x)), options);
    return out.apply(params, reshape(transpose(o, [0, 2, 1, 3]), [b, s, d]));
  };
  return {
    specs: mergeSpecs(q.specs, k.specs, v.specs, out.specs, norm1.specs, norm2.specs, fc1.specs, fc2.specs),
    apply(params, h, mask) {
      const attended = add(h, selfAttention(params, norm1.apply(params, h), mask));
      const hidden = activation(config.hidden_act, fc1.apply(params, norm2.apply(params, attended)));
      return add(attended, fc2.apply(params, hidden));
    },
  };
}

/** Additive key mask [B, 1, 1, S]: 0 where attended, −1e9 at padding (transformers adds finfo.min). */
function paddingMask(attentionMask: Tensor): Tensor {
  const [b, s] = attentionMask.shape;
  const keep = cast(attentionMask, 'float32');
  return reshape(mul(sub(1, keep), -1e9), [b, 1, 1, s]);
}

/**
 * One-hot [B, S] of the pooled position of each row: the first EOS id, or (legacy configs whose
 * eos_token_id is 2) the largest id, which is CLIP's EOS 49407 in those vocabularies.
 */
function eosOneHot(inputIds: Tensor, eosTokenId: number): Tensor {
  const [, s] = inputIds.shape;
  const scores = eosTokenId === 2 ? cast(inputIds, 'float32') : cast(equal(inputIds, eosTokenId), 'float32');
  const position = reshape(argmax(scores, 1), [inputIds.shape[0], 1]);
  const positions = constant(inputIds.graph, Array.from({ length: s }, (_, i) => i), [1, s], 'int64');
  return cast(equal(position, positions), 'float32');
}

export class CLIPTextModel {
  readonly className = 'CLIPTextModel';
  readonly config: ClipTextConfig;
  private readonly tokenEmbedding: Layer;
  private readonly layers: readonly EncoderLayer[];
  private readonly finalNorm: Layer;
  private readonly projection: Layer | null;
  private readonly specs: ParamSpecs;

  constructor(config: ClipTextConfigInput | Record<string, unknown> = {}) {
    this.config = clipTextConfig(config);
    const { hidden_size: d, vocab_size: vocab, max_position_embeddings: positions } = this.config;
    const std = 0.02 * this.config.initializer_factor;
    this.tokenEmbedding = normalInit(embedding(`${PREFIX}.embeddings.token_embedding`, vocab, d), std);
    const positionSpecs = normalInit(embedding(`${PREFIX}.embeddings.position_embedding`, positions, d), std);
    this.layers = Array.from({ length: this.config.num_hidden_layers }, (_, i) => encoderLayer(i, this.config));
    this.finalNorm = layerNorm(`${PREFIX}.final_layer_norm`, d, this.config.layer_norm_eps);
    this.projection = this.config.architectures.includes('CLIPTextModelWithProjection')
      ? normalInit(
          linear('text_projection', d, this.config.projection_dim, false),
          d ** -0.5 * this.config.initializer_factor,
        )
      : null;
    this.specs = mergeSpecs(
      this.tokenEmbedding.specs,
      positionSpecs.specs,
      ...this.layers.map((l) => l.specs),
      this.finalNorm.specs,
      this.projection?.specs ?? {},
    );
  }

  /** float32 types of every parameter, keyed by transformers' names. */
  paramTypes(): Record<string, TensorType> {
    return paramTypesOf(this.specs);
  }

  /** Width of `promptVector`: projection_dim with a text projection, else hidden_size. */
  get promptVectorWidth(): number {
    return this.projection ? this.config.projection_dim : this.config.hidden_size;
  }

  /** transformers' init: embeddings N(0, 0.02²), projections N(0, std²) with zero biases, LN ones/zeros. */
  init(random: Random): Params {
    return initParams(this.specs, random);
  }

  /** Encodes int64 ids [B, S] with S ≤ max_position_embeddings (see ClipTextOutputs). */
  encode(params: ParamTensors, inputIds: Tensor, options: ClipTextOptions = {}): ClipTextOutputs {
    const [b, s] = this.checkIds(inputIds);
    const d = this.config.hidden_size;
    const positionWeight = param(params, `${PREFIX}.embeddings.position_embedding.weight`);
    const positions = reshape(slice(positionWeight, [0, 0], [s, d]), [1, s, d]);
    let h = add(this.tokenEmbedding.apply(params, inputIds), positions);
    const mask = options.attentionMask ? paddingMask(this.checkMask(options.attentionMask, b, s)) : null;
    const hiddenStates = [h];
    for (const layer of this.layers) {
      h = layer.apply(params, h, mask);
      hiddenStates.push(h);
    }
    const lastHiddenState = this.finalLayerNorm(params, h);
    const pick = reshape(eosOneHot(inputIds, this.config.eos_token_id), [b, s, 1]);
    const pooledOutput = sum(mul(lastHiddenState, pick), [1]);
    const textEmbeds = this.projection ? { textEmbeds: this.projection.apply(params, pooledOutput) } : {};
    return { lastHiddenState, pooledOutput, hiddenStates, ...textEmbeds };
  }

  /** One vector per prompt [B, promptVectorWidth]: `textEmbeds` when projected, else `pooledOutput`. */
  static promptVector(outputs: ClipTextOutputs): Tensor {
    return outputs.textEmbeds ?? outputs.pooledOutput;
  }

  /**
   * diffusers' prompt embeddings with `clip_skip` (0 = the last layer, i.e. `lastHiddenState`):
   * final_layer_norm(hidden_states[−(clipSkip + 1)]), [B, S, hidden].
   */
  promptEmbeddings(params: ParamTensors, inputIds: Tensor, clipSkip = 0, options: ClipTextOptions = {}): Tensor {
    const layers = this.config.num_hidden_layers;
    if (!Number.isInteger(clipSkip) || clipSkip < 0 || clipSkip >= layers) {
      throw new ShapeError(`clip_skip ${clipSkip} is outside 0..${layers - 1} for a ${layers}-layer text encoder`);
    }
    const { hiddenStates, lastHiddenState } = this.encode(params, inputIds, options);
    if (clipSkip === 0) return lastHiddenState;
    return this.finalLayerNorm(params, hiddenStates[hiddenStates.length - 1 - clipSkip]);
  }

  /** `text_model.final_layer_norm` applied to any hidden state [B, S, hidden]. */
  finalLayerNorm(params: ParamTensors, hidden: Tensor): Tensor {
    return this.finalNorm.apply(params, hidden);
  }

  private checkIds(inputIds: Tensor): [number, number] {
    const max = this.config.max_position_embeddings;
    if (inputIds.rank !== 2 || inputIds.dtype !== 'int64' || inputIds.shape[1] > max) {
      throw new ShapeError(
        `CLIPTextModel: input ids must be int64 [batch, ≤ ${max}], got ${inputIds.dtype} [${inputIds.shape.join(', ')}]`,
        { hint: 'tokenize with padding to model_max_length and truncation' },
      );
    }
    return [inputIds.shape[0], inputIds.shape[1]];
  }

  private checkMask(mask: Tensor, b: number, s: number): Tensor {
    if (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== s) {
      throw new ShapeError(
        `CLIPTextModel: attention mask must be [${b}, ${s}] like the ids, got [${mask.shape.join(', ')}]`,
      );
    }
    return mask;
  }
}

// ---------------------------------------------------------------------------------------------------
// text_encoder/ folders

export const CLIP_TEXT_CONFIG_FILE = 'config.json';
export const CLIP_TEXT_WEIGHTS_FILE = 'model.safetensors';
/** Buffers transformers saved in older checkpoints; they are not parameters and are skipped. */
const BUFFER_NAMES = new Set([`${PREFIX}.embeddings.position_ids`]);

/** The config.json transformers writes for a CLIPTextModel. */
export function clipTextConfigJson(config: ClipTextConfig): Record<string, unknown> {
  const { _class_name: _unused, ...keys } = config;
  return { model_type: 'clip_text_model', torch_dtype: 'float32', ...keys };
}

export interface LoadedClipText {
  readonly model: CLIPTextModel;
  readonly params: Params;
}

/**
 * A `text_encoder/` folder: config.json and model.safetensors (or the `variant` file, e.g. 'fp16' →
 * model.fp16.safetensors). float16/bfloat16 tensors are upcast to float32 one at a time; the
 * `position_ids` buffer of older checkpoints is skipped; any other missing or extra tensor is a
 * FormatError naming it.
 */
export function loadClipTextModel(dir: string, variant?: string): LoadedClipText {
  const config = readJsonFile(join(dir, CLIP_TEXT_CONFIG_FILE), 'text encoder config');
  const model = new CLIPTextModel(config as Record<string, unknown>);
  const name = variant ? `model.${variant}.safetensors` : CLIP_TEXT_WEIGHTS_FILE;
  const path = join(dir, name);
  if (!existsSync(path)) {
    throw new NotFoundError(`text encoder weights '${path}' do not exist`, {
      hint: existsSync(join(dir, 'pytorch_model.bin'))
        ? 'only safetensors weights are read; convert pytorch_model.bin to model.safetensors'
        : 'a text_encoder folder holds config.json and model.safetensors',
    });
  }
  const file = readSafetensorsFile(path);
  for (const buffer of BUFFER_NAMES) file.tensors.delete(buffer);
  return { model, params: paramsFromSafetensors(file, model.paramTypes(), path) };
}

/** Writes a `text_encoder/` folder (config.json + float32 model.safetensors), replacing `dir` atomically. */
export function saveClipTextModel(dir: string, model: CLIPTextModel, params: Params): void {
  writeDirAtomic(dir, (temp) => writeClipTextFiles(temp, model, params));
}

/** The two files of a `text_encoder/` folder written into `dir` (for callers assembling a pipeline folder). */
export function writeClipTextFiles(dir: string, model: CLIPTextModel, params: Params): void {
  writeJsonFile(join(dir, CLIP_TEXT_CONFIG_FILE), clipTextConfigJson(model.config));
  writeFileAtomic(join(dir, CLIP_TEXT_WEIGHTS_FILE), weightsToBytes(params));
}
