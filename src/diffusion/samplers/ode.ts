/**
 * The probability-flow ODE sampler (Song et al. 2021, eq. 13): dx/dt = f(x, t) − ½·g(t)²·∇log p_t(x),
 * integrated from the prior at t = 1 down to t = ε with an adaptive Dormand–Prince RK45 solver
 * (Dormand & Prince 1980; step-size control as in Hairer, Nørsett & Wanner, §II.4, and scipy's RK45),
 * which counts network evaluations (NFE) so accuracy can be traded against cost through rtol/atol.
 * Also home of the small vocabulary the score-SDE samplers share: the score function, converters from
 * denoiser/ε networks to scores, the prior draw and the default end time ε. It must not define any SDE
 * (those live in ../sde.ts) nor hold model code.
 */
import { UsageError, NumericError } from '../../util/errors.js';
import type { FloatArray } from '../forward.js';
import { drift, reverseDrift, type Sde } from '../sde.js';
import type { NoiseSource, StepCallback } from './types.js';

/** A batched score model s(x, t) ≈ ∇ₓ log p_t(x) at SDE time t: flat [batch, dim] in, same shape out. */
export type ScoreFn = (x: Float64Array, t: number) => Promise<FloatArray>;

/** A batched denoiser D(x, t) ≈ E[x₀ | x_t = x] at SDE time t. */
export type DenoiserFn = (x: Float64Array, t: number) => Promise<FloatArray>;

/**
 * The smallest time the reverse process runs down to when the caller gives none: Song et al.'s 1e-3
 * for VP and sub-VP, 1e-5 for VE (the score is singular at t = 0).
 */
export function defaultEndTime(sde: Sde): number {
  return sde.config.kind === 've' ? 1e-5 : 1e-3;
}

/** The score of a denoiser by Tweedie's formula: ∇log p_t(x) = (α(t)·D(x, t) − x)/σ(t)². */
export function scoreFromDenoiser(denoiser: DenoiserFn, sde: Sde): ScoreFn {
  return async (x, t) => {
    const { alpha, sigma } = sde.marginal(t);
    const denoised = await denoiser(x, t);
    return Float64Array.from(x, (xi, i) => (alpha * denoised[i] - xi) / (sigma * sigma));
  };
}

/** The score of a noise predictor: ∇log p_t(x) = −ε̂(x, t)/σ(t). */
export function scoreFromEpsilon(epsilon: DenoiserFn, sde: Sde): ScoreFn {
  return async (x, t) => {
    const { sigma } = sde.marginal(t);
    return Float64Array.from(await epsilon(x, t), (e) => -e / sigma);
  };
}

/** The Tweedie estimate of x₀ from a score, for progress callbacks: (x + σ(t)²·s)/α(t). */
export function denoisedFromScore(
  sde: Sde,
  x: Float64Array,
  score: ArrayLike<number>,
  t: number,
): Float64Array {
  const { alpha, sigma } = sde.marginal(t);
  return Float64Array.from(x, (xi, i) => (xi + sigma * sigma * score[i]) / alpha);
}

/** The initial state x(1) ~ N(0, priorStd²·I) from the request's unit normal noise. */
export function priorSample(sde: Sde, noise: FloatArray): Float64Array {
  return Float64Array.from(noise, (z) => sde.priorStd * z);
}

/** Checks that a NoiseSource is present for a stochastic sampler. */
export function requireNoise(noiseSource: NoiseSource | undefined, sampler: string): NoiseSource {
  if (!noiseSource) {
    throw new UsageError(`${sampler} is stochastic and needs a noiseSource`, {
      hint: 'pass a seeded noise source, e.g. one built from Random',
    });
  }
  return noiseSource;
}

/** Checks a caller's end time ε ∈ (0, 1). */
export function checkEndTime(eps: number): number {
  if (!(eps > 0 && eps < 1)) {
    throw new UsageError(`score-SDE end time eps must lie in (0, 1), got ${eps}`, {
      hint: 'Song et al. use 1e-3 for VP and 1e-5 for VE',
    });
  }
  return eps;
}

/** The probability-flow drift f(x, t) − ½·g(t)²·s(x, t) (Song et al. 2021, eq. 13). */
export function probabilityFlowDrift(sde: Sde, score: ScoreFn): OdeFunction {
  return async (t, x) => reverseDrift(sde, x, t, await score(x, t), true);
}

// ---------------------------------------------------------------------------------------------------
// Adaptive Dormand–Prince RK45

/** dy/dt = F(t, y) for a flat state y. */
export type OdeFunction = (t: number, y: Float64Array) => Promise<Float64Array>;

export interface OdeSolverOptions {
  /** Relative tolerance per component (scipy's default 1e-3; Song et al. use 1e-5). */
  rtol?: number;
  /** Absolute tolerance per component. */
  atol?: number;
  /** Step budget; exceeding it raises a NumericError rather than looping forever. */
  maxSteps?: number;
  /** Called after each accepted step with the time reached, the state and F there (no extra call). */
  onStep?: (t: number, y: Float64Array, dydt: Float64Array, step: number) => void | Promise<void>;
}

export interface OdeSolution {
  /** State at the end time. */
  y: Float64Array;
  /** Number of evaluations of F (one per network call). */
  nfe: number;
  acceptedSteps: number;
  rejectedSteps: number;
}

// Dormand–Prince 5(4) tableau: nodes C, stage weights A, 5th-order weights B, and E = B − B̂ (the
// difference to the embedded 4th-order solution, extended by the FSAL stage), as in scipy's RK45.
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1];
const A = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
];
const B = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84];
const E = [-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40];
const SAFETY = 0.9;
const MIN_FACTOR = 0.2;
const MAX_FACTOR = 10;
const ERROR_EXPONENT = -1 / 5;

function rmsNorm(values: Float64Array, scale: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] / scale[i]) ** 2;
  return Math.sqrt(sum / values.length);
}

function checkFinite(values: Float64Array, t: number): void {
  for (const v of values) {
    if (!Number.isFinite(v)) {
      throw new NumericError(`ODE right-hand side is not finite at t = ${t}`, {
        hint: 'check the score model; a NaN or Inf output cannot be integrated',
      });
    }
  }
}

/** y + h·Σ_j w_j·k_j over the given stages. */
function combine(
  y: Float64Array,
  h: number,
  weights: readonly number[],
  stages: Float64Array[],
): Float64Array {
  const out = Float64Array.from(y);
  weights.forEach((w, j) => {
    if (w === 0) return;
    const k = stages[j];
    for (let i = 0; i < out.length; i++) out[i] += h * w * k[i];
  });
  return out;
}

/** The initial step of Hairer, Nørsett & Wanner (§II.4), as scipy's `select_initial_step`: one F call. */
async function initialStep(
  fun: OdeFunction,
  t0: number,
  y0: Float64Array,
  f0: Float64Array,
  direction: number,
  span: number,
  rtol: number,
  atol: number,
): Promise<number> {
  const scale = Float64Array.from(y0, (y) => atol + Math.abs(y) * rtol);
  const d0 = rmsNorm(y0, scale);
  const d1 = rmsNorm(f0, scale);
  // Capped at the span so the probe evaluation stays inside the interval (the SDE is undefined past it).
  const h0 = Math.min(d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : (0.01 * d0) / d1, span);
  const y1 = Float64Array.from(y0, (y, i) => y + h0 * direction * f0[i]);
  const f1 = await fun(t0 + h0 * direction, y1);
  checkFinite(f1, t0 + h0 * direction);
  const d2 =
    rmsNorm(
      Float64Array.from(f1, (f, i) => f - f0[i]),
      scale,
    ) / h0;
  const h1 = d1 <= 1e-15 && d2 <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** (1 / 5);
  return Math.min(100 * h0, h1, span);
}

function validateTolerances(rtol: number, atol: number, maxSteps: number): void {
  if (!(rtol > 0) || !(atol > 0) || !Number.isFinite(rtol) || !Number.isFinite(atol)) {
    throw new UsageError(`ODE tolerances must be positive, got rtol=${rtol}, atol=${atol}`);
  }
  if (!Number.isInteger(maxSteps) || maxSteps < 1) {
    throw new UsageError(`ODE maxSteps must be a positive integer, got ${maxSteps}`);
  }
}

/**
 * Integrates dy/dt = F(t, y) from t0 to t1 (either direction) with Dormand–Prince RK45: a step is
 * accepted when the RMS of the embedded error, scaled by atol + rtol·max(|y|, |y_new|), is ≤ 1, and the
 * next step is h·clamp(0.9·err^(−1/5), 0.2, 10) (never growing right after a rejection).
 */
export async function solveOde(
  fun: OdeFunction,
  y0: Float64Array,
  t0: number,
  t1: number,
  options: OdeSolverOptions = {},
): Promise<OdeSolution> {
  const { rtol = 1e-5, atol = 1e-5, maxSteps = 100_000, onStep } = options;
  validateTolerances(rtol, atol, maxSteps);
  const direction = Math.sign(t1 - t0);
  const span = Math.abs(t1 - t0);
  let y: Float64Array = Float64Array.from(y0);
  if (span === 0) return { y, nfe: 0, acceptedSteps: 0, rejectedSteps: 0 };
  let t = t0;
  let f: Float64Array = await fun(t, y);
  checkFinite(f, t);
  let h = await initialStep(fun, t0, y, f, direction, span, rtol, atol);
  let nfe = 2;
  let accepted = 0;
  let rejected = 0;
  while (direction * (t1 - t) > 0) {
    if (accepted + rejected >= maxSteps) {
      throw new NumericError(`ODE solver took more than ${maxSteps} steps between t=${t0} and t=${t1}`, {
        hint: 'loosen rtol/atol or check the model for stiffness',
      });
    }
    let stepRejected = false;
    while (true) {
      // Land exactly on t1 rather than overshooting it.
      const hStep = Math.min(h, Math.abs(t1 - t));
      const tNew = Math.abs(t1 - (t + direction * hStep)) < 1e-14 * span ? t1 : t + direction * hStep;
      const signedH = tNew - t;
      const stages: Float64Array[] = [f];
      for (let s = 1; s < 6; s++) {
        const ys = combine(y, signedH, A[s], stages);
        const k = await fun(t + C[s] * signedH, ys);
        checkFinite(k, t + C[s] * signedH);
        stages.push(k);
      }
      const yNew = combine(y, signedH, B, stages);
      const fNew = await fun(tNew, yNew);
      checkFinite(fNew, tNew);
      stages.push(fNew);
      nfe += 6;
      const error = combine(new Float64Array(y.length), signedH, E, stages);
      const scale = Float64Array.from(y, (yi, i) => atol + Math.max(Math.abs(yi), Math.abs(yNew[i])) * rtol);
      const errorNorm = rmsNorm(error, scale);
      if (errorNorm < 1) {
        let factor =
          errorNorm === 0 ? MAX_FACTOR : Math.min(MAX_FACTOR, SAFETY * errorNorm ** ERROR_EXPONENT);
        if (stepRejected) factor = Math.min(1, factor);
        h = hStep * factor;
        t = tNew;
        y = yNew;
        f = fNew;
        accepted++;
        if (onStep) await onStep(t, y, f, accepted - 1);
        break;
      }
      h = hStep * Math.max(MIN_FACTOR, SAFETY * errorNorm ** ERROR_EXPONENT);
      stepRejected = true;
      rejected++;
      if (h < 1e-12 * span) {
        throw new NumericError(`ODE step size underflow at t = ${t}`, {
          hint: 'the score is too rough for these tolerances; loosen rtol/atol',
        });
      }
    }
  }
  return { y, nfe, acceptedSteps: accepted, rejectedSteps: rejected };
}

// ---------------------------------------------------------------------------------------------------
// The sampler

export interface ProbabilityFlowRequest {
  sde: Sde;
  score: ScoreFn;
  /** Initial N(0, I) noise for the batch; scaled by the prior std. */
  noise: FloatArray;
  /** End time ε of the integration (default `defaultEndTime(sde)`). */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** End with one Tweedie denoising step x₀ = (x + σ(ε)²·s)/α(ε) (Song et al.'s `denoise`). */
  denoise?: boolean;
  /** Reported after each accepted solver step; `numSteps` is not known in advance and reads 0. */
  callback?: StepCallback;
}

export interface ProbabilityFlowResult {
  sample: Float32Array;
  /** Score evaluations spent, the final denoising step included. */
  nfe: number;
  acceptedSteps: number;
  rejectedSteps: number;
}

/** Samples by integrating the probability-flow ODE from t = 1 to t = ε. */
export async function sampleProbabilityFlow(request: ProbabilityFlowRequest): Promise<ProbabilityFlowResult> {
  const { sde, score, rtol = 1e-5, atol = 1e-5, denoise = false, callback } = request;
  const eps = checkEndTime(request.eps ?? defaultEndTime(sde));
  // The score at an accepted point is recovered from the FSAL derivative, s = (f − F)/(½g²), so
  // progress reporting costs no extra network call.
  const onStep = callback
    ? async (t: number, y: Float64Array, dydt: Float64Array, step: number) => {
        const s = drift(sde, y, t);
        const halfG2 = 0.5 * sde.diffusion(t) ** 2;
        for (let i = 0; i < s.length; i++) s[i] = (s[i] - dydt[i]) / halfG2;
        await callback({
          step,
          numSteps: 0,
          timestep: t,
          sample: Float32Array.from(y),
          predictedOriginal: Float32Array.from(denoisedFromScore(sde, y, s, t)),
        });
      }
    : undefined;
  const solution = await solveOde(probabilityFlowDrift(sde, score), priorSample(sde, request.noise), 1, eps, {
    rtol,
    atol,
    onStep,
  });
  let x = solution.y;
  let nfe = solution.nfe;
  if (denoise) {
    x = denoisedFromScore(sde, x, await score(x, eps), eps);
    nfe++;
  }
  return {
    sample: Float32Array.from(x),
    nfe,
    acceptedSteps: solution.acceptedSteps,
    rejectedSteps: solution.rejectedSteps,
  };
}
