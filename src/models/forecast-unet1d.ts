/**
 * A conditional 1-D U-Net for probabilistic forecasting, after CSDI (Tashiro et al. 2021): a window of
 * L = context_length + horizon steps of C channels, of which the first context_length are observed. The
 * network is UNet1DModel with 2C + 1 input channels — [the noisy window with its observed steps zeroed,
 * the observed values with the unobserved steps zeroed, the observed mask] — and C output channels. It
 * predicts x₀ (train it with objective 'sample'), and its prediction at observed steps IS the observed
 * value, out = m·x_obs + (1 − m)·UNet(...), so the loss there is exactly zero (CSDI's loss on the target
 * steps only) and a sampler never moves the known past. The conditioning (DenoiserInputs.conditioning)
 * is [C + 1, L]: C channels of observed values, then the mask (1 observed, 0 to forecast); any mask
 * works at sampling time, training uses the first context_length steps. During training the past is
 * hidden from a fraction `past_dropout` of the windows (the mask all zero), so the model also draws
 * whole windows unconditionally (what `train` writes as its preview samples). Parameter names are the
 * inner UNet1DModel's, so the weights load as a UNet1DModel with 2C + 1 input channels.
 *
 * This module must not know about schedules, losses or samplers.
 */
import { z } from 'zod';
import type { Tensor, TensorType } from '../engine/index.js';
import { add, concat, full, mul, scalarLike, slice, sub } from '../engine/index.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { parseModelConfig, positiveInt } from './config.js';
import type { ConditioningSpec, DenoiserInputs, DenoiserNetwork, ParamTensors, Params } from './types.js';
import { UNet1DModel } from './unet1d.js';

export const forecastUnet1dConfigSchema = z.strictObject({
  _class_name: z.literal('ForecastUNet1DModel').optional(),
  _diffusers_version: z.string().optional(),
  /** Window length L = context_length + horizon; must be divisible by 2^(levels − 1). */
  sample_size: positiveInt.default(32),
  /** Channels C of the series (variables). */
  in_channels: positiveInt.default(1),
  /** Must equal in_channels: the network predicts the whole window. */
  out_channels: positiveInt.default(1),
  /** Observed steps at the start of a training window; the rest (the horizon) is forecast. */
  context_length: positiveInt.default(24),
  /** Fraction of training windows whose past is hidden, for unconditional generation (0 ≤ p < 1). */
  past_dropout: z.number().min(0).lt(1).default(0.1),
  /** The inner UNet1DModel's widths, blocks and norms (see unet1d.ts). */
  block_out_channels: z.array(positiveInt).min(1).default([32, 64, 64]),
  layers_per_block: positiveInt.default(1),
  norm_num_groups: positiveInt.default(8),
  norm_eps: z.number().positive().default(1e-5),
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
});

export type ForecastUNet1DConfig = z.output<typeof forecastUnet1dConfigSchema>;
export type ForecastUNet1DConfigInput = z.input<typeof forecastUnet1dConfigSchema>;

/** Validated config with defaults filled in; ConfigError names the key and the fix. */
export function forecastUnet1dConfig(
  input: ForecastUNet1DConfigInput | Record<string, unknown> = {},
): ForecastUNet1DConfig {
  const config = parseModelConfig(forecastUnet1dConfigSchema, input, 'ForecastUNet1DModel');
  if (config.out_channels !== config.in_channels) {
    throw new ConfigError(
      `ForecastUNet1DModel: out_channels ${config.out_channels} must equal in_channels ${config.in_channels}`,
      { hint: 'the network predicts every channel of the window' },
    );
  }
  if (config.context_length >= config.sample_size) {
    throw new ConfigError(
      `ForecastUNet1DModel: context_length ${config.context_length} leaves no horizon in a window of ${config.sample_size}`,
      { hint: 'choose context_length < sample_size (horizon = sample_size − context_length)' },
    );
  }
  return config;
}

export class ForecastUNet1DModel implements DenoiserNetwork<ForecastUNet1DConfig> {
  readonly className = 'ForecastUNet1DModel';
  readonly config: ForecastUNet1DConfig;
  readonly sampleShape: readonly number[];
  readonly numClassEmbeds = null;
  readonly conditioningInput: ConditioningSpec;
  /** Steps forecast after the context in a training window. */
  readonly horizon: number;
  private readonly inner: UNet1DModel;

  constructor(config: ForecastUNet1DConfigInput | Record<string, unknown> = {}) {
    this.config = forecastUnet1dConfig(config);
    const { sample_size: length, in_channels: channels, context_length: context } = this.config;
    this.sampleShape = [channels, length];
    this.horizon = length - context;
    this.inner = new UNet1DModel({
      sample_size: length,
      in_channels: 2 * channels + 1,
      out_channels: channels,
      block_out_channels: this.config.block_out_channels,
      layers_per_block: this.config.layers_per_block,
      norm_num_groups: this.config.norm_num_groups,
      norm_eps: this.config.norm_eps,
      flip_sin_to_cos: this.config.flip_sin_to_cos,
      freq_shift: this.config.freq_shift,
    });
    this.conditioningInput = {
      shape: [channels + 1, length],
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
    const { sample, timestep } = inputs;
    const channels = this.config.in_channels;
    if (sample.rank !== 3 || sample.shape[1] !== channels) {
      throw new ShapeError(
        `ForecastUNet1DModel: sample must be [batch, ${channels}, length], got [${sample.shape.join(', ')}]`,
      );
    }
    const [batch, , length] = sample.shape;
    // No conditioning: nothing observed, an unconditional draw of the whole window.
    const cond = inputs.conditioning ?? full(sample, [batch, channels + 1, length], 0);
    if (cond.rank !== 3 || cond.shape[0] !== batch || cond.shape[1] !== channels + 1 || cond.shape[2] !== length) {
      throw new ShapeError(
        `ForecastUNet1DModel: conditioning must be [${batch}, ${channels + 1}, ${length}] (values, then mask), got [${cond.shape.join(', ')}]`,
      );
    }
    const observed = slice(cond, [0], [channels], [1]);
    const mask = slice(cond, [channels], [channels + 1], [1]);
    const hidden = sub(scalarLike(mask, 1), mask);
    const input = concat([mul(sample, hidden), observed, mask], 1);
    const predicted = this.inner.apply(params, { sample: input, timestep });
    // x₀ at observed steps is the observed value itself (CSDI scores only the unobserved steps).
    return add(mul(observed, mask), mul(predicted, hidden));
  }

  /** [batch, C + 1, L]: the first context_length steps observed, or nothing with probability past_dropout. */
  private trainingConditioning(clean: Float32Array, batch: number, random: Random): Float32Array {
    const [channels, length] = this.sampleShape;
    const perExample = channels * length;
    if (clean.length !== batch * perExample) {
      throw new ShapeError(`ForecastUNet1DModel: ${clean.length} values are not ${batch} windows of [${channels}, ${length}]`);
    }
    const out = new Float32Array(batch * (channels + 1) * length);
    for (let b = 0; b < batch; b++) {
      if (random.uniform() < this.config.past_dropout) continue;
      const base = b * (channels + 1) * length;
      for (let c = 0; c < channels; c++) {
        const from = b * perExample + c * length;
        out.set(clean.subarray(from, from + this.config.context_length), base + c * length);
      }
      out.fill(1, base + channels * length, base + channels * length + this.config.context_length);
    }
    return out;
  }
}
