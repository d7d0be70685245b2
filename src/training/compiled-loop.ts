/**
 * The update loop shared by the trainers whose whole step is one compiled graph (engine `trainStep`:
 * forward, loss, backward, clipping, AdamW and optionally the EMA): per step it checks the wall-clock
 * budget and the abort signal, draws the host batch, sets the learning rate from the schedule, runs the
 * graph, refuses a non-finite loss with a NumericError naming the run and the step, and carries params,
 * optimizer state and EMA on to the next step. The compiled function is disposed at the end, whatever
 * happens.
 *
 * This module must not build graphs, draw data or know any network: callers pass the compiled step and
 * a batch function.
 */
import { performance } from 'node:perf_hooks';
import type { CompiledFunction, HostTensor } from '../engine/index.js';
import { NumericError } from '../util/errors.js';
import { learningRate, type LrSchedule } from './lr.js';

/** What a compiled train step returns (engine `trainStep`). */
export interface CompiledStepOut<P> {
  loss: HostTensor;
  gradNorm: HostTensor;
  params: P;
  opt: unknown;
  ema?: P;
}

export interface StepReport {
  step: number;
  totalSteps: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

export interface CompiledLoopOptions<P> {
  compiled: CompiledFunction<CompiledStepOut<P>>;
  params: P;
  /** The optimizer state at the start (e.g. `hostZeros(optimizer.stateTypes(...))`). */
  opt: unknown;
  /** The EMA of the params at the start, or null when the step keeps none. */
  ema: P | null;
  schedule: LrSchedule;
  /** The host batch of step `step` (1-based). */
  batch: (step: number) => unknown;
  /** Names the run in the non-finite-loss error, e.g. 'text-to-image training'. */
  what: string;
  timeLimitSeconds?: number;
  signal?: AbortSignal;
  onStep?: (report: StepReport) => void;
}

export interface CompiledLoopResult<P> {
  params: P;
  /** The EMA when the step keeps one, else the params. */
  samplingParams: P;
  losses: number[];
  seconds: number;
  /** True when the wall-clock budget ended the run before its last step. */
  timeLimited: boolean;
}

/** Runs `schedule.totalSteps` updates (or fewer: budget, abort); see the module header. */
export async function runCompiledSteps<P>(options: CompiledLoopOptions<P>): Promise<CompiledLoopResult<P>> {
  const { compiled, schedule } = options;
  let { params, opt, ema } = options;
  const losses: number[] = [];
  const started = performance.now();
  const limitMs = (options.timeLimitSeconds ?? Infinity) * 1000;
  let timeLimited = false;
  try {
    for (let step = 1; step <= schedule.totalSteps; step++) {
      if (options.signal?.aborted) break;
      if (performance.now() - started >= limitMs) {
        timeLimited = true;
        break;
      }
      const batch = options.batch(step);
      const lr = learningRate(schedule, step);
      const out = await compiled.run({ params, opt, batch, step, lr, ...(ema ? { ema } : {}) } as never);
      const loss = out.loss.data[0] as number;
      if (!Number.isFinite(loss)) {
        throw new NumericError(`${options.what} loss became ${loss} at step ${step}`, {
          hint: 'lower the learning rate',
        });
      }
      ({ params, opt } = out);
      if (out.ema) ema = out.ema;
      losses.push(loss);
      options.onStep?.({
        step,
        totalSteps: schedule.totalSteps,
        loss,
        gradNorm: out.gradNorm.data[0] as number,
        lr,
      });
    }
  } finally {
    await compiled.dispose();
  }
  return {
    params,
    samplingParams: ema ?? params,
    losses,
    seconds: (performance.now() - started) / 1000,
    timeLimited,
  };
}
