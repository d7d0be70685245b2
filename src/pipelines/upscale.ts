/**
 * Diffusion super-resolution and cascades (SR3, Saharia et al. 2021; Imagen, Saharia et al. 2022;
 * Cascaded Diffusion Models, Ho et al. 2021). `upscale` draws high-resolution images from a trained
 * SuperResolutionUNet2DModel for a batch of low-resolution images: the condition is the low-res image
 * upsampled (bilinear) and noise-augmented at a fixed level s (default 0.1), fed to every network call
 * of any registry sampler; `samplesPerImage` > 1 averages several draws per image, a Monte-Carlo
 * estimate of the posterior mean E[x₀ | low-res] (what PSNR rewards). A class-conditional stage takes
 * labels and a classifier-free guidance scale (null class = last embedding), batched as in generate.ts.
 * `cascade` runs a folder holding `cascade.json` — a base pipeline folder then super-resolution stage
 * folders, each with its own sampler, steps, guidance and augmentation level — and returns every
 * stage's images. Images are in [−1, 1] and the output is clamped there.
 *
 * This module must not train or write files; the CLI does that.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
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
import { loadPipeline, type LoadedPipeline } from '../models/pipeline-folder.js';
import { SuperResolutionUNet2DModel } from '../models/super-resolution.js';
import type { DenoiserNetwork, Params, ParamTensors } from '../models/types.js';
import { ConfigError, FormatError, NotFoundError, ShapeError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { generate } from './generate.js';

/** The augmentation level used at sampling unless told otherwise. */
export const DEFAULT_AUG_LEVEL = 0.1;
export const CASCADE_FILE = 'cascade.json';

export interface UpscaleOptions {
  network: DenoiserNetwork;
  params: Params;
  schedulerConfig: SchedulerConfig;
  /** Low-resolution images [n, C, h, w] in [−1, 1], h = w = the network's low_res_size. */
  lowRes: Float32Array<ArrayBufferLike>;
  /** Sampler name (default 'dpmpp_2m'). */
  sampler?: string;
  /** Sampler steps (default 20). */
  numSteps?: number;
  seed?: number;
  /** Noise-augmentation level s of the condition, 0 ≤ s < 1 (default 0.1). */
  augLevel?: number;
  /** Draws averaged per image (default 1: a plain sample). */
  samplesPerImage?: number;
  /** Class per image (one for all, or n) for a class-conditional stage. */
  classLabels?: number | readonly number[];
  /** Classifier-free guidance scale for a class-conditional stage (default 1). */
  guidance?: number;
  runtime?: Runtime;
}

/** The network as a super-resolution model, or a UsageError saying what is needed. */
export function superResolutionNetwork(network: DenoiserNetwork): SuperResolutionUNet2DModel {
  if (!(network instanceof SuperResolutionUNet2DModel)) {
    throw new UsageError(`a ${network.className} cannot upscale; a SuperResolutionUNet2DModel is needed`, {
      hint: 'train one with: diffusion train --data mnist-sr-14-28 --out DIR',
    });
  }
  return network;
}

type Denoise = (
  sample: Float32Array,
  t: number,
  cond: Float32Array,
  labels: BigInt64Array | null,
) => Promise<Float32Array>;

/** The network compiled once with frozen weights, as a function of (x_t, t, conditioning, labels). */
function compiledUpscaler(
  network: SuperResolutionUNet2DModel,
  params: Params,
  batch: number,
  runtime: Runtime,
) {
  const conditional = network.numClassEmbeds !== null;
  type Inputs = {
    params: ParamTensors;
    sample: Tensor;
    timestep: Tensor;
    conditioning: Tensor;
    classLabels?: Tensor;
  };
  const fn = (inputs: Inputs) => network.apply(inputs.params, inputs);
  const condShape = network.conditioningInput.shape;
  const types = {
    params: network.paramTypes() as TypeTree,
    sample: { shape: [batch, ...network.sampleShape], dtype: 'float32' },
    timestep: { shape: [batch], dtype: 'float32' },
    conditioning: { shape: [batch, ...condShape], dtype: 'float32' },
    ...(conditional ? { classLabels: { shape: [batch], dtype: 'int64' } } : {}),
  };
  const compiled = runtime.compile(fn as never, types as never, { frozen: { params } as never });
  const perSample = network.sampleShape.reduce((a, b) => a * b, 1);
  const denoise: Denoise = async (sample, t, cond, labels) => {
    const n = sample.length / perSample;
    const out = (await compiled.run({
      sample: { data: sample, shape: [n, ...network.sampleShape], dtype: 'float32' },
      timestep: { data: new Float32Array(n).fill(t), shape: [n], dtype: 'float32' },
      conditioning: { data: cond, shape: [n, ...condShape], dtype: 'float32' },
      ...(labels ? { classLabels: { data: labels, shape: [n], dtype: 'int64' } } : {}),
    } as never)) as HostTensor;
    return out.data as Float32Array;
  };
  return { denoise, dispose: () => compiled.dispose() };
}

/** Labels per row (null class where none is given) for a class-conditional network, else null. */
function labelsFor(
  network: DenoiserNetwork,
  classLabels: UpscaleOptions['classLabels'],
  n: number,
): number[] | null {
  if (network.numClassEmbeds === null) {
    if (classLabels !== undefined)
      throw new UsageError(`this ${network.className} is not class-conditional; leave out the class`);
    return null;
  }
  const nullClass = network.numClassEmbeds - 1;
  if (classLabels === undefined) return Array<number>(n).fill(nullClass);
  const list = typeof classLabels === 'number' ? Array<number>(n).fill(classLabels) : [...classLabels];
  if (list.length !== n) throw new UsageError(`got ${list.length} class labels for ${n} images`);
  for (const label of list) {
    if (!Number.isInteger(label) || label < 0 || label >= nullClass)
      throw new UsageError(`class ${label} is outside this model's 0..${nullClass - 1}`);
  }
  return list;
}

function checkUpscale(options: UpscaleOptions, network: SuperResolutionUNet2DModel): number {
  const [channels] = network.sampleShape;
  const low = network.config.low_res_size;
  const per = channels * low * low;
  if (options.lowRes.length === 0 || options.lowRes.length % per !== 0) {
    throw new ShapeError(
      `the model upscales [${channels}, ${low}, ${low}] images; got ${options.lowRes.length} values`,
      {
        hint: `resize the input to ${low}×${low} first`,
      },
    );
  }
  const steps = options.numSteps ?? 20;
  if (!Number.isInteger(steps) || steps < 1)
    throw new ConfigError(`number of sampler steps must be a positive integer, got ${steps}`);
  const draws = options.samplesPerImage ?? 1;
  if (!Number.isInteger(draws) || draws < 1)
    throw new ConfigError(`samples per image must be a positive integer, got ${draws}`);
  const level = options.augLevel ?? DEFAULT_AUG_LEVEL;
  if (!(level >= 0 && level < 1)) throw new UsageError(`augmentation level ${level} is outside [0, 1)`);
  const guidance = options.guidance ?? 1;
  if (!Number.isFinite(guidance)) throw new UsageError(`guidance ${guidance} is not a finite number`);
  return options.lowRes.length / per;
}

/** High-resolution images [n, C, H, W] in [−1, 1] for the low-resolution batch (module header). */
export async function upscale(options: UpscaleOptions): Promise<Float32Array> {
  const network = superResolutionNetwork(options.network);
  const n = checkUpscale(options, network);
  const draws = options.samplesPerImage ?? 1;
  const guidance = options.guidance ?? 1;
  const labels = labelsFor(network, options.classLabels, n);
  const guided = labels !== null && guidance !== 1;
  const perImage = network.sampleShape.reduce((a, b) => a * b, 1);
  const random = new Random(options.seed ?? 0);
  // Row k of a draw is image k; each draw has its own augmentation noise and sampler noise.
  const rows = n;
  const upscaler = compiledUpscaler(
    network,
    options.params,
    guided ? 2 * rows : rows,
    options.runtime ?? new OrtNodeRuntime(),
  );
  const { entry, config } = samplerSetup(options.sampler ?? 'dpmpp_2m', options.schedulerConfig);
  const sum = new Float32Array(n * perImage);
  try {
    for (let d = 0; d < draws; d++) {
      const drawRandom = random.split();
      const cond = network.conditioningFor(
        options.lowRes,
        n,
        options.augLevel ?? DEFAULT_AUG_LEVEL,
        drawRandom,
      );
      const model = guidedUpscaler(
        upscaler.denoise,
        cond,
        labels,
        guided ? guidance : null,
        network.numClassEmbeds,
      );
      const out = await entry.run(
        {
          model,
          noise: drawRandom.normals(n * perImage),
          numInferenceSteps: options.numSteps ?? 20,
          batchSize: n,
          noiseSource: randomNoiseSource(drawRandom),
        },
        config,
        {},
      );
      for (let i = 0; i < out.length; i++) sum[i] += out[i];
    }
  } finally {
    await upscaler.dispose();
  }
  return sum.map((v) => Math.min(1, Math.max(-1, v / draws)));
}

/**
 * The sampler's ModelFn: plain, or guided ε̃ = ε_u + s (ε_c − ε_u) (Ho & Salimans 2022, eq. 6) with the
 * conditional and null-class halves in one batched call sharing the same low-res condition.
 */
function guidedUpscaler(
  denoise: Denoise,
  cond: Float32Array,
  labels: number[] | null,
  guidance: number | null,
  numClassEmbeds: number | null,
) {
  const conditional = labels ? BigInt64Array.from(labels, (l) => BigInt(l)) : null;
  if (guidance === null || !conditional || numClassEmbeds === null) {
    return (x: Float32Array, t: number) => denoise(x, t, cond, conditional);
  }
  const n = conditional.length;
  const both = new BigInt64Array(2 * n);
  both.set(conditional);
  both.fill(BigInt(numClassEmbeds - 1), n);
  const condBoth = new Float32Array(2 * cond.length);
  condBoth.set(cond);
  condBoth.set(cond, cond.length);
  return async (x: Float32Array, t: number) => {
    const input = new Float32Array(2 * x.length);
    input.set(x);
    input.set(x, x.length);
    const out = await denoise(input, t, condBoth, both);
    const result = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const c = out[i];
      const u = out[x.length + i];
      result[i] = u + guidance * (c - u);
    }
    return result;
  };
}

// ---------------------------------------------------------------------------------------------
// Cascades

const stageSchema = z.strictObject({
  /** The stage's pipeline folder, relative to the cascade folder. */
  folder: z.string().min(1),
  sampler: z.string().default('dpmpp_2m'),
  steps: z.number().int().positive().default(20),
  guidance: z.number().finite().default(1),
  /** Super-resolution stages only: the condition's noise-augmentation level. */
  aug_level: z.number().min(0).lt(1).default(DEFAULT_AUG_LEVEL),
});

export const cascadeSchema = z.strictObject({
  _class_name: z.literal('DiffusionCascade').default('DiffusionCascade'),
  /** The base (a class-conditional or unconditional generator), then super-resolution stages. */
  stages: z.array(stageSchema).min(2),
});

export type CascadeStage = z.output<typeof stageSchema>;
export type CascadeDescription = z.output<typeof cascadeSchema>;
export type CascadeStageOverride = Partial<
  Pick<CascadeStage, 'sampler' | 'steps' | 'guidance' | 'aug_level'>
>;

export interface LoadedCascade {
  description: CascadeDescription;
  /** One loaded pipeline per stage, base first. */
  stages: LoadedPipeline[];
}

/** `cascade.json` of a folder, validated. */
export function readCascadeDescription(dir: string): CascadeDescription {
  const path = join(dir, CASCADE_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`'${dir}' holds no ${CASCADE_FILE}`, {
        hint: 'a cascade folder holds cascade.json and one pipeline folder per stage',
      });
    }
    throw new FormatError(`'${path}' is not valid JSON`, { cause: error });
  }
  const parsed = cascadeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${CASCADE_FILE}: '${issue.path.join('.')}' ${issue.message}`, {
      hint: 'expected { "stages": [{ "folder": "base", "steps": 20, "guidance": 2 }, { "folder": "sr", ... }] }',
    });
  }
  return parsed.data;
}

/** The cascade's stage folders loaded and checked to chain: each stage's low_res_size is the previous side. */
export function loadCascade(dir: string): LoadedCascade {
  const description = readCascadeDescription(dir);
  const stages = description.stages.map((stage) => loadPipeline(join(dir, stage.folder)));
  let [channels, side] = stages[0].network.sampleShape;
  if (stages[0].network.sampleShape.length !== 3 || side !== stages[0].network.sampleShape[2]) {
    throw new ConfigError(`cascade base '${description.stages[0].folder}' must generate square images`);
  }
  stages.slice(1).forEach((stage, i) => {
    const folder = description.stages[i + 1].folder;
    const sr = superResolutionNetwork(stage.network);
    if (sr.config.low_res_size !== side || sr.sampleShape[0] !== channels) {
      throw new ConfigError(
        `cascade stage '${folder}' upscales [${sr.sampleShape[0]}, ${sr.config.low_res_size}²] but the previous stage makes [${channels}, ${side}²]`,
      );
    }
    [channels, side] = sr.sampleShape;
  });
  return { description, stages };
}

export interface CascadeOptions {
  cascade: LoadedCascade;
  numSamples: number;
  /** One class for all samples or one per sample; passed to every class-conditional stage. */
  classLabels?: number | readonly number[];
  seed?: number;
  /** Per-stage settings replacing cascade.json's (same order as its stages). */
  overrides?: readonly CascadeStageOverride[];
  runtime?: Runtime;
}

/** Every stage's images, base first: [numSamples, C, side_k, side_k] each, in [−1, 1]. */
export async function cascade(options: CascadeOptions): Promise<Float32Array[]> {
  const { cascade: loaded, numSamples } = options;
  if (!Number.isInteger(numSamples) || numSamples < 1)
    throw new UsageError(`number of samples must be a positive integer, got ${numSamples}`);
  const settings = loaded.description.stages.map((stage, i) => ({
    ...stage,
    ...(options.overrides?.[i] ?? {}),
  }));
  const random = new Random(options.seed ?? 0);
  const [base, ...rest] = loaded.stages;
  const baseLabels = base.network.numClassEmbeds !== null ? options.classLabels : undefined;
  const first = await generate({
    network: base.network,
    params: base.params,
    schedulerConfig: base.schedulerConfig,
    sampler: settings[0].sampler,
    numSteps: settings[0].steps,
    numSamples,
    seed: random.int(2 ** 31),
    ...(baseLabels !== undefined ? { classLabels: baseLabels, guidance: settings[0].guidance } : {}),
    runtime: options.runtime,
  });
  const outputs: Float32Array<ArrayBufferLike>[] = [first.map((v) => Math.min(1, Math.max(-1, v)))];
  for (const [i, stage] of rest.entries()) {
    const s = settings[i + 1];
    const labels = stage.network.numClassEmbeds !== null ? options.classLabels : undefined;
    outputs.push(
      await upscale({
        network: stage.network,
        params: stage.params,
        schedulerConfig: stage.schedulerConfig,
        lowRes: outputs[outputs.length - 1],
        sampler: s.sampler,
        numSteps: s.steps,
        augLevel: s.aug_level,
        seed: random.int(2 ** 31),
        ...(labels !== undefined ? { classLabels: labels, guidance: s.guidance } : {}),
        runtime: options.runtime,
      }),
    );
  }
  return outputs;
}
