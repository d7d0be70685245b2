/**
 * diffusers' AutoencoderKL, the KL-regularised autoencoder of latent diffusion (Rombach et al. 2022,
 * §3 and appendix G): an encoder of DownEncoderBlock2D levels (ResNet blocks without a time input,
 * stride-2 convolutions), a mid block with one self-attention, and `conv_out` giving 2·latent_channels
 * moments; `quant_conv` / `post_quant_conv` 1×1 convolutions; a mirrored decoder. The posterior is a
 * diagonal Gaussian N(mean, exp(logvar)) with logvar clamped to [−30, 20] as diffusers does, and its
 * KL divergence to N(0, I) regularises the latent space. Parameter names and config keys are
 * diffusers' (`encoder.down_blocks.0.resnets.0.conv1.weight`, `scaling_factor`, …), so its weights load
 * from and save to a diffusers `vae/` folder. Latents handed to a diffusion model are z·scaling_factor.
 *
 * This module must not train or sample: it offers the network, the posterior and the loss terms as
 * functions of engine tensors.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import {
  add,
  exp,
  maximum,
  mean,
  minimum,
  mul,
  pad,
  silu,
  slice,
  sub,
  sum,
  upsample,
} from '../engine/index.js';
import type { Layer, ParamSpecs } from '../nn/index.js';
import { conv2d, groupNorm, initParams, mergeSpecs, paramTypesOf, spatialAttention } from '../nn/index.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { ParamTensors, Params } from './types.js';

const positiveInt = z.number().int().positive();

/** diffusers' AutoencoderKL `config.json`, with diffusers' defaults for missing keys. */
export const autoencoderKLConfigSchema = z.object({
  _class_name: z.literal('AutoencoderKL').optional(),
  _diffusers_version: z.string().optional(),
  in_channels: positiveInt.default(3),
  out_channels: positiveInt.default(3),
  /** One entry per level; only diffusers' plain encoder/decoder blocks exist in AutoencoderKL. */
  down_block_types: z.array(z.literal('DownEncoderBlock2D')).min(1).default(['DownEncoderBlock2D']),
  up_block_types: z.array(z.literal('UpDecoderBlock2D')).min(1).default(['UpDecoderBlock2D']),
  /** Width of each level, finest first; one 2× downsampling between consecutive levels. */
  block_out_channels: z.array(positiveInt).min(1).default([64]),
  layers_per_block: positiveInt.default(1),
  act_fn: z.literal('silu').default('silu'),
  latent_channels: positiveInt.default(4),
  norm_num_groups: positiveInt.default(32),
  sample_size: positiveInt.default(32),
  /** Latents given to the diffusion model are z·scaling_factor (unit variance on the training data). */
  scaling_factor: z.number().positive().default(0.18215),
  shift_factor: z.number().nullable().default(null),
  latents_mean: z.array(z.number()).nullable().default(null),
  latents_std: z.array(z.number()).nullable().default(null),
  force_upcast: z.boolean().default(true),
  use_quant_conv: z.boolean().default(true),
  use_post_quant_conv: z.boolean().default(true),
  mid_block_add_attention: z.boolean().default(true),
});

export type AutoencoderKLConfig = z.output<typeof autoencoderKLConfigSchema> & {
  _class_name: 'AutoencoderKL';
};
export type AutoencoderKLConfigInput = z.input<typeof autoencoderKLConfigSchema>;

/** Validated config; ConfigError names the key and the fix. */
export function autoencoderKLConfig(
  input: AutoencoderKLConfigInput | Record<string, unknown> = {},
): AutoencoderKLConfig {
  const parsed = autoencoderKLConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`AutoencoderKL config: '${issue.path.join('.')}' ${issue.message}`, {
      hint: 'check the keys of the vae config.json',
    });
  }
  const config = { ...parsed.data, _class_name: 'AutoencoderKL' as const };
  const levels = config.block_out_channels.length;
  for (const key of ['down_block_types', 'up_block_types'] as const) {
    if (config[key].length !== levels) {
      throw new ConfigError(
        `AutoencoderKL config: ${key} has ${config[key].length} entries but block_out_channels has ${levels}`,
        { hint: 'give one block type per entry of block_out_channels' },
      );
    }
  }
  const bad = config.block_out_channels.find((c) => c % config.norm_num_groups !== 0);
  if (bad !== undefined) {
    throw new ConfigError(
      `AutoencoderKL config: norm_num_groups ${config.norm_num_groups} does not divide block width ${bad}`,
      { hint: 'choose norm_num_groups dividing every entry of block_out_channels' },
    );
  }
  return config;
}

/** diffusers builds every VAE norm with eps 1e-6. */
const EPS = 1e-6;

type Block = Layer;

function sequence(prefix: string, layers: readonly Layer[]): Block {
  return {
    prefix,
    specs: mergeSpecs(...layers.map((l) => l.specs)),
    apply: (params, x) => layers.reduce((h, layer) => layer.apply(params, h), x),
  };
}

/** ResnetBlock2D without a time embedding: out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))). */
function resnet(prefix: string, inC: number, outC: number, groups: number): Block {
  const k3 = { kernelSize: 3, padding: 1 };
  const norm1 = groupNorm(`${prefix}.norm1`, groups, inC, EPS);
  const conv1 = conv2d(`${prefix}.conv1`, inC, outC, k3);
  const norm2 = groupNorm(`${prefix}.norm2`, groups, outC, EPS);
  const conv2 = conv2d(`${prefix}.conv2`, outC, outC, k3);
  const shortcut = inC === outC ? null : conv2d(`${prefix}.conv_shortcut`, inC, outC, { kernelSize: 1 });
  return {
    prefix,
    specs: mergeSpecs(norm1.specs, conv1.specs, norm2.specs, conv2.specs, shortcut?.specs ?? {}),
    apply(params, x) {
      const h = conv1.apply(params, silu(norm1.apply(params, x)));
      const out = conv2.apply(params, silu(norm2.apply(params, h)));
      return add(shortcut ? shortcut.apply(params, x) : x, out);
    },
  };
}

/** Downsample2D(padding=0): pad right and bottom by one, then a 3×3 stride-2 convolution. */
function downsampler(prefix: string, channels: number): Block {
  const conv = conv2d(`${prefix}.conv`, channels, channels, { kernelSize: 3, stride: 2 });
  return {
    prefix,
    specs: conv.specs,
    apply: (params, x) => conv.apply(params, pad(x, [0, 0, 0, 0, 0, 0, 1, 1])),
  };
}

/** Upsample2D: nearest ×2, then a 3×3 convolution. */
function upsampler(prefix: string, channels: number): Block {
  const conv = conv2d(`${prefix}.conv`, channels, channels, { kernelSize: 3, padding: 1 });
  return { prefix, specs: conv.specs, apply: (params, x) => conv.apply(params, upsample(x, 2, 'nearest')) };
}

/** UNetMidBlock2D without time: resnet, one-head attention over all positions (optional), resnet. */
function midBlock(prefix: string, channels: number, config: AutoencoderKLConfig): Block {
  const groups = config.norm_num_groups;
  const attention = config.mid_block_add_attention
    ? [
        spatialAttention(`${prefix}.attentions.0`, {
          channels,
          headDim: channels,
          normGroups: groups,
          eps: EPS,
        }),
      ]
    : [];
  return sequence(prefix, [
    resnet(`${prefix}.resnets.0`, channels, channels, groups),
    ...attention,
    resnet(`${prefix}.resnets.1`, channels, channels, groups),
  ]);
}

/** GroupNorm → SiLU → 3×3 conv, the output head of encoder and decoder. */
function outputHead(prefix: string, inC: number, outC: number, groups: number): Block {
  const norm = groupNorm(`${prefix}.conv_norm_out`, groups, inC, EPS);
  const conv = conv2d(`${prefix}.conv_out`, inC, outC, { kernelSize: 3, padding: 1 });
  return {
    prefix,
    specs: mergeSpecs(norm.specs, conv.specs),
    apply: (params, x) => conv.apply(params, silu(norm.apply(params, x))),
  };
}

function encoder(config: AutoencoderKLConfig): Block {
  const widths = config.block_out_channels;
  const groups = config.norm_num_groups;
  const levels = widths.map((outC, i) => {
    const inC = i === 0 ? widths[0] : widths[i - 1];
    const resnets = Array.from({ length: config.layers_per_block }, (_, j) =>
      resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? inC : outC, outC, groups),
    );
    const down =
      i === widths.length - 1 ? [] : [downsampler(`encoder.down_blocks.${i}.downsamplers.0`, outC)];
    return sequence(`encoder.down_blocks.${i}`, [...resnets, ...down]);
  });
  const last = widths[widths.length - 1];
  return sequence('encoder', [
    conv2d('encoder.conv_in', config.in_channels, widths[0], { kernelSize: 3, padding: 1 }),
    ...levels,
    midBlock('encoder.mid_block', last, config),
    outputHead('encoder', last, 2 * config.latent_channels, groups),
  ]);
}

function decoder(config: AutoencoderKLConfig): Block {
  const reversed = [...config.block_out_channels].reverse();
  const groups = config.norm_num_groups;
  const levels = reversed.map((outC, i) => {
    const inC = i === 0 ? reversed[0] : reversed[i - 1];
    const resnets = Array.from({ length: config.layers_per_block + 1 }, (_, j) =>
      resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? inC : outC, outC, groups),
    );
    const up = i === reversed.length - 1 ? [] : [upsampler(`decoder.up_blocks.${i}.upsamplers.0`, outC)];
    return sequence(`decoder.up_blocks.${i}`, [...resnets, ...up]);
  });
  return sequence('decoder', [
    conv2d('decoder.conv_in', config.latent_channels, reversed[0], { kernelSize: 3, padding: 1 }),
    midBlock('decoder.mid_block', reversed[0], config),
    ...levels,
    outputHead('decoder', reversed[reversed.length - 1], config.out_channels, groups),
  ]);
}

/** The diagonal Gaussian posterior q(z | x) = N(mean, diag(exp(logvar))), each [B, latent, h, w]. */
export interface DiagonalGaussian {
  readonly mean: Tensor;
  readonly logvar: Tensor;
}

/** Splits moments [B, 2·C, h, w] into mean and logvar (clamped to [−30, 20] as diffusers does). */
export function diagonalGaussian(moments: Tensor): DiagonalGaussian {
  const [b, c2, h, w] = moments.shape;
  const c = c2 / 2;
  const meanPart = slice(moments, [0, 0, 0, 0], [b, c, h, w]);
  const logvar = slice(moments, [0, c, 0, 0], [b, c2, h, w]);
  return { mean: meanPart, logvar: minimum(maximum(logvar, -30), 20) };
}

/** Reparameterised sample z = mean + exp(logvar / 2)·ε, with ε ~ N(0, I) given by the caller. */
export function samplePosterior(posterior: DiagonalGaussian, noise: Tensor): Tensor {
  return add(posterior.mean, mul(exp(mul(posterior.logvar, 0.5)), noise));
}

/** KL(N(μ, σ²) ‖ N(0, I)) per batch element: ½ Σ (μ² + σ² − 1 − log σ²) over [C, h, w]. */
export function klDivergence(posterior: DiagonalGaussian): Tensor {
  const { mean: mu, logvar } = posterior;
  const terms = sub(add(mul(mu, mu), exp(logvar)), add(logvar, 1));
  return mul(sum(terms, [1, 2, 3]), 0.5);
}

export interface AutoencoderLoss {
  /** reconstruction + klWeight·kl. */
  readonly loss: Tensor;
  /** Mean squared error of the reconstruction over every element. */
  readonly reconstruction: Tensor;
  /** Mean over the batch of the per-sample KL divergence. */
  readonly kl: Tensor;
}

export class AutoencoderKL {
  readonly className = 'AutoencoderKL';
  readonly config: AutoencoderKLConfig;
  /** Spatial downsampling factor from image to latent: 2^(levels − 1). */
  readonly downsamplingFactor: number;
  private readonly encoder: Block;
  private readonly decoder: Block;
  private readonly quantConv: Layer | null;
  private readonly postQuantConv: Layer | null;
  private readonly specs: ParamSpecs;

  constructor(config: AutoencoderKLConfigInput | Record<string, unknown> = {}) {
    this.config = autoencoderKLConfig(config);
    const latent = this.config.latent_channels;
    this.downsamplingFactor = 2 ** (this.config.block_out_channels.length - 1);
    this.encoder = encoder(this.config);
    this.decoder = decoder(this.config);
    this.quantConv = this.config.use_quant_conv
      ? conv2d('quant_conv', 2 * latent, 2 * latent, { kernelSize: 1 })
      : null;
    this.postQuantConv = this.config.use_post_quant_conv
      ? conv2d('post_quant_conv', latent, latent, { kernelSize: 1 })
      : null;
    this.specs = mergeSpecs(
      this.encoder.specs,
      this.decoder.specs,
      this.quantConv?.specs ?? {},
      this.postQuantConv?.specs ?? {},
    );
  }

  paramTypes(): Record<string, TensorType> {
    return paramTypesOf(this.specs);
  }

  /** PyTorch defaults: convs and linears U(±1/√fan_in), GroupNorm ones/zeros. */
  init(random: Random): Params {
    return initParams(this.specs, random);
  }

  /** q(z | x) for images x: [B, in_channels, H, W] with H, W divisible by the downsampling factor. */
  encode(params: ParamTensors, x: Tensor): DiagonalGaussian {
    this.checkImage(x);
    const moments = this.encoder.apply(params, x);
    return diagonalGaussian(this.quantConv ? this.quantConv.apply(params, moments) : moments);
  }

  /** Images [B, out_channels, H, W] from unscaled latents z: [B, latent_channels, h, w]. */
  decode(params: ParamTensors, z: Tensor): Tensor {
    if (z.rank !== 4 || z.shape[1] !== this.config.latent_channels) {
      throw new ShapeError(
        `AutoencoderKL: latents must be [batch, ${this.config.latent_channels}, h, w], got [${z.shape.join(', ')}]`,
      );
    }
    return this.decoder.apply(params, this.postQuantConv ? this.postQuantConv.apply(params, z) : z);
  }

  /** Latents as a diffusion model sees them: (z − shift_factor)·scaling_factor. */
  scaleLatents(z: Tensor): Tensor {
    const shifted = this.config.shift_factor === null ? z : sub(z, this.config.shift_factor);
    return mul(shifted, this.config.scaling_factor);
  }

  /** The inverse of `scaleLatents`: z = latents / scaling_factor + shift_factor. */
  unscaleLatents(latents: Tensor): Tensor {
    const z = mul(latents, 1 / this.config.scaling_factor);
    return this.config.shift_factor === null ? z : add(z, this.config.shift_factor);
  }

  /**
   * The VAE training objective with a sampled latent (ε given by the caller, same shape as the
   * posterior mean): MSE(decode(z), x) + klWeight·KL (the LDM autoencoder without its perceptual and
   * adversarial terms; Rombach et al. use a KL weight of 1e-6 on summed errors).
   */
  loss(params: ParamTensors, x: Tensor, noise: Tensor, klWeight = 1e-6): AutoencoderLoss {
    const posterior = this.encode(params, x);
    const reconstructed = this.decode(params, samplePosterior(posterior, noise));
    const diff = sub(reconstructed, x);
    const reconstruction = mean(mul(diff, diff));
    const kl = mean(klDivergence(posterior));
    return { loss: add(reconstruction, mul(kl, klWeight)), reconstruction, kl };
  }

  /** Latent shape [latent_channels, h, w] for images of size H×W. */
  latentShape(height: number, width: number): number[] {
    const f = this.downsamplingFactor;
    return [this.config.latent_channels, Math.ceil(height / f), Math.ceil(width / f)];
  }

  private checkImage(x: Tensor): void {
    const c = this.config.in_channels;
    if (x.rank !== 4 || x.shape[1] !== c) {
      throw new ShapeError(`AutoencoderKL: images must be [batch, ${c}, H, W], got [${x.shape.join(', ')}]`);
    }
    const f = this.downsamplingFactor;
    if (x.shape[2] % f !== 0 || x.shape[3] % f !== 0) {
      throw new ShapeError(
        `AutoencoderKL: image size ${x.shape[2]}×${x.shape[3]} is not divisible by ${f}, which the encoder needs`,
        { hint: `resize or pad images to a multiple of ${f}` },
      );
    }
  }
}
