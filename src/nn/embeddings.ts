/**
 * Noise-level embeddings as diffusers defines them: the sinusoidal timestep embedding
 * (`get_timestep_embedding`, Vaswani et al. 2017 §3.5 with diffusers' `flip_sin_to_cos` and
 * `downscale_freq_shift`), the Gaussian Fourier projection of score-SDE models (Tancik et al. 2020;
 * Song et al. 2021), and the two-layer `TimestepEmbedding` MLP that follows either.
 *
 * This module must not decide which embedding a network uses; networks read that from their config.
 */
import type { Tensor } from '../engine/index.js';
import { concat, constant, cos, log, mul, pad, reshape, silu, sin, stopGradient } from '../engine/index.js';
import type { ParamTensors } from './params.js';
import { ConfigError } from '../util/errors.js';
import type { Layer } from './layers.js';
import { linear } from './layers.js';
import type { ParamSpecs } from './params.js';
import { joinName, mergeSpecs, param } from './params.js';

export interface SinusoidalOptions {
  /** Put cos before sin (diffusers' `flip_sin_to_cos`). Default false. */
  readonly flipSinToCos?: boolean;
  /** Denominator shift s in freq_i = exp(−ln(maxPeriod)·i / (half − s)) (diffusers' `freq_shift`). Default 1. */
  readonly downscaleFreqShift?: number;
  /** Multiplies the angles. Default 1. */
  readonly scale?: number;
  /** Longest period. Default 10,000. */
  readonly maxPeriod?: number;
}

/**
 * The `half` frequencies exp(−ln(maxPeriod)·i / (half − shift)), rounded to float32 after every
 * step as PyTorch computes them in float32, so embeddings match diffusers' to the last bit or two.
 */
export function sinusoidalFrequencies(half: number, shift: number, maxPeriod: number): Float32Array {
  const f = Math.fround;
  const logPeriod = f(-Math.log(maxPeriod));
  return Float32Array.from({ length: half }, (_, i) => f(Math.exp(f(f(logPeriod * i) / f(half - shift)))));
}

/** timesteps [B] (float32) → [B, dim]: [sin(t·freq), cos(t·freq)] (or cos first), zero-padded if dim is odd. */
export function sinusoidalEmbedding(timesteps: Tensor, dim: number, options: SinusoidalOptions = {}): Tensor {
  const { flipSinToCos = false, downscaleFreqShift = 1, scale = 1, maxPeriod = 10000 } = options;
  const half = Math.floor(dim / 2);
  if (half < 1 || half === downscaleFreqShift) {
    throw new ConfigError(
      `timestep embedding: dimension ${dim} is too small for freq_shift ${downscaleFreqShift}`,
    );
  }
  const freqs = constant(timesteps.graph, sinusoidalFrequencies(half, downscaleFreqShift, maxPeriod), [
    1,
    half,
  ]);
  let angles = mul(reshape(timesteps, [timesteps.shape[0], 1]), freqs);
  if (scale !== 1) angles = mul(angles, scale);
  const parts = flipSinToCos ? [cos(angles), sin(angles)] : [sin(angles), cos(angles)];
  const embedded = concat(parts, 1);
  return dim % 2 === 1 ? pad(embedded, [0, 0, 0, 1]) : embedded;
}

export interface FourierOptions {
  /** Std of the fixed random frequencies (diffusers' UNet2DModel uses 16). */
  readonly scale?: number;
  /** Embed log(t) rather than t (diffusers' default, for σ-valued noise levels). Default true. */
  readonly log?: boolean;
  /** Put cos before sin. Default false. */
  readonly flipSinToCos?: boolean;
}

/**
 * diffusers' GaussianFourierProjection: weight [size] ~ N(0, scale²), fixed during training as in
 * PyTorch (requires_grad=False), so its gradient is stopped here.
 * t [B] → [B, 2·size] = [sin(2π·t·w), cos(2π·t·w)].
 */
export function gaussianFourierProjection(prefix: string, size: number, options: FourierOptions = {}): Layer {
  const { scale = 16, log: useLog = true, flipSinToCos = false } = options;
  const name = joinName(prefix, 'weight');
  return {
    prefix,
    specs: { [name]: { shape: [size], init: { kind: 'normal', std: scale } } },
    apply: (params, timesteps) => {
      const t = useLog ? log(timesteps) : timesteps;
      const w = reshape(stopGradient(param(params, name)), [1, size]);
      const angles = mul(mul(reshape(t, [t.shape[0], 1]), w), 2 * Math.PI);
      return concat(flipSinToCos ? [cos(angles), sin(angles)] : [sin(angles), cos(angles)], 1);
    },
  };
}

/** diffusers' TimestepEmbedding: linear_1 → SiLU → linear_2, [B, inDim] → [B, outDim ?? timeEmbedDim]. */
export function timestepEmbedding(
  prefix: string,
  inDim: number,
  timeEmbedDim: number,
  outDim?: number,
): Layer {
  const first = linear(joinName(prefix, 'linear_1'), inDim, timeEmbedDim);
  const second = linear(joinName(prefix, 'linear_2'), timeEmbedDim, outDim ?? timeEmbedDim);
  const specs: ParamSpecs = mergeSpecs(first.specs, second.specs);
  return {
    prefix,
    specs,
    apply: (params: ParamTensors, x: Tensor) => second.apply(params, silu(first.apply(params, x))),
  };
}
