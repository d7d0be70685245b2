/**
 * A ControlNet (Zhang et al. 2023) for a base UNet2DModel: a trainable copy of the U-Net's encoder —
 * time and class embedding, `conv_in`, `down_blocks.*`, `mid_block.*` — fed the noisy sample plus an
 * embedded conditioning image (edges, masks, …), whose skip tensors and mid output pass through
 * zero-initialised 1×1 convolutions and become the residuals the base adds to its own skips and mid
 * output (`DenoiserInputs.controlResiduals`). Parameter names follow diffusers' ControlNetModel
 * (`controlnet_cond_embedding.{conv_in,blocks.i,conv_out}`, `controlnet_down_blocks.i`,
 * `controlnet_mid_block`, and the encoder's own names), but diffusers builds its ControlNetModel only
 * for UNet2DConditionModel (cross-attention blocks, a mid block without self-attention); this one copies
 * UNet2DModel's encoder, so its config.json carries the UNet2DModel keys plus `conditioning_channels`
 * and `conditioning_embedding_out_channels`, and diffusers' class does not load it. The conditioning
 * image is [batch, conditioning_channels, H·2^(n−1), W·2^(n−1)] in [0, 1] for n embedding widths (one
 * width: the sample's own size). Because every output projection starts at zero, a fresh ControlNet
 * leaves the base output exactly unchanged (paper, eq. 2 and §3.1).
 *
 * This module must not read files, train or sample; it only declares parameters and traces the forward.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { add, mul, silu } from '../engine/index.js';
import type { Layer } from '../nn/layers.js';
import { conv2d } from '../nn/layers.js';
import type { ParamSpecs } from '../nn/params.js';
import { initParams, joinName, mergeSpecs, paramTypesOf } from '../nn/params.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { ControlResiduals, DenoiserInputs, Params, ParamTensors } from './types.js';
import type { UNet2DConfig, UNetEncoder } from './unet2d.js';
import { parseUNet2DConfig, UNet2DModel, unet2dConfigSchema, unetEncoder } from './unet2d.js';

export const CONTROLNET_CLASS = 'ControlNetModel';

const positiveInt = z.number().int().positive();

/** The ControlNet's config.json: the base UNet2DModel's keys plus the conditioning embedding's. */
export const controlNetConfigSchema = unet2dConfigSchema.omit({ _class_name: true }).extend({
  _class_name: z.literal(CONTROLNET_CLASS).optional(),
  /** Channels of the conditioning image (1: a grey edge map). */
  conditioning_channels: positiveInt.default(3),
  /** Widths of the conditioning embedding's stages; each stage after the first halves the size. */
  conditioning_embedding_out_channels: z.array(positiveInt).min(1).default([16, 32, 96, 256]),
});

export type ControlNetConfigInput = z.input<typeof controlNetConfigSchema>;
export type ControlNetConfig = z.output<typeof controlNetConfigSchema> & { _class_name: 'ControlNetModel' };

/** A validated ControlNet config, or a ConfigError naming the key and the fix. */
export function parseControlNetConfig(input: unknown): ControlNetConfig {
  const parsed = controlNetConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`ControlNetModel config: '${issue.path.join('.')}' ${issue.message}`, {
      hint: 'save the ControlNet with ControlNetModel.fromUNet, or compare the keys with the base config.json',
    });
  }
  return { ...parsed.data, _class_name: CONTROLNET_CLASS };
}

/** The base U-Net config the ControlNet's encoder copies. */
export function baseConfigOf(config: ControlNetConfig): UNet2DConfig {
  const base: Record<string, unknown> = { ...config, _class_name: 'UNet2DModel' };
  delete base.conditioning_channels;
  delete base.conditioning_embedding_out_channels;
  return parseUNet2DConfig(base);
}

/** The same layer with every parameter starting at zero (the ControlNet's "zero convolutions"). */
function zeroed(layer: Layer): Layer {
  const specs: ParamSpecs = Object.fromEntries(
    Object.entries(layer.specs).map(([name, spec]) => [
      name,
      { shape: spec.shape, init: { kind: 'constant', value: 0 } as const },
    ]),
  );
  return { ...layer, specs };
}

/**
 * diffusers' ControlNetConditioningEmbedding: conv_in, then per further width a 3×3 conv and a stride-2
 * 3×3 conv (SiLU after each), then the zero-initialised conv_out to the U-Net's first width.
 */
function conditioningEmbedding(widths: readonly number[], inChannels: number, outChannels: number): Layer {
  const prefix = 'controlnet_cond_embedding';
  const conv = (name: string, from: number, to: number, stride = 1) =>
    conv2d(joinName(prefix, name), from, to, { kernelSize: 3, padding: 1, stride });
  const convIn = conv('conv_in', inChannels, widths[0]);
  const blocks = widths.slice(0, -1).flatMap((w, i) => [
    conv(`blocks.${2 * i}`, w, w),
    conv(`blocks.${2 * i + 1}`, w, widths[i + 1], 2),
  ]);
  const convOut = zeroed(conv('conv_out', widths[widths.length - 1], outChannels));
  const specs = mergeSpecs(convIn.specs, ...blocks.map((b) => b.specs), convOut.specs);
  const apply = (params: ParamTensors, x: Tensor): Tensor => {
    let h = silu(convIn.apply(params, x));
    for (const block of blocks) h = silu(block.apply(params, h));
    return convOut.apply(params, h);
  };
  return { prefix, specs, apply };
}

/** Channels of every skip the U-Net's down path produces, in order (conv_in's output first). */
function skipChannels(config: UNet2DConfig): number[] {
  const channels = config.block_out_channels;
  const out = [channels[0]];
  channels.forEach((c, i) => {
    for (let r = 0; r < config.layers_per_block; r++) out.push(c);
    if (i < channels.length - 1) out.push(c);
  });
  return out;
}

const projection = (prefix: string, channels: number): Layer =>
  zeroed(conv2d(prefix, channels, channels, { kernelSize: 1 }));

export interface ControlNetOptions {
  /** Channels of the conditioning image (default 1). */
  conditioningChannels?: number;
  /** Widths of the conditioning embedding (default [16]: the condition has the sample's own size). */
  conditioningEmbeddingOutChannels?: readonly number[];
}

export class ControlNetModel {
  readonly className = CONTROLNET_CLASS;
  readonly config: ControlNetConfig;
  readonly baseConfig: UNet2DConfig;
  /** Shape of one conditioning image without the batch axis. */
  readonly conditionShape: readonly number[];
  private readonly specs: ParamSpecs;
  private readonly encoder: UNetEncoder;
  private readonly embedding: Layer;
  private readonly downProjections: Layer[];
  private readonly midProjection: Layer;

  constructor(input: unknown) {
    this.config = parseControlNetConfig(input);
    this.baseConfig = baseConfigOf(this.config);
    if (!this.baseConfig.mid_block_type) {
      throw new ConfigError('ControlNetModel config: mid_block_type must be set', {
        hint: 'a ControlNet adds a residual to the mid-block output; its base needs a mid block',
      });
    }
    const widths = this.config.conditioning_embedding_out_channels;
    const base = new UNet2DModel(this.baseConfig);
    const scale = 2 ** (widths.length - 1);
    const [, height, width] = base.sampleShape;
    this.conditionShape = [this.config.conditioning_channels, height * scale, width * scale];
    this.encoder = unetEncoder(this.baseConfig);
    const channels = this.baseConfig.block_out_channels;
    this.embedding = conditioningEmbedding(widths, this.config.conditioning_channels, channels[0]);
    this.downProjections = skipChannels(this.baseConfig).map((c, i) =>
      projection(`controlnet_down_blocks.${i}`, c),
    );
    this.midProjection = projection('controlnet_mid_block', channels[channels.length - 1]);
    this.specs = mergeSpecs(
      this.encoder.specs,
      this.embedding.specs,
      ...this.downProjections.map((p) => p.specs),
      this.midProjection.specs,
    );
  }

  /**
   * A ControlNet for `base` whose encoder starts as a copy of the base's (`baseParams`), its
   * conditioning embedding drawn from `random` and its projections zero.
   */
  static fromUNet(
    base: UNet2DModel,
    baseParams: Params,
    random: Random,
    options: ControlNetOptions = {},
  ): { model: ControlNetModel; params: Params } {
    const model = new ControlNetModel({
      ...base.config,
      _class_name: CONTROLNET_CLASS,
      conditioning_channels: options.conditioningChannels ?? 1,
      conditioning_embedding_out_channels: [...(options.conditioningEmbeddingOutChannels ?? [16])],
    });
    const params = model.init(random);
    for (const name of model.encoderParamNames()) {
      const source = baseParams[name];
      if (!source) {
        throw new ShapeError(`ControlNetModel.fromUNet: base parameter '${name}' is missing`, {
          hint: 'pass the params loaded with the base U-Net',
        });
      }
      params[name] = { data: Float32Array.from(source.data as Float32Array), shape: [...source.shape], dtype: 'float32' };
    }
    return { model, params };
  }

  /** Names of the parameters copied from the base U-Net. */
  encoderParamNames(): string[] {
    return Object.keys(this.encoder.specs).sort();
  }

  paramTypes(): Record<string, TensorType> {
    return paramTypesOf(this.specs);
  }

  init(random: Random): Params {
    return initParams(this.specs, random);
  }

  /**
   * The residuals for the base U-Net's skips and mid output, each multiplied by `scale` (diffusers'
   * `conditioning_scale`): the same inputs the base gets, plus the condition image in [0, 1].
   */
  apply(params: ParamTensors, inputs: DenoiserInputs, condition: Tensor, scale = 1): ControlResiduals {
    this.checkInputs(inputs.sample, condition);
    const { encoder } = this;
    const temb = encoder.embed(params, inputs);
    const stem = add(encoder.stem(params, inputs.sample), this.embedding.apply(params, condition));
    const { h, skips } = encoder.down(params, stem, temb);
    const mid = encoder.mid(params, h, temb);
    const scaled = (t: Tensor) => (scale === 1 ? t : mul(t, scale));
    return {
      down: skips.map((s, i) => scaled(this.downProjections[i].apply(params, s))),
      mid: scaled(this.midProjection.apply(params, mid)),
    };
  }

  private checkInputs(sample: Tensor, condition: Tensor): void {
    const base = this.baseConfig;
    if (sample.rank !== 4 || sample.shape[1] !== base.in_channels) {
      throw new ShapeError(
        `ControlNetModel: sample must be [batch, ${base.in_channels}, height, width], got [${sample.shape.join(', ')}]`,
      );
    }
    const scale = 2 ** (this.config.conditioning_embedding_out_channels.length - 1);
    const expected = [
      sample.shape[0],
      this.config.conditioning_channels,
      sample.shape[2] * scale,
      sample.shape[3] * scale,
    ];
    if (condition.rank !== 4 || condition.shape.some((d, i) => d !== expected[i])) {
      throw new ShapeError(
        `ControlNetModel: condition must be [${expected.join(', ')}], got [${condition.shape.join(', ')}]`,
        { hint: 'one conditioning image per sample, with conditioning_channels channels' },
      );
    }
  }
}
