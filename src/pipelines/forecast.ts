/**
 * Probabilistic forecasting with a conditional 1-D denoiser (ForecastUNet1DModel, CSDI-style): for each
 * past window of P = context_length steps the model's window [past, horizon] is sampled S times from
 * seeded noise, with the past fed as conditioning (values + mask), so each sample is one plausible
 * future. Many windows × samples go through the sampler as one batch (in chunks of `maxBatch`), the
 * network compiled ONCE with frozen weights. The past is standardised with the model's stored
 * statistics and the futures mapped back; the returned past of every sample is the given past copied
 * exactly (never round-tripped through the normalisation). Sampling leaves x₀ unclipped: standardised
 * series are not confined to [−1, 1]. The model must predict x₀ (prediction_type 'sample'), as its
 * observed steps are pinned to the observed values.
 *
 * This module must not train, read or write files; the CLI and the benchmark do that.
 */
import {
  OrtNodeRuntime,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TypeTree,
} from '../engine/index.js';
import { randomNoiseSource } from '../diffusion/samplers/common.js';
import { samplerSetup } from '../diffusion/samplers/registry.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import { quantileOfSorted } from '../metrics/forecast.js';
import { ForecastUNet1DModel } from '../models/forecast-unet1d.js';
import type { DenoiserNetwork, Params, ParamTensors } from '../models/types.js';
import { ConfigError, ShapeError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';

export interface ForecastOptions {
  network: DenoiserNetwork;
  params: Params;
  schedulerConfig: SchedulerConfig;
  /** Sampler name (default 'dpmpp_2m'). */
  sampler?: string;
  /** Sampler steps (default 20). */
  numSteps?: number;
  /** Samples S per window. */
  numSamples: number;
  seed?: number;
  /** [W, C, P] past windows in the series' units, P = the model's context_length. */
  past: Float64Array;
  /** Steps to forecast, at most the model's horizon (default: the model's horizon). */
  horizon?: number;
  /** Per-channel statistics the model was trained with (null: raw values). */
  normalization?: { mean: readonly number[]; std: readonly number[] } | null;
  /** Examples per sampler batch (default 2048). */
  maxBatch?: number;
  runtime?: Runtime;
}

/** The network as a forecasting model, or a UsageError saying what kind of model is needed. */
export function forecastNetwork(network: DenoiserNetwork): ForecastUNet1DModel {
  if (!(network instanceof ForecastUNet1DModel)) {
    throw new UsageError(`a ${network.className} cannot forecast; a ForecastUNet1DModel is needed`, {
      hint: 'train one with: diffusion train --data weather-forecast --out DIR',
    });
  }
  return network;
}

/** The ModelFn inputs: the network compiled once with frozen weights and a conditioning input. */
function compiledForecaster(network: ForecastUNet1DModel, params: Params, batch: number, runtime: Runtime) {
  const [channels, length] = network.sampleShape;
  const fn = (inputs: { params: ParamTensors; sample: Tensor; timestep: Tensor; conditioning: Tensor }) =>
    network.apply(inputs.params, inputs);
  const compiled = runtime.compile(
    fn as never,
    {
      params: network.paramTypes() as TypeTree,
      sample: { shape: [batch, channels, length], dtype: 'float32' },
      timestep: { shape: [batch], dtype: 'float32' },
      conditioning: { shape: [batch, channels + 1, length], dtype: 'float32' },
    } as never,
    { frozen: { params } as never },
  );
  const denoise = async (sample: Float32Array, timestep: number, conditioning: Float32Array) => {
    const n = sample.length / (channels * length);
    const out = (await compiled.run({
      sample: { data: sample, shape: [n, channels, length], dtype: 'float32' },
      timestep: { data: new Float32Array(n).fill(timestep), shape: [n], dtype: 'float32' },
      conditioning: { data: conditioning, shape: [n, channels + 1, length], dtype: 'float32' },
    } as never)) as HostTensor;
    return out.data as Float32Array;
  };
  return { denoise, dispose: () => compiled.dispose() };
}

/** Conditioning [n, C + 1, L] for standardised pasts [n, C, P]: values in steps 0..P−1, mask 1 there. */
function conditioningFor(
  past: Float32Array,
  n: number,
  channels: number,
  P: number,
  L: number,
): Float32Array {
  const out = new Float32Array(n * (channels + 1) * L);
  for (let k = 0; k < n; k++) {
    const base = k * (channels + 1) * L;
    for (let c = 0; c < channels; c++)
      out.set(past.subarray((k * channels + c) * P, (k * channels + c + 1) * P), base + c * L);
    out.fill(1, base + channels * L, base + channels * L + P);
  }
  return out;
}

function checkOptions(
  options: ForecastOptions,
  network: ForecastUNet1DModel,
): { windows: number; horizon: number } {
  const [channels] = network.sampleShape;
  const P = network.config.context_length;
  const { numSamples, past } = options;
  if (!Number.isInteger(numSamples) || numSamples < 1)
    throw new ConfigError(`number of samples must be a positive integer, got ${numSamples}`);
  const steps = options.numSteps ?? 20;
  if (!Number.isInteger(steps) || steps < 1)
    throw new ConfigError(`number of sampler steps must be a positive integer, got ${steps}`);
  if (past.length === 0 || past.length % (channels * P) !== 0) {
    throw new ShapeError(`the model forecasts from pasts of [${channels}, ${P}]; got ${past.length} values`, {
      hint: `give ${P} past steps of ${channels} channel(s) per window`,
    });
  }
  const bad = past.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new UsageError(`the past holds ${past[bad]} (value ${bad}); fill missing values first`);
  const horizon = options.horizon ?? network.horizon;
  if (!Number.isInteger(horizon) || horizon < 1 || horizon > network.horizon) {
    throw new UsageError(`horizon ${horizon} is outside this model's 1..${network.horizon}`, {
      hint: `the model forecasts at most ${network.horizon} steps (window ${network.sampleShape[1]}, context ${P})`,
    });
  }
  const { predictionType } = options.schedulerConfig as { predictionType?: string };
  if (predictionType !== 'sample') {
    throw new ConfigError(
      `a forecasting model must predict x₀ (prediction_type 'sample'), this one predicts '${predictionType}'`,
      { hint: 'train it with objective: sample (the weather-forecast preset does)' },
    );
  }
  const norm = options.normalization;
  if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
    throw new ShapeError(`the normalisation has ${norm.mean.length} channels, the model ${channels}`);
  }
  return { windows: past.length / (channels * P), horizon };
}

/**
 * Forecast samples [W, S, C, horizon] in the series' units for the past windows (module header). The
 * samples' pasts are not returned: they are `past` itself.
 */
export async function forecast(options: ForecastOptions): Promise<Float64Array> {
  const network = forecastNetwork(options.network);
  const { windows, horizon } = checkOptions(options, network);
  const [C, L] = network.sampleShape;
  const P = network.config.context_length;
  const S = options.numSamples;
  const mean = options.normalization?.mean ?? Array<number>(C).fill(0);
  const std = options.normalization?.std ?? Array<number>(C).fill(1);
  const standardised = Float32Array.from(options.past, (v, i) => {
    const c = Math.floor(i / P) % C;
    return (v - mean[c]) / std[c];
  });
  const { entry, config: base } = samplerSetup(options.sampler ?? 'dpmpp_2m', options.schedulerConfig);
  const config = ('clipSample' in base ? { ...base, clipSample: false } : base) as SchedulerConfig;
  const total = windows * S;
  const maxBatch = Math.max(1, Math.min(options.maxBatch ?? 2048, total));
  const forecaster = compiledForecaster(
    network,
    options.params,
    maxBatch,
    options.runtime ?? new OrtNodeRuntime(),
  );
  const random = new Random(options.seed ?? 0);
  const out = new Float64Array(total * C * horizon);
  try {
    for (let from = 0; from < total; from += maxBatch) {
      const n = Math.min(maxBatch, total - from);
      // Example k of the run is sample (k mod S) of window ⌊k / S⌋.
      const pasts = new Float32Array(n * C * P);
      for (let k = 0; k < n; k++) {
        const w = Math.floor((from + k) / S);
        pasts.set(standardised.subarray(w * C * P, (w + 1) * C * P), k * C * P);
      }
      const conditioning = conditioningFor(pasts, n, C, P, L);
      const chunkRandom = random.split();
      const windowsOut = await entry.run(
        {
          model: (x, t) => forecaster.denoise(x, t, conditioning),
          noise: chunkRandom.normals(n * C * L),
          numInferenceSteps: options.numSteps ?? 20,
          batchSize: n,
          noiseSource: randomNoiseSource(chunkRandom),
        },
        config,
        {},
      );
      for (let k = 0; k < n; k++)
        for (let c = 0; c < C; c++)
          for (let h = 0; h < horizon; h++) {
            const value = windowsOut[(k * C + c) * L + P + h];
            out[((from + k) * C + c) * horizon + h] = value * std[c] + mean[c];
          }
    }
  } finally {
    await forecaster.dispose();
  }
  return out;
}

/** Whole windows [W, S, C, P + horizon]: each sample's future after an exact copy of its past. */
export function withPast(
  samples: Float64Array,
  past: Float64Array,
  shape: { windows: number; samples: number; channels: number; contextLength: number; horizon: number },
): Float64Array {
  const { windows: W, samples: S, channels: C, contextLength: P, horizon: H } = shape;
  const out = new Float64Array(W * S * C * (P + H));
  for (let w = 0; w < W; w++)
    for (let s = 0; s < S; s++)
      for (let c = 0; c < C; c++) {
        const at = ((w * S + s) * C + c) * (P + H);
        out.set(past.subarray((w * C + c) * P, (w * C + c + 1) * P), at);
        out.set(samples.subarray(((w * S + s) * C + c) * H, ((w * S + s) * C + c + 1) * H), at + P);
      }
  return out;
}

/** Quantiles [W, C, H, Q] of samples [W, S, C, H] at the levels (linear between order statistics). */
export function forecastQuantiles(
  samples: Float64Array,
  shape: { windows: number; samples: number; channels: number; horizon: number },
  levels: readonly number[],
): Float64Array {
  const { windows: W, samples: S, channels: C, horizon: H } = shape;
  const out = new Float64Array(W * C * H * levels.length);
  const point = new Float64Array(S);
  for (let w = 0; w < W; w++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++) {
        for (let s = 0; s < S; s++) point[s] = samples[((w * S + s) * C + c) * H + h];
        point.sort();
        levels.forEach(
          (q, i) => (out[((w * C + c) * H + h) * levels.length + i] = quantileOfSorted(point, q)),
        );
      }
  return out;
}
