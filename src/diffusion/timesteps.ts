/**
 * Which noise levels a sampler visits, as diffusers' `set_timesteps` chooses them: the training
 * schedule of a scheduler config (β_t → ᾱ_t), the N inference timesteps under the three spacings of
 * Lin et al. 2024, Table 2 ("linspace", "leading", "trailing", with `steps_offset`), and for σ-space
 * samplers the σ levels (σ_t = √((1 − ᾱ_t)/ᾱ_t), interpolated at fractional t, or re-spaced as Karras,
 * exponential or Beta levels). Config flags such as `use_karras_sigmas` end here: what leaves this module is
 * a `SigmaSchedule` value, so no sampler branches on them. Values are rounded to float32 where diffusers
 * holds them in float32, so timesteps match its own bit for bit or nearly so. Nothing here calls a model.
 */
import { ConfigError } from '../util/errors.js';
import { sigmaAtTimestep, timestepFromSigma } from './noise-levels.js';
import {
  alphasCumprod as cumulativeAlphas,
  betaSchedule,
  exponentialSigmas,
  karrasSigmas,
  rescaleZeroTerminalSnr,
  toFloat32,
} from './schedules.js';
import type { TIMESTEP_SPACINGS } from './scheduler-config.js';

export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

/** The config keys that define the training schedule (shared by every scheduler class). */
export interface TrainingScheduleConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: Parameters<typeof betaSchedule>[0]['betaSchedule'];
  trainedBetas: number[] | null;
  rescaleBetasZeroSnr?: boolean;
}

/** The config keys that choose the inference timesteps. */
export interface SpacingConfig {
  numTrainTimesteps: number;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** ᾱ_t for t = 0..T−1 as the scheduler builds it (trained betas or a named schedule, optional zero-SNR rescale). */
export function trainingAlphasCumprod(config: TrainingScheduleConfig): Float64Array {
  let betas = config.trainedBetas ? toFloat32(Float64Array.from(config.trainedBetas)) : betaSchedule(config);
  if (config.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
  return cumulativeAlphas(betas);
}

/** numpy's `round`: halves go to the even neighbour (499.5 → 500, 812.5 → 812). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

function checkStepCount(numInferenceSteps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1) {
    throw new ConfigError(`num_inference_steps must be a positive integer, got ${numInferenceSteps}`);
  }
  if (numInferenceSteps > numTrainTimesteps) {
    throw new ConfigError(
      `num_inference_steps (${numInferenceSteps}) cannot exceed num_train_timesteps (${numTrainTimesteps})`,
      { hint: `use at most ${numTrainTimesteps} steps` },
    );
  }
}

/**
 * The N inference timesteps in descending order (Lin et al. 2024, Table 2):
 *   linspace: linspace(0, T−1, N), rounded when `integer` (DDPM/DDIM/PNDM) and kept fractional otherwise;
 *   leading:  (0, 1, …, N−1)·⌊T/N⌋ + steps_offset;
 *   trailing: round(T, T − T/N, …, T/N) − 1, so the first step starts at the last training timestep.
 */
export function spacedTimesteps(
  config: SpacingConfig,
  numInferenceSteps: number,
  integer: boolean,
): Float64Array {
  const T = config.numTrainTimesteps;
  const N = numInferenceSteps;
  checkStepCount(N, T);
  let ascending: number[];
  switch (config.timestepSpacing) {
    case 'linspace': {
      // numpy's linspace: i·step + start with step = (stop − start)/(N − 1), and the last value exactly stop.
      const step = N === 1 ? 0 : (T - 1) / (N - 1);
      ascending = Array.from({ length: N }, (_, i) => (i === N - 1 && N > 1 ? T - 1 : i * step));
      ascending = ascending.map((t) => (integer ? roundHalfEven(t) : Math.fround(t)));
      break;
    }
    case 'leading': {
      const ratio = Math.floor(T / N);
      ascending = Array.from({ length: N }, (_, i) => i * ratio + config.stepsOffset);
      break;
    }
    case 'trailing': {
      // numpy's arange(T, 0, −T/N) holds the values T − i·T/N; for some N (61, 103, …) float rounding
      // makes it one longer, ending in ≈ 0, which diffusers keeps as timestep −1. Only the N real ones are used.
      const ratio = T / N;
      ascending = Array.from({ length: N }, (_, i) => roundHalfEven(T - i * ratio) - 1).reverse();
      break;
    }
    default:
      throw new ConfigError(`unknown timestep_spacing '${String(config.timestepSpacing)}'`, {
        hint: 'use linspace, leading or trailing',
      });
  }
  if (ascending[ascending.length - 1] > T - 1) {
    throw new ConfigError(
      `steps_offset ${config.stepsOffset} pushes the first timestep to ${ascending[ascending.length - 1]}, past the last training timestep ${T - 1}`,
      { hint: 'lower steps_offset or use timestep_spacing "trailing"' },
    );
  }
  return Float64Array.from(ascending.reverse());
}

/** σ_t = √((1 − ᾱ_t)/ᾱ_t) for every training timestep, computed in float32 as diffusers does. */
export function trainingSigmas(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => Math.fround(Math.sqrt(Math.fround(Math.fround(1 - a) / a))));
}

/** How the σ levels of the inference steps are chosen (the value that replaces diffusers' flags). */
export type SigmaSpacing = 'interpolated' | 'log_linear' | 'karras' | 'exponential' | 'beta';

/** The config keys of the σ-space samplers (Euler, Heun, LMS, KDPM2 and their variants). */
export interface SigmaScheduleConfig extends TrainingScheduleConfig, SpacingConfig {
  predictionType: string;
  useKarrasSigmas?: boolean;
  useExponentialSigmas?: boolean;
  useBetaSigmas?: boolean;
  sigmaMin?: number | null;
  sigmaMax?: number | null;
  finalSigmasType?: 'zero' | 'sigma_min';
  interpolationType?: 'linear' | 'log_linear';
  timestepType?: 'discrete' | 'continuous';
}

/** The σ spacing a config asks for. */
export function sigmaSpacingOf(config: SigmaScheduleConfig): SigmaSpacing {
  if (config.useKarrasSigmas) return 'karras';
  if (config.useExponentialSigmas) return 'exponential';
  if (config.useBetaSigmas) return 'beta';
  return config.interpolationType === 'log_linear' ? 'log_linear' : 'interpolated';
}

/** The noise levels a σ-space sampler steps through, and how the network is conditioned on them. */
export interface SigmaSchedule {
  /** σ_0 > σ_1 > … > σ_N: the N step levels and the level the last step lands on (0 or σ_min). */
  sigmas: Float64Array;
  /** The network's timestep at σ_0 … σ_{N−1}. */
  timesteps: Float64Array;
  /** Standard deviation of the initial noise (σ_max, or √(σ_max² + 1) for "leading" spacing, as diffusers). */
  initNoiseSigma: number;
  /** The network's (fractional) timestep for any other σ: KDPM2's midpoints, EDM's churned σ̂. */
  timestepOf(sigma: number): number;
}

export interface SigmaScheduleOptions {
  /** Round the timesteps of Karras σ to integers (diffusers' KDPM2 schedulers do). */
  roundKarrasTimesteps?: boolean;
}

/**
 * σ levels of N inference steps, as the σ-space schedulers' `set_timesteps`: σ interpolated at the spaced
 * timesteps, or re-spaced between the first and last of them (or `sigma_min`/`sigma_max`) with
 * timesteps mapped back through log-σ interpolation, then the final level appended.
 */
export function sigmaSchedule(
  config: SigmaScheduleConfig,
  numInferenceSteps: number,
  options: SigmaScheduleOptions = {},
): SigmaSchedule {
  const alphas = trainingAlphasCumprod(config);
  // diffusers clamps the zero-SNR end so σ_{T−1} stays finite (2⁻²⁴ ≈ float32 resolution).
  if (config.rescaleBetasZeroSnr) alphas[alphas.length - 1] = 2 ** -24;
  const table = trainingSigmas(alphas);
  let timesteps: Float64Array = spacedTimesteps(config, numInferenceSteps, false);
  let sigmas: Float64Array = timesteps.map((t) => sigmaAtTimestep(t, table));
  const spacing = sigmaSpacingOf(config);
  const timestepOf = (sigma: number) => Math.fround(timestepFromSigma(sigma, table));
  if (spacing === 'log_linear') {
    // diffusers spreads N + 1 levels from σ_max to σ_min and steps over them all, never reaching 0.
    sigmas = exponentialSigmas(numInferenceSteps + 1, table[0], table[table.length - 1]);
  } else if (spacing !== 'interpolated') {
    const sigmaMin = config.sigmaMin ?? sigmas[sigmas.length - 1];
    const sigmaMax = config.sigmaMax ?? sigmas[0];
    sigmas = respacedSigmas(spacing, numInferenceSteps, sigmaMin, sigmaMax);
    const round = options.roundKarrasTimesteps && spacing === 'karras' ? roundHalfEven : Math.fround;
    timesteps = sigmas.map((s) => round(timestepOf(s)));
  }
  if (config.timestepType === 'continuous' && config.predictionType === 'v_prediction') {
    // EDM's c_noise = ln(σ)/4 (Karras et al. 2022, Table 1) instead of a discrete timestep.
    timesteps = sigmas.slice(0, numInferenceSteps).map((s) => Math.fround(0.25 * Math.log(s)));
  }
  const last = spacing === 'log_linear' ? [] : [config.finalSigmasType === 'sigma_min' ? table[0] : 0];
  const all = toFloat32(Float64Array.from([...sigmas, ...last]));
  const sigmaMax = Math.max(...all);
  return {
    sigmas: all,
    timesteps,
    initNoiseSigma: config.timestepSpacing === 'leading' ? Math.sqrt(sigmaMax * sigmaMax + 1) : sigmaMax,
    timestepOf:
      config.timestepType === 'continuous' && config.predictionType === 'v_prediction'
        ? (sigma) => 0.25 * Math.log(sigma)
        : timestepOf,
  };
}

function respacedSigmas(spacing: SigmaSpacing, n: number, sigmaMin: number, sigmaMax: number): Float64Array {
  if (spacing === 'karras') return karrasSigmas(n, sigmaMin, sigmaMax, 7);
  if (spacing === 'exponential') return exponentialSigmas(n, sigmaMin, sigmaMax);
  return betaSigmas(n, sigmaMin, sigmaMax);
}

/**
 * σ at the quantiles of a Beta(α, β) distribution (Lee et al. 2024, "Beta Sampling is All You Need"):
 * σ_i = σ_min + F⁻¹(1 − i/(n−1)) · (σ_max − σ_min), F the Beta CDF (α = β = 0.6 in diffusers).
 */
export function betaSigmas(
  n: number,
  sigmaMin: number,
  sigmaMax: number,
  alpha = 0.6,
  beta = 0.6,
): Float64Array {
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin)) {
    throw new ConfigError(`beta sigmas need 0 < sigma_min < sigma_max, got ${sigmaMin} and ${sigmaMax}`);
  }
  return Float64Array.from({ length: n }, (_, i) => {
    const q = n === 1 ? 1 : 1 - i / (n - 1);
    return sigmaMin + betaQuantile(q, alpha, beta) * (sigmaMax - sigmaMin);
  });
}

/** F⁻¹(q) of Beta(a, b) by bisection on the regularised incomplete beta function (60 halvings ≈ 1e-18). */
export function betaQuantile(q: number, a: number, b: number): number {
  if (q <= 0) return 0;
  if (q >= 1) return 1;
  let low = 0;
  let high = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (regularizedIncompleteBeta(mid, a, b) < q) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/** I_x(a, b) by its continued fraction (Numerical Recipes §6.4, modified Lentz), using the symmetry for speed. */
function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - logBeta(a, b));
  if (x > (a + 1) / (a + b + 2)) return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
  return (front * betaContinuedFraction(x, a, b)) / a;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    for (const numerator of [
      (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)),
      (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1)),
    ]) {
      d = 1 + numerator * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + numerator / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-16) break;
  }
  return h;
}

function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: ~15 significant digits). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = c[0];
  for (let i = 1; i < 9; i++) sum += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}
