/**
 * Exact log-likelihood of data under a score model through the probability-flow ODE and the
 * instantaneous change of variables (Chen et al. 2018; Song et al. 2021, App. D.2):
 * log p_ε(x(ε)) = log p_1(x(1)) + ∫_ε^1 ∇·F(x(t), t) dt with F = f − ½g²·s, integrated jointly with x
 * from t = ε to 1 by the adaptive RK45 solver, p_1 taken as the SDE's prior N(0, priorStd²·I). The divergence comes from a `JacobianProductFn` (J·v or
 * vᵀ·J products of F, which the engine's VJP can supply; by default central finite differences of F):
 * exact as the trace over d basis vectors for small dimension, or Hutchinson's estimator vᵀJv with
 * seeded Rademacher or Gaussian probes held fixed along the trajectory otherwise.
 *
 * Bits per dimension on 8-bit data follow one stated convention. Pixel values v ∈ {0, …, 255} are
 * dequantised by uniform noise u ~ U[−½, ½) in pixel units and scaled to the model's range,
 * y = (v + u)/127.5 − 1, so each value's bin has width 2/255 around the grid point v/127.5 − 1 the model
 * was trained on. The density of the dequantised pixel values is p_y(y)·127.5^−d, hence
 * bits/dim = (−log p_y(y) + d·log 127.5)/(d·log 2), and a continuous model's bits/dim upper-bounds the
 * discrete data's. (Song et al.'s code uses 256 bins on [−1, 1], i.e. log 128; the two differ by
 * log₂(128/127.5) ≈ 0.0056 bits/dim.) The module computes numbers only: no model or sampler code.
 */
import { ConfigError, ShapeError, UsageError, unknownChoice } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { FloatArray } from './forward.js';
import { priorLogProb, type Sde } from './sde.js';
import {
  checkEndTime,
  defaultEndTime,
  probabilityFlowDrift,
  solveOde,
  type ScoreFn,
} from './samplers/ode.js';

/**
 * Products of the probability-flow drift's Jacobian J = ∂F/∂x with a batch of vectors v (flat like x):
 * either J·v or vᵀ·J per sample — the divergence only needs vᵀJv and the diagonal, which both give.
 */
export type JacobianProductFn = (x: Float64Array, t: number, v: Float64Array) => Promise<Float64Array>;

export const DIVERGENCE_ESTIMATORS = ['exact', 'hutchinson'] as const;
export type DivergenceEstimator = (typeof DIVERGENCE_ESTIMATORS)[number];
export const PROBE_DISTRIBUTIONS = ['rademacher', 'gaussian'] as const;
export type ProbeDistribution = (typeof PROBE_DISTRIBUTIONS)[number];

/** Dimensions up to which the default estimator is the exact trace (d Jacobian products per step). */
export const EXACT_DIVERGENCE_MAX_DIM = 16;

/**
 * J·v by central differences of a vector field: (F(x + h·v) − F(x − h·v))/(2h), error O(h²). Two
 * field evaluations per product, for any batch size (samples must not interact inside the field).
 */
export function finiteDifferenceProduct(
  field: (x: Float64Array, t: number) => Promise<Float64Array>,
  step = 1e-4,
): JacobianProductFn {
  if (!(step > 0)) throw new ConfigError(`finite-difference step must be positive, got ${step}`);
  return async (x, t, v) => {
    const plus = Float64Array.from(x, (xi, i) => xi + step * v[i]);
    const minus = Float64Array.from(x, (xi, i) => xi - step * v[i]);
    const fPlus = await field(plus, t);
    const fMinus = await field(minus, t);
    return Float64Array.from(fPlus, (fp, i) => (fp - fMinus[i]) / (2 * step));
  };
}

/** ∇·F = Σ_j (J e_j)_j for every sample, with d products (one per coordinate, whole batch at once). */
export async function exactDivergence(
  product: JacobianProductFn,
  x: Float64Array,
  t: number,
  dim: number,
): Promise<Float64Array> {
  const batch = x.length / dim;
  const out = new Float64Array(batch);
  const basis = new Float64Array(x.length);
  for (let j = 0; j < dim; j++) {
    basis.fill(0);
    for (let b = 0; b < batch; b++) basis[b * dim + j] = 1;
    const column = await product(x, t, basis);
    for (let b = 0; b < batch; b++) out[b] += column[b * dim + j];
  }
  return out;
}

/** Hutchinson's estimate vᵀJv per sample (unbiased for E[vvᵀ] = I), one product for the whole batch. */
export async function hutchinsonDivergence(
  product: JacobianProductFn,
  x: Float64Array,
  t: number,
  dim: number,
  probes: Float64Array,
): Promise<Float64Array> {
  const jv = await product(x, t, probes);
  const batch = x.length / dim;
  const out = new Float64Array(batch);
  for (let i = 0; i < x.length; i++) out[Math.floor(i / dim)] += probes[i] * jv[i];
  return out;
}

/** Probe vectors with E[vvᵀ] = I: Rademacher ±1 (lower variance) or standard normal. */
export function probeVectors(distribution: ProbeDistribution, count: number, random: Random): Float64Array {
  if (distribution === 'gaussian') return random.fillNormal(new Float64Array(count));
  if (distribution === 'rademacher')
    return Float64Array.from({ length: count }, () => (random.uniform() < 0.5 ? -1 : 1));
  throw unknownChoice('probe distribution', distribution, PROBE_DISTRIBUTIONS);
}

export interface LikelihoodRequest {
  sde: Sde;
  score: ScoreFn;
  /** Data points in the model's space, flat [batch, dim] (for 8-bit images, see `dequantize8Bit`). */
  data: FloatArray;
  /** Start time ε of the integration (default `defaultEndTime(sde)`); the result is log p_ε. */
  eps?: number;
  dim: number;
  /** 'exact' (default for dim ≤ EXACT_DIVERGENCE_MAX_DIM) or 'hutchinson'. */
  estimator?: DivergenceEstimator;
  /** Hutchinson probe distribution (default 'rademacher'). */
  probe?: ProbeDistribution;
  /** Seeded generator for the Hutchinson probes (required for that estimator). */
  random?: Random;
  /** Jacobian products of the drift (e.g. from the engine's VJP); default central differences. */
  jacobianProduct?: JacobianProductFn;
  /** Step h of the default finite-difference products (default 1e-4; float32 networks want ~1e-3). */
  finiteDifferenceStep?: number;
  rtol?: number;
  atol?: number;
}

export interface LikelihoodResult {
  /** log p_ε(x) per sample, in nats, in the space of `data`. */
  logLikelihood: Float64Array;
  /** log p_1(x(1)) under the N(0, priorStd²·I) prior. */
  priorLogProb: Float64Array;
  /** ∫_ε^1 ∇·F dt per sample. */
  deltaLogProb: Float64Array;
  /** Score-model evaluations spent (drift and divergence together). */
  nfe: number;
  /** Accepted steps of the adaptive ODE solver. */
  odeSteps: number;
  estimator: DivergenceEstimator;
}

function validate(request: LikelihoodRequest): DivergenceEstimator {
  const { data, dim } = request;
  if (!Number.isInteger(dim) || dim < 1 || data.length === 0 || data.length % dim !== 0) {
    throw new ShapeError(
      `likelihood data of ${data.length} values is not a non-empty batch of ${dim}-vectors`,
    );
  }
  const estimator = request.estimator ?? (dim <= EXACT_DIVERGENCE_MAX_DIM ? 'exact' : 'hutchinson');
  if (!DIVERGENCE_ESTIMATORS.includes(estimator)) {
    throw unknownChoice('divergence estimator', estimator, DIVERGENCE_ESTIMATORS);
  }
  if (estimator === 'hutchinson' && !request.random) {
    throw new UsageError('the Hutchinson divergence estimator needs a seeded random generator', {
      hint: 'pass random: new Random(seed)',
    });
  }
  return estimator;
}

/** Log-likelihood of each data point by the probability-flow ODE (see the module header). */
export async function logLikelihood(request: LikelihoodRequest): Promise<LikelihoodResult> {
  const estimator = validate(request);
  const { sde, dim, rtol = 1e-5, atol = 1e-5 } = request;
  const x0 = Float64Array.from(request.data);
  const size = x0.length;
  const batch = size / dim;
  let nfe = 0;
  const countedScore: ScoreFn = (x, t) => {
    nfe++;
    return request.score(x, t);
  };
  const drift = probabilityFlowDrift(sde, countedScore);
  const field = (x: Float64Array, t: number) => drift(t, x);
  const product = request.jacobianProduct ?? finiteDifferenceProduct(field, request.finiteDifferenceStep);
  // Song et al. draw one probe per sample and hold it fixed over time, so the integrand stays smooth
  // for the adaptive solver.
  const probes =
    estimator === 'hutchinson'
      ? probeVectors(request.probe ?? 'rademacher', size, request.random!)
      : undefined;
  const divergence = (x: Float64Array, t: number) =>
    probes ? hutchinsonDivergence(product, x, t, dim, probes) : exactDivergence(product, x, t, dim);
  // Augmented state [x (batch·dim), ∫∇·F (batch)].
  const augmented = async (t: number, state: Float64Array) => {
    const x = state.subarray(0, size);
    const out = new Float64Array(size + batch);
    out.set(await field(Float64Array.from(x), t), 0);
    out.set(await divergence(Float64Array.from(x), t), size);
    return out;
  };
  const start = new Float64Array(size + batch);
  start.set(x0, 0);
  const eps = checkEndTime(request.eps ?? defaultEndTime(sde));
  const solution = await solveOde(augmented, start, eps, 1, { rtol, atol });
  const xT = solution.y.slice(0, size);
  const deltaLogProb = solution.y.slice(size);
  const prior = Float64Array.from({ length: batch }, (_, b) =>
    priorLogProb(sde, xT.subarray(b * dim, (b + 1) * dim)),
  );
  return {
    logLikelihood: Float64Array.from(prior, (p, b) => p + deltaLogProb[b]),
    priorLogProb: prior,
    deltaLogProb,
    nfe,
    odeSteps: solution.acceptedSteps,
    estimator,
  };
}

/** Scale from 8-bit pixel units to the model's [−1, 1] range (bin width 2/255). */
export const PIXEL_SCALE = 127.5;

/** Dequantised model-space values y = (v + u)/127.5 − 1, u ~ U[−½, ½) per value (see the header). */
export function dequantize8Bit(values: Uint8Array | readonly number[], random: Random): Float64Array {
  return Float64Array.from(values, (v) => (v + random.uniform() - 0.5) / PIXEL_SCALE - 1);
}

/** Bits per dimension of dequantised 8-bit data from a model-space log-likelihood in nats. */
export function bitsPerDim(logLikelihoodNats: number, dim: number): number {
  return (-logLikelihoodNats + dim * Math.log(PIXEL_SCALE)) / (dim * Math.LN2);
}
