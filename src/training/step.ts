/**
 * The compiled train step: ONE engine graph and one `run` per update doing the network forward, the
 * weighted MSE loss (1/B) Σ_b w_b · mean_i (f(x_t, t)_bi − target_bi)², the backward pass, global-norm
 * clipping, the AdamW update and the EMA update (engine `trainStep`). Inputs and outputs are host trees
 * `{ params, opt, ema }`, so the whole training state lives on the host between steps and a checkpoint
 * is just those trees. With gradient accumulation over k micro-batches the step is two graphs instead:
 * the loss gradient, run once per micro-batch and averaged on the host (each micro-batch loss is a
 * mean, so the average of their gradients is the gradient of the whole batch's mean loss), then the
 * update (clip, AdamW, EMA) once.
 *
 * This module must not draw random numbers or loop over steps; `batch.ts` and `trainer.ts` do that.
 */
import type {
  ApplyGradientsConfig,
  CompiledFunction,
  HostTensor,
  Runtime,
  Tensor,
  TensorTree,
  TensorType,
  TypeTree,
} from '../engine/index.js';
import {
  adamw,
  applyGradients,
  mean,
  mul,
  reshape,
  sub,
  trainStep,
  trainStepTypes,
  valueAndGrad,
} from '../engine/index.js';
import type { DenoiserNetwork, Params, ParamTensors } from '../models/types.js';
import { ConfigError } from '../util/errors.js';
import type { NoisedBatch } from './batch.js';

export interface StepSettings {
  /** Examples per micro-batch (the whole batch without accumulation). */
  batchSize: number;
  /** Micro-batches whose gradients are averaged per update (1: none). */
  accumulation?: number;
  weightDecay: number;
  clipNorm: number | null;
  emaDecay: number | null;
  /** EMA decay min(emaDecay, n / (n + 9)) at update n, as diffusers' EMAModel (default false). */
  emaWarmup?: boolean;
  classConditional: boolean;
}

/** Host state a step reads and returns. `opt` holds AdamW's `m` and `v` trees. */
export interface TrainState {
  params: Params;
  opt: { m: Params; v: Params };
  ema: Params | null;
}

export interface StepResult extends TrainState {
  loss: number;
  gradNorm: number;
}

export interface CompiledTrainStep {
  /** One update from `accumulation` micro-batches (one batch without accumulation). */
  run(state: TrainState, batches: readonly NoisedBatch[], step: number, lr: number): Promise<StepResult>;
  dispose(): Promise<void>;
}

type TrainStepOut = {
  loss: HostTensor;
  gradNorm: HostTensor;
  params: Params;
  opt: TrainState['opt'];
  ema?: Params;
};

/** The batch's input types for a network and batch size. */
function batchTypes(network: DenoiserNetwork, settings: StepSettings): Record<string, TensorType> {
  const b = settings.batchSize;
  const sampleType: TensorType = { shape: [b, ...network.sampleShape], dtype: 'float32' };
  const types: Record<string, TensorType> = {
    sample: sampleType,
    timestep: { shape: [b], dtype: 'float32' },
    target: sampleType,
    weight: { shape: [b], dtype: 'float32' },
  };
  if (settings.classConditional) types.classLabels = { shape: [b], dtype: 'int64' };
  if (network.conditioningInput)
    types.conditioning = { shape: [b, ...network.conditioningInput.shape], dtype: 'float32' };
  return types;
}

/** The per-example weighted MSE between the network output and the target. */
function weightedLoss(network: DenoiserNetwork, params: ParamTensors, batch: Record<string, Tensor>): Tensor {
  const prediction = network.apply(params, {
    sample: batch.sample,
    timestep: batch.timestep,
    ...(batch.classLabels ? { classLabels: batch.classLabels } : {}),
    ...(batch.conditioning ? { conditioning: batch.conditioning } : {}),
  });
  const diff = sub(prediction, batch.target);
  const ones = network.sampleShape.map(() => 1);
  const weight = reshape(batch.weight, [-1, ...ones]);
  return mean(mul(mul(diff, diff), weight));
}

/** The update half of the step (AdamW, clipping, EMA) as the settings ask for it. */
function updateConfig(settings: StepSettings): ApplyGradientsConfig {
  return {
    optimizer: adamw({ weightDecay: settings.weightDecay }),
    ...(settings.clipNorm !== null ? { clipNorm: settings.clipNorm } : {}),
    ...(settings.emaDecay !== null
      ? { emaDecay: settings.emaDecay, emaWarmup: settings.emaWarmup ?? false }
      : {}),
  };
}

/** Compiles the train step of `network` for one batch size on `runtime`. */
export function compileTrainStep(
  runtime: Runtime,
  network: DenoiserNetwork,
  settings: StepSettings,
): CompiledTrainStep {
  const accumulation = settings.accumulation ?? 1;
  if (!Number.isInteger(accumulation) || accumulation < 1)
    throw new ConfigError(`gradient accumulation must be a positive integer, got ${accumulation}`);
  return accumulation === 1
    ? singleGraphStep(runtime, network, settings)
    : accumulatingStep(runtime, network, settings, accumulation);
}

function checkBatchCount(batches: readonly NoisedBatch[], expected: number): void {
  if (batches.length !== expected)
    throw new ConfigError(`a train step takes ${expected} micro-batch(es), got ${batches.length}`);
}

/** Forward, loss, backward, clip, AdamW and EMA in one graph and one run. */
function singleGraphStep(
  runtime: Runtime,
  network: DenoiserNetwork,
  settings: StepSettings,
): CompiledTrainStep {
  const update = updateConfig(settings);
  const { optimizer } = update;
  const withEma = update.emaDecay !== undefined;
  const fn = trainStep({
    loss: (params: TensorTree, batch: Record<string, Tensor>) =>
      weightedLoss(network, params as ParamTensors, batch),
    ...update,
  });
  const types = trainStepTypes(
    network.paramTypes() as TypeTree,
    batchTypes(network, settings) as TypeTree,
    optimizer,
    withEma,
  );
  const compiled = runtime.compile(fn as never, types) as CompiledFunction<TrainStepOut>;
  return {
    async run(state, batches, step, lr) {
      checkBatchCount(batches, 1);
      const batch = batches[0];
      const inputs = {
        params: state.params,
        opt: state.opt,
        batch,
        step,
        lr,
        ...(withEma ? { ema: state.ema } : {}),
      };
      const out = await compiled.run(inputs as never);
      return {
        params: out.params,
        opt: out.opt,
        ema: out.ema ?? null,
        loss: out.loss.data[0] as number,
        gradNorm: out.gradNorm.data[0] as number,
      };
    },
    dispose: () => compiled.dispose(),
  };
}

type GradOut = { loss: HostTensor; grads: Params };
type ApplyOut = Omit<TrainStepOut, 'loss'>;

/** Adds `from` into `into`, leaf by leaf (both trees share the parameter structure). */
function addInto(into: Params, from: Params): void {
  for (const name of Object.keys(into)) {
    const a = into[name].data as Float32Array;
    const b = from[name].data as Float32Array;
    for (let i = 0; i < a.length; i++) a[i] += b[i];
  }
}

function scaleInPlace(tree: Params, factor: number): void {
  for (const leaf of Object.values(tree)) {
    const a = leaf.data as Float32Array;
    for (let i = 0; i < a.length; i++) a[i] *= factor;
  }
}

/** The loss gradient per micro-batch (one graph), averaged on the host, then the update (another). */
function accumulatingStep(
  runtime: Runtime,
  network: DenoiserNetwork,
  settings: StepSettings,
  accumulation: number,
): CompiledTrainStep {
  const config = updateConfig(settings);
  const { optimizer } = config;
  const withEma = config.emaDecay !== undefined;
  const paramTypes = network.paramTypes() as TypeTree;
  const gradient = runtime.compile(
    (({ params, batch }: { params: TensorTree; batch: Record<string, Tensor> }) => {
      const { value, grad } = valueAndGrad((p: TensorTree) =>
        weightedLoss(network, p as ParamTensors, batch),
      )(params);
      return { loss: value, grads: grad };
    }) as never,
    { params: paramTypes, batch: batchTypes(network, settings) as TypeTree },
  ) as CompiledFunction<GradOut>;
  const apply = applyGradients(config);
  const scalar: TensorType = { shape: [], dtype: 'float32' };
  const update = runtime.compile(apply as never, {
    params: paramTypes,
    opt: optimizer.stateTypes(paramTypes),
    ...(withEma ? { ema: paramTypes } : {}),
    grads: paramTypes,
    step: scalar,
    lr: scalar,
  }) as CompiledFunction<ApplyOut>;
  return {
    async run(state, batches, step, lr) {
      checkBatchCount(batches, accumulation);
      let grads: Params | null = null;
      let loss = 0;
      for (const batch of batches) {
        const out = await gradient.run({ params: state.params, batch } as never);
        loss += (out.loss.data[0] as number) / accumulation;
        if (grads === null) grads = out.grads;
        else addInto(grads, out.grads);
      }
      scaleInPlace(grads!, 1 / accumulation);
      const inputs = {
        params: state.params,
        opt: state.opt,
        grads,
        step,
        lr,
        ...(withEma ? { ema: state.ema } : {}),
      };
      const out = await update.run(inputs as never);
      return {
        params: out.params,
        opt: out.opt,
        ema: out.ema ?? null,
        loss,
        gradNorm: out.gradNorm.data[0] as number,
      };
    },
    async dispose() {
      await gradient.dispose();
      await update.dispose();
    },
  };
}
