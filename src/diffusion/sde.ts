/**
 * The continuous-time diffusions of Song et al. 2021 ("Score-Based Generative Modeling through Stochastic
 * Differential Equations"), dx = f(x, t) dt + g(t) dw on t ∈ [0, 1]: variance preserving (VP, the limit of
 * DDPM), variance exploding (VE, the limit of NCSN) and sub-VP. Each gives its drift and diffusion, the
 * perturbation kernel used for training (`marginal`), the exact transition between two times
 * (`transition`), the prior at t = 1, and the drift of the reverse-time SDE or of the probability-flow ODE
 * given a score. Plain numbers over Float64Array/Float32Array: no network and no sampler loop lives here.
 */
import { ConfigError, UsageError, unknownChoice } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { combinePerExample, emptyLike, type FloatArray, checkSameLength } from './forward.js';
import type { NoiseLevel } from './noise-levels.js';

export const SDE_KINDS = ['vp', 've', 'subvp'] as const;
export type SdeKind = (typeof SDE_KINDS)[number];

export interface VpSdeConfig {
  kind: 'vp' | 'subvp';
  /** β(0), the noise rate at t = 0 (score_sde default 0.1; DDPM's β_1 · T). */
  betaMin: number;
  /** β(1), the noise rate at t = 1 (score_sde default 20; DDPM's β_T · T). */
  betaMax: number;
}

export interface VeSdeConfig {
  kind: 've';
  /** σ(0), the smallest noise level (score_sde default 0.01). */
  sigmaMin: number;
  /** σ(1), the largest noise level, about the largest pairwise data distance (CIFAR-10: 50). */
  sigmaMax: number;
}

export type SdeConfig = VpSdeConfig | VeSdeConfig;

export const DEFAULT_VP_SDE: VpSdeConfig = { kind: 'vp', betaMin: 0.1, betaMax: 20 };
export const DEFAULT_SUBVP_SDE: VpSdeConfig = { kind: 'subvp', betaMin: 0.1, betaMax: 20 };
export const DEFAULT_VE_SDE: VeSdeConfig = { kind: 've', sigmaMin: 0.01, sigmaMax: 50 };

/** A forward SDE dx = f(x, t) dt + g(t) dw on t ∈ [0, 1], whose drift is linear: f(x, t) = driftScale(t) · x. */
export interface Sde {
  readonly config: SdeConfig;
  /** f(x, t) = driftScale(t) · x. */
  driftScale(t: number): number;
  /** g(t). */
  diffusion(t: number): number;
  /**
   * The perturbation kernel p_0t(x_t | x₀) = N(alpha x₀, sigma² I) that score_sde trains with. For VP and
   * sub-VP it is the exact law of x(t) given x(0) = x₀; for VE it is N(x₀, σ(t)² I), i.e. data already
   * perturbed by σ_min at t = 0 (the exact law from a point mass is `transition(0, t)`).
   */
  marginal(t: number): NoiseLevel;
  /** The exact law of x(t) given x(s) for s ≤ t: N(alpha x(s), sigma² I). */
  transition(s: number, t: number): NoiseLevel;
  /** The prior at t = 1: N(0, priorStd² I). */
  readonly priorStd: number;
}

/** Builds an SDE from its config, validating it. */
export function createSde(config: SdeConfig): Sde {
  switch (config.kind) {
    case 'vp':
    case 'subvp':
      return varianceFamilySde(config);
    case 've':
      return veSde(config);
    default:
      throw unknownChoice('SDE', String((config as { kind: unknown }).kind), SDE_KINDS);
  }
}

/**
 * VP (eq. 11) and sub-VP (eq. 17) with β(t) = β_min + t (β_max − β_min) and B(t) = ∫₀ᵗ β = β_min t +
 * t² (β_max − β_min) / 2. Both drift by −β(t) x / 2; VP diffuses with g = √β(t), sub-VP with
 * g = √(β(t) (1 − e^{−2B(t)})), which keeps its variance below VP's.
 */
function varianceFamilySde(config: VpSdeConfig): Sde {
  const { betaMin, betaMax, kind } = config;
  if (!(betaMin >= 0 && betaMax > betaMin && Number.isFinite(betaMax))) {
    throw new ConfigError(`${kind} SDE needs 0 ≤ beta_min < beta_max < ∞, got ${betaMin}, ${betaMax}`);
  }
  const beta = (t: number) => betaMin + t * (betaMax - betaMin);
  const integral = (t: number) => betaMin * t + 0.5 * t * t * (betaMax - betaMin);
  const subVp = kind === 'subvp';
  const transition = (s: number, t: number): NoiseLevel => {
    checkInterval(s, t);
    const Bs = integral(s);
    const Bt = integral(t);
    const alpha = Math.exp(-0.5 * (Bt - Bs));
    if (!subVp) return { alpha, sigma: Math.sqrt(-Math.expm1(-(Bt - Bs))) };
    // Solving dΣ/dt = −β Σ + β (1 − e^{−2B}) from Σ(s) = 0 gives
    // Σ(t) = 1 − e^{B(s)−B(t)} + e^{−2B(t)} − e^{−B(s)−B(t)} = (1 − e^{−(B(t)−B(s))})(1 − e^{−B(s)−B(t)}).
    const variance = -Math.expm1(-(Bt - Bs)) * -Math.expm1(-(Bs + Bt));
    return { alpha, sigma: Math.sqrt(variance) };
  };
  return {
    config,
    driftScale: (t) => -0.5 * beta(checkTime(t)),
    diffusion: (t) => {
      const b = beta(checkTime(t));
      return subVp ? Math.sqrt(b * -Math.expm1(-2 * integral(t))) : Math.sqrt(b);
    },
    // From x(0) = x₀: mean e^{−B/2} x₀; variance 1 − e^{−B} (VP) or (1 − e^{−B})² (sub-VP, eq. 29).
    marginal: (t) => transition(0, t),
    transition,
    priorStd: 1,
  };
}

/** VE (eq. 9): σ(t) = σ_min (σ_max / σ_min)^t, f = 0, g(t) = σ(t) √(2 ln(σ_max / σ_min)). */
function veSde(config: VeSdeConfig): Sde {
  const { sigmaMin, sigmaMax } = config;
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin && Number.isFinite(sigmaMax))) {
    throw new ConfigError(`ve SDE needs 0 < sigma_min < sigma_max < ∞, got ${sigmaMin}, ${sigmaMax}`);
  }
  const logRatio = Math.log(sigmaMax / sigmaMin);
  const sigma = (t: number) => sigmaMin * Math.exp(t * logRatio);
  return {
    config,
    driftScale: (t) => (checkTime(t), 0),
    diffusion: (t) => sigma(checkTime(t)) * Math.sqrt(2 * logRatio),
    marginal: (t) => ({ alpha: 1, sigma: sigma(checkTime(t)) }),
    // d σ(t)²/dt = g(t)², so Var[x(t) | x(s)] = σ(t)² − σ(s)².
    transition: (s, t) => {
      checkInterval(s, t);
      return { alpha: 1, sigma: Math.sqrt(sigma(t) ** 2 - sigma(s) ** 2) };
    },
    priorStd: sigmaMax,
  };
}

/** f(x, t): the forward drift for a flat array. */
export function drift<T extends FloatArray>(sde: Sde, x: T, t: number): T {
  const scale = sde.driftScale(t);
  const out = emptyLike(x);
  for (let i = 0; i < x.length; i++) out[i] = scale * x[i];
  return out;
}

/**
 * The drift of the reverse-time process given the score s ≈ ∇ log p_t(x) (Song et al. 2021):
 * the reverse SDE (eq. 6) dx = [f − g² s] dt + g dw̄, or the probability-flow ODE (eq. 13)
 * dx = [f − g² s / 2] dt, both integrated from t = 1 down to 0.
 */
export function reverseDrift<T extends FloatArray>(
  sde: Sde,
  x: T,
  t: number,
  score: FloatArray,
  probabilityFlow = false,
): T {
  checkSameLength({ x, score });
  const g = sde.diffusion(t);
  const scoreScale = probabilityFlow ? 0.5 * g * g : g * g;
  const driftScale = sde.driftScale(t);
  const out = emptyLike(x);
  for (let i = 0; i < x.length; i++) out[i] = driftScale * x[i] - scoreScale * score[i];
  return out;
}

/** x_t = alpha(t) x₀ + sigma(t) ε with each batch element at its own time (the training perturbation). */
export function perturb<T extends FloatArray>(
  sde: Sde,
  x0: T,
  noise: FloatArray,
  times: ArrayLike<number>,
): T {
  const levels = Array.from(times, (t) => sde.marginal(t));
  return combinePerExample(
    x0,
    noise,
    levels.map((l) => l.alpha),
    levels.map((l) => l.sigma),
  );
}

/** `count` draws from the prior N(0, priorStd² I). */
export function samplePrior(sde: Sde, count: number, rng: Random): Float32Array {
  if (!Number.isInteger(count) || count < 0)
    throw new UsageError(`prior sample count must be ≥ 0, got ${count}`);
  return rng.fillNormal(new Float32Array(count), 0, sde.priorStd);
}

/** log N(z; 0, priorStd² I), summed over the array (in nats). */
export function priorLogProb(sde: Sde, z: FloatArray): number {
  const variance = sde.priorStd ** 2;
  let squares = 0;
  for (let i = 0; i < z.length; i++) squares += z[i] * z[i];
  return -0.5 * z.length * Math.log(2 * Math.PI * variance) - squares / (2 * variance);
}

function checkTime(t: number): number {
  if (!(t >= 0 && t <= 1)) throw new UsageError(`SDE time must lie in [0, 1], got ${t}`);
  return t;
}

function checkInterval(s: number, t: number): void {
  checkTime(s);
  checkTime(t);
  if (s > t) throw new UsageError(`transition needs s ≤ t, got s=${s}, t=${t}`);
}
