/**
 * DPM-Solver (Lu et al. 2022a, arXiv:2206.00927) and DPM-Solver++ (Lu et al. 2022b, arXiv:2211.01095):
 * exponential-integrator solvers of the diffusion ODE — and, for the `sde-` variants, of the reverse SDE —
 * in half-log-SNR time λ = log(α_t/σ_t), step for step as diffusers' DPMSolverMultistepScheduler and
 * DPMSolverSinglestepScheduler. The module also holds what UniPC and DEIS share with it, because they solve
 * the same equation on the same grid: the solver grid, the solver's view of a noise level, model-output
 * conversion and the step loop. Samplers here are pure functions of (model, noise, config, noise source):
 * they hold no model code, build no schedule other than the one the config (or an explicit σ schedule)
 * names, and draw randomness only from the request's noise source.
 */
import { ConfigError } from '../../util/errors.js';
import { logSnrFromAlphaCumprod, logSnrOf, sigmaAtTimestep, timestepFromSigma } from '../noise-levels.js';
import type { NoiseLevel } from '../noise-levels.js';
import { convertPrediction } from '../parameterization.js';
import { exponentialSigmas, karrasSigmas } from '../schedules.js';
import {
  expectSchedulerClass,
  type DPMSolverMultistepSchedulerConfig,
  type DPMSolverSinglestepSchedulerConfig,
} from '../scheduler-config.js';
import {
  betaSigmas,
  roundHalfEven,
  trainingAlphasCumprod,
  trainingSigmas,
  type TimestepSpacing,
  type TrainingScheduleConfig,
} from '../timesteps.js';
import {
  callModel,
  checkRequest,
  drawNoise,
  report,
  thresholded,
  type SamplerEntry,
  type SamplerOptions,
} from './common.js';
import type { PredictionType, SampleRequest } from './types.js';

// ---------------------------------------------------------------------------------------------------
// What the VP solvers (DPM-Solver, UniPC, DEIS) read from their configs

/** The keys every VP solver config has (scheduler-config.ts validates them at the boundary). */
export interface VpSolverConfig extends TrainingScheduleConfig {
  predictionType: PredictionType | 'flow_prediction';
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  sampleMaxValue: number;
  solverOrder: number;
  lowerOrderFinal: boolean;
  useKarrasSigmas: boolean;
  useExponentialSigmas: boolean;
  useBetaSigmas: boolean;
  useFlowSigmas: boolean;
  useDynamicShifting: boolean;
}

/** The keys the solver grid depends on; classes without some of them imply diffusers' fixed values. */
export interface VpGridConfig extends VpSolverConfig {
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  finalSigmasType: 'zero' | 'sigma_min';
  useLuLambdas?: boolean;
  lambdaMinClipped?: number;
  sigmaMin?: number | null;
  sigmaMax?: number | null;
}

/** Rejects the flow-matching settings, which these VP solvers do not implement. */
export function checkVpSupport(config: VpSolverConfig, sampler: string): void {
  const flow =
    config.useFlowSigmas || config.useDynamicShifting || config.predictionType === 'flow_prediction';
  if (flow) {
    throw new ConfigError(
      `${sampler} here solves VP diffusion only; flow-matching settings are not supported`,
      {
        hint: "set use_flow_sigmas and use_dynamic_shifting to false and use an 'epsilon', 'sample' or 'v_prediction' model",
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// The grid: timesteps for the model, σ levels for the solver

/** The grid a solver steps through. */
export interface SolverGrid {
  /** The timestep the model is conditioned on at each step, descending. */
  timesteps: number[];
  /** σ = σ_t/α_t at each step, then the σ the last step lands on; float32 as diffusers stores them. */
  sigmas: number[];
}

/**
 * The inference timesteps of the multistep solvers, descending. Unlike the DDIM / σ-space samplers
 * (timesteps.ts), diffusers' solvers space N + 1 points and drop the one at t = 0: 'linspace' is
 * round(linspace(0, last − 1, N + 1)) and 'leading' uses the ratio ⌊last/(N + 1)⌋; `last` < T when λ
 * clipping removed the final training timesteps.
 */
function solverTimesteps(config: VpGridConfig, n: number, last: number): number[] {
  switch (config.timestepSpacing) {
    case 'linspace':
      return Array.from({ length: n }, (_, i) => roundHalfEven(((last - 1) * (n - i)) / n));
    case 'leading': {
      const ratio = Math.floor(last / (n + 1));
      return Array.from({ length: n }, (_, i) => (n - i) * ratio + config.stepsOffset);
    }
    case 'trailing': {
      const ratio = config.numTrainTimesteps / n;
      const count = Math.min(n, Math.ceil(last / ratio));
      return Array.from({ length: count }, (_, i) => roundHalfEven(last - i * ratio) - 1);
    }
  }
}

/** Timesteps left after DPM-Solver's λ clipping: those with λ_t = log(α_t/σ_t) ≥ `lambdaMinClipped`. */
function unclippedTimesteps(alphaBars: Float64Array, lambdaMinClipped: number): number {
  let clipped = 0;
  for (const a of alphaBars) if (logSnrFromAlphaCumprod(a) / 2 < lambdaMinClipped) clipped++;
  return alphaBars.length - clipped;
}

/**
 * Timesteps and σ levels of a VP solver for N model calls (diffusers' `set_timesteps`). The σ-grid flags
 * become one choice here: σ at the spaced timesteps, or N levels re-spaced as Karras (ρ = 7), exponential,
 * λ-uniform (`use_lu_lambdas`: the exponential levels with rounded timesteps) or Beta, each mapped back
 * to a training timestep. `roundKarrasTimesteps` false truncates instead (DPM-Solver under the cosine
 * schedule). The last level is 0, or σ_min of the grid when `finalSigmasType` is 'sigma_min'.
 */
export function solverGrid(config: VpGridConfig, n: number, roundKarrasTimesteps = true): SolverGrid {
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`num_inference_steps must be a positive integer, got ${n}`);
  const alphaBars = trainingAlphasCumprod(config);
  // diffusers keeps ᾱ_{T−1} a hair above zero (the smallest float16 subnormal) so that σ_{T−1} stays finite.
  if (config.rescaleBetasZeroSnr) alphaBars[alphaBars.length - 1] = 2 ** -24;
  const table = trainingSigmas(alphaBars);
  const spacings = [
    ['karras', config.useKarrasSigmas],
    ['exponential', config.useExponentialSigmas],
    ['beta', config.useBetaSigmas],
    ['lu', config.useLuLambdas ?? false],
  ].filter(([, on]) => on);
  if (spacings.length > 1) {
    throw new ConfigError(
      `only one σ spacing can be used, got ${spacings.map(([name]) => name).join(' and ')}`,
    );
  }
  const spacing = spacings.length === 1 ? spacings[0][0] : 'timesteps';
  let timesteps: number[];
  let sigmas: number[];
  if (spacing === 'timesteps') {
    timesteps = solverTimesteps(
      config,
      n,
      unclippedTimesteps(alphaBars, config.lambdaMinClipped ?? -Infinity),
    );
    sigmas = timesteps.map((t) => sigmaAtTimestep(t, table));
  } else {
    const sigmaMin = config.sigmaMin ?? table[0];
    const sigmaMax = config.sigmaMax ?? table[table.length - 1];
    const levels =
      spacing === 'karras'
        ? karrasSigmas(n, sigmaMin, sigmaMax)
        : spacing === 'beta'
          ? betaSigmas(n, sigmaMin, sigmaMax)
          : exponentialSigmas(n, sigmaMin, sigmaMax);
    sigmas = Array.from(levels);
    // diffusers rounds Karras and λ-uniform timesteps; the others are truncated by an int64 cast.
    const round = spacing === 'lu' || (spacing === 'karras' && roundKarrasTimesteps);
    timesteps = sigmas.map((s) => (round ? roundHalfEven : Math.trunc)(timestepFromSigma(s, table)));
  }
  const sigmaLast =
    config.finalSigmasType === 'zero' ? 0 : spacing === 'timesteps' ? table[0] : sigmas.at(-1)!;
  return withoutEmptySteps({ timesteps, sigmas: [...sigmas, sigmaLast].map(Math.fround) });
}

/**
 * The grid without steps that stay at their σ. Rounded timesteps repeat when the step count nears T
 * (1000 'linspace' steps over 999 timesteps); such a step moves nothing, and the divided differences of
 * the next ones become 0/0 — diffusers keeps them and returns NaN, these solvers skip them.
 */
function withoutEmptySteps(grid: SolverGrid): SolverGrid {
  const kept = grid.timesteps.map((_, i) => i).filter((i) => grid.sigmas[i] !== grid.sigmas[i + 1]);
  return {
    timesteps: kept.map((i) => grid.timesteps[i]),
    sigmas: [...kept.map((i) => grid.sigmas[i]), grid.sigmas.at(-1)!],
  };
}

/** The caller's explicit σ schedule (a value, e.g. from `sigmaSchedule` or `karrasSigmas`), or `build()`. */
export function gridFor(options: SamplerOptions, build: () => SolverGrid): SolverGrid {
  const schedule = options.sigmaSchedule;
  if (!schedule) return build();
  if (schedule.sigmas.length !== schedule.timesteps.length + 1) {
    throw new ConfigError(
      `an explicit σ schedule needs one more σ than timesteps, got ${schedule.sigmas.length} and ${schedule.timesteps.length}`,
    );
  }
  return withoutEmptySteps({
    timesteps: Array.from(schedule.timesteps),
    sigmas: Array.from(schedule.sigmas),
  });
}

/** A grid level in the solver's coordinates: α_t, σ_t and λ = log α_t − log σ_t (Lu et al. 2022a, §2). */
export interface SolverLevel extends NoiseLevel {
  lambda: number;
}

/** A model prediction in the solver's parameterisation (x̂₀ or ε̂) at one grid level. */
export interface Prediction {
  level: SolverLevel;
  value: Float64Array;
}

/** The VP level of a grid σ = σ_t/α_t: α_t = 1/√(σ² + 1), σ_t = σ α_t; λ = +∞ at σ = 0. */
export function solverLevel(sigma: number): SolverLevel {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const level = { alpha, sigma: sigma * alpha };
  return { ...level, lambda: logSnrOf(level) / 2 }; // DPM-Solver's λ is half the log-SNR
}

// ---------------------------------------------------------------------------------------------------
// Model outputs and the loop every VP solver shares

/** x̂₀ from the network output at `level`, dynamically thresholded when the config asks for it. */
export function denoisedPrediction(
  output: Float64Array,
  x: Float64Array,
  level: NoiseLevel,
  config: VpSolverConfig,
  batchSize: number,
): Float64Array {
  const x0 = convertPrediction(output, x, config.predictionType as PredictionType, 'sample', level);
  if (!config.thresholding) return x0;
  return thresholded(x0, batchSize, config.dynamicThresholdingRatio, config.sampleMaxValue);
}

/** ε̂ consistent with `denoised` (through the thresholded x̂₀ when thresholding, as diffusers does). */
export function noisePrediction(
  output: Float64Array,
  x: Float64Array,
  level: NoiseLevel,
  config: VpSolverConfig,
  denoised: Float64Array,
): Float64Array {
  if (config.thresholding) return convertPrediction(denoised, x, 'sample', 'epsilon', level);
  return convertPrediction(output, x, config.predictionType as PredictionType, 'epsilon', level);
}

/** Σ weight · array over the terms, skipping null arrays and zero weights. */
export function combine(terms: ReadonlyArray<readonly [number, Float64Array | null]>): Float64Array {
  const used = terms.filter(
    (term): term is readonly [number, Float64Array] => term[1] !== null && term[0] !== 0,
  );
  const out = new Float64Array(terms.find((term) => term[1] !== null)![1]!.length);
  for (let k = 0; k < out.length; k++) {
    let sum = 0;
    for (const [weight, array] of used) sum += weight * array[k];
    out[k] = sum;
  }
  return out;
}

/** How a solver run meets the request. */
export interface SolverRun {
  /** The diffusers class, for messages. */
  sampler: string;
  /** Whether every step draws fresh noise (the request then needs a noise source). */
  stochastic: boolean;
  /** The network also outputs a variance (twice the channels); the solver uses the mean half. */
  learnedVariance?: boolean;
}

/** One solver step: the sample and the network output at grid point i in, the next sample and x̂₀ out. */
export type SolverStep = (
  x: Float64Array,
  output: Float64Array,
  i: number,
) => { next: Float64Array; denoised: Float64Array };

/** The first half of every example's values: the mean channels of a learned-variance output. */
function meanHalf(output: Float64Array, batchSize: number): Float64Array {
  const size = output.length / batchSize;
  const out = new Float64Array(output.length / 2);
  for (let b = 0; b < batchSize; b++) out.set(output.subarray(b * size, b * size + size / 2), (b * size) / 2);
  return out;
}

/**
 * Calls the network at every grid timestep, starting from x_T = noise (VP solvers: diffusers'
 * init_noise_sigma is 1), lets `step` produce the next sample, and reports it with x̂₀.
 */
export async function runSolver(
  request: SampleRequest,
  grid: SolverGrid,
  run: SolverRun,
  step: SolverStep,
): Promise<Float32Array> {
  checkRequest(request, run.sampler, run.stochastic);
  const batchSize = request.batchSize ?? 1;
  const n = grid.timesteps.length;
  let x: Float64Array = Float64Array.from(request.noise);
  for (let i = 0; i < n; i++) {
    const raw = await callModel(request, x, grid.timesteps[i], run.learnedVariance ? 2 : 1);
    const { next, denoised } = step(x, run.learnedVariance ? meanHalf(raw, batchSize) : raw, i);
    x = next;
    await report(request, i, n, grid.timesteps[i], x, denoised, grid.sigmas[i]);
  }
  return Float32Array.from(x);
}

/**
 * The multistep order at step i of n (diffusers' `lower_order_nums` warm-up and `lower_order_final`):
 * order 1 first, rising by one per step up to `solverOrder`; with fewer than 15 steps the last step is
 * order 1 and the one before at most 2; `eulerAtFinal` or a final σ = 0 force a first-order last step.
 */
export function multistepOrder(
  i: number,
  n: number,
  config: { solverOrder: number; lowerOrderFinal: boolean; eulerAtFinal: boolean; finalSigmasType: string },
): number {
  const fewSteps = config.lowerOrderFinal && n < 15;
  if (i === n - 1 && (config.eulerAtFinal || fewSteps || config.finalSigmasType === 'zero')) return 1;
  const cap = i === n - 2 && fewSteps ? 2 : config.solverOrder;
  return Math.min(config.solverOrder, i + 1, cap);
}

// ---------------------------------------------------------------------------------------------------
// DPM-Solver(++) updates

type DpmAlgorithm = DPMSolverMultistepSchedulerConfig['algorithmType'];

/** What the update formulas read from either DPM-Solver config. */
interface DpmMethod {
  algorithmType: DpmAlgorithm;
  solverType: 'midpoint' | 'heun';
}

/**
 * Weights of one exponential-integrator step from level s to level t, h = λ_t − λ_s:
 *   x_t = sample·x_s + d0·D0 + d1·D1 + d2·D2 + noise·z,
 * where D0 is the model prediction at the base point and D1, D2 are its first and second λ-derivatives
 * times h and h² (estimated from earlier outputs). The weights are the closed-form integrals of the
 * Taylor terms against the exponential kernel (the φ-functions of exponential integrators).
 */
interface StepWeights {
  sample: number;
  d0: number;
  d1: number;
  d2: number;
  noise: number;
}

function stepWeights(algorithm: DpmAlgorithm, s: SolverLevel, t: SolverLevel): StepWeights {
  const h = t.lambda - s.lambda;
  switch (algorithm) {
    case 'dpmsolver++': {
      // Lu et al. 2022b, §4.1: x_t = (σ_t/σ_s) x_s + σ_t ∫ e^λ x̂₀(λ) dλ over [λ_s, λ_t].
      const e = Math.expm1(-h); // e^{−h} − 1
      const d2 = -t.alpha * ((e + h) / (h * h) - 0.5);
      return { sample: t.sigma / s.sigma, d0: -t.alpha * e, d1: t.alpha * (e / h + 1), d2, noise: 0 };
    }
    case 'dpmsolver': {
      // Lu et al. 2022a, eq. 3.4: x_t = (α_t/α_s) x_s − α_t ∫ e^{−λ} ε̂(λ) dλ over [λ_s, λ_t].
      const e = Math.expm1(h); // e^{h} − 1
      const d2 = -t.sigma * ((e - h) / (h * h) - 0.5);
      return { sample: t.alpha / s.alpha, d0: -t.sigma * e, d1: -t.sigma * (e / h - 1), d2, noise: 0 };
    }
    case 'sde-dpmsolver++': {
      // The reverse SDE in data prediction: x_s decays as e^{−2h}, noise of variance σ_t²(1 − e^{−2h}) enters.
      const e = -Math.expm1(-2 * h); // 1 − e^{−2h}
      const d2 = t.alpha * ((e - 2 * h) / (4 * h * h) - 0.5);
      const sample = (t.sigma / s.sigma) * Math.exp(-h);
      return { sample, d0: t.alpha * e, d1: t.alpha * (e / (-2 * h) + 1), d2, noise: t.sigma * Math.sqrt(e) };
    }
    case 'sde-dpmsolver': {
      // The reverse SDE in noise prediction: twice the ODE's ε̂ weight, noise of variance σ_t²(e^{2h} − 1).
      const e = Math.expm1(h);
      const noise = t.sigma * Math.sqrt(Math.expm1(2 * h));
      // No third-order weight exists for this variant (rejected before sampling starts).
      return {
        sample: t.alpha / s.alpha,
        d0: -2 * t.sigma * e,
        d1: -2 * t.sigma * (e / h - 1),
        d2: NaN,
        noise,
      };
    }
  }
}

/** First order from `base` to `t`: DPM-Solver-1, which is DDIM (Lu et al. 2022a, §4.1). */
function firstOrderUpdate(
  method: DpmMethod,
  x: Float64Array,
  base: Prediction,
  t: SolverLevel,
  z: Float64Array | null,
): Float64Array {
  const w = stepWeights(method.algorithmType, base.level, t);
  return combine([
    [w.sample, x],
    [w.d0, base.value],
    [w.noise, z],
  ]);
}

/**
 * Second order from `base` with the slope through two outputs, D1 = h·(m_newer − m_older)/(λ_newer − λ_older).
 * Multistep: the base is the newer output (DPM-Solver++(2M), Lu et al. 2022b, Algorithm 2); singlestep: the
 * older one, whose step is split at the newer's grid point (DPM-Solver-2, Lu et al. 2022a, Algorithm 1;
 * DPM-Solver++(2S), 2022b, Algorithm 1). 'midpoint' weighs D1 by half the D0 weight, 'heun' exactly.
 */
function secondOrderUpdate(
  method: DpmMethod,
  x: Float64Array,
  base: Prediction,
  [newer, older]: readonly [Prediction, Prediction],
  t: SolverLevel,
  z: Float64Array | null,
): Float64Array {
  const w = stepWeights(method.algorithmType, base.level, t);
  const slope = (t.lambda - base.level.lambda) / (newer.level.lambda - older.level.lambda);
  const d1 = combine([
    [slope, newer.value],
    [-slope, older.value],
  ]);
  return combine([
    [w.sample, x],
    [w.d0, base.value],
    [method.solverType === 'midpoint' ? 0.5 * w.d0 : w.d1, d1],
    [w.noise, z],
  ]);
}

/**
 * Multistep third order (DPM-Solver++(3M), Lu et al. 2022b, Appendix) from the newest output m0: the
 * divided differences of m0, m1, m2 in λ give D1 (the slope extrapolated to λ_s0) and D2.
 */
function multistepThirdOrderUpdate(
  method: DpmMethod,
  x: Float64Array,
  [m0, m1, m2]: readonly Prediction[],
  t: SolverLevel,
  z: Float64Array | null,
): Float64Array {
  const w = stepWeights(method.algorithmType, m0.level, t);
  const h = t.lambda - m0.level.lambda;
  const r0 = (m0.level.lambda - m1.level.lambda) / h;
  const r1 = (m1.level.lambda - m2.level.lambda) / h;
  const slope0 = combine([
    [1 / r0, m0.value],
    [-1 / r0, m1.value],
  ]);
  const slope1 = combine([
    [1 / r1, m1.value],
    [-1 / r1, m2.value],
  ]);
  const d2 = combine([
    [1 / (r0 + r1), slope0],
    [-1 / (r0 + r1), slope1],
  ]);
  const d1 = combine([
    [1, slope0],
    [r0, d2],
  ]);
  return combine([
    [w.sample, x],
    [w.d0, m0.value],
    [w.d1, d1],
    [w.d2, d2],
    [w.noise, z],
  ]);
}

/**
 * Singlestep third order from the oldest output m2 (DPM-Solver-3, Lu et al. 2022a, Algorithm 2, with the
 * two intermediate points on the grid): 'midpoint' uses only the slope to m0, 'heun' fits D1 and D2.
 */
function singlestepThirdOrderUpdate(
  method: DpmMethod,
  x: Float64Array,
  [m0, m1, m2]: readonly Prediction[],
  t: SolverLevel,
): Float64Array {
  const w = stepWeights(method.algorithmType, m2.level, t);
  const h = t.lambda - m2.level.lambda;
  const r0 = (m0.level.lambda - m2.level.lambda) / h;
  const r1 = (m1.level.lambda - m2.level.lambda) / h;
  const slope0 = combine([
    [1 / r0, m0.value],
    [-1 / r0, m2.value],
  ]);
  if (method.solverType === 'midpoint') {
    return combine([
      [w.sample, x],
      [w.d0, m2.value],
      [w.d1, slope0],
    ]);
  }
  const slope1 = combine([
    [1 / r1, m1.value],
    [-1 / r1, m2.value],
  ]);
  const d1 = combine([
    [r0 / (r0 - r1), slope1],
    [-r1 / (r0 - r1), slope0],
  ]);
  const d2 = combine([
    [2 / (r0 - r1), slope0],
    [-2 / (r0 - r1), slope1],
  ]);
  return combine([
    [w.sample, x],
    [w.d0, m2.value],
    [w.d1, d1],
    [w.d2, d2],
  ]);
}

// ---------------------------------------------------------------------------------------------------
// DPM-Solver(++) samplers

type DpmConfig = DPMSolverMultistepSchedulerConfig | DPMSolverSinglestepSchedulerConfig;

/** Settings valid in a config file that these samplers cannot honour, as ConfigErrors. */
function checkDpmSupport(config: DpmConfig, sampler: string, maxSdeOrder: number): void {
  checkVpSupport(config, sampler);
  if (config.algorithmType.startsWith('sde-') && config.solverOrder > maxSdeOrder) {
    throw new ConfigError(
      `${sampler} has no order-${config.solverOrder} update for algorithm_type '${config.algorithmType}'`,
      { hint: `use solver_order ${maxSdeOrder} or lower` },
    );
  }
}

/** The prediction the algorithm integrates: x̂₀ for the '++' variants, ε̂ otherwise. */
function predictionFor(
  config: DpmConfig,
  output: Float64Array,
  x: Float64Array,
  level: SolverLevel,
  x0: Float64Array,
) {
  const value = config.algorithmType.endsWith('++') ? x0 : noisePrediction(output, x, level, config, x0);
  return { level, value };
}

/** The SDE noise of one step (temperature-scaled), or null for the ODE variants. */
function stepNoise(config: DpmConfig, request: SampleRequest): Float64Array | null {
  return config.algorithmType.startsWith('sde-') ? drawNoise(request, request.noise.length) : null;
}

/** The σ grid of a multistep DPM-Solver config (diffusers' DPMSolverMultistepScheduler.set_timesteps). */
export function dpmSolverGrid(config: DPMSolverMultistepSchedulerConfig, n: number): SolverGrid {
  return solverGrid(config, n, config.betaSchedule !== 'squaredcos_cap_v2');
}

/**
 * Multistep DPM-Solver / DPM-Solver++ (diffusers' DPMSolverMultistepScheduler): one model call per step;
 * orders above 1 reuse the previous steps' outputs.
 */
export async function sampleDpmSolverMultistep(
  request: SampleRequest,
  config: DPMSolverMultistepSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const sampler = 'DPMSolverMultistepScheduler';
  checkDpmSupport(config, sampler, config.algorithmType === 'sde-dpmsolver' ? 2 : 3);
  const grid = gridFor(options, () => dpmSolverGrid(config, request.numInferenceSteps));
  const levels = grid.sigmas.map(solverLevel);
  const batchSize = request.batchSize ?? 1; // checked by runSolver before the first step
  const history: Prediction[] = []; // newest first
  const run = {
    sampler,
    stochastic: config.algorithmType.startsWith('sde-'),
    learnedVariance: !!config.varianceType,
  };
  return runSolver(request, grid, run, (x, output, i) => {
    const denoised = denoisedPrediction(output, x, levels[i], config, batchSize);
    history.unshift(predictionFor(config, output, x, levels[i], denoised));
    history.length = Math.min(history.length, 3);
    const z = stepNoise(config, request);
    const t = levels[i + 1];
    const order = multistepOrder(i, grid.timesteps.length, config);
    const next =
      order === 1
        ? firstOrderUpdate(config, x, history[0], t, z)
        : order === 2
          ? secondOrderUpdate(config, x, history[0], [history[0], history[1]], t, z)
          : multistepThirdOrderUpdate(config, x, history, t, z);
    return { next, denoised };
  });
}

/**
 * The order of each singlestep step (diffusers' `get_order_list`): cycles 1, 2, …, `solverOrder`, each
 * cycle one higher-order step from the cycle's start; a trailing partial cycle keeps its low orders, and
 * the last step is first order when it lands on σ = 0 or when `lowerOrderFinal` shortens a full cycle.
 */
export function singlestepOrders(n: number, config: DPMSolverSinglestepSchedulerConfig): number[] {
  const orders = Array.from({ length: n }, (_, i) => (i % config.solverOrder) + 1);
  const fullCycles = n % config.solverOrder === 0;
  if (config.finalSigmasType === 'zero' || (fullCycles && config.lowerOrderFinal)) orders[n - 1] = 1;
  return orders;
}

/** The σ grid of a singlestep config: always 'linspace' spacing (the class has no spacing keys). */
export function dpmSolverSinglestepGrid(config: DPMSolverSinglestepSchedulerConfig, n: number): SolverGrid {
  return solverGrid({ ...config, timestepSpacing: 'linspace', stepsOffset: 0 }, n);
}

/**
 * Singlestep DPM-Solver / DPM-Solver++ (diffusers' DPMSolverSinglestepScheduler): each cycle of k steps
 * restarts from the sample at its first grid point and uses the cycle's outputs as the intermediate
 * evaluations of one k-th order step (a Runge–Kutta-like scheme on the grid).
 */
export async function sampleDpmSolverSinglestep(
  request: SampleRequest,
  config: DPMSolverSinglestepSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const sampler = 'DPMSolverSinglestepScheduler';
  checkDpmSupport(config, sampler, 2);
  const grid = gridFor(options, () => dpmSolverSinglestepGrid(config, request.numInferenceSteps));
  const levels = grid.sigmas.map(solverLevel);
  const orders = singlestepOrders(grid.timesteps.length, config);
  const batchSize = request.batchSize ?? 1; // checked by runSolver before the first step
  const history: Prediction[] = []; // newest first
  let cycleStart: Float64Array = new Float64Array(0); // the sample at the first grid point of the current cycle
  const run = {
    sampler,
    stochastic: config.algorithmType.startsWith('sde-'),
    learnedVariance: !!config.varianceType,
  };
  return runSolver(request, grid, run, (x, output, i) => {
    const denoised = denoisedPrediction(output, x, levels[i], config, batchSize);
    history.unshift(predictionFor(config, output, x, levels[i], denoised));
    history.length = Math.min(history.length, 3);
    const z = stepNoise(config, request);
    const t = levels[i + 1];
    if (orders[i] === 1) cycleStart = x;
    const next =
      orders[i] === 1
        ? firstOrderUpdate(config, x, history[0], t, z)
        : orders[i] === 2
          ? secondOrderUpdate(config, cycleStart, history[1], [history[0], history[1]], t, z)
          : singlestepThirdOrderUpdate(config, cycleStart, history, t);
    return { next, denoised };
  });
}

const KARRAS = {
  useKarrasSigmas: true,
  useExponentialSigmas: false,
  useBetaSigmas: false,
  useLuLambdas: false,
};
const SDE = { algorithmType: 'sde-dpmsolver++' } as const;

const multistep: SamplerEntry['run'] = (request, config, options) =>
  sampleDpmSolverMultistep(request, expectSchedulerClass(config, 'DPMSolverMultistepScheduler'), options);

export const DPM_SOLVER_SAMPLERS: SamplerEntry[] = [
  {
    name: 'dpmpp_2m',
    aliases: ['dpm++_2m', 'k_dpmpp_2m', 'dpm_solver_multistep'],
    className: 'DPMSolverMultistepScheduler',
    stochastic: false,
    summary: 'DPM-Solver++(2M): second-order multistep ODE solver in log-SNR (Lu et al. 2022)',
    run: multistep,
  },
  {
    name: 'dpmpp_2m_karras',
    aliases: ['dpm++_2m_karras', 'k_dpmpp_2m_karras'],
    className: 'DPMSolverMultistepScheduler',
    configFields: KARRAS,
    stochastic: false,
    summary: 'DPM-Solver++(2M) on Karras σ levels',
    run: multistep,
  },
  {
    name: 'dpmpp_2m_sde',
    aliases: ['dpm++_2m_sde', 'sde_dpmpp_2m', 'k_dpmpp_2m_sde'],
    className: 'DPMSolverMultistepScheduler',
    configFields: SDE,
    stochastic: true,
    summary: 'SDE-DPM-Solver++(2M): the multistep solver of the reverse SDE (fresh noise each step)',
    run: multistep,
  },
  {
    name: 'dpmpp_2m_sde_karras',
    aliases: ['dpm++_2m_sde_karras', 'k_dpmpp_2m_sde_karras'],
    className: 'DPMSolverMultistepScheduler',
    configFields: { ...SDE, ...KARRAS },
    stochastic: true,
    summary: 'SDE-DPM-Solver++(2M) on Karras σ levels',
    run: multistep,
  },
  {
    name: 'dpmpp_3m',
    aliases: ['dpm++_3m'],
    className: 'DPMSolverMultistepScheduler',
    configFields: { solverOrder: 3 },
    stochastic: false,
    summary: 'DPM-Solver++(3M): third-order multistep, for unguided sampling',
    run: multistep,
  },
  {
    name: 'dpmpp_2s',
    aliases: ['dpm++_2s', 'dpm_singlestep', 'dpm_solver_singlestep'],
    className: 'DPMSolverSinglestepScheduler',
    stochastic: false,
    summary: 'DPM-Solver++(2S): second-order singlestep, intermediate points on the grid (Lu et al. 2022)',
    run: (request, config, options) =>
      sampleDpmSolverSinglestep(
        request,
        expectSchedulerClass(config, 'DPMSolverSinglestepScheduler'),
        options,
      ),
  },
];
