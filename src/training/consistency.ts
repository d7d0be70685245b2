/**
 * Consistency models (Song et al. 2023): consistency distillation (CD, Algorithm 2) from a trained
 * teacher and consistency training from scratch (CT, Algorithm 3). Both train f_θ(x, σ) =
 * c_skip(σ) x + c_out(σ) F_θ(c_in(σ) x, 250 ln σ) (diffusion/samplers/consistency.ts; the boundary
 * condition f(x, σ_min) = x holds by construction) on the Karras levels σ_1 < … < σ_N between σ_min and
 * σ_max: for data x, a level n and z ~ N(0, I), x_{n+1} = x + σ_{n+1} z, the loss is
 * ‖f_θ(x_{n+1}, σ_{n+1}) − f_θ⁻(x̂_n, σ_n)‖² with θ⁻ the EMA "target" network, θ⁻ ← μθ⁻ + (1 − μ)θ.
 * CD takes x̂_n from one Euler or Heun step of the teacher's probability-flow ODE dx/dσ = (x − D(x; σ))/σ
 * from σ_{n+1} to σ_n (fixed N and μ); CT takes x̂_n = x + σ_n z (the same z) with N(k) and μ(k) growing
 * over training (Song et al. 2023, App. C). The student's squared error is written as a weighted regression
 * of the raw output: c_out² ‖F − (f⁻ − c_skip x_{n+1})/c_out‖², which is what the compiled train step takes.
 * The teacher is the VP network read in σ-space (x/√(1+σ²) at the timestep of σ), as diffusers'
 * Euler-family samplers read it. This module must not parse flags or write files.
 */
import { performance } from 'node:perf_hooks';
import { BatchIterator, type Dataset } from '../data/dataset.js';
import { sigmasFromAlphasCumprod, timestepFromSigma } from '../diffusion/noise-levels.js';
import {
  boundaryScalings,
  consistencyInputScale,
  consistencyTimestep,
  karrasLevels,
  type ConsistencyLevels,
} from '../diffusion/samplers/consistency.js';
import { schedulerConfig, type CMStochasticIterativeSchedulerConfig } from '../diffusion/scheduler-config.js';
import { hostCopy, hostZeros, OrtNodeRuntime, type Runtime, type TypeTree } from '../engine/index.js';
import type { DenoiserNetwork, Params } from '../models/types.js';
import { ConfigError, NumericError, unknownChoice } from '../util/errors.js';
import { Random } from '../util/random.js';
import type { NoisedBatch } from './batch.js';
import { compiledParamForward, type TeacherFn } from './distill.js';
import { compileTrainStep, type TrainState } from './step.js';

/** D(x; σ) for a batch in σ-space (x = x₀ + σ ε), one σ per example: the teacher's x₀ estimate. */
export type SigmaDenoiser = (
  x: Float32Array,
  sigmas: Float64Array,
  labels: BigInt64Array | null,
) => Promise<Float64Array>;

/** A VP teacher (z = √ᾱ x₀ + √(1−ᾱ) ε at timestep t) read in σ-space: z = x/√(1+σ²), ᾱ = 1/(1+σ²). */
export function sigmaDenoiser(teacher: TeacherFn, alphasCumprod: Float64Array): SigmaDenoiser {
  const trainingSigmas = sigmasFromAlphasCumprod(alphasCumprod);
  return (x, sigmas, labels) => {
    const size = x.length / sigmas.length;
    const z = Float32Array.from(x, (v, i) => v / Math.sqrt(1 + sigmas[Math.floor(i / size)] ** 2));
    const timesteps = sigmas.map((s) => timestepFromSigma(s, trainingSigmas));
    return teacher(
      z,
      timesteps,
      sigmas.map((s) => 1 / (1 + s * s)),
      labels,
    );
  };
}

export const CONSISTENCY_METHODS = ['distillation', 'training'] as const;
export type ConsistencyMethod = (typeof CONSISTENCY_METHODS)[number];
export const ODE_SOLVERS = ['euler', 'heun'] as const;
export type OdeSolver = (typeof ODE_SOLVERS)[number];

export interface ConsistencySettings {
  iterations: number;
  batchSize: number;
  /** Constant learning rate (the paper's choice). */
  lr: number;
  clipNorm: number | null;
  seed: number;
  levels: ConsistencyLevels;
  /** CD: the number of levels N (the paper: 18 on CIFAR-10, 40 on ImageNet 64). */
  numLevels: number;
  /** CD: the target network's EMA decay μ (the paper: 0.95 on CIFAR-10). */
  targetDecay: number;
  /** CD: the ODE step of the teacher between adjacent levels. */
  solver: OdeSolver;
  /** CT: N(k) grows from s0 to s1 + 1 levels; μ(k) = exp(s0 ln μ0 / N(k)). */
  s0: number;
  s1: number;
  mu0: number;
  timeLimitSeconds?: number;
  onStep?: (report: { iteration: number; loss: number; numLevels: number }) => void;
}

/** The paper's CIFAR-10 settings, scaled to short runs. */
export const DEFAULT_CONSISTENCY_SETTINGS: Omit<
  ConsistencySettings,
  'iterations' | 'batchSize' | 'lr' | 'seed'
> = {
  clipNorm: 1,
  levels: { sigmaMin: 0.002, sigmaMax: 80, sigmaData: 0.5, rho: 7 },
  numLevels: 18,
  targetDecay: 0.95,
  solver: 'heun',
  s0: 2,
  s1: 150,
  mu0: 0.9,
};

export interface ConsistencyOptions {
  method: ConsistencyMethod;
  network: DenoiserNetwork;
  initialParams: Params;
  dataset: Dataset;
  /** Required for distillation. */
  teacher?: SigmaDenoiser;
  settings: ConsistencySettings;
  runtime?: Runtime;
}

export interface ConsistencyResult {
  /** The online weights θ (what is saved and sampled). */
  params: Params;
  /** The target weights θ⁻. */
  target: Params;
  losses: number[];
  /** N at the end of the run: the scheduler's `num_train_timesteps`. */
  numLevels: number;
  seconds: number;
  timeLimited: boolean;
}

/**
 * CT's schedules at update k of K (Song et al. 2023, App. C):
 * N(k) = ⌈√(k/K ((s1 + 1)² − s0²) + s0²) − 1⌉ + 1 and μ(k) = exp(s0 ln μ0 / N(k)).
 */
export function trainingSchedule(
  k: number,
  total: number,
  s0: number,
  s1: number,
  mu0: number,
): { numLevels: number; decay: number } {
  const numLevels = Math.ceil(Math.sqrt((k / total) * ((s1 + 1) ** 2 - s0 ** 2) + s0 ** 2) - 1) + 1;
  return { numLevels, decay: Math.exp((s0 * Math.log(mu0)) / numLevels) };
}

/** The N training levels σ_1 < … < σ_N = σ_max (Karras, ρ), ascending. */
export function trainingLevels(numLevels: number, levels: ConsistencyLevels): Float64Array {
  if (!Number.isInteger(numLevels) || numLevels < 2)
    throw new ConfigError(`a consistency model needs at least 2 levels, got ${numLevels}`);
  return karrasLevels(
    Array.from({ length: numLevels }, (_, i) => 1 - i / (numLevels - 1)),
    levels,
  );
}

/** The scheduler config a trained consistency model samples with. */
export function consistencySchedulerConfig(
  levels: ConsistencyLevels,
  numLevels: number,
  clipDenoised: boolean,
): CMStochasticIterativeSchedulerConfig {
  return schedulerConfig('CMStochasticIterativeScheduler', {
    numTrainTimesteps: numLevels,
    sigmaMin: levels.sigmaMin,
    sigmaMax: levels.sigmaMax,
    sigmaData: levels.sigmaData,
    rho: levels.rho,
    clipDenoised,
  });
}

/** Per-example x + σ_b · z. */
function noised(x: Float32Array, noise: Float32Array, sigmas: Float64Array): Float32Array {
  const size = x.length / sigmas.length;
  return Float32Array.from(x, (v, i) => v + sigmas[Math.floor(i / size)] * noise[i]);
}

/** x̂_n from x_{n+1} by one Euler (or Heun) step of dx/dσ = (x − D)/σ from σ_{n+1} to σ_n. */
async function teacherStep(
  teacher: SigmaDenoiser,
  solver: OdeSolver,
  x: Float32Array,
  from: Float64Array,
  to: Float64Array,
  labels: BigInt64Array | null,
): Promise<Float32Array> {
  const size = x.length / from.length;
  const derivative = (y: ArrayLike<number>, d: ArrayLike<number>, s: Float64Array) =>
    Float64Array.from(y, (v, i) => (v - d[i]) / s[Math.floor(i / size)]);
  const d1 = derivative(x, await teacher(x, from, labels), from);
  const step = (i: number) => to[Math.floor(i / size)] - from[Math.floor(i / size)];
  const euler = Float32Array.from(x, (v, i) => v + step(i) * d1[i]);
  if (solver === 'euler') return euler;
  const d2 = derivative(euler, await teacher(euler, to, labels), to);
  return Float32Array.from(x, (v, i) => v + step(i) * 0.5 * (d1[i] + d2[i]));
}

/** θ⁻ ← μθ⁻ + (1 − μ)θ, leaf by leaf, in place. */
function emaInPlace(target: Params, params: Params, decay: number): void {
  for (const name of Object.keys(target)) {
    const t = target[name].data as Float32Array;
    const p = params[name].data as Float32Array;
    for (let i = 0; i < t.length; i++) t[i] = decay * t[i] + (1 - decay) * p[i];
  }
}

function checkOptions(options: ConsistencyOptions): void {
  const { settings, method } = options;
  if (!CONSISTENCY_METHODS.includes(method))
    throw unknownChoice('consistency method', method, CONSISTENCY_METHODS);
  if (method === 'distillation' && !options.teacher)
    throw new ConfigError('consistency distillation needs a teacher');
  if (!ODE_SOLVERS.includes(settings.solver)) throw unknownChoice('ODE solver', settings.solver, ODE_SOLVERS);
  if (!Number.isInteger(settings.iterations) || settings.iterations < 1)
    throw new ConfigError(`iterations must be a positive integer, got ${settings.iterations}`);
  if (!(settings.targetDecay >= 0 && settings.targetDecay < 1))
    throw new ConfigError(`target EMA decay μ must be in [0, 1), got ${settings.targetDecay}`);
  const { sigmaMin, sigmaMax } = settings.levels;
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin))
    throw new ConfigError(`consistency levels need 0 < σ_min < σ_max, got ${sigmaMin}, ${sigmaMax}`);
}

/** The student's batch: x_{n+1} scaled by c_in, its timestep, the raw-output target and c_out² weight. */
function studentBatch(
  xHigh: Float32Array,
  sigmaHigh: Float64Array,
  target: ArrayLike<number>,
  levels: ConsistencyLevels,
  labels: BigInt64Array | null,
): NoisedBatch {
  const size = xHigh.length / sigmaHigh.length;
  const scalings = Array.from(sigmaHigh, (s) => ({
    ...boundaryScalings(s, levels),
    cIn: consistencyInputScale(s, levels),
  }));
  const at = (i: number) => scalings[Math.floor(i / size)];
  const batch: NoisedBatch = {
    sample: Float32Array.from(xHigh, (v, i) => at(i).cIn * v),
    timestep: Float32Array.from(sigmaHigh, consistencyTimestep),
    target: Float32Array.from(xHigh, (v, i) => (target[i] - at(i).cSkip * v) / at(i).cOut),
    weight: Float32Array.from(scalings, (s) => s.cOut * s.cOut),
  };
  if (labels) batch.classLabels = labels;
  return batch;
}

/** Trains a consistency model by CD or CT; see the module header. */
export async function trainConsistency(options: ConsistencyOptions): Promise<ConsistencyResult> {
  checkOptions(options);
  const { network, settings, dataset, method } = options;
  const { levels } = settings;
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const random = new Random(settings.seed);
  const iterator = new BatchIterator(dataset, { batchSize: settings.batchSize, random: random.split() });
  const conditional = network.numClassEmbeds !== null;
  const compiled = compileTrainStep(runtime, network, {
    batchSize: settings.batchSize,
    weightDecay: 0,
    clipNorm: settings.clipNorm,
    emaDecay: null,
    classConditional: conditional,
  });
  const targetForward = compiledParamForward(runtime, network);
  const moments = () => hostZeros(network.paramTypes() as TypeTree) as Params;
  let state: TrainState = {
    params: hostCopy(options.initialParams) as Params,
    opt: { m: moments(), v: moments() },
    ema: null,
  };
  const target = hostCopy(options.initialParams) as Params;
  const losses: number[] = [];
  const started = performance.now();
  const limitMs = (settings.timeLimitSeconds ?? Infinity) * 1000;
  let numLevels = method === 'distillation' ? settings.numLevels : settings.s0;
  let timeLimited = false;
  try {
    for (let k = 1; k <= settings.iterations; k++) {
      if (performance.now() - started >= limitMs) {
        timeLimited = true;
        break;
      }
      const schedule =
        method === 'distillation'
          ? { numLevels: settings.numLevels, decay: settings.targetDecay }
          : trainingSchedule(k - 1, settings.iterations, settings.s0, settings.s1, settings.mu0);
      numLevels = schedule.numLevels;
      const sigmas = trainingLevels(numLevels, levels);
      const data = iterator.next()!;
      const labels = conditional ? BigInt64Array.from(data.labels ?? [], (l) => BigInt(l)) : null;
      if (conditional && labels!.length !== settings.batchSize)
        throw new ConfigError('a class-conditional consistency model needs a labelled dataset');
      const n = Int32Array.from({ length: settings.batchSize }, () => random.int(numLevels - 1));
      const sigmaLow = Float64Array.from(n, (i) => sigmas[i]);
      const sigmaHigh = Float64Array.from(n, (i) => sigmas[i + 1]);
      const noise = random.normals(data.x.length);
      const xHigh = noised(data.x, noise, sigmaHigh);
      const xLow =
        method === 'distillation'
          ? await teacherStep(options.teacher!, settings.solver, xHigh, sigmaHigh, sigmaLow, labels)
          : noised(data.x, noise, sigmaLow);
      const cIn = Float64Array.from(sigmaLow, (s) => consistencyInputScale(s, levels));
      const size = xLow.length / settings.batchSize;
      const raw = await targetForward.run(
        target,
        Float32Array.from(xLow, (v, i) => cIn[Math.floor(i / size)] * v),
        sigmaLow.map(consistencyTimestep),
        labels,
      );
      const targetOut = Float64Array.from(xLow, (v, i) => {
        const { cSkip, cOut } = boundaryScalings(sigmaLow[Math.floor(i / size)], levels);
        return cSkip * v + cOut * raw[i];
      });
      const batch = studentBatch(xHigh, sigmaHigh, targetOut, levels, labels);
      const out = await compiled.run(state, [batch], k, settings.lr);
      if (!Number.isFinite(out.loss))
        throw new NumericError(`consistency loss became ${out.loss} at update ${k}`, {
          hint: 'lower the learning rate or set a gradient clip',
        });
      state = { params: out.params, opt: out.opt, ema: null };
      emaInPlace(target, state.params, schedule.decay);
      losses.push(out.loss);
      settings.onStep?.({ iteration: k, loss: out.loss, numLevels });
    }
  } finally {
    await compiled.dispose();
    await targetForward.dispose();
  }
  return {
    params: state.params,
    target,
    losses,
    numLevels,
    seconds: (performance.now() - started) / 1000,
    timeLimited,
  };
}
