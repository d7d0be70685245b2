/**
 * Planning by trajectory diffusion (Diffuser, Janner et al. 2022) in a 2-D maze. A model trained on
 * normalised windows [x, y, a_x, a_y] × H of demonstrations (data/maze-trajectories.ts) is sampled with
 * the first state fixed to the agent's state and the last state to the goal: goal conditioning as
 * inpainting (§3.3), at every denoising step, in one of three ways. 'clean' is Diffuser's own: the
 * conditioned values are written, unnoised, into x_t before the first DDIM step (Song et al. 2021, eq. 12)
 * and after every one. 'noised' writes draws of q(x_t | x₀) = N(√ᾱ_t c, (1 − ᾱ_t) I) instead (the
 * replacement method), so the network sees inputs like those it was trained on. 'repaint' runs RePaint
 * (pipelines/inpaint.ts; Lugmayr et al. 2022) on the same mask: replacement plus going back up j levels
 * r times, which lets the generated states agree with the conditioned ends; for a model trained without
 * conditioning it gives markedly more coherent plans (docs/planning.md). In every mode the last x holds
 * the start and goal exactly, and the returned plan copies them. Optional reward guidance (§3.2) adds
 * the gradient of R(τ) = −Σ_t ‖s_t − g‖² (normalised positions; the engine's VJP of that expression, one
 * small graph) to the model's score through `classifierGuidedModel`: ε̃ = ε − s·σ_t·∇R. Plans are
 * executed in the maze either open loop (the planned actions, one after another, or steering to the
 * planned states) or closed loop (re-plan every k steps from the state reached and steer to the next
 * planned state, a = clip((s_{i+1} − s)/dt)); tasks run side by side, one batched plan per re-planning
 * point.
 *
 * This module holds no network and writes no file; faces pass it a model function and draw the result.
 */
import { ReferenceRuntime, mul, neg, slice, sub, sum, valueAndGrad } from '../engine/index.js';
import type { HostTensor, Tensor } from '../engine/index.js';
import type { Maze2D, Vec2 } from '../envs/maze2d.js';
import { trainingAlphasCumprod } from '../diffusion/timesteps.js';
import type { StepCallback } from '../diffusion/samplers/types.js';
import { ConfigError, ShapeError, UsageError, unknownChoice } from '../util/errors.js';
import { classifierGuidedModel, type ClassifierGradientFn } from './classifier-guidance.js';
import { inpaint } from './inpaint.js';
import {
  ddimStep,
  drawNormal,
  editPredictionType,
  editTimetable,
  nextAlpha,
  type EditSampler,
} from './img2img.js';

/** Per-channel affine normaliser of the model's windows, x' = (x − mean)/std, channels [x, y, a_x, a_y]. */
export interface PlanNormalization {
  mean: readonly number[];
  std: readonly number[];
}

export interface PlanOptions {
  /** Current states, one (x, y) per plan. */
  starts: readonly Vec2[];
  /** Goals, one per plan. */
  goals: readonly Vec2[];
  /** The model's sample shape [4, H]. */
  sampleShape: readonly number[];
  normalization: PlanNormalization;
  /** 'clean' (default, Diffuser's): the exact values in every x_t; 'noised': q(x_t | x₀) draws of them. */
  conditioning?: ConditioningMode;
  /** RePaint's jump length and resamplings for conditioning 'repaint' (default 5 and 5). */
  jumpLength?: number;
  resamplings?: number;
  /** Reward-guidance scale s ≥ 0 (default 0: plain goal-conditioned sampling). */
  rewardScale?: number;
  /** Called after every denoising step with the (normalised, conditioned) batch. */
  callback?: StepCallback;
}

/** A plan in the maze's units: H states and H actions, (x, y) pairs, flat. */
export interface Plan {
  states: Float64Array;
  actions: Float64Array;
}

/** The horizon H of a [4, H] sample shape, or a ShapeError naming what a planning model must make. */
export function planHorizon(sampleShape: readonly number[]): number {
  if (sampleShape.length !== 2 || sampleShape[0] !== 4 || sampleShape[1] < 2) {
    throw new ShapeError(
      `planning needs a model of [x, y, a_x, a_y] windows, shape [4, H]; got [${sampleShape.join(', ')}]`,
      { hint: 'train one with `diffusion train --data maze2d-umaze`' },
    );
  }
  return sampleShape[1];
}

function checkNormalization(normalization: PlanNormalization): void {
  const { mean, std } = normalization;
  if (mean.length !== 4 || std.length !== 4 || !std.every((s) => s > 0)) {
    throw new ConfigError(
      `a planning normaliser needs 4 channel means and 4 positive stds, got [${mean}] and [${std}]`,
    );
  }
}

/** How the start and goal are written into x_t (see the module header). */
export const CONDITIONING_MODES = ['clean', 'noised', 'repaint'] as const;
export type ConditioningMode = (typeof CONDITIONING_MODES)[number];

/**
 * Writes the conditioned values into x at noise level ᾱ: positions of step 0 = start, of step H−1 = goal,
 * either clean or as a draw of q(x_t | x₀) = N(√ᾱ c, (1 − ᾱ) I); at ᾱ = 1 both are the values exactly.
 * `values` is [B, 4] per plan: start x, start y, goal x, goal y (normalised).
 */
function applyConditioning(
  x: Float64Array | Float32Array,
  values: Float64Array,
  horizon: number,
  noise: { alpha: number; normal: (count: number) => Float64Array } | null,
): void {
  const plans = values.length / 4;
  const z = noise ? noise.normal(4 * plans) : null;
  const [a, s] = noise ? [Math.sqrt(noise.alpha), Math.sqrt(1 - noise.alpha)] : [1, 0];
  const value = (k: number) => (z ? a * values[k] + s * z[k] : values[k]);
  for (let b = 0; b < plans; b++) {
    const base = b * 4 * horizon;
    for (let c = 0; c < 2; c++) {
      x[base + c * horizon] = value(4 * b + c);
      x[base + c * horizon + horizon - 1] = value(4 * b + 2 + c);
    }
  }
}

/** Normalised start and goal positions [B, 4], rounded to float32 as the model sees them. */
function conditionValues(options: PlanOptions): Float64Array {
  const { starts, goals, normalization: n } = options;
  const values = new Float32Array(starts.length * 4);
  starts.forEach((start, b) => {
    for (let c = 0; c < 2; c++) {
      values[4 * b + c] = (start[c] - n.mean[c]) / n.std[c];
      values[4 * b + 2 + c] = (goals[b][c] - n.mean[c]) / n.std[c];
    }
  });
  return Float64Array.from(values);
}

/**
 * R(τ) = −Σ_{b,t} ‖s_{b,t} − g_b‖² of normalised positions and its gradient with respect to the batch
 * [B, 4, H], as one engine graph; `conditions` is [B, 4] per plan (start x, y, goal x, y; normalised).
 */
export function goalDistanceGradient(
  plans: number,
  horizon: number,
  conditions: Float64Array,
): ClassifierGradientFn {
  const reward = (sample: Tensor, goal: Tensor) => {
    const positions = slice(sample, [0], [2], [1]);
    const offset = sub(positions, goal);
    return neg(sum(mul(offset, offset)));
  };
  const compiled = new ReferenceRuntime().compile(
    ({ sample, goal }: { sample: Tensor; goal: Tensor }) => {
      const { value, grad } = valueAndGrad((s: Tensor) => reward(s, goal))(sample);
      return { value, grad };
    },
    {
      sample: { shape: [plans, 4, horizon], dtype: 'float32' as const },
      goal: { shape: [plans, 2, 1], dtype: 'float32' as const },
    },
  );
  const goal = new Float32Array(plans * 2);
  for (let b = 0; b < plans; b++) goal.set([conditions[4 * b + 2], conditions[4 * b + 3]], 2 * b);
  return async (sample) => {
    const out = (await compiled.run({ sample, goal })) as { value: HostTensor; grad: HostTensor };
    return { logProb: Float32Array.of(out.value.data[0] as number), grad: out.grad.data as Float32Array };
  };
}

/** The sampler with reward guidance folded into its model (unchanged for scale 0). */
function guidedSampler(sampler: EditSampler, options: PlanOptions, values: Float64Array): EditSampler {
  const scale = options.rewardScale ?? 0;
  if (!(Number.isFinite(scale) && scale >= 0)) {
    throw new ConfigError(`reward guidance scale must be a finite number ≥ 0, got ${scale}`);
  }
  if (scale === 0) return sampler;
  const horizon = planHorizon(options.sampleShape);
  const model = classifierGuidedModel({
    model: sampler.model,
    predictionType: editPredictionType(sampler.config),
    alphasCumprod: trainingAlphasCumprod(sampler.config),
    gradient: goalDistanceGradient(options.starts.length, horizon, values),
    labels: 0,
    scale,
  });
  return { ...sampler, model };
}

/** Plans from each start to its goal; plan b's first state is starts[b] and its last goals[b], exactly. */
export async function plan(sampler: EditSampler, options: PlanOptions): Promise<Plan[]> {
  const horizon = planHorizon(options.sampleShape);
  checkNormalization(options.normalization);
  const count = options.starts.length;
  if (count === 0 || options.goals.length !== count) {
    throw new UsageError(
      `planning needs one goal per start, got ${count} starts and ${options.goals.length} goals`,
    );
  }
  const mode = options.conditioning ?? 'clean';
  if (!CONDITIONING_MODES.includes(mode)) throw unknownChoice('conditioning', mode, CONDITIONING_MODES);
  const values = conditionValues(options);
  const run = guidedSampler(sampler, options, values);
  const { timesteps, alphas, finalAlpha } = editTimetable(run);
  if (mode === 'repaint') {
    const x = await repaintPlans(run, values, horizon, options);
    return Array.from({ length: count }, (_, b) => planInUnits(x, b, horizon, options));
  }
  const noised = mode === 'noised';
  const condition = (x: Float64Array, alpha: number) =>
    applyConditioning(x, values, horizon, noised ? { alpha, normal: (n) => drawNormal(run, n) } : null);
  let x = drawNormal(run, count * 4 * horizon);
  condition(x, alphas[timesteps[0]]);
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    const alphaNext = nextAlpha(timesteps, i, alphas, finalAlpha);
    const step = await ddimStep(run, x, t, alphas[t], alphaNext);
    x = step.x;
    condition(x, alphaNext);
    await options.callback?.({
      step: i,
      numSteps: timesteps.length,
      timestep: t,
      sample: Float32Array.from(x),
      predictedOriginal: Float32Array.from(step.x0),
    });
  }
  return Array.from({ length: count }, (_, b) => planInUnits(x, b, horizon, options));
}

/** The plans by RePaint (pipelines/inpaint.ts): the start and goal positions known, the rest generated. */
async function repaintPlans(
  sampler: EditSampler,
  values: Float64Array,
  horizon: number,
  options: PlanOptions,
): Promise<Float64Array> {
  const count = values.length / 4;
  const image = new Float32Array(count * 4 * horizon);
  const mask = new Float32Array(count * 4 * horizon);
  applyConditioning(image, values, horizon, null);
  for (let b = 0; b < count; b++)
    for (let c = 0; c < 2; c++) {
      mask[(b * 4 + c) * horizon] = 1;
      mask[(b * 4 + c) * horizon + horizon - 1] = 1;
    }
  const filled = await inpaint(
    { ...sampler, ...(options.callback ? { callback: options.callback } : {}) },
    {
      image: { data: image, shape: [count, 4, horizon] },
      mask: { data: mask, shape: [count, 4, horizon] },
      method: 'repaint',
      jumpLength: options.jumpLength ?? 5,
      resamplings: options.resamplings ?? 5,
    },
  );
  return Float64Array.from(filled);
}

/** Plan b mapped back to the maze's units; the start and goal are copied, never round-tripped. */
function planInUnits(x: Float64Array, b: number, horizon: number, options: PlanOptions): Plan {
  const { mean, std } = options.normalization;
  const value = (c: number, i: number) => x[(b * 4 + c) * horizon + i] * std[c] + mean[c];
  const states = new Float64Array(2 * horizon);
  const actions = new Float64Array(2 * horizon);
  for (let i = 0; i < horizon; i++)
    for (let c = 0; c < 2; c++) {
      states[2 * i + c] = value(c, i);
      actions[2 * i + c] = value(2 + c, i);
    }
  states.set(options.starts[b], 0);
  states.set(options.goals[b], 2 * (horizon - 1));
  return { states, actions };
}

/** How plans are turned into actions. */
export const EXECUTION_MODES = ['states', 'actions'] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];

export interface ExecuteOptions extends Omit<PlanOptions, 'starts' | 'goals' | 'callback'> {
  maze: Maze2D;
  tasks: readonly { start: Vec2; goal: Vec2 }[];
  /** Step budget T of an episode. */
  episodeSteps: number;
  /** Re-plan every k steps (closed loop); k ≥ H − 1 executes one plan open loop. */
  replanEvery: number;
  /** 'states': steer to the next planned state; 'actions': apply the planned actions. */
  execute: ExecutionMode;
}

/** One executed task: the visited states, the first plan, and the outcome. */
export interface PlannedEpisode {
  states: Float64Array;
  firstPlan: Plan;
  success: boolean;
  /** Steps until success, or the budget. */
  steps: number;
}

/**
 * The action at step i of a plan for the agent at `state` (see ExecuteOptions). Past the plan's end,
 * 'actions' stops (a = 0) and 'states' keeps steering to the last planned state, the goal.
 */
function planAction(current: Plan, i: number, state: Vec2, mode: ExecutionMode, dt: number): Vec2 {
  const horizon = current.states.length / 2;
  if (mode === 'actions')
    return i < horizon - 1 ? [current.actions[2 * i], current.actions[2 * i + 1]] : [0, 0];
  const next = Math.min(i + 1, horizon - 1);
  return [(current.states[2 * next] - state[0]) / dt, (current.states[2 * next + 1] - state[1]) / dt];
}

/** Runs every task with the planner in the loop, all tasks planned in one batch at each re-planning point. */
export async function executePlans(sampler: EditSampler, options: ExecuteOptions): Promise<PlannedEpisode[]> {
  const { maze, tasks, episodeSteps, replanEvery, execute } = options;
  if (!Number.isInteger(replanEvery) || replanEvery < 1) {
    throw new ConfigError(`replanEvery must be a positive integer, got ${replanEvery}`);
  }
  const state: Vec2[] = tasks.map((t) => t.start);
  const paths = tasks.map((t) => [t.start[0], t.start[1]]);
  const done: (number | null)[] = tasks.map((t) => (maze.reached(t.start, t.goal) ? 0 : null));
  let plans: Plan[] = [];
  let firstPlans: Plan[] = [];
  let since = 0;
  for (let t = 0; t < episodeSteps && done.includes(null); t++) {
    if (t === 0 || since >= replanEvery) {
      plans = await plan(sampler, { ...options, starts: state, goals: tasks.map((task) => task.goal) });
      if (t === 0) firstPlans = plans;
      since = 0;
    }
    tasks.forEach((task, b) => {
      if (done[b] !== null) return;
      state[b] = maze.step(state[b], planAction(plans[b], since, state[b], execute, maze.dt));
      paths[b].push(...state[b]);
      if (maze.reached(state[b], task.goal)) done[b] = t + 1;
    });
    since++;
  }
  return tasks.map((_, b) => ({
    states: Float64Array.from(paths[b]),
    firstPlan: firstPlans[b],
    success: done[b] !== null,
    steps: done[b] ?? episodeSteps,
  }));
}
