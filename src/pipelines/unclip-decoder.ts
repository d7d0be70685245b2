/**
 * Sampling unCLIP's decoder (Ramesh et al. 2022, §2.1): images from image embeddings [B, D] with
 * classifier-free guidance against the zero embedding (the null condition the decoder was trained with,
 * `training/unclip-decoder.ts`): ε̃ = ε(x, ∅) + s (ε(x, e) − ε(x, ∅)), both halves one doubled batch.
 * The U-Net is compiled once per call with its weights frozen; any sampler of the registry runs it.
 *
 * This module must not read files or compute embeddings: `unclip.ts` composes encoder, prior and decoder.
 */
import { randomNoiseSource } from '../diffusion/samplers/common.js';
import { samplerSetup } from '../diffusion/samplers/registry.js';
import type { ModelFn } from '../diffusion/samplers/types.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import {
  OrtNodeRuntime,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TypeTree,
} from '../engine/index.js';
import type { Params, ParamTensors } from '../models/types.js';
import type { UNet2DConditionModel } from '../models/unet2d-condition.js';
import { decoderInputs } from '../training/unclip-decoder.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import { Random } from '../util/random.js';

export interface UnclipDecoder {
  readonly network: UNet2DConditionModel;
  readonly params: Params;
  readonly schedulerConfig: SchedulerConfig;
}

export interface DecodeOptions {
  /** Guidance scale s against the zero embedding; 1 = the conditional prediction alone. Default 3. */
  guidance?: number;
  /** Sampler name or diffusers class; default the decoder's own scheduler. */
  sampler?: string;
  numSteps: number;
  seed?: number;
  runtime?: Runtime;
}

/** The embedding width the decoder takes, or a ConfigError for a decoder that takes none. */
export function decoderEmbedWidth(decoder: UnclipDecoder): number {
  const width = decoder.network.classEmbedsWidth;
  if (width === null || decoder.network.config.class_embed_type !== 'projection') {
    throw new ConfigError("an unCLIP decoder is a UNet2DConditionModel with class_embed_type 'projection'");
  }
  return width;
}

/** The decoder as a ModelFn over `rows` samples; with guidance the batch is doubled internally. */
function guidedModel(
  decoder: UnclipDecoder,
  embeddings: Float32Array,
  rows: number,
  guidance: number,
  runtime: Runtime,
): { model: ModelFn; dispose: () => Promise<void> } {
  const width = decoderEmbedWidth(decoder);
  const { network } = decoder;
  const doubled = guidance !== 1;
  const batch = doubled ? 2 * rows : rows;
  const compiled = runtime.compile(
    ((x: { params: ParamTensors; sample: Tensor; timestep: Tensor; embeddings: Tensor }) =>
      network.apply(x.params, decoderInputs(x.sample, x.timestep, x.embeddings))) as never,
    {
      params: network.paramTypes() as TypeTree,
      sample: { shape: [batch, ...network.sampleShape], dtype: 'float32' },
      timestep: { shape: [batch], dtype: 'float32' },
      embeddings: { shape: [batch, width], dtype: 'float32' },
    },
    { frozen: { params: decoder.params } as never },
  );
  const conditions = new Float32Array(batch * width);
  conditions.set(embeddings); // rows beyond the first `rows` stay zero: the null embedding
  const run = async (sample: Float32Array, t: number): Promise<Float32Array> => {
    const out = (await compiled.run({
      sample: { data: sample, shape: [batch, ...network.sampleShape], dtype: 'float32' },
      timestep: { data: new Float32Array(batch).fill(t), shape: [batch], dtype: 'float32' },
      embeddings: { data: conditions, shape: [batch, width], dtype: 'float32' },
    } as never)) as HostTensor;
    return out.data as Float32Array;
  };
  const model: ModelFn = doubled
    ? async (x, t) => {
        const both = new Float32Array(2 * x.length);
        both.set(x);
        both.set(x, x.length);
        const out = await run(both, t);
        const guided = new Float32Array(x.length);
        for (let i = 0; i < x.length; i++)
          guided[i] = out[x.length + i] + guidance * (out[i] - out[x.length + i]);
        return guided;
      }
    : (x, t) => run(x, t);
  return { model, dispose: () => compiled.dispose() };
}

/** Images in [−1, 1] (not clipped), flat [B, ...sampleShape], one per embedding row of [B, D]. */
export async function decodeEmbeddings(
  decoder: UnclipDecoder,
  embeddings: Float32Array,
  options: DecodeOptions,
): Promise<Float32Array> {
  const width = decoderEmbedWidth(decoder);
  if (embeddings.length === 0 || embeddings.length % width !== 0) {
    throw new ShapeError(
      `${embeddings.length} embedding values are not rows of the decoder's width ${width}`,
    );
  }
  if (!Number.isInteger(options.numSteps) || options.numSteps < 1) {
    throw new ConfigError(`number of steps must be a positive integer, got ${options.numSteps}`);
  }
  const guidance = options.guidance ?? 3;
  if (!Number.isFinite(guidance))
    throw new ConfigError(`guidance scale must be a finite number, got ${guidance}`);
  const rows = embeddings.length / width;
  const { entry, config } = samplerSetup(
    options.sampler ?? decoder.schedulerConfig.className,
    decoder.schedulerConfig,
  );
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const { model, dispose } = guidedModel(decoder, embeddings, rows, guidance, runtime);
  try {
    const random = new Random(options.seed ?? 0);
    const perSample = decoder.network.sampleShape.reduce((a, b) => a * b, 1);
    return await entry.run(
      {
        model,
        noise: random.normals(rows * perSample),
        numInferenceSteps: options.numSteps,
        batchSize: rows,
        noiseSource: randomNoiseSource(random),
      },
      config,
      {},
    );
  } finally {
    await dispose();
  }
}
