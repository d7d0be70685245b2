/**
 * A factorised space–time U-Net for short videos [batch, C, F, H, W]: every spatial layer works on each
 * frame alone (the frames are folded into the batch, [B·F, C, H, W]), and after every ResNet block a
 * temporal layer mixes the frames at each pixel (the pixels are folded into the batch, [B·H·W, C, F]):
 * h ← h + conv1d_k3(silu(GroupNorm(h))) along F, as in the temporal convolutions of video diffusion
 * U-Nets (Ho et al. 2022, "Video Diffusion Models"; diffusers' TemporalConvLayer). The spatial path is
 * UNet2DModel's without attention: conv_in → down levels (ResnetBlock2D from unet-blocks, a stride-2
 * conv between levels) → mid (resnet, temporal, resnet) → up levels concatenating the skips → GroupNorm,
 * SiLU, conv_out. Temporal convolutions use PyTorch's default initialisation (not zero), so the network
 * mixes frames from the start; `temporal_layers: false` drops them, leaving a per-frame 2-D denoiser
 * (the ablation). The config and `_class_name` 'UNet3DModel' are this project's own (diffusers'
 * UNet3DConditionModel is a text-conditioned model with temporal transformers).
 *
 * This module must not know about schedules, losses, samplers or files.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { add, broadcastTo, concat, reshape, silu, transpose } from '../engine/index.js';
import type { Layer, ParamSpecs } from '../nn/index.js';
import {
  conv1d,
  conv2d,
  embedding,
  groupNorm,
  initParams,
  mergeSpecs,
  paramTypesOf,
  sinusoidalEmbedding,
  timestepEmbedding,
} from '../nn/index.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { parseModelConfig, positiveInt } from './config.js';
import type { DenoiserInputs, DenoiserNetwork, ParamTensors, Params } from './types.js';
import { asTimeLayer, downsampleConv, inBlock, resnetBlock, upsampleConv, type TimeLayer } from './unet-blocks.js';

export const unet3dConfigSchema = z.strictObject({
  _class_name: z.literal('UNet3DModel').optional(),
  _diffusers_version: z.string().optional(),
  /** Frame height and width; divisible by 2^(levels − 1). */
  sample_size: positiveInt.default(32),
  /** Frames per video F. */
  num_frames: positiveInt.default(8),
  in_channels: positiveInt.default(1),
  out_channels: positiveInt.default(1),
  /** Width of each resolution level, finest first. */
  block_out_channels: z.array(positiveInt).min(1).default([32, 64, 64]),
  layers_per_block: positiveInt.default(1),
  norm_num_groups: positiveInt.default(8),
  norm_eps: z.number().positive().default(1e-5),
  /** Temporal convolutions after each ResNet block (false: a per-frame 2-D model). */
  temporal_layers: z.boolean().default(true),
  /** Kernel length of the temporal convolutions (odd). */
  temporal_kernel_size: positiveInt.default(3),
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
  num_class_embeds: positiveInt.nullable().default(null),
});

export type UNet3DConfig = z.output<typeof unet3dConfigSchema>;
export type UNet3DConfigInput = z.input<typeof unet3dConfigSchema>;

/** Validated config with defaults filled in; ConfigError names the key and the fix. */
export function unet3dConfig(input: UNet3DConfigInput | Record<string, unknown> = {}): UNet3DConfig {
  const config = parseModelConfig(unet3dConfigSchema, input, 'UNet3DModel');
  const bad = config.block_out_channels.find((c) => c % config.norm_num_groups !== 0);
  if (bad !== undefined) {
    throw new ConfigError(
      `UNet3DModel config: norm_num_groups ${config.norm_num_groups} does not divide block width ${bad}`,
      { hint: 'choose norm_num_groups dividing every entry of block_out_channels' },
    );
  }
  const factor = 2 ** (config.block_out_channels.length - 1);
  if (config.sample_size % factor !== 0) {
    throw new ConfigError(
      `UNet3DModel: sample_size ${config.sample_size} is not divisible by ${factor} (${Math.log2(factor)} downsamplings)`,
      { hint: 'use a frame size that is a multiple of that, or fewer block_out_channels' },
    );
  }
  if (config.temporal_kernel_size % 2 === 0) {
    throw new ConfigError(`UNet3DModel: temporal_kernel_size must be odd, got ${config.temporal_kernel_size}`);
  }
  return config;
}

/** [B·F, C, H, W] per-frame activations ↔ [B·H·W, C, F] per-pixel sequences. */
function framesToSequences(x: Tensor, frames: number): Tensor {
  const [bf, c, h, w] = x.shape;
  const b = bf / frames;
  const v = transpose(reshape(x, [b, frames, c, h, w]), [0, 3, 4, 2, 1]);
  return reshape(v, [b * h * w, c, frames]);
}

function sequencesToFrames(x: Tensor, batch: number, h: number, w: number): Tensor {
  const [, c, frames] = x.shape;
  const v = transpose(reshape(x, [batch, h, w, c, frames]), [0, 4, 3, 1, 2]);
  return reshape(v, [batch * frames, c, h, w]);
}

/** h + conv1d(silu(GroupNorm(h))) along the frame axis, at every pixel (the frames' only meeting point). */
function temporalLayer(prefix: string, channels: number, config: UNet3DConfig, frames: number): TimeLayer {
  const k = config.temporal_kernel_size;
  const norm = groupNorm(`${prefix}.norm`, config.norm_num_groups, channels, config.norm_eps);
  const conv = conv1d(`${prefix}.conv`, channels, channels, { kernelSize: k, padding: (k - 1) / 2 });
  return {
    specs: mergeSpecs(norm.specs, conv.specs),
    apply(params, x) {
      const [bf, , h, w] = x.shape;
      const sequences = framesToSequences(x, frames);
      const mixed = conv.apply(params, silu(norm.apply(params, sequences)));
      return add(x, sequencesToFrames(mixed, bf / frames, h, w));
    },
  };
}

/** A ResNet block followed (when enabled) by a temporal layer; the pair is one step of a level. */
function spaceTimeBlock(prefix: string, index: number, inC: number, outC: number, tembC: number, config: UNet3DConfig) {
  const resnet = resnetBlock(`${prefix}.resnets.${index}`, {
    inChannels: inC,
    outChannels: outC,
    tembChannels: tembC,
    groups: config.norm_num_groups,
    eps: config.norm_eps,
    timeScaleShift: 'default',
  });
  const temporal = config.temporal_layers
    ? temporalLayer(`${prefix}.temp_convs.${index}`, outC, config, config.num_frames)
    : null;
  const specs = mergeSpecs(resnet.specs, temporal?.specs ?? {});
  const apply = (params: ParamTensors, x: Tensor, temb: Tensor): Tensor => {
    const h = resnet.apply(params, x, temb);
    return temporal ? temporal.apply(params, h, temb) : h;
  };
  return { specs, apply };
}

interface Level {
  readonly blocks: TimeLayer[];
  readonly resample: Layer | null;
}

function buildBlocks(config: UNet3DConfig) {
  const widths = config.block_out_channels;
  const tembC = widths[0] * 4;
  const last = widths.length - 1;
  const down: Level[] = widths.map((outC, i) => {
    const inC = i === 0 ? widths[0] : widths[i - 1];
    const blocks = Array.from({ length: config.layers_per_block }, (_, j) =>
      spaceTimeBlock(`down_blocks.${i}`, j, j === 0 ? inC : outC, outC, tembC, config),
    );
    return { blocks, resample: i === last ? null : downsampleConv(`down_blocks.${i}.downsamplers.0`, outC, 1) };
  });
  const top = widths[last];
  const mid = [
    spaceTimeBlock('mid_block', 0, top, top, tembC, config),
    spaceTimeBlock('mid_block', 1, top, top, tembC, { ...config, temporal_layers: false }),
  ];
  const reversed = [...widths].reverse();
  const up: Level[] = reversed.map((outC, i) => {
    const prevC = i === 0 ? reversed[0] : reversed[i - 1];
    const skipIn = reversed[Math.min(i + 1, last)];
    const blocks = Array.from({ length: config.layers_per_block + 1 }, (_, j) => {
      const skipC = j === config.layers_per_block ? skipIn : outC;
      return spaceTimeBlock(`up_blocks.${i}`, j, (j === 0 ? prevC : outC) + skipC, outC, tembC, config);
    });
    return { blocks, resample: i === last ? null : upsampleConv(`up_blocks.${i}.upsamplers.0`, outC) };
  });
  const k3 = { kernelSize: 3, padding: 1 };
  return {
    timeEmbedding: timestepEmbedding('time_embedding', widths[0], tembC),
    classEmbedding:
      config.num_class_embeds === null ? null : embedding('class_embedding', config.num_class_embeds, tembC),
    convIn: conv2d('conv_in', config.in_channels, widths[0], k3),
    down,
    mid,
    up,
    normOut: groupNorm('conv_norm_out', config.norm_num_groups, widths[0], config.norm_eps),
    convOut: conv2d('conv_out', widths[0], config.out_channels, k3),
  };
}

export class UNet3DModel implements DenoiserNetwork<UNet3DConfig> {
  readonly className = 'UNet3DModel';
  readonly config: UNet3DConfig;
  /** [C, F, H, W] */
  readonly sampleShape: readonly number[];
  readonly numClassEmbeds: number | null;
  private readonly blocks: ReturnType<typeof buildBlocks>;
  private readonly specs: ParamSpecs;

  constructor(config: UNet3DConfigInput | Record<string, unknown> = {}) {
    this.config = unet3dConfig(config);
    const { in_channels, num_frames, sample_size } = this.config;
    this.sampleShape = [in_channels, num_frames, sample_size, sample_size];
    this.numClassEmbeds = this.config.num_class_embeds;
    this.blocks = buildBlocks(this.config);
    const b = this.blocks;
    const levels = [...b.down, ...b.up];
    this.specs = mergeSpecs(
      b.timeEmbedding.specs,
      b.classEmbedding?.specs ?? {},
      b.convIn.specs,
      ...levels.flatMap((l) => [...l.blocks.map((r) => r.specs), l.resample?.specs ?? {}]),
      ...b.mid.map((r) => r.specs),
      b.normOut.specs,
      b.convOut.specs,
    );
  }

  paramTypes(): Record<string, TensorType> {
    return paramTypesOf(this.specs);
  }

  /** PyTorch defaults: convs and linears U(±1/√fan_in), GroupNorm ones/zeros, embeddings N(0, 1). */
  init(random: Random): Params {
    return initParams(this.specs, random);
  }

  apply(params: ParamTensors, inputs: DenoiserInputs): Tensor {
    this.checkInputs(inputs);
    const b = this.blocks;
    const [batch, c, f, hh, ww] = inputs.sample.shape;
    // [B, C, F, H, W] → [B·F, C, H, W]; the embedding is repeated for every frame of a video.
    const frames = reshape(transpose(inputs.sample, [0, 2, 1, 3, 4]), [batch * f, c, hh, ww]);
    const embedded = this.conditioning(params, inputs.timestep, inputs.classLabels);
    const tembC = embedded.shape[1];
    const temb = reshape(broadcastTo(reshape(embedded, [batch, 1, tembC]), [batch, f, tembC]), [batch * f, tembC]);
    let h = b.convIn.apply(params, frames);
    const skips: Tensor[] = [h];
    b.down.forEach((level, i) =>
      inBlock(`down_blocks.${i}`, () => {
        for (const block of level.blocks) skips.push((h = block.apply(params, h, temb)));
        if (level.resample) skips.push((h = asTimeLayer(level.resample).apply(params, h, temb)));
      }),
    );
    for (const block of b.mid) h = block.apply(params, h, temb);
    b.up.forEach((level) => {
      for (const block of level.blocks) h = block.apply(params, concat([h, skips.pop()!], 1), temb);
      if (level.resample) h = level.resample.apply(params, h);
    });
    const out = b.convOut.apply(params, silu(b.normOut.apply(params, h)));
    const outC = this.config.out_channels;
    return transpose(reshape(out, [batch, f, outC, hh, ww]), [0, 2, 1, 3, 4]);
  }

  private conditioning(params: ParamTensors, timestep: Tensor, classLabels?: Tensor): Tensor {
    const { block_out_channels, flip_sin_to_cos, freq_shift } = this.config;
    const features = sinusoidalEmbedding(timestep, block_out_channels[0], {
      flipSinToCos: flip_sin_to_cos,
      downscaleFreqShift: freq_shift,
    });
    const temb = this.blocks.timeEmbedding.apply(params, features);
    const classEmbedding = this.blocks.classEmbedding;
    if (classEmbedding === null || classLabels === undefined) return temb;
    return add(temb, classEmbedding.apply(params, classLabels));
  }

  private checkInputs({ sample, timestep, classLabels }: DenoiserInputs): void {
    const [c, f, h, w] = this.sampleShape;
    const s = sample.shape;
    if (sample.rank !== 5 || s[1] !== c || s[2] !== f || s[3] !== h || s[4] !== w) {
      throw new ShapeError(
        `UNet3DModel: sample must be [batch, ${c}, ${f}, ${h}, ${w}], got [${s.join(', ')}]`,
        { hint: 'the frame count and frame size are fixed by num_frames and sample_size' },
      );
    }
    if (timestep.rank !== 1 || timestep.shape[0] !== s[0]) {
      throw new ShapeError(`UNet3DModel: timestep must be [${s[0]}], got [${timestep.shape.join(', ')}]`);
    }
    if (classLabels !== undefined && this.numClassEmbeds === null) {
      throw new ShapeError('UNet3DModel: class labels given to an unconditional model', {
        hint: 'set num_class_embeds in the config to train a class-conditional model',
      });
    }
    if (this.numClassEmbeds !== null && classLabels === undefined) {
      throw new ShapeError('UNet3DModel: this model is class-conditional and needs class labels');
    }
  }
}
