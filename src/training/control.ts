/**
 * ControlNet training (Zhang et al. 2023): a frozen base U-Net and a trainable ControlNet, trained with
 * the base's own objective — the weighted MSE of the base's prediction (now given the ControlNet's
 * residuals) against the target of its scheduler's prediction type, on x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε
 * (Ho et al. eq. 4, `batch.ts`). The base weights are baked into the compiled graph as constants
 * (engine `compile(..., { frozen })`), so the gradient and the AdamW update reach only the ControlNet's
 * parameters; one graph and one run per update as in `step.ts`. Class labels of a class-conditional
 * base are dropped to the null class with probability `labelDropout` (the paper drops 50 % of prompts
 * so that the ControlNet learns to read the condition on its own). Same options and seed → same losses.
 *
 * This module must not parse flags, write files or compute edge maps; the dataset brings its
 * conditioning images (`Batch.condition`).
 */
import { performance } from 'node:perf_hooks';
import { BatchIterator, type Dataset } from '../data/dataset.js';
import { alphasCumprod, betaSchedule, type BetaScheduleConfig } from '../diffusion/schedules.js';
import type { PredictionType } from '../diffusion/samplers/types.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import {
  adamw,
  hostZeros,
  mean,
  mul,
  OrtNodeRuntime,
  reshape,
  sub,
  trainStep,
  trainStepTypes,
  type CompiledFunction,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TensorTree,
  type TypeTree,
} from '../engine/index.js';
import type { ControlNetModel } from '../models/controlnet.js';
import type { DenoiserNetwork, Params, ParamTensors } from '../models/types.js';
import { ConfigError, NumericError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { noisedBatch, type NoisedBatch, type NoisingSetup } from './batch.js';

export interface ControlTrainOptions {
  /** The frozen base network, its weights and its scheduler config (schedule and prediction type). */
  base: { network: DenoiserNetwork; params: Params; schedulerConfig: SchedulerConfig };
  controlnet: ControlNetModel;
  /** Starting ControlNet weights (`ControlNetModel.fromUNet`). */
  initialParams: Params;
  /** Images whose batches carry `condition` (e.g. `edgeConditionedDataset`). */
  dataset: Dataset;
  steps: number;
  batchSize: number;
  /** AdamW learning rate (constant). */
  lr: number;
  seed: number;
  /** Probability that a label becomes the null class (class-conditional bases only). */
  labelDropout?: number;
  weightDecay?: number;
  /** Global-norm gradient clipping (default 1). */
  clipNorm?: number;
  runtime?: Runtime;
  /** Wall-clock budget in seconds; the run stops after the step that passes it. */
  timeLimitSeconds?: number;
  onStep?: (report: { step: number; loss: number; gradNorm: number }) => void;
}

export interface ControlTrainResult {
  params: Params;
  losses: number[];
  steps: number;
  seconds: number;
}

/** ᾱ_t and the prediction type of a DDPM/DDIM-style scheduler config, or a ConfigError. */
export function baseObjective(config: SchedulerConfig): {
  alphasCumprod: Float64Array;
  objective: PredictionType;
} {
  const fields = config as unknown as Partial<BetaScheduleConfig> & { predictionType?: PredictionType };
  const schedule: (keyof BetaScheduleConfig)[] = [
    'betaSchedule',
    'numTrainTimesteps',
    'betaStart',
    'betaEnd',
  ];
  for (const key of [...schedule, 'predictionType'] as const) {
    if (fields[key] === undefined) {
      throw new ConfigError(
        `the base's ${config.className} config has no ${key}; ControlNet training needs a DDPM-style schedule`,
      );
    }
  }
  return {
    alphasCumprod: alphasCumprod(betaSchedule(fields as BetaScheduleConfig)),
    objective: fields.predictionType!,
  };
}

type ControlBatch = Record<string, Tensor>;

/** The base's weighted MSE with the ControlNet's residuals added (the base objective, `step.ts`). */
function controlLoss(
  options: ControlTrainOptions,
  baseParams: ParamTensors,
  params: ParamTensors,
  batch: ControlBatch,
): Tensor {
  const { network } = options.base;
  const inputs = {
    sample: batch.sample,
    timestep: batch.timestep,
    ...(batch.classLabels ? { classLabels: batch.classLabels } : {}),
  };
  const residuals = options.controlnet.apply(params, inputs, batch.condition);
  const prediction = network.apply(baseParams, { ...inputs, controlResiduals: residuals });
  const diff = sub(prediction, batch.target);
  const weight = reshape(batch.weight, [-1, ...network.sampleShape.map(() => 1)]);
  return mean(mul(mul(diff, diff), weight));
}

function batchTypes(options: ControlTrainOptions): TypeTree {
  const b = options.batchSize;
  const sample = { shape: [b, ...options.base.network.sampleShape], dtype: 'float32' as const };
  return {
    sample,
    timestep: { shape: [b], dtype: 'float32' },
    target: sample,
    weight: { shape: [b], dtype: 'float32' },
    condition: { shape: [b, ...options.controlnet.conditionShape], dtype: 'float32' },
    ...(options.base.network.numClassEmbeds !== null
      ? { classLabels: { shape: [b], dtype: 'int64' as const } }
      : {}),
  };
}

type StepOut = { loss: HostTensor; gradNorm: HostTensor; params: Params; opt: { m: Params; v: Params } };

/** One compiled update: forward through ControlNet and frozen base, backward into the ControlNet, AdamW. */
function compileControlStep(options: ControlTrainOptions, runtime: Runtime): CompiledFunction<StepOut> {
  const optimizer = adamw({ weightDecay: options.weightDecay ?? 0 });
  const fn = (inputs: { base: ParamTensors } & Parameters<ReturnType<typeof trainStep>>[0]) =>
    trainStep({
      loss: (params: TensorTree, batch: ControlBatch) =>
        controlLoss(options, inputs.base, params as ParamTensors, batch),
      optimizer,
      clipNorm: options.clipNorm ?? 1,
    })(inputs as never);
  const types = {
    ...trainStepTypes(options.controlnet.paramTypes() as TypeTree, batchTypes(options), optimizer),
    base: options.base.network.paramTypes() as TypeTree,
  };
  return runtime.compile(fn as never, types, {
    frozen: { base: options.base.params } as never,
  }) as CompiledFunction<StepOut>;
}

function checkOptions(options: ControlTrainOptions): void {
  const { steps, batchSize, lr, dataset } = options;
  if (!Number.isInteger(steps) || steps < 1)
    throw new ConfigError(`steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > dataset.size) {
    throw new ConfigError(`batch size must be an integer in [1, ${dataset.size}], got ${batchSize}`);
  }
  if (!(lr > 0 && Number.isFinite(lr))) throw new ConfigError(`learning rate must be positive, got ${lr}`);
  const shape = options.base.network.sampleShape;
  if (shape.length !== dataset.shape.length || shape.some((n, i) => n !== dataset.shape[i])) {
    throw new ConfigError(
      `the base makes samples [${shape.join(', ')}] but dataset '${dataset.name}' holds [${dataset.shape.join(', ')}]`,
    );
  }
  const classes = options.base.network.numClassEmbeds;
  if (classes !== null && dataset.numClasses !== classes - 1) {
    throw new ConfigError(
      `the base has ${classes - 1} classes (+ null) but dataset '${dataset.name}' has ${dataset.numClasses ?? 'no'} labels`,
    );
  }
}

/** The noised batch with the clean batch's conditioning images. */
function controlBatch(
  dataset: Dataset,
  iterator: BatchIterator,
  setup: NoisingSetup,
  size: number,
  random: Random,
): NoisedBatch & { condition: Float32Array } {
  const clean = iterator.next()!;
  if (!clean.condition) {
    throw new ConfigError(`dataset '${dataset.name}' brings no conditioning images`, {
      hint: 'wrap it with edgeConditionedDataset',
    });
  }
  return { ...noisedBatch(clean, size, setup, random), condition: clean.condition };
}

/** Trains the ControlNet against the frozen base; see the module header. */
export async function trainControlNet(options: ControlTrainOptions): Promise<ControlTrainResult> {
  checkOptions(options);
  const { alphasCumprod: alphas, objective } = baseObjective(options.base.schedulerConfig);
  const classes = options.base.network.numClassEmbeds;
  const setup: NoisingSetup = {
    alphasCumprod: alphas,
    objective,
    minSnrGamma: null,
    numClasses: classes === null ? null : classes - 1,
    labelDropout: options.labelDropout ?? 0.5,
  };
  const root = new Random(options.seed);
  const iterator = new BatchIterator(options.dataset, { batchSize: options.batchSize, random: root.split() });
  const random = root.split();
  const compiled = compileControlStep(options, options.runtime ?? new OrtNodeRuntime());
  const moments = () => hostZeros(options.controlnet.paramTypes() as TypeTree) as Params;
  let state = { params: options.initialParams, opt: { m: moments(), v: moments() } };
  const losses: number[] = [];
  const started = performance.now();
  const limitMs = (options.timeLimitSeconds ?? Infinity) * 1000;
  try {
    for (let step = 1; step <= options.steps; step++) {
      const batch = controlBatch(options.dataset, iterator, setup, options.batchSize, random);
      const out = await compiled.run({
        params: state.params,
        opt: state.opt,
        batch,
        step,
        lr: options.lr,
      } as never);
      const loss = out.loss.data[0] as number;
      if (!Number.isFinite(loss)) {
        throw new NumericError(`ControlNet training loss became ${loss} at step ${step}`, {
          hint: 'lower the learning rate',
        });
      }
      state = { params: out.params, opt: out.opt };
      losses.push(loss);
      options.onStep?.({ step, loss, gradNorm: out.gradNorm.data[0] as number });
      if (performance.now() - started >= limitMs) break;
    }
  } finally {
    await compiled.dispose();
  }
  return {
    params: state.params,
    losses,
    steps: losses.length,
    seconds: (performance.now() - started) / 1000,
  };
}
