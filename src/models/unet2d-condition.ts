/**
 * diffusers' `UNet2DConditionModel`, the text-conditioned U-Net of latent diffusion / Stable Diffusion
 * (Rombach et al. 2022, §3.3: ε_θ(z_t, t, τ(y)) with cross-attention on the conditioning sequence τ(y)),
 * built from its `config.json` keys with the same parameter names, so a `unet/` folder of a diffusers
 * Stable Diffusion 1.x/2.x pipeline loads unchanged. Supported blocks: CrossAttnDownBlock2D,
 * DownBlock2D, CrossAttnUpBlock2D, UpBlock2D, UNetMidBlock2DCrossAttn (or none); positional time
 * embedding; an optional class embedding table added to the time embedding (class- and text-
 * conditional small models). ControlNet residuals are added to the skips and the mid-block output as
 * diffusers does. Dropout is not applied. Config keys of features not built here (SDXL's
 * `addition_embed_type`, `encoder_hid_dim`, …) are refused by name rather than ignored.
 *
 * This module must not know about schedules, losses, samplers or text encoders, and must not read files.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { add, concat, mul, silu, sub } from '../engine/index.js';
import { sinusoidalEmbedding, timestepEmbedding } from '../nn/embeddings.js';
import { conv2d, embedding, groupNorm } from '../nn/layers.js';
import type { ParamSpecs } from '../nn/params.js';
import { initParams, joinName, mergeSpecs, paramTypesOf } from '../nn/params.js';
import type { ContextLayer } from '../nn/transformer2d.js';
import { transformer2d } from '../nn/transformer2d.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { positiveInt } from './config.js';
import type { ControlResiduals, DenoiserInputs, DenoiserNetwork, ParamTensors, Params } from './types.js';
import type { ResnetOptions, TimeLayer } from './unet-blocks.js';
import { asTimeLayer, downsampleConv, inBlock, resnetBlock, upsampleConv } from './unet-blocks.js';

export const CONDITION_DOWN_BLOCK_TYPES = ['CrossAttnDownBlock2D', 'DownBlock2D'] as const;
export const CONDITION_UP_BLOCK_TYPES = ['CrossAttnUpBlock2D', 'UpBlock2D'] as const;
export const CONDITION_MID_BLOCK_TYPES = ['UNetMidBlock2DCrossAttn'] as const;

/** An int for every block, or one list entry per block (diffusers expands ints the same way). */
const perBlock = <T extends z.ZodTypeAny>(item: T) => z.union([item, z.array(item).min(1)]);

/** UNet2DConditionModel's config.json; defaults are diffusers' constructor defaults. */
export const unet2dConditionConfigSchema = z.object({
  _class_name: z.literal('UNet2DConditionModel').optional(),
  _diffusers_version: z.string().optional(),
  /** Height = width of training latents (informative; any size divisible by 2^(upsamplers) runs). */
  sample_size: z
    .union([positiveInt, z.tuple([positiveInt, positiveInt])])
    .nullable()
    .default(null),
  in_channels: positiveInt.default(4),
  out_channels: positiveInt.default(4),
  /** Map a sample in [0, 1] to [−1, 1] first (x ← 2x − 1). */
  center_input_sample: z.boolean().default(false),
  flip_sin_to_cos: z.boolean().default(true),
  /** diffusers' `downscale_freq_shift` of the sinusoidal embedding. */
  freq_shift: z.number().default(0),
  down_block_types: z
    .array(z.string())
    .min(1)
    .default(['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']),
  mid_block_type: z.string().nullable().default('UNetMidBlock2DCrossAttn'),
  up_block_types: z
    .array(z.string())
    .min(1)
    .default(['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']),
  /** attn1 attends to the encoder hidden states too, per block or for all. */
  only_cross_attention: perBlock(z.boolean()).default(false),
  block_out_channels: z.array(positiveInt).min(1).default([320, 640, 1280, 1280]),
  layers_per_block: perBlock(positiveInt).default(2),
  /** Zero padding of the stride-2 downsampling convolution (0 pads right/bottom by one, as diffusers). */
  downsample_padding: z.number().int().min(0).default(1),
  /** Residual outputs of the mid block's resnets are divided by this. */
  mid_block_scale_factor: z.number().positive().default(1),
  /** Accepted for compatibility; dropout is not applied. */
  dropout: z.number().min(0).max(1).default(0),
  act_fn: z.enum(['silu', 'swish']).default('silu'),
  norm_num_groups: positiveInt.default(32),
  norm_eps: z.number().positive().default(1e-5),
  /** Width of the encoder hidden states (a CLIP text encoder's hidden size: 768 for SD 1.x). */
  cross_attention_dim: positiveInt.default(1280),
  /** Transformer blocks inside each Transformer2DModel, per block or for all. */
  transformer_layers_per_block: perBlock(positiveInt).default(1),
  /**
   * diffusers' historical misnomer: when num_attention_heads is null this is the number of HEADS per
   * block (SD 1.x: 8; SD 2.x: [5, 10, 20, 20]), and each head is block channels / heads wide.
   */
  attention_head_dim: perBlock(positiveInt).default(8),
  /** Heads per block; takes precedence over attention_head_dim. */
  num_attention_heads: perBlock(positiveInt).nullable().default(null),
  use_linear_projection: z.boolean().default(false),
  /** Accepted: attention already runs in float32 here. */
  upcast_attention: z.boolean().default(false),
  /** How resnets take the time embedding: add it ('default') or FiLM scale and shift ('scale_shift'). */
  resnet_time_scale_shift: z.enum(['default', 'scale_shift']).default('default'),
  /**
   * How a class condition joins the time embedding: null (an embedding table of num_class_embeds rows
   * indexed by integer labels), 'projection' (a float vector of projection_class_embeddings_input_dim
   * through a TimestepEmbedding MLP, e.g. a pooled text or image embedding) or 'identity' (a float
   * vector as wide as the time embedding, added as is). Either way the result is added to the time
   * embedding, as diffusers does.
   */
  class_embed_type: z.enum(['projection', 'identity']).nullable().default(null),
  num_class_embeds: positiveInt.nullable().default(null),
  /** Width of the vector a 'projection' class embedding takes. */
  projection_class_embeddings_input_dim: positiveInt.nullable().default(null),
  time_embedding_type: z.literal('positional').default('positional'),
  /** Width of the time embedding; default 4 × block_out_channels[0]. */
  time_embedding_dim: positiveInt.nullable().default(null),
  conv_in_kernel: z.literal(3).default(3),
  conv_out_kernel: z.literal(3).default(3),
});

export type UNet2DConditionConfigInput = z.input<typeof unet2dConditionConfigSchema>;
export type UNet2DConditionConfig = z.output<typeof unet2dConditionConfigSchema> & {
  _class_name: 'UNet2DConditionModel';
};

/**
 * Keys of diffusers' config for features this network does not build, with the value that means
 * "off" (diffusers' default). Any other value is refused by name rather than silently ignored.
 */
const OFF_VALUES: Readonly<Record<string, unknown>> = {
  addition_embed_type: null,
  addition_embed_type_num_heads: 64,
  addition_time_embed_dim: null,
  encoder_hid_dim: null,
  encoder_hid_dim_type: null,
  time_cond_proj_dim: null,
  time_embedding_act_fn: null,
  timestep_post_act: null,
  class_embeddings_concat: false,
  dual_cross_attention: false,
  mid_block_only_cross_attention: null,
  cross_attention_norm: null,
  attention_type: 'default',
  reverse_transformer_layers_per_block: null,
};

function refuseUnsupportedKeys(input: unknown): void {
  if (typeof input !== 'object' || input === null) return;
  for (const [key, off] of Object.entries(OFF_VALUES)) {
    const value = (input as Record<string, unknown>)[key];
    if (value !== undefined && value !== off) {
      throw new ConfigError(
        `UNet2DConditionModel config: ${key} ${JSON.stringify(value)} is not supported`,
        { hint: `only ${JSON.stringify(off)} (the feature off) is built here; SDXL-style and other extensions are not` },
      );
    }
  }
  const kind = (input as Record<string, unknown>).time_embedding_type;
  if (kind !== undefined && kind !== 'positional') {
    throw new ConfigError(`UNet2DConditionModel config: time_embedding_type ${JSON.stringify(kind)} is not supported`, {
      hint: "use 'positional'",
    });
  }
}

/** A validated config, or a ConfigError naming the key and the fix. */
export function parseUNet2DConditionConfig(input: unknown): UNet2DConditionConfig {
  refuseUnsupportedKeys(input);
  const parsed = unet2dConditionConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`UNet2DConditionModel config: '${issue.path.join('.')}' ${issue.message}`, {
      hint: 'check the keys of the UNet2DConditionModel config.json against diffusers',
    });
  }
  const config = { ...parsed.data, _class_name: 'UNet2DConditionModel' as const };
  checkBlocks(config);
  return config;
}

function checkBlockType(key: string, given: string, valid: readonly string[]): void {
  if (!valid.includes(given)) {
    throw new ConfigError(`UNet2DConditionModel config: ${key} '${given}' is not supported`, {
      hint: `supported: ${valid.join(', ')}`,
    });
  }
}

/** Per-block list keys must have one entry per level, as diffusers requires. */
const PER_BLOCK_KEYS = [
  'only_cross_attention',
  'layers_per_block',
  'transformer_layers_per_block',
  'attention_head_dim',
  'num_attention_heads',
] as const;

function checkBlocks(config: UNet2DConditionConfig): void {
  const levels = config.block_out_channels.length;
  if (config.class_embed_type === 'projection' && config.projection_class_embeddings_input_dim === null) {
    throw new ConfigError(
      "UNet2DConditionModel config: class_embed_type 'projection' needs projection_class_embeddings_input_dim",
      { hint: 'set it to the width of the vector passed as the class condition (e.g. the text encoder hidden size)' },
    );
  }
  if (config.down_block_types.length !== levels || config.up_block_types.length !== levels) {
    throw new ConfigError(
      `UNet2DConditionModel config: ${config.down_block_types.length} down_block_types and ${config.up_block_types.length} up_block_types must each match the ${levels} block_out_channels`,
    );
  }
  for (const key of PER_BLOCK_KEYS) {
    const value = config[key];
    if (Array.isArray(value) && value.length !== levels) {
      throw new ConfigError(
        `UNet2DConditionModel config: ${key} has ${value.length} entries for ${levels} blocks`,
        { hint: 'give one entry per block_out_channels entry, or a single value' },
      );
    }
  }
  config.down_block_types.forEach((t, i) =>
    checkBlockType(`down_block_types[${i}]`, t, CONDITION_DOWN_BLOCK_TYPES),
  );
  config.up_block_types.forEach((t, i) => checkBlockType(`up_block_types[${i}]`, t, CONDITION_UP_BLOCK_TYPES));
  if (config.mid_block_type !== null)
    checkBlockType('mid_block_type', config.mid_block_type, CONDITION_MID_BLOCK_TYPES);
  const hasAttention = (i: number): boolean =>
    config.down_block_types[i].startsWith('CrossAttn') ||
    config.up_block_types[levels - 1 - i].startsWith('CrossAttn') ||
    (i === levels - 1 && config.mid_block_type !== null);
  headsPerBlock(config).forEach((heads, i) => {
    if (hasAttention(i) && config.block_out_channels[i] % heads !== 0) {
      throw new ConfigError(
        `UNet2DConditionModel config: block ${i}'s ${config.block_out_channels[i]} channels do not split into ${heads} attention heads`,
        { hint: 'set attention_head_dim (the head count when num_attention_heads is null) to a divisor' },
      );
    }
  });
}

/** One value per level from an int-or-list config entry. */
function expand<T>(value: T | readonly T[], levels: number): T[] {
  return Array.isArray(value) ? [...(value as T[])] : Array<T>(levels).fill(value as T);
}

/** Heads per level: num_attention_heads, else attention_head_dim (diffusers' quirk, see the schema). */
function headsPerBlock(config: UNet2DConditionConfig): number[] {
  return expand(config.num_attention_heads ?? config.attention_head_dim, config.block_out_channels.length);
}

// ---------------------------------------------------------------------------------------------------
// Blocks

/** What each level's blocks share: per-level settings already expanded from the config. */
interface LevelOptions {
  readonly config: UNet2DConditionConfig;
  readonly tembChannels: number;
  readonly crossAttention: boolean;
  readonly resample: boolean;
  readonly layers: number;
  readonly heads: number;
  readonly transformerLayers: number;
  readonly onlyCrossAttention: boolean;
}

interface DownBlock {
  readonly specs: ParamSpecs;
  /** The block output and the skips it hands to the up path (one per resnet, plus the downsampler's). */
  apply(params: ParamTensors, x: Tensor, temb: Tensor, context: Tensor): { h: Tensor; skips: Tensor[] };
}

interface UpBlock {
  readonly specs: ParamSpecs;
  readonly numResnets: number;
  apply(params: ParamTensors, x: Tensor, skips: readonly Tensor[], temb: Tensor, context: Tensor): Tensor;
}

interface ContextTimeLayer {
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, x: Tensor, temb: Tensor, context: Tensor): Tensor;
}

function resnetOptions(o: LevelOptions, inChannels: number, outChannels: number): ResnetOptions {
  return {
    inChannels,
    outChannels,
    tembChannels: o.tembChannels,
    groups: o.config.norm_num_groups,
    eps: o.config.norm_eps,
    timeScaleShift: o.config.resnet_time_scale_shift,
  };
}

/** The Transformer2DModel of a cross-attention block: heads of channels / heads, as diffusers builds it. */
function transformerFor(prefix: string, channels: number, o: LevelOptions): ContextLayer {
  return transformer2d(prefix, {
    channels,
    heads: o.heads,
    headDim: channels / o.heads,
    layers: o.transformerLayers,
    crossAttentionDim: o.config.cross_attention_dim,
    normGroups: o.config.norm_num_groups,
    useLinearProjection: o.config.use_linear_projection,
    onlyCrossAttention: o.onlyCrossAttention,
  });
}

/** Resnets, each followed by a transformer in cross-attention blocks. */
function resnetStack(
  prefix: string,
  resnets: readonly TimeLayer[],
  channels: number,
  o: LevelOptions,
): { specs: ParamSpecs; step: (i: number, params: ParamTensors, h: Tensor, temb: Tensor, ctx: Tensor) => Tensor } {
  const attentions = o.crossAttention
    ? resnets.map((_, i) => transformerFor(joinName(prefix, `attentions.${i}`), channels, o))
    : [];
  const specs = mergeSpecs(...resnets.map((r) => r.specs), ...attentions.map((a) => a.specs));
  const step = (i: number, params: ParamTensors, h: Tensor, temb: Tensor, ctx: Tensor): Tensor => {
    const out = resnets[i].apply(params, h, temb);
    return o.crossAttention ? attentions[i].apply(params, out, ctx) : out;
  };
  return { specs, step };
}

/** CrossAttnDownBlock2D / DownBlock2D: resnets (each followed by a transformer), then a downsampler. */
function downBlock(prefix: string, inChannels: number, outChannels: number, o: LevelOptions): DownBlock {
  const resnets = Array.from({ length: o.layers }, (_, i) =>
    resnetBlock(joinName(prefix, `resnets.${i}`), resnetOptions(o, i === 0 ? inChannels : outChannels, outChannels)),
  );
  const stack = resnetStack(prefix, resnets, outChannels, o);
  const downsampler = o.resample
    ? asTimeLayer(downsampleConv(joinName(prefix, 'downsamplers.0'), outChannels, o.config.downsample_padding))
    : null;
  const specs = mergeSpecs(stack.specs, downsampler?.specs ?? {});
  const apply = (params: ParamTensors, x: Tensor, temb: Tensor, context: Tensor) => {
    const skips: Tensor[] = [];
    let h = x;
    for (let i = 0; i < resnets.length; i++) {
      h = stack.step(i, params, h, temb, context);
      skips.push(h);
    }
    if (downsampler) {
      h = downsampler.apply(params, h, temb);
      skips.push(h);
    }
    return { h, skips };
  };
  return { specs, apply };
}

/**
 * CrossAttnUpBlock2D / UpBlock2D: layers + 1 resnets, each on [h, skip] concatenated along channels
 * (then a transformer), then an upsampler.
 */
function upBlock(
  prefix: string,
  channels: { input: number; output: number; prevOutput: number },
  o: LevelOptions,
): UpBlock {
  const numResnets = o.layers + 1;
  const resnets = Array.from({ length: numResnets }, (_, i) => {
    const skipChannels = i === numResnets - 1 ? channels.input : channels.output;
    const resnetIn = i === 0 ? channels.prevOutput : channels.output;
    return resnetBlock(joinName(prefix, `resnets.${i}`), resnetOptions(o, resnetIn + skipChannels, channels.output));
  });
  const stack = resnetStack(prefix, resnets, channels.output, o);
  const upsampler = o.resample ? asTimeLayer(upsampleConv(joinName(prefix, 'upsamplers.0'), channels.output)) : null;
  const specs = mergeSpecs(stack.specs, upsampler?.specs ?? {});
  const apply = (params: ParamTensors, x: Tensor, skips: readonly Tensor[], temb: Tensor, context: Tensor) => {
    let h = x;
    for (let i = 0; i < numResnets; i++) {
      const skip = skips[skips.length - 1 - i];
      if (skip.shape[2] !== h.shape[2] || skip.shape[3] !== h.shape[3]) {
        throw new ShapeError(
          `${prefix}: skip connection of size ${skip.shape[2]}×${skip.shape[3]} does not match ${h.shape[2]}×${h.shape[3]}`,
          { hint: 'sample height and width must be divisible by 2 for every downsampling level' },
        );
      }
      h = stack.step(i, params, concat([h, skip], 1), temb, context);
    }
    return upsampler ? upsampler.apply(params, h, temb) : h;
  };
  return { specs, numResnets, apply };
}

/** UNetMidBlock2DCrossAttn (one layer): resnet, transformer, resnet. */
function midBlock(prefix: string, channels: number, o: LevelOptions): ContextTimeLayer {
  const options = { ...resnetOptions(o, channels, channels), outputScaleFactor: o.config.mid_block_scale_factor };
  const first = resnetBlock(joinName(prefix, 'resnets.0'), options);
  const attn = transformerFor(joinName(prefix, 'attentions.0'), channels, o);
  const second = resnetBlock(joinName(prefix, 'resnets.1'), options);
  const specs = mergeSpecs(first.specs, attn.specs, second.specs);
  const apply = (params: ParamTensors, x: Tensor, temb: Tensor, context: Tensor) =>
    second.apply(params, attn.apply(params, first.apply(params, x, temb), context), temb);
  return { specs, apply };
}

// ---------------------------------------------------------------------------------------------------
// The network

export class UNet2DConditionModel implements DenoiserNetwork<UNet2DConditionConfig> {
  readonly className = 'UNet2DConditionModel';
  readonly config: UNet2DConditionConfig;
  readonly sampleShape: readonly number[];
  readonly numClassEmbeds: number | null;
  /** Width the encoder hidden states must have (the last axis of `encoderHiddenStates`). */
  readonly crossAttentionDim: number;
  /** Width of the float class condition (`classEmbeds`) the network needs, or null when it takes none. */
  readonly classEmbedsWidth: number | null;
  private readonly specs: ParamSpecs;
  private readonly forward: (params: ParamTensors, inputs: DenoiserInputs) => Tensor;

  constructor(input: unknown) {
    const config = parseUNet2DConditionConfig(input);
    this.config = config;
    const size = config.sample_size ?? 64;
    const [height, width] = typeof size === 'number' ? [size, size] : size;
    this.sampleShape = [config.in_channels, height, width];
    this.numClassEmbeds = config.num_class_embeds;
    this.crossAttentionDim = config.cross_attention_dim;
    this.classEmbedsWidth =
      config.class_embed_type === 'projection'
        ? config.projection_class_embeddings_input_dim
        : config.class_embed_type === 'identity'
          ? (config.time_embedding_dim ?? 4 * config.block_out_channels[0])
          : null;
    const { specs, forward } = buildUNet(config);
    this.specs = specs;
    this.forward = forward;
  }

  paramTypes(): Record<string, TensorType> {
    return paramTypesOf(this.specs);
  }

  init(random: Random): Params {
    return initParams(this.specs, random);
  }

  apply(params: ParamTensors, inputs: DenoiserInputs): Tensor {
    return this.forward(params, inputs);
  }
}

/** The sample's and the encoder hidden states' shapes checked; the context returned. */
function checkedContext(config: UNet2DConditionConfig, inputs: DenoiserInputs): Tensor {
  const { sample, encoderHiddenStates: context } = inputs;
  if (sample.rank !== 4 || sample.shape[1] !== config.in_channels) {
    throw new ShapeError(
      `UNet2DConditionModel: sample must be [batch, ${config.in_channels}, height, width], got [${sample.shape.join(', ')}]`,
    );
  }
  const expected = `[${sample.shape[0]}, tokens, ${config.cross_attention_dim}]`;
  if (!context) {
    throw new ShapeError('UNet2DConditionModel: encoder hidden states are required', {
      hint: `pass encoderHiddenStates ${expected} (e.g. a text encoder's last hidden state)`,
    });
  }
  if (context.rank !== 3 || context.shape[0] !== sample.shape[0] || context.shape[2] !== config.cross_attention_dim) {
    throw new ShapeError(
      `UNet2DConditionModel: encoder hidden states must be ${expected}, got [${context.shape.join(', ')}]`,
      { hint: 'cross_attention_dim must equal the text encoder hidden size' },
    );
  }
  return context;
}

/** Skips plus a ControlNet's residuals, one per skip in down-path order (diffusers' zip). */
function withControl(skips: Tensor[], control: ControlResiduals | undefined): Tensor[] {
  if (!control) return skips;
  if (control.down.length !== skips.length) {
    throw new ShapeError(
      `UNet2DConditionModel: ${control.down.length} ControlNet down residuals for ${skips.length} skip connections`,
    );
  }
  return skips.map((skip, i) => {
    const r = control.down[i];
    if (r.shape.join() !== skip.shape.join()) {
      throw new ShapeError(
        `UNet2DConditionModel: ControlNet down residual ${i} is [${r.shape.join(', ')}], the skip is [${skip.shape.join(', ')}]`,
      );
    }
    return add(skip, r);
  });
}

/** The ControlNet mid-block residual, which must have the mid-block output's exact shape. */
function checkedMidResidual(h: Tensor, residual: Tensor): Tensor {
  if (residual.shape.join() !== h.shape.join()) {
    throw new ShapeError(
      `UNet2DConditionModel: ControlNet mid residual is [${residual.shape.join(', ')}], the mid-block output is [${h.shape.join(', ')}]`,
    );
  }
  return residual;
}

/** The class condition's contribution to the time embedding [batch, temb], per class_embed_type. */
interface ClassEmbeddingLayer {
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, inputs: DenoiserInputs): Tensor;
}

function classEmbeddingLayer(config: UNet2DConditionConfig, tembChannels: number): ClassEmbeddingLayer | null {
  const batch = (inputs: DenoiserInputs) => inputs.sample.shape[0];
  if (config.class_embed_type === null) {
    if (config.num_class_embeds === null) return null;
    const table = embedding('class_embedding', config.num_class_embeds, tembChannels);
    return {
      specs: table.specs,
      apply(params, inputs) {
        const labels = inputs.classLabels;
        if (!labels) {
          throw new ShapeError('UNet2DConditionModel: class labels are required when num_class_embeds is set', {
            hint: 'pass classLabels [batch] (int64)',
          });
        }
        return table.apply(params, labels);
      },
    };
  }
  const width =
    config.class_embed_type === 'projection' ? config.projection_class_embeddings_input_dim! : tembChannels;
  const mlp = config.class_embed_type === 'projection' ? timestepEmbedding('class_embedding', width, tembChannels) : null;
  return {
    specs: mlp?.specs ?? {},
    apply(params, inputs) {
      const vector = inputs.classEmbeds;
      if (!vector || vector.rank !== 2 || vector.shape[0] !== batch(inputs) || vector.shape[1] !== width) {
        const got = vector ? `[${vector.shape.join(', ')}]` : 'nothing';
        throw new ShapeError(
          `UNet2DConditionModel: class_embed_type '${config.class_embed_type}' needs classEmbeds [${batch(inputs)}, ${width}], got ${got}`,
          { hint: 'pass the class condition vector (e.g. the pooled text embedding) as classEmbeds' },
        );
      }
      return mlp ? mlp.apply(params, vector) : vector;
    },
  };
}

function buildUNet(config: UNet2DConditionConfig): {
  specs: ParamSpecs;
  forward: (params: ParamTensors, inputs: DenoiserInputs) => Tensor;
} {
  const channels = config.block_out_channels;
  const levels = channels.length;
  const tembChannels = config.time_embedding_dim ?? 4 * channels[0];
  const timeMlp = timestepEmbedding('time_embedding', channels[0], tembChannels);
  const classEmbedding = classEmbeddingLayer(config, tembChannels);
  const convIn = conv2d('conv_in', config.in_channels, channels[0], { kernelSize: 3, padding: 1 });
  const layers = expand(config.layers_per_block, levels);
  const heads = headsPerBlock(config);
  const transformerLayers = expand(config.transformer_layers_per_block, levels);
  const onlyCross = expand(config.only_cross_attention, levels);
  // Level options of block index `i` (the up path reads its lists reversed, as diffusers does).
  const level = (type: string, i: number, resample: boolean, extraLayers = 0): LevelOptions => ({
    config,
    tembChannels,
    crossAttention: type.startsWith('CrossAttn') || type === 'UNetMidBlock2DCrossAttn',
    resample,
    layers: layers[i] + extraLayers,
    heads: heads[i],
    transformerLayers: transformerLayers[i],
    onlyCrossAttention: onlyCross[i],
  });
  const downs = config.down_block_types.map((type, i) =>
    downBlock(`down_blocks.${i}`, channels[Math.max(i - 1, 0)], channels[i], level(type, i, i < levels - 1)),
  );
  const mid =
    config.mid_block_type === null
      ? null
      : midBlock('mid_block', channels[levels - 1], {
          ...level(config.mid_block_type, levels - 1, false),
          onlyCrossAttention: false,
        });
  const reversed = [...channels].reverse();
  const ups = config.up_block_types.map((type, i) => {
    const r = levels - 1 - i;
    return upBlock(
      `up_blocks.${i}`,
      { input: reversed[Math.min(i + 1, levels - 1)], output: reversed[i], prevOutput: reversed[Math.max(i - 1, 0)] },
      level(type, r, i < levels - 1),
    );
  });
  const normOut = groupNorm('conv_norm_out', config.norm_num_groups, channels[0], config.norm_eps);
  const convOut = conv2d('conv_out', channels[0], config.out_channels, { kernelSize: 3, padding: 1 });
  const specs = mergeSpecs(
    timeMlp.specs,
    classEmbedding?.specs ?? {},
    convIn.specs,
    ...downs.map((d) => d.specs),
    mid?.specs ?? {},
    ...ups.map((u) => u.specs),
    normOut.specs,
    convOut.specs,
  );

  const timeEmbedding = (params: ParamTensors, inputs: DenoiserInputs): Tensor => {
    const projected = sinusoidalEmbedding(inputs.timestep, channels[0], {
      flipSinToCos: config.flip_sin_to_cos,
      downscaleFreqShift: config.freq_shift,
    });
    const emb = timeMlp.apply(params, projected);
    return classEmbedding ? add(emb, classEmbedding.apply(params, inputs)) : emb;
  };

  const forward = (params: ParamTensors, inputs: DenoiserInputs): Tensor => {
    const context = checkedContext(config, inputs);
    const temb = timeEmbedding(params, inputs);
    const x = config.center_input_sample ? sub(mul(inputs.sample, 2), 1) : inputs.sample;
    let h = convIn.apply(params, x);
    let skips: Tensor[] = [h];
    downs.forEach((down, i) => {
      const out = inBlock(`down_blocks.${i}`, () => down.apply(params, h, temb, context));
      h = out.h;
      skips.push(...out.skips);
    });
    skips = withControl(skips, inputs.controlResiduals);
    if (mid) h = inBlock('mid_block', () => mid.apply(params, h, temb, context));
    if (inputs.controlResiduals) h = add(h, checkedMidResidual(h, inputs.controlResiduals.mid));
    ups.forEach((up, i) => {
      const own = skips.splice(skips.length - up.numResnets, up.numResnets);
      h = inBlock(`up_blocks.${i}`, () => up.apply(params, h, own, temb, context));
    });
    return convOut.apply(params, silu(normOut.apply(params, h)));
  };
  return { specs, forward };
}
