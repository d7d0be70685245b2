/**
 * The compiled train step: ONE engine graph and one `run` per update doing the network forward, the
 * weighted MSE loss (1/B) Σ_b w_b · mean_i (f(x_t, t)_bi − target_bi)², the backward pass, global-norm
 * clipping, the AdamW update and the EMA update (engine `trainStep`). Inputs and outputs are host trees
 * `{ params, opt, ema }`, so the whole training state lives on the host between steps and a checkpoint
 * is just those trees.
 *
 * This module must not draw random numbers or loop over steps; `batch.ts` and `trainer.ts` do that.
 */
import type {
  CompiledFunction,
  HostTensor,
  Runtime,
  Tensor,
  TensorTree,
  TensorType,
  TypeTree,
} from '../engine/index.js';
import { adamw, mean, mul, reshape, sub, trainStep, trainStepTypes } from '../engine/index.js';
import type { DenoiserNetwork, Params, ParamTensors } from '../models/types.js';
import type { NoisedBatch } from './batch.js';

export interface StepSettings {
  batchSize: number;
  weightDecay: number;
  clipNorm: number | null;
  emaDecay: number | null;
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
  run(state: TrainState, batch: NoisedBatch, step: number, lr: number): Promise<StepResult>;
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
  return types;
}

/** The per-example weighted MSE between the network output and the target. */
function weightedLoss(network: DenoiserNetwork, params: ParamTensors, batch: Record<string, Tensor>): Tensor {
  const prediction = network.apply(params, {
    sample: batch.sample,
    timestep: batch.timestep,
    ...(batch.classLabels ? { classLabels: batch.classLabels } : {}),
  });
  const diff = sub(prediction, batch.target);
  const ones = network.sampleShape.map(() => 1);
  const weight = reshape(batch.weight, [-1, ...ones]);
  return mean(mul(mul(diff, diff), weight));
}

/** Compiles the train step of `network` for one batch size on `runtime`. */
export function compileTrainStep(
  runtime: Runtime,
  network: DenoiserNetwork,
  settings: StepSettings,
): CompiledTrainStep {
  const optimizer = adamw({ weightDecay: settings.weightDecay });
  const withEma = settings.emaDecay !== null;
  const fn = trainStep({
    loss: (params: TensorTree, batch: Record<string, Tensor>) =>
      weightedLoss(network, params as ParamTensors, batch),
    optimizer,
    ...(settings.clipNorm !== null ? { clipNorm: settings.clipNorm } : {}),
    ...(withEma ? { emaDecay: settings.emaDecay! } : {}),
  });
  const types = trainStepTypes(
    network.paramTypes() as TypeTree,
    batchTypes(network, settings) as TypeTree,
    optimizer,
    withEma,
  );
  const compiled = runtime.compile(fn as never, types) as CompiledFunction<TrainStepOut>;
  return {
    async run(state, batch, step, lr) {
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
