/**
 * A 1-D U-Net for signals (audio, time series): UNet2DModel's layout with every 3×3 convolution
 * replaced by a length-3 one. conv_in → down blocks (ResNet blocks with a time-embedding shift, a
 * stride-2 convolution between levels) → a two-ResNet mid block → up blocks that concatenate the
 * matching skip activations (nearest ×2 upsampling + convolution between levels) → GroupNorm, SiLU,
 * conv_out. Parameter names follow UNet2DModel's (`down_blocks.0.resnets.1.conv2.weight`, …), but
 * the config is this project's own: diffusers' UNet1DModel is Dance Diffusion's architecture with
 * different block types and keys, so `_class_name` is 'UNet1DModel' and the keys are those below
 * (`sample_size` is the signal length, `block_out_channels` one width per level).
 *
 * This module must not know about schedules, losses or samplers.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { add, concat, reshape, silu, upsample } from '../engine/index.js';
import type { Layer, ParamSpecs } from '../nn/index.js';
import {
  conv1d,
  embedding,
  groupNorm,
  initParams,
  linear,
  mergeSpecs,
  paramTypesOf,
  sinusoidalEmbedding,
  timestepEmbedding,
} from '../nn/index.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { parseModelConfig, positiveInt } from './config.js';
import type { DenoiserInputs, DenoiserNetwork, ParamTensors, Params } from './types.js';

export const unet1dConfigSchema = z.strictObject({
  _class_name: z.literal('UNet1DModel').optional(),
  _diffusers_version: z.string().optional(),
  /** Signal length L; must be divisible by 2^(levels − 1). */
  sample_size: positiveInt.default(64),
  /** Channels of the signal (1 for mono audio or a univariate series). */
  in_channels: positiveInt.default(1),
  out_channels: positiveInt.default(1),
  /** Width of each resolution level, finest first; one downsampling between consecutive levels. */
  block_out_channels: z.array(positiveInt).min(1).default([32, 64, 64]),
  /** ResNet blocks per down level (up levels have one more, for the extra skip). */
  layers_per_block: positiveInt.default(1),
  /** GroupNorm groups; must divide every width. */
  norm_num_groups: positiveInt.default(8),
  norm_eps: z.number().positive().default(1e-5),
  /** Cos before sin in the sinusoidal time features (UNet2DModel's default). */
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
  /** Number of class labels for class-conditional models (null: unconditional). */
  num_class_embeds: positiveInt.nullable().default(null),
});

export type UNet1DConfig = z.output<typeof unet1dConfigSchema>;
export type UNet1DConfigInput = z.input<typeof unet1dConfigSchema>;

/** Validated config with defaults filled in; ConfigError names the key and the fix. */
export function unet1dConfig(input: UNet1DConfigInput | Record<string, unknown> = {}): UNet1DConfig {
  const config = parseModelConfig(unet1dConfigSchema, input, 'UNet1DModel');
  const bad = config.block_out_channels.find((c) => c % config.norm_num_groups !== 0);
  if (bad !== undefined) {
    throw new ConfigError(
      `UNet1DModel config: norm_num_groups ${config.norm_num_groups} does not divide block width ${bad}`,
      { hint: 'choose norm_num_groups dividing every entry of block_out_channels' },
    );
  }
  const factor = 2 ** (config.block_out_channels.length - 1);
  if (config.sample_size % factor !== 0) throw indivisible('sample_size', config.sample_size, factor);
  return config;
}

function indivisible(what: string, length: number, factor: number): ConfigError {
  return new ConfigError(
    `UNet1DModel: ${what} ${length} is not divisible by ${factor}, which the ${Math.log2(factor)} downsamplings need`,
    { hint: `pad or crop signals to a multiple of ${factor}, or use fewer block_out_channels` },
  );
}

interface Resnet1D {
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, x: Tensor, temb: Tensor): Tensor;
}

/**
 * diffusers' ResnetBlock2D in 1-D ('default' time-embedding norm): h = conv1(silu(norm1(x))) +
 * time_emb_proj(silu(temb)); h = conv2(silu(norm2(h))); out = shortcut(x) + h.
 */
function resnet1d(prefix: string, inC: number, outC: number, tembC: number, config: UNet1DConfig): Resnet1D {
  const groups = config.norm_num_groups;
  const k3 = { kernelSize: 3, padding: 1 };
  const norm1 = groupNorm(`${prefix}.norm1`, groups, inC, config.norm_eps);
  const conv1 = conv1d(`${prefix}.conv1`, inC, outC, k3);
  const timeProj = linear(`${prefix}.time_emb_proj`, tembC, outC);
  const norm2 = groupNorm(`${prefix}.norm2`, groups, outC, config.norm_eps);
  const conv2 = conv1d(`${prefix}.conv2`, outC, outC, k3);
  const shortcut = inC === outC ? null : conv1d(`${prefix}.conv_shortcut`, inC, outC, { kernelSize: 1 });
  const layers: Layer[] = [norm1, conv1, timeProj, norm2, conv2, ...(shortcut ? [shortcut] : [])];
  return {
    specs: mergeSpecs(...layers.map((l) => l.specs)),
    apply(params, x, temb) {
      let h = conv1.apply(params, silu(norm1.apply(params, x)));
      const shift = timeProj.apply(params, silu(temb));
      h = add(h, reshape(shift, [shift.shape[0], outC, 1]));
      h = conv2.apply(params, silu(norm2.apply(params, h)));
      return add(shortcut ? shortcut.apply(params, x) : x, h);
    },
  };
}

interface Level {
  readonly resnets: Resnet1D[];
  /** Downsampler (down path) or upsampler conv (up path); null on the last level of a path. */
  readonly resample: Layer | null;
}

/** The network's blocks for one config, with the channel bookkeeping of diffusers' UNet2DModel. */
function buildBlocks(config: UNet1DConfig) {
  const widths = config.block_out_channels;
  const tembC = widths[0] * 4;
  const k3 = { kernelSize: 3, padding: 1 };
  const last = widths.length - 1;
  const down: Level[] = widths.map((outC, i) => {
    const inC = i === 0 ? widths[0] : widths[i - 1];
    const resnets = Array.from({ length: config.layers_per_block }, (_, j) =>
      resnet1d(`down_blocks.${i}.resnets.${j}`, j === 0 ? inC : outC, outC, tembC, config),
    );
    const resample =
      i === last ? null : conv1d(`down_blocks.${i}.downsamplers.0.conv`, outC, outC, { ...k3, stride: 2 });
    return { resnets, resample };
  });
  const mid = [0, 1].map((j) =>
    resnet1d(`mid_block.resnets.${j}`, widths[last], widths[last], tembC, config),
  );
  const reversed = [...widths].reverse();
  const up: Level[] = reversed.map((outC, i) => {
    const prevC = i === 0 ? reversed[0] : reversed[i - 1];
    const skipIn = reversed[Math.min(i + 1, last)];
    const resnets = Array.from({ length: config.layers_per_block + 1 }, (_, j) => {
      const skipC = j === config.layers_per_block ? skipIn : outC;
      const resIn = j === 0 ? prevC : outC;
      return resnet1d(`up_blocks.${i}.resnets.${j}`, resIn + skipC, outC, tembC, config);
    });
    const resample = i === last ? null : conv1d(`up_blocks.${i}.upsamplers.0.conv`, outC, outC, k3);
    return { resnets, resample };
  });
  return {
    tembC,
    timeEmbedding: timestepEmbedding('time_embedding', widths[0], tembC),
    classEmbedding:
      config.num_class_embeds === null ? null : embedding('class_embedding', config.num_class_embeds, tembC),
    convIn: conv1d('conv_in', config.in_channels, widths[0], k3),
    down,
    mid,
    up,
    normOut: groupNorm('conv_norm_out', config.norm_num_groups, widths[0], config.norm_eps),
    convOut: conv1d('conv_out', widths[0], config.out_channels, k3),
  };
}

export class UNet1DModel implements DenoiserNetwork<UNet1DConfig> {
  readonly className = 'UNet1DModel';
  readonly config: UNet1DConfig;
  readonly sampleShape: readonly number[];
  readonly numClassEmbeds: number | null;
  private readonly blocks: ReturnType<typeof buildBlocks>;
  private readonly specs: ParamSpecs;

  constructor(config: UNet1DConfigInput | Record<string, unknown> = {}) {
    this.config = unet1dConfig(config);
    this.sampleShape = [this.config.in_channels, this.config.sample_size];
    this.numClassEmbeds = this.config.num_class_embeds;
    this.blocks = buildBlocks(this.config);
    const b = this.blocks;
    const levels = [...b.down, ...b.up];
    this.specs = mergeSpecs(
      b.timeEmbedding.specs,
      ...(b.classEmbedding ? [b.classEmbedding.specs] : []),
      b.convIn.specs,
      ...levels.flatMap((l) => [...l.resnets.map((r) => r.specs), ...(l.resample ? [l.resample.specs] : [])]),
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
    const temb = this.conditioning(params, inputs.timestep, inputs.classLabels);
    let h = b.convIn.apply(params, inputs.sample);
    const skips: Tensor[] = [h];
    for (const level of b.down) {
      for (const resnet of level.resnets) skips.push((h = resnet.apply(params, h, temb)));
      if (level.resample) skips.push((h = level.resample.apply(params, h)));
    }
    for (const resnet of b.mid) h = resnet.apply(params, h, temb);
    for (const level of b.up) {
      for (const resnet of level.resnets) h = resnet.apply(params, concat([h, skips.pop()!], 1), temb);
      if (level.resample) h = level.resample.apply(params, upsample(h, 2, 'nearest'));
    }
    return b.convOut.apply(params, silu(b.normOut.apply(params, h)));
  }

  /** Time embedding MLP of the sinusoidal features, plus the class embedding when conditional. */
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

  /** Any length divisible by 2^(levels − 1) works (the config's sample_size is the default length). */
  private checkInputs({ sample, timestep, classLabels }: DenoiserInputs): void {
    const c = this.config.in_channels;
    if (sample.rank !== 3 || sample.shape[1] !== c) {
      throw new ShapeError(
        `UNet1DModel: sample must be [batch, ${c}, length], got [${sample.shape.join(', ')}]`,
      );
    }
    const factor = 2 ** (this.config.block_out_channels.length - 1);
    if (sample.shape[2] % factor !== 0) throw indivisible('signal length', sample.shape[2], factor);
    if (timestep.rank !== 1 || timestep.shape[0] !== sample.shape[0]) {
      throw new ShapeError(
        `UNet1DModel: timestep must be [${sample.shape[0]}], got [${timestep.shape.join(', ')}]`,
      );
    }
    if (classLabels !== undefined && this.numClassEmbeds === null) {
      throw new ShapeError('UNet1DModel: class labels given to an unconditional model', {
        hint: 'set num_class_embeds in the config to train a class-conditional model',
      });
    }
    if (this.numClassEmbeds !== null && classLabels === undefined) {
      throw new ShapeError('UNet1DModel: this model is class-conditional and needs class labels');
    }
  }
}
