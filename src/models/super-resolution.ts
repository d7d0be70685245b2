/**
 * A diffusion super-resolution network after SR3 (Saharia et al. 2021) and Imagen's super-resolution
 * stages: UNet2DModel with 2C + 1 input channels — [the noisy high-resolution sample, the low-resolution
 * image upsampled (bilinear) to the sample's size, a constant channel holding the noise-augmentation
 * level s] — and C output channels. Noise-conditioning augmentation (Ho et al. 2021, "Cascaded
 * Diffusion Models", §3.2): the upsampled condition u is corrupted variance-preservingly,
 * z = √(1 − s²)·u + s·ε with ε ~ N(0, I); in training s ~ U[0, max_aug_level] per example, at sampling
 * a fixed chosen s. The level reaches the network as the extra constant channel (not the class-label
 * slot, which stays free for class-conditional stages). The conditioning (DenoiserInputs.conditioning)
 * is [C + 1, H, W]: the augmented condition z, then s. Training builds it from the clean image itself:
 * area (average) pooling by sample_size / low_res_size, bilinear up again, augment. With no
 * conditioning the network sees z = 0 and s = 1 (nothing known; what `train`'s preview samples use).
 * Parameter names are the inner UNet2DModel's, so the weights load as a UNet2DModel with 2C + 1 inputs.
 *
 * This module must not know about schedules, losses or samplers.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { concat, full } from '../engine/index.js';
import { areaDownsample, upsample } from '../io/tensor-resize.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { parseModelConfig, positiveInt } from './config.js';
import type { ConditioningSpec, DenoiserInputs, DenoiserNetwork, ParamTensors, Params } from './types.js';
import { UNet2DModel } from './unet2d.js';

export const superResolutionConfigSchema = z.strictObject({
  _class_name: z.literal('SuperResolutionUNet2DModel').optional(),
  _diffusers_version: z.string().optional(),
  /** Side of the (square) high-resolution output. */
  sample_size: positiveInt.default(28),
  /** Side of the low-resolution input; must divide sample_size (area pooling by an integer factor). */
  low_res_size: positiveInt.default(14),
  /** Image channels C. */
  in_channels: positiveInt.default(1),
  /** Must equal in_channels. */
  out_channels: positiveInt.default(1),
  /** Training draws the augmentation level s uniformly from [0, max_aug_level] (0 ≤ max < 1). */
  max_aug_level: z.number().min(0).lt(1).default(0.3),
  /** The inner UNet2DModel's widths, blocks and norms (see unet2d.ts). */
  block_out_channels: z.array(positiveInt).min(1).default([32, 64]),
  down_block_types: z.array(z.string()).min(1).default(['DownBlock2D', 'DownBlock2D']),
  up_block_types: z.array(z.string()).min(1).default(['UpBlock2D', 'UpBlock2D']),
  layers_per_block: positiveInt.default(1),
  norm_num_groups: positiveInt.default(8),
  /** Class embeddings for a class-conditional stage (labels + the null class), or null. */
  num_class_embeds: positiveInt.nullable().default(null),
});

export type SuperResolutionConfig = z.output<typeof superResolutionConfigSchema>;
export type SuperResolutionConfigInput = z.input<typeof superResolutionConfigSchema>;

/** Validated config with defaults filled in; ConfigError names the key and the fix. */
export function superResolutionConfig(
  input: SuperResolutionConfigInput | Record<string, unknown> = {},
): SuperResolutionConfig {
  const config = parseModelConfig(superResolutionConfigSchema, input, 'SuperResolutionUNet2DModel');
  if (config.out_channels !== config.in_channels) {
    throw new ConfigError(
      `SuperResolutionUNet2DModel: out_channels ${config.out_channels} must equal in_channels ${config.in_channels}`,
    );
  }
  if (config.low_res_size >= config.sample_size || config.sample_size % config.low_res_size !== 0) {
    throw new ConfigError(
      `SuperResolutionUNet2DModel: low_res_size ${config.low_res_size} must be a proper divisor of sample_size ${config.sample_size}`,
      { hint: 'e.g. sample_size 28 with low_res_size 14 (×2) or 7 (×4)' },
    );
  }
  return config;
}

export class SuperResolutionUNet2DModel implements DenoiserNetwork<SuperResolutionConfig> {
  readonly className = 'SuperResolutionUNet2DModel';
  readonly config: SuperResolutionConfig;
  readonly sampleShape: readonly number[];
  readonly numClassEmbeds: number | null;
  readonly conditioningInput: ConditioningSpec;
  /** Upscaling factor sample_size / low_res_size. */
  readonly factor: number;
  private readonly inner: UNet2DModel;

  constructor(config: SuperResolutionConfigInput | Record<string, unknown> = {}) {
    this.config = superResolutionConfig(config);
    const { sample_size: size, in_channels: channels } = this.config;
    this.sampleShape = [channels, size, size];
    this.factor = size / this.config.low_res_size;
    this.numClassEmbeds = this.config.num_class_embeds;
    this.inner = new UNet2DModel({
      sample_size: size,
      in_channels: 2 * channels + 1,
      out_channels: channels,
      block_out_channels: this.config.block_out_channels,
      down_block_types: this.config.down_block_types,
      up_block_types: this.config.up_block_types,
      layers_per_block: this.config.layers_per_block,
      norm_num_groups: this.config.norm_num_groups,
      num_class_embeds: this.config.num_class_embeds,
    });
    this.conditioningInput = {
      shape: [channels + 1, size, size],
      fromClean: (clean, batch, random) => this.trainingConditioning(clean, batch, random),
    };
  }

  paramTypes(): Record<string, TensorType> {
    return this.inner.paramTypes();
  }

  init(random: Random): Params {
    return this.inner.init(random);
  }

  apply(params: ParamTensors, inputs: DenoiserInputs): Tensor {
    const { sample } = inputs;
    const [channels, size] = this.sampleShape;
    if (sample.rank !== 4 || sample.shape[1] !== channels || sample.shape[2] !== size || sample.shape[3] !== size) {
      throw new ShapeError(
        `SuperResolutionUNet2DModel: sample must be [batch, ${channels}, ${size}, ${size}], got [${sample.shape.join(', ')}]`,
      );
    }
    const batch = sample.shape[0];
    const cond =
      inputs.conditioning ??
      concat([full(sample, [batch, channels, size, size], 0), full(sample, [batch, 1, size, size], 1)], 1);
    const expected = [batch, channels + 1, size, size];
    if (cond.rank !== 4 || cond.shape.some((n, i) => n !== expected[i])) {
      throw new ShapeError(
        `SuperResolutionUNet2DModel: conditioning must be [${expected.join(', ')}] (condition, then level), got [${cond.shape.join(', ')}]`,
      );
    }
    return this.inner.apply(params, { ...inputs, sample: concat([sample, cond], 1), conditioning: undefined });
  }

  /**
   * The conditioning [n, C + 1, H, W] for low-resolution images [n, C, h, w]: upsampled (bilinear),
   * augmented at `levels` (one per image, or one for all) with noise from `random` (module header).
   */
  conditioningFor(lowRes: Float32Array<ArrayBufferLike>, batch: number, levels: number | readonly number[], random: Random): Float32Array {
    const [channels, size] = this.sampleShape;
    const low = this.config.low_res_size;
    const up = upsample(lowRes, { batch, channels, height: low, width: low }, size, size, 'bilinear');
    const plane = size * size;
    const out = new Float32Array(batch * (channels + 1) * plane);
    for (let b = 0; b < batch; b++) {
      const s = typeof levels === 'number' ? levels : levels[b];
      if (!(s >= 0 && s < 1)) throw new ConfigError(`noise-augmentation level ${s} is outside [0, 1)`);
      const keep = Math.sqrt(1 - s * s);
      const base = b * (channels + 1) * plane;
      for (let i = 0; i < channels * plane; i++) {
        const u = up[b * channels * plane + i];
        out[base + i] = s > 0 ? keep * u + s * random.normal() : u;
      }
      out.fill(s, base + channels * plane, base + (channels + 1) * plane);
    }
    return out;
  }

  /** Low-resolution images [n, C, h, w] of clean images [n, C, H, W]: area (average) pooling. */
  downsample(clean: Float32Array, batch: number): Float32Array {
    const [channels, size] = this.sampleShape;
    return areaDownsample(clean, { batch, channels, height: size, width: size }, this.factor);
  }

  /** Training conditioning: each clean image pooled, upsampled and augmented at s ~ U[0, max_aug_level]. */
  private trainingConditioning(clean: Float32Array, batch: number, random: Random): Float32Array {
    const perExample = this.sampleShape.reduce((a, b) => a * b, 1);
    if (clean.length !== batch * perExample) {
      throw new ShapeError(
        `SuperResolutionUNet2DModel: ${clean.length} values are not ${batch} images of [${this.sampleShape.join(', ')}]`,
      );
    }
    const levels = Array.from({ length: batch }, () => random.uniform() * this.config.max_aug_level);
    return this.conditioningFor(this.downsample(clean, batch), batch, levels, random);
  }
}
