/**
 * The training loop: builds the initial (or resumed) state, walks the dataset with a resumable
 * `BatchIterator`, noises each batch on the host (`batch.ts`), runs the compiled one-graph train step
 * (`step.ts`) at the scheduled learning rate (`lr.ts`), reports progress, and checkpoints every N steps
 * and at the end (`checkpoint.ts`). A non-finite loss stops the run with a NumericError before anything
 * is saved, so the last checkpoint on disk stays the last good one. An `AbortSignal` (SIGINT in the CLI)
 * stops the run after the current step with a checkpoint; a time limit ends it early as if complete.
 * Same config and seed → identical loss curve.
 *
 * This module must not parse flags, write images or know a particular network or sampler: the caller
 * passes hooks for writing sampling weights and sample images.
 */
import { performance } from 'node:perf_hooks';
import { BatchIterator, type Batch, type Dataset } from '../data/dataset.js';
import { alphasCumprod, betaSchedule } from '../diffusion/schedules.js';
import { hostCopy, hostZeros, OrtNodeRuntime, type Runtime, type TypeTree } from '../engine/index.js';
import type { DenoiserNetwork, Params } from '../models/types.js';
import { ConfigError, NumericError } from '../util/errors.js';
import { assertWritableDir } from '../util/fs.js';
import { Random } from '../util/random.js';
import { noisedBatch, type NoisedBatch, type NoisingSetup } from './batch.js';
import { loadTrainingState, saveTrainingState, type Checkpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { learningRate, scheduleOf } from './lr.js';
import type { StepReport as LoopStepReport } from './compiled-loop.js';
import { compileTrainStep, type TrainState } from './step.js';

export interface StepReport extends LoopStepReport {
  stepsPerSecond: number;
}

export interface TrainOptions {
  config: TrainConfig;
  network: DenoiserNetwork;
  dataset: Dataset;
  runtime?: Runtime;
  /** Run folder for checkpoints; none: nothing is written. */
  runDir?: string;
  /** Continue from `<runDir>/training_state/`. */
  resume?: boolean;
  /** Stops the run after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /**
   * Wall-clock budget in seconds: once a step ends past it, the run stops there and finishes as if
   * complete (checkpoint, final samples), with `timeLimited` set. The LR schedule keeps its step count.
   */
  timeLimitSeconds?: number;
  onStep?: (report: StepReport) => void;
  /** Writes the sampling weights (EMA when enabled) as a pipeline folder into `runDir`. */
  saveWeights?: (runDir: string, weights: Params, step: number) => void;
  /** Evaluate the sampling weights every this many steps and at the end (0 or absent: never). */
  evalEvery?: number;
  /** Called every `evalEvery` steps and after the last step with the sampling weights. */
  onEvaluate?: (weights: Params, step: number) => Promise<void>;
  /** Called every `sampleEvery` steps and at the end (`final`) with the sampling weights. */
  onSample?: (weights: Params, step: number, final: boolean) => Promise<void>;
}

export interface TrainResult {
  /** Completed updates in total (including those before a resume). */
  step: number;
  /** Losses of the updates this call ran, in order. */
  losses: number[];
  state: TrainState;
  seconds: number;
  stepsPerSecond: number;
  /** True when the signal stopped the run early. */
  interrupted: boolean;
  /** True when the time limit ended the run before `config.steps`. */
  timeLimited: boolean;
}

/** The noising setup implied by the config and the dataset. */
function noisingSetup(config: TrainConfig, dataset: Dataset): NoisingSetup {
  const betas = betaSchedule({
    betaSchedule: config.betaSchedule,
    betaStart: config.betaStart,
    betaEnd: config.betaEnd,
    numTrainTimesteps: config.numTrainTimesteps,
  });
  return {
    alphasCumprod: alphasCumprod(betas),
    objective: config.objective,
    minSnrGamma: config.minSnrGamma,
    numClasses: config.classConditional ? dataset.numClasses! : null,
    labelDropout: config.labelDropout,
  };
}

/** Throws a ConfigError unless the network fits the dataset and the conditioning the config asks for. */
export function checkCompatible(config: TrainConfig, network: DenoiserNetwork, dataset: Dataset): void {
  const same =
    network.sampleShape.length === dataset.shape.length &&
    network.sampleShape.every((n, i) => n === dataset.shape[i]);
  if (!same) {
    throw new ConfigError(
      `network sample shape [${network.sampleShape.join(', ')}] does not match dataset '${dataset.name}' [${dataset.shape.join(', ')}]`,
    );
  }
  if (!config.classConditional) return;
  if (!dataset.numClasses)
    throw new ConfigError(`dataset '${dataset.name}' has no labels; set classConditional: false`);
  if (network.numClassEmbeds !== dataset.numClasses + 1) {
    throw new ConfigError(
      `a class-conditional network needs ${dataset.numClasses + 1} class embeddings (${dataset.numClasses} classes + the null class), got ${network.numClassEmbeds}`,
    );
  }
}

/** The noised batch, plus the observed values a network with `conditioningInput` sees (drawn after the noise). */
function conditionedBatch(
  network: DenoiserNetwork,
  batch: Batch,
  size: number,
  setup: NoisingSetup,
  random: Random,
): NoisedBatch {
  const noised = noisedBatch(batch, size, setup, random);
  if (network.conditioningInput)
    noised.conditioning = network.conditioningInput.fromClean(batch.x, size, random);
  return noised;
}

/** A fresh run's state: seeded init, zero AdamW moments, EMA equal to the parameters. */
function initialState(config: TrainConfig, network: DenoiserNetwork, random: Random): TrainState {
  const params = network.init(random);
  const moments = () => hostZeros(network.paramTypes() as TypeTree) as Params;
  return {
    params,
    opt: { m: moments(), v: moments() },
    ema: config.emaDecay === null ? null : (hostCopy(params) as Params),
  };
}

interface Run {
  step: number;
  state: TrainState;
  random: Random;
  iterator: BatchIterator;
}

function startRun(options: TrainOptions): Run {
  const { config, network, dataset } = options;
  if (options.resume) {
    if (!options.runDir) throw new ConfigError('resume needs a run folder');
    const saved = loadTrainingState(options.runDir, Object.keys(network.paramTypes()));
    return {
      step: saved.step,
      state: saved.state,
      random: Random.fromState(saved.random),
      iterator: new BatchIterator(dataset, { batchSize: config.batchSize, resumeFrom: saved.iterator }),
    };
  }
  const root = new Random(config.seed);
  const state = initialState(config, network, root.split());
  const iterator = new BatchIterator(dataset, { batchSize: config.batchSize, random: root.split() });
  return { step: 0, state, random: root.split(), iterator };
}

function samplingWeights(state: TrainState): Params {
  return state.ema ?? state.params;
}

function checkpoint(options: TrainOptions, run: Run): void {
  if (!options.runDir) return;
  options.saveWeights?.(options.runDir, samplingWeights(run.state), run.step);
  const saved: Checkpoint = {
    step: run.step,
    state: run.state,
    random: run.random.state(),
    iterator: run.iterator.state(),
    config: options.config,
  };
  saveTrainingState(options.runDir, saved);
}

const due = (step: number, every: number) => every > 0 && step % every === 0;

/** Trains `network` on `dataset` as `config` says; see the module header. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, network, dataset } = options;
  checkCompatible(config, network, dataset);
  // A run folder that cannot be written fails now, not at the first checkpoint after minutes of work.
  if (options.runDir) assertWritableDir(options.runDir);
  const setup = noisingSetup(config, dataset);
  const schedule = scheduleOf(config);
  const run = startRun(options);
  const compiled = compileTrainStep(options.runtime ?? new OrtNodeRuntime(), network, {
    batchSize: config.batchSize,
    accumulation: config.gradientAccumulation,
    weightDecay: config.weightDecay,
    clipNorm: config.clipNorm,
    emaDecay: config.emaDecay,
    emaWarmup: config.emaWarmup,
    classConditional: config.classConditional,
  });
  const losses: number[] = [];
  const started = performance.now();
  let interrupted = false;
  let timeLimited = false;
  const limitMs = (options.timeLimitSeconds ?? Infinity) * 1000;
  try {
    while (run.step < config.steps) {
      if (options.signal?.aborted) {
        interrupted = true;
        break;
      }
      if (performance.now() - started >= limitMs) {
        timeLimited = true;
        break;
      }
      const step = run.step + 1;
      const batches = Array.from({ length: config.gradientAccumulation }, () =>
        conditionedBatch(network, run.iterator.next()!, config.batchSize, setup, run.random),
      );
      const lr = learningRate(schedule, step);
      const out = await compiled.run(run.state, batches, step, lr);
      if (!Number.isFinite(out.loss)) {
        throw new NumericError(`training loss became ${out.loss} at step ${step}`, {
          hint: 'lower the learning rate or enable clipNorm; the last checkpoint on disk is the last good one',
        });
      }
      run.state = { params: out.params, opt: out.opt, ema: out.ema };
      run.step = step;
      losses.push(out.loss);
      const seconds = (performance.now() - started) / 1000;
      options.onStep?.({
        step,
        totalSteps: config.steps,
        loss: out.loss,
        gradNorm: out.gradNorm,
        lr,
        stepsPerSecond: losses.length / seconds,
      });
      if (due(step, config.checkpointEvery) && step < config.steps) checkpoint(options, run);
      if (due(step, options.evalEvery ?? 0) && step < config.steps)
        await options.onEvaluate?.(samplingWeights(run.state), step);
      if (due(step, config.sampleEvery) && step < config.steps)
        await options.onSample?.(samplingWeights(run.state), step, false);
    }
  } finally {
    await compiled.dispose();
  }
  checkpoint(options, run);
  if (!interrupted) {
    await options.onSample?.(samplingWeights(run.state), run.step, true);
    if ((options.evalEvery ?? 0) > 0) await options.onEvaluate?.(samplingWeights(run.state), run.step);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    step: run.step,
    losses,
    state: run.state,
    seconds,
    stepsPerSecond: losses.length / Math.max(seconds, 1e-9),
    interrupted,
    timeLimited,
  };
}
