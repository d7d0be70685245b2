/**
 * What every denoising network offers the layers above it (training, pipelines): named parameter
 * types (diffusers' dotted names), a deterministic `init`, and `apply` written with engine ops.
 * Training and sampling see only this interface; they never reach into a network's blocks.
 */
import type { Tensor, TensorType } from '../engine/index.js';
import type { Params, ParamTensors } from '../nn/params.js';
import type { Random } from '../util/random.js';

export type { Params, ParamTensors } from '../nn/params.js';

export interface DenoiserInputs {
  /** Noisy sample [batch, ...sampleShape], float32. */
  sample: Tensor;
  /** One timestep per batch element [batch], float32 (fractional values allowed). */
  timestep: Tensor;
  /** Class labels [batch], int64; present only for class-conditional networks. */
  classLabels?: Tensor;
  /**
   * A class condition given as a float vector per example [batch, dim] (diffusers passes it as
   * `class_labels` when `class_embed_type` is 'projection' or 'identity'): e.g. a pooled text embedding
   * or an image embedding, mapped into the time embedding.
   */
  classEmbeds?: Tensor;
  /**
   * Conditioning sequence for cross-attention [batch, tokens, cross_attention_dim] (e.g. a text
   * encoder's hidden states); present only for networks with cross-attention.
   */
  encoderHiddenStates?: Tensor;
  /**
   * Residuals a ControlNet adds to the U-Net's skip connections (one per skip, in the order the
   * down path produces them) and to the mid-block output (diffusers' `down_block_additional_residuals`
   * and `mid_block_additional_residual`).
   */
  controlResiduals?: ControlResiduals;
  /**
   * Observed values a conditional network sees beside the noisy sample, [batch, ...conditioningInput.shape]
   * (e.g. a forecasting window's known past and its mask); present only for networks with `conditioningInput`.
   */
  conditioning?: Tensor;
}

/** What a network conditioned on observed values needs from training (see DenoiserInputs.conditioning). */
export interface ConditioningSpec {
  /** Shape of one example's conditioning, without the batch axis. */
  readonly shape: readonly number[];
  /** The conditioning for a batch of `batch` clean training examples x₀ (host side, may draw from `random`). */
  fromClean(clean: Float32Array, batch: number, random: Random): Float32Array;
}

export interface ControlResiduals {
  readonly down: readonly Tensor[];
  readonly mid: Tensor;
}

export interface DenoiserNetwork<Config = unknown> {
  /** diffusers' `_class_name` (e.g. 'UNet2DModel') or this project's name for networks diffusers lacks. */
  readonly className: string;
  /** The JSON-serialisable config the network is rebuilt from (diffusers' snake_case keys). */
  readonly config: Config;
  /** Shape of one sample without the batch axis, e.g. [3, 16, 16] or [2]. */
  readonly sampleShape: readonly number[];
  /** Number of class embeddings (diffusers' `num_class_embeds`), or null when unconditional. */
  readonly numClassEmbeds: number | null;
  /** Set for networks conditioned on observed values (DenoiserInputs.conditioning); absent otherwise. */
  readonly conditioningInput?: ConditioningSpec;
  paramTypes(): Record<string, TensorType>;
  /** Deterministic initialisation with PyTorch's default schemes for each layer type. */
  init(random: Random): Params;
  /** The network output, same shape as `sample` (or twice the channels for learned variance). */
  apply(params: ParamTensors, inputs: DenoiserInputs): Tensor;
}
