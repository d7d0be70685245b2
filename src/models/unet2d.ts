/**
 * diffusers' `UNet2DModel`, built from its `config.json` keys with the same parameter names, so
 * `diffusion_pytorch_model.safetensors` files load unchanged (Ho et al. 2020, appendix B; Song et al.
 * 2021 for the Fourier time embedding). Supported blocks: DownBlock2D, AttnDownBlock2D, UpBlock2D,
 * AttnUpBlock2D and UNetMidBlock2D (with or without attention); ResnetBlock2D with 'default' or
 * 'scale_shift' time conditioning; positional, Fourier or learned time embeddings; class embeddings.
 * Dropout is not applied (inference and training here run the network deterministically).
 *
 * This module must not know about schedules, losses or samplers, and must not read files.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { add, cast, concat, div, mul, reshape, silu, sub } from '../engine/index.js';
import type { Layer } from '../nn/layers.js';
import { conv2d, embedding, groupNorm } from '../nn/layers.js';
import { gaussianFourierProjection, sinusoidalEmbedding, timestepEmbedding } from '../nn/embeddings.js';
import { spatialAttention } from '../nn/attention.js';
import type { ParamSpecs } from '../nn/params.js';
import { initParams, joinName, mergeSpecs, paramTypesOf } from '../nn/params.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { DenoiserInputs, DenoiserNetwork, ParamTensors, Params } from './types.js';
import type { TimeLayer, ResnetOptions } from './unet-blocks.js';
import { asTimeLayer, downsampleConv, inBlock, resnetBlock, upsampleConv } from './unet-blocks.js';

export const DOWN_BLOCK_TYPES = ['DownBlock2D', 'AttnDownBlock2D'] as const;
export const UP_BLOCK_TYPES = ['UpBlock2D', 'AttnUpBlock2D'] as const;
export const MID_BLOCK_TYPES = ['UNetMidBlock2D'] as const;

const positiveInt = z.number().int().positive();

/** UNet2DModel's config.json; defaults are diffusers' constructor defaults. */
export const unet2dConfigSchema = z.object({
  _class_name: z.literal('UNet2DModel').optional(),
  _diffusers_version: z.string().optional(),
  /** Height = width of training samples (informative; any size divisible by 2^(downsamplers) runs). */
  sample_size: z
    .union([positiveInt, z.tuple([positiveInt, positiveInt])])
    .nullable()
    .default(null),
  in_channels: positiveInt.default(3),
  out_channels: positiveInt.default(3),
  /** Map a sample in [0, 1] to [−1, 1] first (x ← 2x − 1). */
  center_input_sample: z.boolean().default(false),
  /** 'positional' (sinusoidal), 'fourier' (Gaussian Fourier of log σ) or 'learned' (a table per step). */
  time_embedding_type: z.enum(['positional', 'fourier', 'learned']).default('positional'),
  /** Width of the time embedding; default 4 × block_out_channels[0]. */
  time_embedding_dim: positiveInt.nullable().default(null),
  /** diffusers' `downscale_freq_shift` of the sinusoidal embedding. */
  freq_shift: z.number().default(0),
  flip_sin_to_cos: z.boolean().default(true),
  down_block_types: z
    .array(z.string())
    .min(1)
    .default(['DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D']),
  mid_block_type: z.string().nullable().default('UNetMidBlock2D'),
  up_block_types: z
    .array(z.string())
    .min(1)
    .default(['AttnUpBlock2D', 'AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D']),
  block_out_channels: z.array(positiveInt).min(1).default([224, 448, 672, 896]),
  layers_per_block: positiveInt.default(2),
  /** Residual outputs of the mid block are divided by this. */
  mid_block_scale_factor: z.number().positive().default(1),
  /** Zero padding of the stride-2 downsampling convolution (0 pads right/bottom by one, as diffusers). */
  downsample_padding: z.number().int().min(0).default(1),
  downsample_type: z.enum(['conv', 'resnet']).default('conv'),
  upsample_type: z.enum(['conv', 'resnet']).default('conv'),
  /** Accepted for compatibility; dropout is not applied. */
  dropout: z.number().min(0).max(1).default(0),
  act_fn: z.enum(['silu', 'swish']).default('silu'),
  /** Width of one attention head; null means one head over all channels. */
  attention_head_dim: positiveInt.nullable().default(8),
  norm_num_groups: positiveInt.nullable().default(32),
  attn_norm_num_groups: positiveInt.nullable().default(null),
  norm_eps: z.number().positive().default(1e-5),
  /** How resnets take the time embedding: add it ('default') or FiLM scale and shift ('scale_shift'). */
  resnet_time_scale_shift: z.enum(['default', 'scale_shift']).default('default'),
  add_attention: z.boolean().default(true),
  /** Only null (an embedding table of num_class_embeds rows) is supported. */
  class_embed_type: z.null().default(null),
  num_class_embeds: positiveInt.nullable().default(null),
  /** Rows of the 'learned' time embedding table. */
  num_train_timesteps: positiveInt.nullable().default(null),
});

export type UNet2DConfigInput = z.input<typeof unet2dConfigSchema>;
export type UNet2DConfig = z.output<typeof unet2dConfigSchema> & { _class_name: 'UNet2DModel' };

/** A validated config, or a ConfigError naming the key and the fix. */
export function parseUNet2DConfig(input: unknown): UNet2DConfig {
  const parsed = unet2dConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`UNet2DModel config: '${issue.path.join('.')}' ${issue.message}`, {
      hint: 'check the keys of the UNet2DModel config.json against diffusers',
    });
  }
  const config = { ...parsed.data, _class_name: 'UNet2DModel' as const };
  checkBlockTypes(config);
  return config;
}

function checkBlockType(key: string, given: string, valid: readonly string[]): void {
  if (!valid.includes(given)) {
    throw new ConfigError(`UNet2DModel config: ${key} '${given}' is not supported`, {
      hint: `supported: ${valid.join(', ')}`,
    });
  }
}

function checkBlockTypes(config: UNet2DConfig): void {
  const levels = config.block_out_channels.length;
  if (config.down_block_types.length !== levels || config.up_block_types.length !== levels) {
    throw new ConfigError(
      `UNet2DModel config: ${config.down_block_types.length} down_block_types and ${config.up_block_types.length} up_block_types must each match the ${levels} block_out_channels`,
    );
  }
  config.down_block_types.forEach((t, i) => checkBlockType(`down_block_types[${i}]`, t, DOWN_BLOCK_TYPES));
  config.up_block_types.forEach((t, i) => checkBlockType(`up_block_types[${i}]`, t, UP_BLOCK_TYPES));
  if (config.mid_block_type !== null)
    checkBlockType('mid_block_type', config.mid_block_type, MID_BLOCK_TYPES);
  if (config.time_embedding_type === 'learned' && config.num_train_timesteps === null) {
    throw new ConfigError("UNet2DModel config: time_embedding_type 'learned' needs num_train_timesteps");
  }
}

// ---------------------------------------------------------------------------------------------------
// Blocks

interface DownBlock {
  readonly specs: ParamSpecs;
  /** The block output and the skip tensors it hands to the up path (one per resnet, plus the downsampler's). */
  apply(params: ParamTensors, x: Tensor, temb: Tensor): { h: Tensor; skips: Tensor[] };
}

interface UpBlock {
  readonly specs: ParamSpecs;
  readonly numResnets: number;
  apply(params: ParamTensors, x: Tensor, skips: readonly Tensor[], temb: Tensor): Tensor;
}

interface LevelOptions {
  readonly config: UNet2DConfig;
  readonly tembChannels: number;
  readonly groups: number;
  readonly withAttention: boolean;
  readonly resample: boolean;
}

function attentionFor(prefix: string, channels: number, config: UNet2DConfig, groups: number | null): Layer {
  return spatialAttention(prefix, {
    channels,
    headDim: config.attention_head_dim ?? channels,
    normGroups: groups,
    eps: config.norm_eps,
  });
}

function resnetOptions(o: LevelOptions, inChannels: number, outChannels: number): ResnetOptions {
  return {
    inChannels,
    outChannels,
    tembChannels: o.tembChannels,
    groups: o.groups,
    eps: o.config.norm_eps,
    timeScaleShift: o.config.resnet_time_scale_shift,
  };
}

/** DownBlock2D / AttnDownBlock2D: layers_per_block resnets (each followed by attention), then a downsampler. */
function downBlock(prefix: string, inChannels: number, outChannels: number, o: LevelOptions): DownBlock {
  const { config } = o;
  const resnets = Array.from({ length: config.layers_per_block }, (_, i) =>
    resnetBlock(
      joinName(prefix, `resnets.${i}`),
      resnetOptions(o, i === 0 ? inChannels : outChannels, outChannels),
    ),
  );
  const attentions = o.withAttention
    ? resnets.map((_, i) => attentionFor(joinName(prefix, `attentions.${i}`), outChannels, config, o.groups))
    : [];
  const down = joinName(prefix, 'downsamplers.0');
  const downsampler = !o.resample
    ? null
    : o.withAttention && config.downsample_type === 'resnet'
      ? resnetBlock(down, { ...resnetOptions(o, outChannels, outChannels), resample: 'down' })
      : asTimeLayer(downsampleConv(down, outChannels, config.downsample_padding));
  const specs = mergeSpecs(
    ...resnets.map((r) => r.specs),
    ...attentions.map((a) => a.specs),
    downsampler?.specs ?? {},
  );
  const apply = (params: ParamTensors, x: Tensor, temb: Tensor) => {
    const skips: Tensor[] = [];
    let h = x;
    resnets.forEach((resnet, i) => {
      h = resnet.apply(params, h, temb);
      if (o.withAttention) h = attentions[i].apply(params, h);
      skips.push(h);
    });
    if (downsampler) {
      h = downsampler.apply(params, h, temb);
      skips.push(h);
    }
    return { h, skips };
  };
  return { specs, apply };
}

/**
 * UpBlock2D / AttnUpBlock2D: layers_per_block + 1 resnets, each on [h, skip] concatenated along
 * channels (then attention), then an upsampler.
 */
function upBlock(
  prefix: string,
  channels: { input: number; output: number; prevOutput: number },
  o: LevelOptions,
): UpBlock {
  const { config } = o;
  const numResnets = config.layers_per_block + 1;
  const resnets = Array.from({ length: numResnets }, (_, i) => {
    const skipChannels = i === numResnets - 1 ? channels.input : channels.output;
    const resnetIn = i === 0 ? channels.prevOutput : channels.output;
    return resnetBlock(
      joinName(prefix, `resnets.${i}`),
      resnetOptions(o, resnetIn + skipChannels, channels.output),
    );
  });
  const attentions = o.withAttention
    ? resnets.map((_, i) =>
        attentionFor(joinName(prefix, `attentions.${i}`), channels.output, config, o.groups),
      )
    : [];
  const up = joinName(prefix, 'upsamplers.0');
  const upsampler = !o.resample
    ? null
    : o.withAttention && config.upsample_type === 'resnet'
      ? resnetBlock(up, { ...resnetOptions(o, channels.output, channels.output), resample: 'up' })
      : asTimeLayer(upsampleConv(up, channels.output));
  const specs = mergeSpecs(
    ...resnets.map((r) => r.specs),
    ...attentions.map((a) => a.specs),
    upsampler?.specs ?? {},
  );
  const apply = (params: ParamTensors, x: Tensor, skips: readonly Tensor[], temb: Tensor) => {
    let h = x;
    resnets.forEach((resnet, i) => {
      const skip = skips[skips.length - 1 - i];
      if (skip.shape[2] !== h.shape[2] || skip.shape[3] !== h.shape[3]) {
        throw new ShapeError(
          `${prefix}: skip connection of size ${skip.shape[2]}×${skip.shape[3]} does not match ${h.shape[2]}×${h.shape[3]}`,
          { hint: 'sample height and width must be divisible by 2 for every downsampling level' },
        );
      }
      h = resnet.apply(params, concat([h, skip], 1), temb);
      if (o.withAttention) h = attentions[i].apply(params, h);
    });
    return upsampler ? upsampler.apply(params, h, temb) : h;
  };
  return { specs, numResnets, apply };
}

/** UNetMidBlock2D: resnet, attention (unless add_attention is false), resnet. */
function midBlock(prefix: string, channels: number, o: LevelOptions): TimeLayer {
  const { config } = o;
  const scale = config.mid_block_scale_factor;
  const options = { ...resnetOptions(o, channels, channels), outputScaleFactor: scale };
  const first = resnetBlock(joinName(prefix, 'resnets.0'), options);
  const second = resnetBlock(joinName(prefix, 'resnets.1'), options);
  // diffusers: attn_groups defaults to the resnet groups under 'default' and to none under 'scale_shift'.
  const attnGroups =
    config.attn_norm_num_groups ?? (config.resnet_time_scale_shift === 'default' ? o.groups : null);
  const attn = config.add_attention
    ? spatialAttention(joinName(prefix, 'attentions.0'), {
        channels,
        headDim: config.attention_head_dim ?? channels,
        normGroups: attnGroups,
        eps: config.norm_eps,
        rescaleOutputFactor: scale,
      })
    : null;
  const specs = mergeSpecs(first.specs, attn?.specs ?? {}, second.specs);
  const apply = (params: ParamTensors, x: Tensor, temb: Tensor) => {
    let h = first.apply(params, x, temb);
    if (attn) h = attn.apply(params, h);
    return second.apply(params, h, temb);
  };
  return { specs, apply };
}

// ---------------------------------------------------------------------------------------------------
// The network

/** The time embedding's first stage: t [B] → [B, timestep_input_dim]. */
function timeProjection(config: UNet2DConfig): { layer: Layer | null; dim: number } {
  const base = config.block_out_channels[0];
  switch (config.time_embedding_type) {
    case 'fourier':
      return { layer: gaussianFourierProjection('time_proj', base, { scale: 16 }), dim: 2 * base };
    case 'learned':
      return { layer: embedding('time_proj', config.num_train_timesteps ?? 0, base), dim: base };
    case 'positional':
      return { layer: null, dim: base };
  }
}

export class UNet2DModel implements DenoiserNetwork<UNet2DConfig> {
  readonly className = 'UNet2DModel';
  readonly config: UNet2DConfig;
  readonly sampleShape: readonly number[];
  readonly numClassEmbeds: number | null;
  private readonly specs: ParamSpecs;
  private readonly forward: (params: ParamTensors, inputs: DenoiserInputs) => Tensor;

  constructor(input: unknown) {
    const config = parseUNet2DConfig(input);
    this.config = config;
    const size = config.sample_size ?? 32;
    const [height, width] = typeof size === 'number' ? [size, size] : size;
    this.sampleShape = [config.in_channels, height, width];
    this.numClassEmbeds = config.num_class_embeds;
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

function checkSample(config: UNet2DConfig, sample: Tensor): void {
  if (sample.rank !== 4 || sample.shape[1] !== config.in_channels) {
    throw new ShapeError(
      `UNet2DModel: sample must be [batch, ${config.in_channels}, height, width], got [${sample.shape.join(', ')}]`,
    );
  }
}

/**
 * The encoder half of the U-Net — time (and class) embedding, `conv_in`, the down blocks and the mid
 * block — with UNet2DModel's parameter names. Exported for ControlNetModel, which copies it.
 */
export interface UNetEncoder {
  readonly specs: ParamSpecs;
  /** Time embedding plus class embedding: [batch, temb]. */
  embed(params: ParamTensors, inputs: DenoiserInputs): Tensor;
  /** `conv_in` on the (optionally centred) sample. */
  stem(params: ParamTensors, sample: Tensor): Tensor;
  /** The down path from the stem output: its last output and every skip (the stem output first). */
  down(params: ParamTensors, stem: Tensor, temb: Tensor): { h: Tensor; skips: Tensor[] };
  /** The mid block, or the identity when mid_block_type is null. */
  mid(params: ParamTensors, h: Tensor, temb: Tensor): Tensor;
  readonly hasMid: boolean;
}

/** Norm groups of the resnets: norm_num_groups, or diffusers' fallback when it is null. */
function normGroups(config: UNet2DConfig): number {
  return config.norm_num_groups ?? Math.min(Math.floor(config.block_out_channels[0] / 4), 32);
}

const tembChannelsOf = (config: UNet2DConfig): number =>
  config.time_embedding_dim ?? 4 * config.block_out_channels[0];

function levelOptions(config: UNet2DConfig, type: string, i: number): LevelOptions {
  return {
    config,
    tembChannels: tembChannelsOf(config),
    groups: normGroups(config),
    withAttention: type.startsWith('Attn'),
    resample: i < config.block_out_channels.length - 1,
  };
}

export function unetEncoder(config: UNet2DConfig): UNetEncoder {
  const channels = config.block_out_channels;
  const levels = channels.length;
  const tembChannels = tembChannelsOf(config);
  const proj = timeProjection(config);
  const timeMlp = timestepEmbedding('time_embedding', proj.dim, tembChannels);
  const classEmbedding =
    config.num_class_embeds === null
      ? null
      : embedding('class_embedding', config.num_class_embeds, tembChannels);
  const convIn = conv2d('conv_in', config.in_channels, channels[0], { kernelSize: 3, padding: 1 });
  const downs = config.down_block_types.map((type, i) =>
    downBlock(`down_blocks.${i}`, channels[Math.max(i - 1, 0)], channels[i], levelOptions(config, type, i)),
  );
  const midLayer =
    config.mid_block_type === null
      ? null
      : midBlock('mid_block', channels[levels - 1], levelOptions(config, '', levels));
  const specs = mergeSpecs(
    proj.layer?.specs ?? {},
    timeMlp.specs,
    classEmbedding?.specs ?? {},
    convIn.specs,
    ...downs.map((d) => d.specs),
    midLayer?.specs ?? {},
  );

  const embed = (params: ParamTensors, inputs: DenoiserInputs): Tensor => {
    const t = inputs.timestep;
    const projected =
      config.time_embedding_type === 'positional'
        ? sinusoidalEmbedding(t, channels[0], {
            flipSinToCos: config.flip_sin_to_cos,
            downscaleFreqShift: config.freq_shift,
          })
        : config.time_embedding_type === 'learned'
          ? (proj.layer as Layer).apply(params, cast(t, 'int64'))
          : (proj.layer as Layer).apply(params, t);
    const emb = timeMlp.apply(params, projected);
    if (!classEmbedding) return emb;
    if (!inputs.classLabels) {
      throw new ShapeError('UNet2DModel: class labels are required when num_class_embeds is set', {
        hint: 'pass classLabels [batch] (int64)',
      });
    }
    return add(emb, classEmbedding.apply(params, inputs.classLabels));
  };
  const stem = (params: ParamTensors, sample: Tensor): Tensor =>
    convIn.apply(params, config.center_input_sample ? sub(mul(sample, 2), 1) : sample);
  const down = (params: ParamTensors, stemOut: Tensor, temb: Tensor) => {
    let h = stemOut;
    const skips: Tensor[] = [h];
    downs.forEach((block, i) => {
      const out = inBlock(`down_blocks.${i}`, () => block.apply(params, h, temb));
      h = out.h;
      skips.push(...out.skips);
    });
    return { h, skips };
  };
  const mid = (params: ParamTensors, h: Tensor, temb: Tensor): Tensor =>
    midLayer ? inBlock('mid_block', () => midLayer.apply(params, h, temb)) : h;
  return { specs, embed, stem, down, mid, hasMid: midLayer !== null };
}

/** Shapes of two tensors agree, or a ShapeError naming the control residual. */
function checkResidual(what: string, residual: Tensor, target: Tensor): void {
  const same =
    residual.rank === target.rank && residual.shape.every((d, i) => d === target.shape[i]);
  if (!same) {
    throw new ShapeError(
      `UNet2DModel: control residual ${what} has shape [${residual.shape.join(', ')}], the U-Net needs [${target.shape.join(', ')}]`,
      { hint: 'build the ControlNet from this U-Net (ControlNetModel.fromUNet) and feed it the same sample' },
    );
  }
}

/**
 * Skips and mid output with a ControlNet's residuals added (diffusers' `down_block_additional_residuals`
 * and `mid_block_additional_residual`: one residual per skip in down-path order, one for the mid output).
 */
function withResiduals(
  residuals: DenoiserInputs['controlResiduals'],
  skips: Tensor[],
  h: Tensor,
  hasMid: boolean,
): { skips: Tensor[]; h: Tensor } {
  if (!residuals) return { skips, h };
  if (residuals.down.length !== skips.length) {
    throw new ShapeError(
      `UNet2DModel: got ${residuals.down.length} control residuals for ${skips.length} skip connections`,
      { hint: 'build the ControlNet from this U-Net (ControlNetModel.fromUNet)' },
    );
  }
  if (!hasMid) throw new ShapeError('UNet2DModel: a control mid residual needs a mid block');
  residuals.down.forEach((r, i) => checkResidual(`down[${i}]`, r, skips[i]));
  checkResidual('mid', residuals.mid, h);
  return { skips: skips.map((s, i) => add(s, residuals.down[i])), h: add(h, residuals.mid) };
}

function buildUNet(config: UNet2DConfig): {
  specs: ParamSpecs;
  forward: (params: ParamTensors, inputs: DenoiserInputs) => Tensor;
} {
  const channels = config.block_out_channels;
  const levels = channels.length;
  const groups = normGroups(config);
  const encoder = unetEncoder(config);
  const reversed = [...channels].reverse();
  const ups = config.up_block_types.map((type, i) =>
    upBlock(
      `up_blocks.${i}`,
      {
        input: reversed[Math.min(i + 1, levels - 1)],
        output: reversed[i],
        prevOutput: reversed[Math.max(i - 1, 0)],
      },
      levelOptions(config, type, i),
    ),
  );
  const normOut = groupNorm('conv_norm_out', groups, channels[0], config.norm_eps);
  const convOut = conv2d('conv_out', channels[0], config.out_channels, { kernelSize: 3, padding: 1 });
  const specs = mergeSpecs(encoder.specs, ...ups.map((u) => u.specs), normOut.specs, convOut.specs);

  const forward = (params: ParamTensors, inputs: DenoiserInputs): Tensor => {
    checkSample(config, inputs.sample);
    const temb = encoder.embed(params, inputs);
    const down = encoder.down(params, encoder.stem(params, inputs.sample), temb);
    const mid = encoder.mid(params, down.h, temb);
    const { skips, h: midOut } = withResiduals(inputs.controlResiduals, down.skips, mid, encoder.hasMid);
    let h = midOut;
    ups.forEach((up, i) => {
      const own = skips.splice(skips.length - up.numResnets, up.numResnets);
      h = inBlock(`up_blocks.${i}`, () => up.apply(params, h, own, temb));
    });
    let out = convOut.apply(params, silu(normOut.apply(params, h)));
    if (config.time_embedding_type === 'fourier') {
      // diffusers divides by σ for Fourier (score-SDE, NCSN++) models: the output is a score estimate.
      out = div(out, reshape(inputs.timestep, [inputs.timestep.shape[0], 1, 1, 1]));
    }
    return out;
  };
  return { specs, forward };
}
