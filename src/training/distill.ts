/**
 * Progressive distillation (Salimans & Ho 2022, Algorithm 2): a student learns to do two of its teacher's
 * DDIM steps in one. Each round trains a student with N steps on the nested grid of
 * diffusion/distillation.ts: for x from the data, t on the grid, z_t = α_t x + σ_t ε, the teacher steps
 * t → t − ½·T/N → t − T/N and the student regresses x̃ (the paper's formula) through a v-prediction
 * output, x̂ = α z − σ v̂, with truncated-SNR ("max(SNR, 1)") or SNR+1 weighting of the x-space loss.
 * The student starts from the teacher's weights and its output is READ AS v from the first round on: an
 * ε-predicting teacher's weights are only the starting point, and the first round teaches the student v
 * (the teacher itself is always called in its own parameterisation). Rounds halve N (e.g. 64 → … → 4);
 * each round's student is the next round's teacher. With a class-conditional teacher and a guidance scale
 * w ≠ 1, every teacher call is the classifier-free-guided pair x̂ = x̂_u + w(x̂_c − x̂_u) (guided
 * distillation, Meng et al. 2023, at a fixed w), so one conditional student call replaces the pair.
 *
 * Also here: the teacher as a compiled function of per-example timesteps (shared with consistency.ts),
 * and the distilled pipeline folder: a DDIMScheduler config with `prediction_type: v_prediction`,
 * `timestep_spacing: trailing` and `set_alpha_to_one: true` (its N timesteps are the student's grid when
 * N divides T), plus `distillation.json` naming the step count `diffusion sample` uses by default.
 * This module must not parse flags or evaluate samples.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { BatchIterator, type Dataset } from '../data/dataset.js';
import {
  ddimStep,
  distillationTarget,
  gridAlphaCumprod,
  studentGrid,
  velocityLossWeight,
  velocityTarget,
  type DistillationWeighting,
} from '../diffusion/distillation.js';
import { noiseLevelFromAlphaCumprod } from '../diffusion/noise-levels.js';
import { convertPrediction } from '../diffusion/parameterization.js';
import {
  convertSchedulerConfig,
  withSchedulerFields,
  type SchedulerConfig,
} from '../diffusion/scheduler-config.js';
import type { PredictionType } from '../diffusion/samplers/types.js';
import {
  hostCopy,
  hostZeros,
  OrtNodeRuntime,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TypeTree,
} from '../engine/index.js';
import { stringifyJson } from '../io/json.js';
import type { DenoiserNetwork, Params, ParamTensors } from '../models/types.js';
import { ConfigError, FormatError, NumericError } from '../util/errors.js';
import { Random } from '../util/random.js';
import type { NoisedBatch } from './batch.js';
import { compileTrainStep, type TrainState } from './step.js';

/**
 * A teacher as distillation sees it: the x₀ estimate for a batch z (flat [batch, ...]) where example b
 * sits at diffusers timestep `timesteps[b]` with ᾱ = `alphaCumprods[b]` (z = √ᾱ x + √(1−ᾱ) ε).
 * A network reads the timestep, the exact oracle reads ᾱ.
 */
export type TeacherFn = (
  z: Float32Array,
  timesteps: Float64Array,
  alphaCumprods: Float64Array,
  labels: BigInt64Array | null,
) => Promise<Float64Array>;

export interface CompiledTeacher {
  teacher: TeacherFn;
  dispose(): Promise<void>;
}

/** The raw network output for per-example timesteps, compiled once with `params` frozen in. */
export interface CompiledForward {
  run(sample: Float32Array, timesteps: Float64Array, labels: BigInt64Array | null): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** `network` compiled as a function of (sample, per-example timestep, labels); weights frozen or passed per call. */
function compileForward(
  runtime: Runtime,
  network: DenoiserNetwork,
  frozen: Params | null,
): {
  run(
    params: Params | null,
    sample: Float32Array,
    timesteps: Float64Array,
    labels: BigInt64Array | null,
  ): Promise<Float32Array>;
  dispose(): Promise<void>;
} {
  const conditional = network.numClassEmbeds !== null;
  const fn = (inputs: { params: ParamTensors; sample: Tensor; timestep: Tensor; classLabels?: Tensor }) =>
    network.apply(inputs.params, inputs);
  const types = {
    params: network.paramTypes() as TypeTree,
    sample: { shape: [1, ...network.sampleShape], dtype: 'float32' as const },
    timestep: { shape: [1], dtype: 'float32' as const },
    ...(conditional ? { classLabels: { shape: [1], dtype: 'int64' as const } } : {}),
  };
  const compiled = runtime.compile(
    fn as never,
    types,
    frozen ? { frozen: { params: frozen } as never } : undefined,
  );
  const perExample = network.sampleShape.reduce((a, b) => a * b, 1);
  return {
    async run(params, sample, timesteps, labels) {
      const batch = sample.length / perExample;
      const inputs: Record<string, unknown> = {
        sample: { data: sample, shape: [batch, ...network.sampleShape], dtype: 'float32' },
        timestep: { data: Float32Array.from(timesteps), shape: [batch], dtype: 'float32' },
      };
      if (params) inputs.params = params;
      if (conditional) {
        const data = labels ?? new BigInt64Array(batch).fill(BigInt(network.numClassEmbeds! - 1));
        inputs.classLabels = { data, shape: [batch], dtype: 'int64' };
      }
      const out = (await compiled.run(inputs as never)) as HostTensor;
      return out.data as Float32Array;
    },
    dispose: () => compiled.dispose(),
  };
}

/** The network with frozen weights as a function of per-example timesteps (any batch size). */
export function compiledForward(runtime: Runtime, network: DenoiserNetwork, params: Params): CompiledForward {
  const forward = compileForward(runtime, network, params);
  return { run: (sample, t, labels) => forward.run(null, sample, t, labels), dispose: forward.dispose };
}

/** The network as a function of (weights, sample, per-example timestep, labels): for weights that change. */
export function compiledParamForward(
  runtime: Runtime,
  network: DenoiserNetwork,
): {
  run(
    params: Params,
    sample: Float32Array,
    t: Float64Array,
    labels: BigInt64Array | null,
  ): Promise<Float32Array>;
  dispose(): Promise<void>;
} {
  return compileForward(runtime, network, null);
}

/** x₀ per example from a network output in `prediction` at the examples' ᾱ. */
function denoisedPerExample(
  output: ArrayLike<number>,
  z: ArrayLike<number>,
  alphaCumprods: Float64Array,
  prediction: PredictionType,
): Float64Array {
  const size = z.length / alphaCumprods.length;
  const out = new Float64Array(z.length);
  alphaCumprods.forEach((ab, b) => {
    const slice = (a: ArrayLike<number>) => Float64Array.from({ length: size }, (_, i) => a[b * size + i]);
    const level = noiseLevelFromAlphaCumprod(ab);
    out.set(convertPrediction(slice(output), slice(z), prediction, 'sample', level), b * size);
  });
  return out;
}

/**
 * A trained network as a teacher (compiled once, weights frozen). With class labels and guidance w ≠ 1
 * the conditional and null-class calls run as one doubled batch and combine as x̂_u + w(x̂_c − x̂_u),
 * which equals guiding ε (Ho & Salimans 2022, eq. 6) since x̂ is affine in ε at fixed z and t.
 */
export function networkTeacher(
  runtime: Runtime,
  network: DenoiserNetwork,
  params: Params,
  prediction: PredictionType,
  guidance = 1,
): CompiledTeacher {
  const forward = compiledForward(runtime, network, params);
  const nullClass = (network.numClassEmbeds ?? 1) - 1;
  const teacher: TeacherFn = async (z, timesteps, alphaCumprods, labels) => {
    if (labels === null || guidance === 1) {
      const out = await forward.run(z, timesteps, labels);
      return denoisedPerExample(out, z, alphaCumprods, prediction);
    }
    const doubled = new Float32Array(z.length * 2);
    doubled.set(z);
    doubled.set(z, z.length);
    const both = new BigInt64Array(labels.length * 2).fill(BigInt(nullClass));
    both.set(labels);
    const t2 = Float64Array.from([...timesteps, ...timesteps]);
    const a2 = Float64Array.from([...alphaCumprods, ...alphaCumprods]);
    const x0 = denoisedPerExample(await forward.run(doubled, t2, both), doubled, a2, prediction);
    return Float64Array.from({ length: z.length }, (_, i) => {
      const uncond = x0[z.length + i];
      return uncond + guidance * (x0[i] - uncond);
    });
  };
  return { teacher, dispose: forward.dispose };
}

/** Settings of one distillation run (every round uses them). */
export interface DistillSettings {
  /** Student updates per round. */
  iterationsPerRound: number;
  batchSize: number;
  /** Peak learning rate; each round decays it linearly to 0 (Salimans & Ho 2022, App. C). */
  lr: number;
  weighting: DistillationWeighting;
  /** Global gradient-norm clip (null: none). */
  clipNorm: number | null;
  seed: number;
  /** Wall-clock budget in seconds for the whole run, split evenly over the rounds. */
  timeLimitSeconds?: number;
  onStep?: (report: { round: number; steps: number; iteration: number; loss: number }) => void;
}

export interface ProgressiveOptions {
  /** The student's network (the teacher's class and config when the teacher is a network). */
  network: DenoiserNetwork;
  /** The student's initial weights (the teacher's weights). */
  initialParams: Params;
  /** The first round's teacher (a network teacher, or the exact oracle in tests). */
  teacher: TeacherFn;
  /** ᾱ_t, t = 0..T−1, of the teacher's training schedule. */
  alphasCumprod: Float64Array;
  dataset: Dataset;
  /** The teacher's step count N₀ (the first round's student takes N₀/2). */
  fromSteps: number;
  /** The final student's step count; fromSteps / steps must be a power of two. */
  steps: number;
  settings: DistillSettings;
  runtime?: Runtime;
}

export interface RoundResult {
  steps: number;
  losses: number[];
  seconds: number;
}

export interface DistillResult {
  params: Params;
  rounds: RoundResult[];
  /** True when the time limit cut a round short. */
  timeLimited: boolean;
}

/** The student step counts N₀/2, N₀/4, …, steps; a ConfigError unless they halve exactly. */
export function roundSteps(fromSteps: number, steps: number, numTrainTimesteps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new ConfigError(`distilled step count must be a positive integer, got ${steps}`);
  if (numTrainTimesteps % steps !== 0) {
    throw new ConfigError(
      `distilled step count ${steps} must divide the ${numTrainTimesteps} training timesteps`,
      { hint: "so that DDIMScheduler's trailing timesteps are the student's grid; e.g. 1, 2, 4, 5, 8, 10" },
    );
  }
  const counts: number[] = [];
  for (let n = fromSteps / 2; n >= steps; n /= 2) counts.push(n);
  if (counts.length === 0 || counts[counts.length - 1] !== steps || fromSteps > numTrainTimesteps) {
    throw new ConfigError(
      `the teacher's step count ${fromSteps} must be ${steps} times a power of two (≥ 2) and at most ${numTrainTimesteps}`,
    );
  }
  return counts;
}

/** Per-example slices of a flat batch. */
const sliceOf = (a: ArrayLike<number>, b: number, size: number) =>
  Float64Array.from({ length: size }, (_, i) => a[b * size + i]);

/**
 * One distillation batch (Algorithm 2, lines 3–11) for `count` clean examples x: a grid point t per
 * example, z_t, two teacher DDIM steps, the target x̃, written as the student's v-target with the chosen
 * loss weight. Draws the grid indices, then the noise, from `random`.
 */
export async function distillationBatch(
  x: Float32Array,
  count: number,
  labels: BigInt64Array | null,
  teacher: TeacherFn,
  grid: Float64Array,
  alphasCumprod: Float64Array,
  weighting: DistillationWeighting,
  random: Random,
): Promise<NoisedBatch> {
  const steps = grid.length - 1;
  const size = x.length / count;
  const index = Int32Array.from({ length: count }, () => random.int(steps));
  const t = Float64Array.from(index, (i) => grid[i]);
  const tMid = Float64Array.from(index, (i) => 0.5 * (grid[i] + grid[i + 1]));
  const tEnd = Float64Array.from(index, (i) => grid[i + 1]);
  const ab = t.map((v) => gridAlphaCumprod(alphasCumprod, v));
  const abMid = tMid.map((v) => gridAlphaCumprod(alphasCumprod, v));
  const abEnd = tEnd.map((v) => gridAlphaCumprod(alphasCumprod, v));
  const noise = random.normals(x.length);
  const z = Float32Array.from(x, (v, i) => {
    const b = Math.floor(i / size);
    return Math.sqrt(ab[b]) * v + Math.sqrt(1 - ab[b]) * noise[i];
  });
  const x0 = await teacher(z, t, ab, labels);
  const zMid = new Float32Array(x.length);
  for (let b = 0; b < count; b++)
    zMid.set(ddimStep(sliceOf(z, b, size), sliceOf(x0, b, size), ab[b], abMid[b]), b * size);
  const x0Mid = await teacher(zMid, tMid, abMid, labels);
  const target = new Float32Array(x.length);
  const weight = new Float32Array(count);
  for (let b = 0; b < count; b++) {
    const zb = sliceOf(z, b, size);
    const zEnd = ddimStep(sliceOf(zMid, b, size), sliceOf(x0Mid, b, size), abMid[b], abEnd[b]);
    const xTilde = distillationTarget(zb, zEnd, ab[b], abEnd[b]);
    target.set(velocityTarget(zb, xTilde, ab[b]), b * size);
    weight[b] = velocityLossWeight(ab[b], weighting);
  }
  const out: NoisedBatch = { sample: z, timestep: Float32Array.from(t), target, weight };
  if (labels) out.classLabels = labels;
  return out;
}

/** The student as the next round's teacher: a v-predicting network with frozen weights. */
function studentTeacher(runtime: Runtime, network: DenoiserNetwork, params: Params): CompiledTeacher {
  return networkTeacher(runtime, network, params, 'v_prediction', 1);
}

/** Labels of a batch as the network's int64 input, or null for an unconditional network. */
function batchLabels(network: DenoiserNetwork, labels: Int32Array | undefined): BigInt64Array | null {
  if (network.numClassEmbeds === null) return null;
  if (!labels) throw new ConfigError('a class-conditional teacher needs a labelled dataset');
  return BigInt64Array.from(labels, (l) => BigInt(l));
}

/** One round: trains the student with `steps` steps against `teacher`. */
async function distillRound(
  options: ProgressiveOptions,
  runtime: Runtime,
  params: Params,
  teacher: TeacherFn,
  steps: number,
  round: number,
  deadline: number,
): Promise<{ params: Params; result: RoundResult; timeLimited: boolean }> {
  const { network, settings, alphasCumprod, dataset } = options;
  const grid = studentGrid(alphasCumprod.length, steps);
  const random = new Random(settings.seed + 7919 * round);
  const iterator = new BatchIterator(dataset, { batchSize: settings.batchSize, random: random.split() });
  const compiled = compileTrainStep(runtime, network, {
    batchSize: settings.batchSize,
    weightDecay: 0,
    clipNorm: settings.clipNorm,
    emaDecay: null,
    classConditional: network.numClassEmbeds !== null,
  });
  const moments = () => hostZeros(network.paramTypes() as TypeTree) as Params;
  let state: TrainState = { params, opt: { m: moments(), v: moments() }, ema: null };
  const losses: number[] = [];
  const started = performance.now();
  let timeLimited = false;
  try {
    for (let k = 1; k <= settings.iterationsPerRound; k++) {
      if (performance.now() >= deadline) {
        timeLimited = true;
        break;
      }
      const data = iterator.next()!;
      const labels = batchLabels(network, data.labels);
      const batch = await distillationBatch(
        data.x,
        settings.batchSize,
        labels,
        teacher,
        grid,
        alphasCumprod,
        settings.weighting,
        random,
      );
      const lr = settings.lr * (1 - (k - 1) / settings.iterationsPerRound);
      const out = await compiled.run(state, [batch], k, lr);
      if (!Number.isFinite(out.loss))
        throw new NumericError(`distillation loss became ${out.loss} at round ${round}, update ${k}`, {
          hint: 'lower the learning rate or set a gradient clip',
        });
      state = { params: out.params, opt: out.opt, ema: null };
      losses.push(out.loss);
      settings.onStep?.({ round, steps, iteration: k, loss: out.loss });
    }
  } finally {
    await compiled.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return { params: state.params, result: { steps, losses, seconds }, timeLimited };
}

/** Runs every round from `fromSteps` down to `steps`; see the module header. */
export async function progressiveDistillation(options: ProgressiveOptions): Promise<DistillResult> {
  const { network, settings } = options;
  const counts = roundSteps(options.fromSteps, options.steps, options.alphasCumprod.length);
  checkSettings(settings);
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const started = performance.now();
  const budget = (settings.timeLimitSeconds ?? Infinity) * 1000;
  let params = hostCopy(options.initialParams) as Params;
  let teacher: CompiledTeacher = { teacher: options.teacher, dispose: async () => {} };
  const rounds: RoundResult[] = [];
  let timeLimited = false;
  try {
    for (const [round, steps] of counts.entries()) {
      // Round r may run until (r + 1)/rounds of the budget has passed.
      const deadline = started + ((round + 1) * budget) / counts.length;
      const out = await distillRound(options, runtime, params, teacher.teacher, steps, round, deadline);
      params = out.params;
      rounds.push(out.result);
      timeLimited ||= out.timeLimited;
      if (round < counts.length - 1) {
        await teacher.dispose();
        teacher = studentTeacher(runtime, network, params);
      }
    }
  } finally {
    await teacher.dispose();
  }
  return { params, rounds, timeLimited };
}

function checkSettings(settings: DistillSettings): void {
  if (!Number.isInteger(settings.iterationsPerRound) || settings.iterationsPerRound < 1)
    throw new ConfigError(
      `iterations per round must be a positive integer, got ${settings.iterationsPerRound}`,
    );
  if (!Number.isInteger(settings.batchSize) || settings.batchSize < 1)
    throw new ConfigError(`batch size must be a positive integer, got ${settings.batchSize}`);
  if (!(settings.lr > 0 && Number.isFinite(settings.lr)))
    throw new ConfigError(`learning rate must be a positive number, got ${settings.lr}`);
}

/** The distilled student's scheduler: DDIM on its grid (trailing spacing, ᾱ = 1 at the end), v-prediction. */
export function distilledSchedulerConfig(teacher: SchedulerConfig): SchedulerConfig {
  const ddim = convertSchedulerConfig(teacher, 'DDIMScheduler');
  return withSchedulerFields(ddim, {
    predictionType: 'v_prediction',
    timestepSpacing: 'trailing',
    stepsOffset: 0,
    setAlphaToOne: true,
  });
}

/** The file in a distilled folder that tells `sample` its default step count (diffusers ignores it). */
export const DISTILLATION_FILE = 'distillation.json';

const distillationInfoSchema = z.object({
  method: z.enum(['progressive', 'consistency-distillation', 'consistency-training']),
  /** The step count the model was distilled for: the default of `diffusion sample`. */
  steps: z.number().int().positive(),
  /** The teacher's classifier-free guidance scale baked into the student (1: none). */
  guidance: z.number(),
});
export type DistillationInfo = z.output<typeof distillationInfoSchema>;

/** The `distillation.json` text for a folder. */
export function distillationInfoText(info: DistillationInfo): string {
  return `${stringifyJson(distillationInfoSchema.parse(info), { indent: 2, sortKeys: true })}\n`;
}

/** The folder's distillation record, or null for an ordinary model folder. */
export function readDistillationInfo(dir: string): DistillationInfo | null {
  const path = join(dir, DISTILLATION_FILE);
  if (!existsSync(path)) return null;
  const parsed = distillationInfoSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success)
    throw new FormatError(`${path} is not a valid distillation record: ${parsed.error.issues[0].message}`);
  return parsed.data;
}
