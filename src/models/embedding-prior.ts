/**
 * A diffusion prior over embedding vectors (unCLIP, Ramesh et al. 2022, §2.2): an MLP denoiser that
 * maps a noisy vector x_t [B, D], its timestep and a condition vector c [B, Dc] (given as
 * `DenoiserInputs.classEmbeds`) to a vector [B, D] — the clean x₀ when trained with the 'sample'
 * objective, as DALL·E 2's prior predicts the unnoised embedding directly. Time enters as diffusers'
 * sinusoidal features and `TimestepEmbedding` MLP; the condition is projected linearly to the hidden
 * width and added to the time embedding, and every residual block (LayerNorm → linear → SiLU → linear)
 * receives that sum. diffusers has no such class; the config uses snake_case keys and
 * `_class_name: 'EmbeddingPrior'`.
 *
 * This module must not know what the vectors are (text or image embeddings of any encoder), nor about
 * schedules, losses or samplers: it maps (x_t, t, c) to a tensor of x_t's shape and nothing else.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { add, silu } from '../engine/index.js';
import type { ParamSpecs } from '../nn/index.js';
import {
  initParams,
  layerNorm,
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

/** The saved config (`config.json`), diffusers-style snake_case keys. */
export const embeddingPriorConfigSchema = z.strictObject({
  _class_name: z.literal('EmbeddingPrior').optional(),
  _diffusers_version: z.string().optional(),
  /** D: width of the generated vector (e.g. an image embedding). */
  embedding_dim: positiveInt,
  /** Dc: width of the condition vector (e.g. a text embedding). */
  condition_dim: positiveInt,
  /** Width of the residual stream and of every hidden layer. */
  hidden_dim: positiveInt.default(256),
  /** Number of residual MLP blocks. */
  num_layers: positiveInt.default(4),
  /** Size of the sinusoidal timestep features fed to the time MLP (even). */
  time_embedding_dim: positiveInt.default(64),
  /** Put cos before sin in the sinusoidal features (diffusers' UNet2DModel default). */
  flip_sin_to_cos: z.boolean().default(true),
  /** diffusers' `downscale_freq_shift`: frequencies are exp(−ln(10⁴)·i/(half − shift)). */
  freq_shift: z.number().default(0),
});

export type EmbeddingPriorConfig = z.output<typeof embeddingPriorConfigSchema>;
export type EmbeddingPriorConfigInput = z.input<typeof embeddingPriorConfigSchema>;

/** Validated config with defaults filled in; ConfigError names the offending key. */
export function embeddingPriorConfig(
  input: EmbeddingPriorConfigInput | Record<string, unknown>,
): EmbeddingPriorConfig {
  const config = parseModelConfig(embeddingPriorConfigSchema, input, 'EmbeddingPrior');
  if (config.time_embedding_dim % 2 !== 0) {
    throw new ConfigError(
      `EmbeddingPrior config: 'time_embedding_dim' must be even, got ${config.time_embedding_dim}`,
    );
  }
  return config;
}

/** The layers of one configuration, built once; `apply` only wires them. */
function buildLayers(config: EmbeddingPriorConfig) {
  const { embedding_dim: d, condition_dim: dc, hidden_dim: h, num_layers, time_embedding_dim } = config;
  return {
    timeEmbedding: timestepEmbedding('time_embedding', time_embedding_dim, h),
    conditionProj: linear('condition_proj', dc, h),
    inputProj: linear('input_proj', d, h),
    blocks: Array.from({ length: num_layers }, (_, i) => ({
      norm: layerNorm(`blocks.${i}.norm`, h),
      linear1: linear(`blocks.${i}.linear_1`, h, h),
      embProj: linear(`blocks.${i}.emb_proj`, h, h),
      linear2: linear(`blocks.${i}.linear_2`, h, h),
    })),
    normOut: layerNorm('norm_out', h),
    outputProj: linear('output_proj', h, d),
  };
}

type Layers = ReturnType<typeof buildLayers>;

function specsOf(layers: Layers): ParamSpecs {
  const { timeEmbedding, conditionProj, inputProj, blocks, normOut, outputProj } = layers;
  return mergeSpecs(
    ...[timeEmbedding, conditionProj, inputProj, normOut, outputProj].map((l) => l.specs),
    ...blocks.flatMap((b) => [b.norm.specs, b.linear1.specs, b.embProj.specs, b.linear2.specs]),
  );
}

/** A network that takes its condition as `classEmbeds` [batch, classEmbedsWidth] (EmbeddingPrior or another). */
export type VectorConditionedNetwork = DenoiserNetwork & { readonly classEmbedsWidth: number };

export class EmbeddingPrior implements DenoiserNetwork<EmbeddingPriorConfig> {
  readonly className = 'EmbeddingPrior';
  readonly config: EmbeddingPriorConfig;
  readonly sampleShape: readonly number[];
  /** Not conditioned on class labels: the condition is a float vector (`classEmbeds`). */
  readonly numClassEmbeds = null;
  /** Dc, the width `DenoiserInputs.classEmbeds` must have. */
  readonly classEmbedsWidth: number;
  private readonly layers: Layers;
  private readonly specs: ParamSpecs;

  constructor(config: EmbeddingPriorConfigInput | Record<string, unknown>) {
    this.config = embeddingPriorConfig(config);
    this.sampleShape = [this.config.embedding_dim];
    this.classEmbedsWidth = this.config.condition_dim;
    this.layers = buildLayers(this.config);
    this.specs = specsOf(this.layers);
  }

  paramTypes(): Record<string, TensorType> {
    return paramTypesOf(this.specs);
  }

  /** PyTorch defaults: nn.Linear U(±1/√fan_in) for weight and bias, nn.LayerNorm ones and zeros. */
  init(random: Random): Params {
    return initParams(this.specs, random);
  }

  apply(params: ParamTensors, inputs: DenoiserInputs): Tensor {
    const condition = this.checkedCondition(inputs);
    const { inputProj, blocks, normOut, outputProj } = this.layers;
    const act = silu(this.embedding(params, inputs.timestep, condition));
    let h = inputProj.apply(params, inputs.sample);
    for (const block of blocks) {
      // Pre-norm residual block: h + W₂·silu(W₁·LN(h) + W_e·silu(emb)).
      const inner = add(block.linear1.apply(params, block.norm.apply(params, h)), block.embProj.apply(params, act));
      h = add(h, block.linear2.apply(params, silu(inner)));
    }
    return outputProj.apply(params, normOut.apply(params, h));
  }

  /** Time embedding MLP of the sinusoidal features plus the linear projection of the condition. */
  private embedding(params: ParamTensors, timestep: Tensor, condition: Tensor): Tensor {
    const { time_embedding_dim, flip_sin_to_cos, freq_shift } = this.config;
    const features = sinusoidalEmbedding(timestep, time_embedding_dim, {
      flipSinToCos: flip_sin_to_cos,
      downscaleFreqShift: freq_shift,
    });
    const temb = this.layers.timeEmbedding.apply(params, features);
    return add(temb, this.layers.conditionProj.apply(params, condition));
  }

  /** The condition tensor, after checking sample [B, D], timestep [B] and classEmbeds [B, Dc]. */
  private checkedCondition({ sample, timestep, classEmbeds }: DenoiserInputs): Tensor {
    const d = this.config.embedding_dim;
    if (sample.rank !== 2 || sample.shape[1] !== d) {
      throw new ShapeError(`EmbeddingPrior: sample must be [batch, ${d}], got [${sample.shape.join(', ')}]`);
    }
    const b = sample.shape[0];
    if (timestep.rank !== 1 || timestep.shape[0] !== b) {
      throw new ShapeError(`EmbeddingPrior: timestep must be [${b}], got [${timestep.shape.join(', ')}]`);
    }
    const dc = this.config.condition_dim;
    if (classEmbeds === undefined) {
      throw new ShapeError(`EmbeddingPrior: classEmbeds (the condition) must be given as [${b}, ${dc}]`, {
        hint: 'pass a zero vector per row for the unconditional prediction',
      });
    }
    if (classEmbeds.rank !== 2 || classEmbeds.shape[0] !== b || classEmbeds.shape[1] !== dc) {
      throw new ShapeError(
        `EmbeddingPrior: classEmbeds must be [${b}, ${dc}], got [${classEmbeds.shape.join(', ')}]`,
      );
    }
    return classEmbeds;
  }
}
