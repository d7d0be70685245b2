/**
 * Training of an AutoencoderKL, the first stage of latent diffusion (Rombach et al. 2022, §3.1): each
 * update draws a batch of images and reparameterisation noise ε on the host, and ONE compiled engine
 * graph (`trainStep`) runs encode → z = μ + σ·ε → decode, the loss MSE(x̂, x) + β·KL(q(z|x) ‖ N(0, I))
 * (the LDM objective without its perceptual and adversarial terms), the backward pass, global-norm
 * clipping and AdamW under a cosine learning-rate schedule. Same config and seed → identical losses.
 *
 * This module must not write files, encode datasets for a denoiser or sample; `pipelines/latent.ts`
 * and the CLI do that.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { BatchIterator, type Dataset } from '../data/dataset.js';
import {
  adamw,
  hostZeros,
  OrtNodeRuntime,
  trainStep,
  trainStepTypes,
  type CompiledFunction,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TensorTree,
  type TypeTree,
} from '../engine/index.js';
import type { AutoencoderKL } from '../models/autoencoder-kl.js';
import type { Params, ParamTensors } from '../models/types.js';
import { ConfigError, NumericError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { learningRate, LR_SCHEDULES, type LrSchedule } from './lr.js';

export const autoencoderTrainConfigSchema = z
  .object({
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    /** Peak AdamW learning rate. */
    lr: z.number().positive().default(2e-3),
    lrSchedule: z.enum(LR_SCHEDULES).default('cosine'),
    warmupSteps: z.number().int().nonnegative().default(0),
    minLrRatio: z.number().min(0).max(1).default(0.1),
    weightDecay: z.number().nonnegative().default(0),
    /** Global-norm gradient clipping (null: none). */
    clipNorm: z.number().positive().nullable().default(1),
    /** β of the KL term, relative to the per-element mean squared error. */
    klWeight: z.number().nonnegative().default(1e-6),
    seed: z.number().int().default(0),
  })
  .strict();

export type AutoencoderTrainConfig = z.output<typeof autoencoderTrainConfigSchema>;
export type AutoencoderTrainConfigInput = z.input<typeof autoencoderTrainConfigSchema>;

/** The validated config; ConfigError names the field and the fix. */
export function autoencoderTrainConfig(input: AutoencoderTrainConfigInput): AutoencoderTrainConfig {
  const parsed = autoencoderTrainConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`autoencoder training config: '${issue.path.join('.')}' ${issue.message}`, {
      hint: 'fields: steps, batchSize, lr, lrSchedule, warmupSteps, minLrRatio, weightDecay, clipNorm, klWeight, seed',
    });
  }
  return parsed.data;
}

export interface AutoencoderStepReport {
  step: number;
  totalSteps: number;
  loss: number;
  gradNorm: number;
  lr: number;
  stepsPerSecond: number;
}

export interface AutoencoderTrainOptions {
  model: AutoencoderKL;
  dataset: Dataset;
  config: AutoencoderTrainConfigInput;
  runtime?: Runtime;
  /** Stops after the current step; the result then holds the weights so far. */
  signal?: AbortSignal;
  onStep?: (report: AutoencoderStepReport) => void;
}

export interface AutoencoderTrainResult {
  params: Params;
  /** Loss of every update, in order. */
  losses: number[];
  step: number;
  seconds: number;
  stepsPerSecond: number;
  interrupted: boolean;
}

type StepOut = { loss: HostTensor; gradNorm: HostTensor; params: Params; opt: { m: Params; v: Params } };

/** Throws a ConfigError unless the dataset's examples are images the autoencoder takes. */
function checkImages(model: AutoencoderKL, dataset: Dataset): void {
  const [channels, height, width] = dataset.shape;
  const f = model.downsamplingFactor;
  if (dataset.shape.length !== 3 || channels !== model.config.in_channels || height % f || width % f) {
    throw new ConfigError(
      `dataset '${dataset.name}' has examples [${dataset.shape.join(', ')}]; this AutoencoderKL takes [${model.config.in_channels}, H, W] with H, W divisible by ${f}`,
      { hint: 'match in_channels to the dataset, or use an image size divisible by the downsampling factor' },
    );
  }
}

/** The compiled update: loss (reconstruction + β·KL), gradient, clipping and AdamW in one graph. */
function compileStep(
  runtime: Runtime,
  model: AutoencoderKL,
  config: AutoencoderTrainConfig,
  imageShape: readonly number[],
): CompiledFunction<StepOut> {
  const optimizer = adamw({ weightDecay: config.weightDecay });
  const fn = trainStep({
    loss: (params: TensorTree, batch: Record<string, Tensor>) =>
      model.loss(params as ParamTensors, batch.x, batch.noise, config.klWeight).loss,
    optimizer,
    ...(config.clipNorm !== null ? { clipNorm: config.clipNorm } : {}),
  });
  const b = config.batchSize;
  const batchTypes = {
    x: { shape: [b, ...imageShape], dtype: 'float32' },
    noise: { shape: [b, ...model.latentShape(imageShape[1], imageShape[2])], dtype: 'float32' },
  };
  const types = trainStepTypes(model.paramTypes() as TypeTree, batchTypes as TypeTree, optimizer);
  return runtime.compile(fn as never, types) as CompiledFunction<StepOut>;
}

/** Trains `model` on `dataset` (images) as `config` says; see the module header. */
export async function trainAutoencoder(options: AutoencoderTrainOptions): Promise<AutoencoderTrainResult> {
  const { model, dataset } = options;
  const config = autoencoderTrainConfig(options.config);
  checkImages(model, dataset);
  const root = new Random(config.seed);
  let params = model.init(root.split());
  const zeros = () => hostZeros(model.paramTypes() as TypeTree) as Params;
  let opt = { m: zeros(), v: zeros() };
  const iterator = new BatchIterator(dataset, { batchSize: config.batchSize, random: root.split() });
  const noiseRandom = root.split();
  const latentSize = model
    .latentShape(dataset.shape[1], dataset.shape[2])
    .reduce((a, n) => a * n, config.batchSize);
  const schedule: LrSchedule = {
    peak: config.lr,
    warmupSteps: config.warmupSteps,
    totalSteps: config.steps,
    name: config.lrSchedule,
    minRatio: config.minLrRatio,
  };
  const compiled = compileStep(options.runtime ?? new OrtNodeRuntime(), model, config, dataset.shape);
  const losses: number[] = [];
  const started = performance.now();
  let interrupted = false;
  try {
    for (let step = 1; step <= config.steps; step++) {
      if (options.signal?.aborted) {
        interrupted = true;
        break;
      }
      const batch = { x: iterator.next()!.x, noise: noiseRandom.normals(latentSize) };
      const lr = learningRate(schedule, step);
      const out = await compiled.run({ params, opt, batch, step, lr } as never);
      const loss = out.loss.data[0] as number;
      if (!Number.isFinite(loss)) {
        throw new NumericError(`autoencoder training loss became ${loss} at step ${step}`, {
          hint: 'lower the learning rate or enable clipNorm',
        });
      }
      params = out.params;
      opt = out.opt;
      losses.push(loss);
      const seconds = (performance.now() - started) / 1000;
      options.onStep?.({
        step,
        totalSteps: config.steps,
        loss,
        gradNorm: out.gradNorm.data[0] as number,
        lr,
        stepsPerSecond: losses.length / seconds,
      });
    }
  } finally {
    await compiled.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    params,
    losses,
    step: losses.length,
    seconds,
    stepsPerSecond: losses.length / Math.max(seconds, 1e-9),
    interrupted,
  };
}
