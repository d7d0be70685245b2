/**
 * Discrete noise schedules as diffusers builds them: β_t for t = 0..T−1, α_t = 1 − β_t and
 * ᾱ_t = ∏_{s≤t} α_s (Ho et al. 2020, eq. 4). All arrays are Float64Array; float32 rounding where diffusers
 * stores float32 is applied by `toFloat32` at the boundary that needs it.
 */
import { unknownChoice, ConfigError } from '../util/errors.js';

export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2', 'sigmoid'] as const;
export type BetaScheduleName = (typeof BETA_SCHEDULES)[number];

export interface BetaScheduleConfig {
  /** Which curve: 'linear' (DDPM), 'scaled_linear' (Stable Diffusion), 'squaredcos_cap_v2' (cosine), 'sigmoid'. */
  betaSchedule: BetaScheduleName;
  /** Number of discrete training timesteps T. */
  numTrainTimesteps: number;
  /** β at t = 0 (ignored by the cosine schedule). */
  betaStart: number;
  /** β at t = T − 1 (ignored by the cosine schedule). */
  betaEnd: number;
}

export const DEFAULT_BETA_SCHEDULE: BetaScheduleConfig = {
  betaSchedule: 'linear',
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
};

function linspace(start: number, end: number, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = count === 1 ? start : start + ((end - start) * i) / (count - 1);
  return out;
}

/** Rounds every value to float32, as a PyTorch float32 tensor would hold it. */
export function toFloat32(values: Float64Array): Float64Array {
  return Float64Array.from(Float32Array.from(values));
}

/** Cosine schedule (Nichol & Dhariwal 2021, eq. 17): β_t = 1 − ᾱ(t+1)/ᾱ(t), capped at `maxBeta`. */
export function cosineBetas(numTrainTimesteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    const t1 = i / numTrainTimesteps;
    const t2 = (i + 1) / numTrainTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** β_t of a named schedule, rounded to float32 as diffusers stores them. */
export function betaSchedule(config: BetaScheduleConfig): Float64Array {
  const { betaSchedule: name, numTrainTimesteps: T, betaStart, betaEnd } = config;
  if (!Number.isInteger(T) || T < 1) {
    throw new ConfigError(`num_train_timesteps must be a positive integer, got ${T}`);
  }
  switch (name) {
    case 'linear':
      return toFloat32(linspace(betaStart, betaEnd, T));
    case 'scaled_linear': {
      const roots = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
      return toFloat32(roots.map((r) => r * r));
    }
    case 'squaredcos_cap_v2':
      return toFloat32(cosineBetas(T));
    case 'sigmoid': {
      const xs = linspace(-6, 6, T);
      return toFloat32(xs.map((x) => (1 / (1 + Math.exp(-x))) * (betaEnd - betaStart) + betaStart));
    }
    default:
      throw unknownChoice('beta schedule', String(name), BETA_SCHEDULES);
  }
}

/** ᾱ_t = ∏ (1 − β_s), accumulated in float32 as diffusers' torch.cumprod does. */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let product = Math.fround(1);
  for (let i = 0; i < betas.length; i++) {
    product = Math.fround(product * Math.fround(1 - betas[i]));
    out[i] = product;
  }
  return out;
}

/** A discrete schedule as the forward process and the objectives use it: β_t and ᾱ_t side by side. */
export interface DiscreteSchedule {
  /** β_t for t = 0..T−1. */
  betas: Float64Array;
  /** ᾱ_t = ∏_{s≤t} (1 − β_s), accumulated as diffusers does (`alphasCumprod`). */
  alphasCumprod: Float64Array;
}

/** β_t and ᾱ_t of a named schedule, or of given betas (e.g. after `rescaleZeroTerminalSnr`). */
export function discreteSchedule(source: BetaScheduleConfig | Float64Array): DiscreteSchedule {
  const betas = source instanceof Float64Array ? source : betaSchedule(source);
  for (let i = 0; i < betas.length; i++) {
    if (!(betas[i] >= 0 && betas[i] <= 1)) {
      throw new ConfigError(`beta ${i} is ${betas[i]}; every beta must lie in [0, 1]`);
    }
  }
  if (betas.length === 0) throw new ConfigError('a schedule needs at least one beta');
  return { betas, alphasCumprod: alphasCumprod(betas) };
}

/**
 * Zero-terminal-SNR rescale (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are
 * Flawed", Algorithm 1; diffusers' `rescale_zero_terminal_snr`): shifts and scales √ᾱ_t linearly so that
 * √ᾱ_{T−1} = 0 while √ᾱ_0 is unchanged, then turns the new ᾱ back into betas. The last beta becomes 1, so
 * the final noisy sample holds no signal and a v- (or x₀-) prediction model must be used there; samplers
 * that divide by √ᾱ clamp the last ᾱ themselves (diffusers uses 2⁻²⁴). Computed in float64, then rounded
 * to float32 as diffusers stores betas.
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const T = betas.length;
  if (T < 2) throw new ConfigError(`zero-terminal-SNR rescale needs at least 2 timesteps, got ${T}`);
  const sqrtAlphaBar = new Float64Array(T);
  let product = 1;
  for (let i = 0; i < T; i++) {
    product *= 1 - betas[i];
    sqrtAlphaBar[i] = Math.sqrt(product);
  }
  const first = sqrtAlphaBar[0];
  const last = sqrtAlphaBar[T - 1];
  if (!(first > last)) {
    throw new ConfigError('zero-terminal-SNR rescale needs a schedule whose ᾱ decreases from first to last');
  }
  // Algorithm 1: √ᾱ' = (√ᾱ − √ᾱ_T) · √ᾱ_0 / (√ᾱ_0 − √ᾱ_T), an affine map fixing t = 0 and zeroing t = T.
  const scale = first / (first - last);
  const alphaBar = sqrtAlphaBar.map((s) => ((s - last) * scale) ** 2);
  const rescaled = new Float64Array(T);
  rescaled[0] = 1 - alphaBar[0];
  for (let i = 1; i < T; i++) rescaled[i] = 1 - alphaBar[i] / alphaBar[i - 1];
  rescaled[T - 1] = 1; // exactly: ᾱ_{T−1} = 0
  return toFloat32(rescaled);
}

/*
 * Noise levels as σ (the VE / EDM view x_σ = x₀ + σ ε, Karras et al. 2022). A σ schedule is a value a
 * sampler is given, not a flag it reads: every function here returns `n` levels in descending order,
 * from σ_max to σ_min, without the final 0 (use `appendZero` where a sampler steps to the clean sample,
 * as k-diffusion's `get_sigmas_*` do).
 */

function checkSigmaRange(what: string, n: number, sigmaMin: number, sigmaMax: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`${what}: step count must be a positive integer, got ${n}`);
  if (!(sigmaMin > 0 && sigmaMax >= sigmaMin && Number.isFinite(sigmaMax))) {
    throw new ConfigError(
      `${what}: need 0 < sigma_min ≤ sigma_max < ∞, got sigma_min=${sigmaMin}, sigma_max=${sigmaMax}`,
    );
  }
}

/**
 * Karras et al. 2022, eq. 5: σ_i = (σ_max^{1/ρ} + i/(n−1) · (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i = 0..n−1.
 * ρ = 7 spends more steps at low noise (the paper's choice); ρ = 1 is uniform in σ; ρ → ∞ approaches
 * `exponentialSigmas`. Same values as diffusers' `_convert_to_karras` and k-diffusion's `get_sigmas_karras`
 * (which also appends 0).
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7): Float64Array {
  checkSigmaRange('karras sigmas', n, sigmaMin, sigmaMax);
  if (!(rho > 0 && Number.isFinite(rho)))
    throw new ConfigError(`karras sigmas: rho must be positive, got ${rho}`);
  const maxInvRho = sigmaMax ** (1 / rho);
  const minInvRho = sigmaMin ** (1 / rho);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ramp = n === 1 ? 0 : i / (n - 1);
    out[i] = (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho;
  }
  out[0] = sigmaMax; // exact endpoints, free of pow rounding
  if (n > 1) out[n - 1] = sigmaMin;
  return out;
}

/** σ uniform in log σ: exp(linspace(ln σ_max, ln σ_min, n)) (diffusers' `_convert_to_exponential`). */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number): Float64Array {
  checkSigmaRange('exponential sigmas', n, sigmaMin, sigmaMax);
  return polyexponentialSigmas(n, sigmaMin, sigmaMax, 1);
}

/**
 * k-diffusion's `get_sigmas_polyexponential`: ln σ = ln σ_min + r^ρ (ln σ_max − ln σ_min) with the ramp
 * r = linspace(1, 0, n). ρ = 1 is `exponentialSigmas`; ρ > 1 puts more steps at low noise.
 */
export function polyexponentialSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 1): Float64Array {
  checkSigmaRange('polyexponential sigmas', n, sigmaMin, sigmaMax);
  if (!(rho > 0 && Number.isFinite(rho))) {
    throw new ConfigError(`polyexponential sigmas: rho must be positive, got ${rho}`);
  }
  const logMin = Math.log(sigmaMin);
  const logMax = Math.log(sigmaMax);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ramp = n === 1 ? 1 : 1 - i / (n - 1);
    out[i] = Math.exp(logMin + ramp ** rho * (logMax - logMin));
  }
  return out;
}

/** The same levels followed by σ = 0, the clean sample a sampler's last step lands on. */
export function appendZero(sigmas: Float64Array): Float64Array {
  const out = new Float64Array(sigmas.length + 1);
  out.set(sigmas);
  return out;
}
