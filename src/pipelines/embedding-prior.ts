/**
 * Sampling from a diffusion prior over embedding vectors (unCLIP, Ramesh et al. 2022, §2.2): given
 * condition vectors c [B, Dc] (e.g. text embeddings), draws vectors [B, D] (e.g. image embeddings) with
 * any registered sampler. The network is compiled once with its weights frozen and called by the sampler
 * through a `ModelFn`. Classifier-free guidance (Ho & Salimans 2022, eq. 6) combines the outputs for c
 * and for the zero condition (the one training dropped to) in one doubled batch: ŷ = u + s (y_c − u),
 * applied to whatever the network predicts (x₀ for a DALL·E 2-style prior, or ε); s = 1 is the
 * conditional prediction alone, in a single batch.
 *
 * This module must not know what the vectors are, read files or implement a sampler's maths.
 */
import { randomNoiseSource } from '../diffusion/samplers/common.js';
import { samplerSetup } from '../diffusion/samplers/registry.js';
import type { ModelFn, StepCallback } from '../diffusion/samplers/types.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import {
  fitsFrozen,
  OrtNodeRuntime,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TypeTree,
} from '../engine/index.js';
import type { VectorConditionedNetwork } from '../models/embedding-prior.js';
import type { Params, ParamTensors } from '../models/types.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import { Random } from '../util/random.js';

export interface SamplePriorOptions {
  network: VectorConditionedNetwork;
  params: Params;
  /** The prior's scheduler config (training schedule and prediction_type), e.g. from training. */
  schedulerConfig: SchedulerConfig;
  /** Condition vectors, flat [B, Dc]: one sample is drawn per row. */
  conditions: Float32Array;
  /** Sampler name or diffusers class (`samplerNames()`); default 'ddim'. */
  sampler?: string;
  /** Number of sampler steps. */
  steps: number;
  /** Classifier-free guidance scale s; default 1 (no guidance). */
  guidance?: number;
  /** Seeds the initial noise and any noise the sampler injects; default 0. */
  seed?: number;
  runtime?: Runtime;
  callback?: StepCallback;
}

/** The network as a function of (x_t [rows, D], t, conditions [rows, Dc]), compiled for `batch` rows. */
interface PriorDenoiser {
  denoise(sample: Float32Array, timestep: number, conditions: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
}

function priorDenoiser(
  network: VectorConditionedNetwork,
  params: Params,
  batch: number,
  runtime: Runtime,
): PriorDenoiser {
  const d = network.sampleShape.reduce((a, b) => a * b, 1);
  const dc = network.classEmbedsWidth;
  const freeze = fitsFrozen(params);
  type Inputs = { params: ParamTensors; sample: Tensor; timestep: Tensor; condition: Tensor };
  const compiled = runtime.compile(
    ((inputs: Inputs) =>
      network.apply(inputs.params, {
        sample: inputs.sample,
        timestep: inputs.timestep,
        classEmbeds: inputs.condition,
      })) as never,
    {
      params: network.paramTypes() as TypeTree,
      sample: { shape: [batch, d], dtype: 'float32' },
      timestep: { shape: [batch], dtype: 'float32' },
      condition: { shape: [batch, dc], dtype: 'float32' },
    },
    freeze ? { frozen: { params } as never } : {},
  );
  return {
    async denoise(sample, timestep, conditions) {
      const rows = sample.length / d;
      const inputs = {
        ...(freeze ? {} : { params }),
        sample: { data: sample, shape: [rows, d], dtype: 'float32' },
        timestep: { data: new Float32Array(rows).fill(timestep), shape: [rows], dtype: 'float32' },
        condition: { data: conditions, shape: [rows, dc], dtype: 'float32' },
      };
      const out = (await compiled.run(inputs as never)) as HostTensor;
      return out.data as Float32Array;
    },
    dispose: () => compiled.dispose(),
  };
}

/** The sampler's model: the conditional prediction, or u + s (y_c − u) from one doubled batch. */
function guidedModel(
  denoiser: Pick<PriorDenoiser, 'denoise'>,
  conditions: Float32Array,
  guidance: number,
): ModelFn {
  if (guidance === 1) return (x, t) => denoiser.denoise(x, t, conditions);
  const both = new Float32Array(2 * conditions.length);
  both.set(conditions);
  // The second half stays zero: the unconditional input training dropped conditions to.
  return async (x, t) => {
    const doubled = new Float32Array(2 * x.length);
    doubled.set(x);
    doubled.set(x, x.length);
    const out = await denoiser.denoise(doubled, t, both);
    const guided = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++)
      guided[i] = out[x.length + i] + guidance * (out[i] - out[x.length + i]);
    return guided;
  };
}

/** The batch size B, after checking the conditions' width and the run settings. */
function checkedBatch(options: SamplePriorOptions): number {
  const dc = options.network.classEmbedsWidth;
  const count = options.conditions.length / dc;
  if (!Number.isInteger(count) || count < 1) {
    throw new ShapeError(
      `conditions must be a non-empty flat [B, ${dc}], got ${options.conditions.length} values`,
    );
  }
  if (!Number.isInteger(options.steps) || options.steps < 1)
    throw new ConfigError(`number of steps must be a positive integer, got ${options.steps}`);
  const guidance = options.guidance ?? 1;
  if (!Number.isFinite(guidance))
    throw new ConfigError(`guidance scale must be a finite number, got ${guidance}`);
  return count;
}

/** Vectors drawn from the prior, flat [B, D], one per condition row (see the module header). */
export async function samplePrior(options: SamplePriorOptions): Promise<Float32Array> {
  const count = checkedBatch(options);
  const guidance = options.guidance ?? 1;
  const { network } = options;
  const { entry, config } = samplerSetup(options.sampler ?? 'ddim', options.schedulerConfig);
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const denoiser = priorDenoiser(network, options.params, guidance === 1 ? count : 2 * count, runtime);
  try {
    const random = new Random(options.seed ?? 0);
    const d = network.sampleShape.reduce((a, b) => a * b, 1);
    return await entry.run(
      {
        model: guidedModel(denoiser, options.conditions, guidance),
        noise: random.normals(count * d),
        numInferenceSteps: options.steps,
        batchSize: count,
        noiseSource: randomNoiseSource(random),
        ...(options.callback ? { callback: options.callback } : {}),
      },
      config,
      {},
    );
  } finally {
    await denoiser.dispose();
  }
}
