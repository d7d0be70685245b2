/**
 * The DDPM forward (noising) process of Ho et al. 2020 over flat batches: one transition
 * q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I), the closed form q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I)
 * (`addNoise`, eq. 4), the velocity target of Salimans & Ho 2022, and the posterior
 * q(x_{t−1} | x_t, x₀) = N(μ̃_t, β̃_t I) (eqs. 6–7). Timesteps are 0-based as in diffusers: timestep t uses
 * β_t, and "x_{−1}" is the clean sample x₀, so ᾱ_{−1} = 1.
 *
 * A batch is a flat array whose first axis is the batch: `timesteps[b]` applies to the b-th contiguous
 * block of `length / batch` values. Functions return a new array of the input's float type and draw no
 * random numbers: the caller passes the noise, so results are reproducible and testable.
 */
import { ShapeError, UsageError } from '../util/errors.js';
import type { DiscreteSchedule } from './schedules.js';

export type FloatArray = Float32Array | Float64Array;

/** A zeroed array of the same float type as `like` (and its length unless given). */
export function emptyLike<T extends FloatArray>(like: T, length: number = like.length): T {
  return (like instanceof Float32Array ? new Float32Array(length) : new Float64Array(length)) as T;
}

/** Values per batch element, or a ShapeError when the flat array does not split into `batch` equal parts. */
export function elementsPerExample(values: FloatArray, batch: number, name: string): number {
  if (!Number.isInteger(batch) || batch < 1) {
    throw new ShapeError(`${name}: batch size must be a positive integer, got ${batch}`);
  }
  if (values.length % batch !== 0 || values.length === 0) {
    throw new ShapeError(`${name} has ${values.length} values, which does not split into ${batch} examples`, {
      hint: 'pass one timestep per batch element',
    });
  }
  return values.length / batch;
}

/** Throws unless every array has the length of the first (inputs that are combined elementwise). */
export function checkSameLength(arrays: Record<string, FloatArray>): void {
  const entries = Object.entries(arrays);
  const [firstName, first] = entries[0];
  for (const [name, array] of entries.slice(1)) {
    if (array.length !== first.length) {
      throw new ShapeError(`${name} has ${array.length} values but ${firstName} has ${first.length}`);
    }
  }
}

/** The schedule index of a timestep, or a UsageError naming the valid range. */
export function timestepIndex(timestep: number, numTrainTimesteps: number): number {
  if (!Number.isInteger(timestep) || timestep < 0 || timestep >= numTrainTimesteps) {
    throw new UsageError(`timestep ${timestep} is outside the schedule`, {
      hint: `use integers 0..${numTrainTimesteps - 1}`,
    });
  }
  return timestep;
}

/**
 * out[b·n + i] = a[b] · x[b·n + i] + c[b] · y[b·n + i]: the per-example affine combination every function
 * here reduces to, with `a`, `c` given per batch element.
 */
export function combinePerExample<T extends FloatArray>(
  x: T,
  y: FloatArray,
  xScale: ArrayLike<number>,
  yScale: ArrayLike<number>,
): T {
  const perExample = elementsPerExample(x, xScale.length, 'input');
  checkSameLength({ first: x, second: y });
  const out = emptyLike(x);
  for (let b = 0; b < xScale.length; b++) {
    const a = xScale[b];
    const c = yScale[b];
    for (let i = b * perExample; i < (b + 1) * perExample; i++) out[i] = a * x[i] + c * y[i];
  }
  return out;
}

/** Mean scale and standard deviation of q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I). */
export function marginalScales(timestep: number, alphasCumprod: Float64Array): { mean: number; std: number } {
  const alphaBar = alphasCumprod[timestepIndex(timestep, alphasCumprod.length)];
  return { mean: Math.sqrt(alphaBar), std: Math.sqrt(1 - alphaBar) };
}

/** Mean scale and variance of one transition q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I). */
export function transitionScales(timestep: number, betas: Float64Array): { mean: number; variance: number } {
  const beta = betas[timestepIndex(timestep, betas.length)];
  return { mean: Math.sqrt(1 - beta), variance: beta };
}

/** x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε, one timestep per batch element (diffusers' `add_noise`). */
export function addNoise<T extends FloatArray>(
  x0: T,
  noise: FloatArray,
  timesteps: ArrayLike<number>,
  alphasCumprod: Float64Array,
): T {
  const scales = Array.from(timesteps, (t) => marginalScales(t, alphasCumprod));
  return combinePerExample(
    x0,
    noise,
    scales.map((s) => s.mean),
    scales.map((s) => s.std),
  );
}

/** v = √ᾱ_t ε − √(1−ᾱ_t) x₀ (Salimans & Ho 2022, §4; diffusers' `get_velocity`). */
export function velocity<T extends FloatArray>(
  x0: T,
  noise: FloatArray,
  timesteps: ArrayLike<number>,
  alphasCumprod: Float64Array,
): T {
  const scales = Array.from(timesteps, (t) => marginalScales(t, alphasCumprod));
  return combinePerExample(
    x0,
    noise,
    scales.map((s) => -s.std),
    scales.map((s) => s.mean),
  );
}

/** One forward step x_t = √(1−β_t) x_{t−1} + √β_t ε (Ho et al. eq. 2), per batch element. */
export function forwardStep<T extends FloatArray>(
  previous: T,
  noise: FloatArray,
  timesteps: ArrayLike<number>,
  betas: Float64Array,
): T {
  const scales = Array.from(timesteps, (t) => transitionScales(t, betas));
  return combinePerExample(
    previous,
    noise,
    scales.map((s) => s.mean),
    scales.map((s) => Math.sqrt(s.variance)),
  );
}

/**
 * The posterior q(x_{t−1} | x_t, x₀) = N(c₀ x₀ + c_t x_t, β̃_t I) for every timestep (Ho et al. eq. 7):
 * c₀ = √ᾱ_{t−1} β_t / (1 − ᾱ_t), c_t = √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), β̃_t = (1 − ᾱ_{t−1}) β_t / (1 − ᾱ_t).
 * β_t is taken as 1 − ᾱ_t / ᾱ_{t−1} (as diffusers' DDPM step does), not from the stored betas: ᾱ is stored
 * in float32, and only betas consistent with it make the posterior the exact Bayes inverse of the closed
 * form the model was trained with. At t = 0 the posterior is the point mass at x₀ (c₀ = 1, c_t = 0, β̃ = 0);
 * `logVarianceClipped` replaces that log 0 by log β̃_1, as improved DDPM does, so a learned variance always
 * has a finite lower end.
 */
export interface PosteriorTable {
  /** β_t = 1 − ᾱ_t / ᾱ_{t−1} (β_0 = 1 − ᾱ_0). */
  betas: Float64Array;
  meanCoefX0: Float64Array;
  meanCoefXt: Float64Array;
  variance: Float64Array;
  logVarianceClipped: Float64Array;
}

export function posteriorTable(schedule: Pick<DiscreteSchedule, 'alphasCumprod'>): PosteriorTable {
  const { alphasCumprod } = schedule;
  const T = alphasCumprod.length;
  if (T === 0) throw new ShapeError('posteriorTable needs a schedule with at least one timestep');
  const table: PosteriorTable = {
    betas: new Float64Array(T),
    meanCoefX0: new Float64Array(T),
    meanCoefXt: new Float64Array(T),
    variance: new Float64Array(T),
    logVarianceClipped: new Float64Array(T),
  };
  for (let t = 0; t < T; t++) {
    const previous = t === 0 ? 1 : alphasCumprod[t - 1];
    const beta = previous === 0 ? 1 : 1 - alphasCumprod[t] / previous;
    const oneMinus = 1 - alphasCumprod[t];
    table.betas[t] = beta;
    if (t === 0 || oneMinus === 0) {
      // ᾱ_{t−1} = 1 (t = 0) or a noiseless step: x_{t−1} is x₀ itself.
      table.meanCoefX0[t] = 1;
      continue;
    }
    table.meanCoefX0[t] = (Math.sqrt(previous) * beta) / oneMinus;
    table.meanCoefXt[t] = (Math.sqrt(1 - beta) * (1 - previous)) / oneMinus;
    table.variance[t] = ((1 - previous) * beta) / oneMinus;
  }
  const floor = T > 1 ? table.variance[1] : table.betas[0];
  for (let t = 0; t < T; t++) table.logVarianceClipped[t] = Math.log(t === 0 ? floor : table.variance[t]);
  return table;
}

/** μ̃_t(x_t, x₀) = c₀ x₀ + c_t x_t (Ho et al. eq. 7), one timestep per batch element. */
export function posteriorMean<T extends FloatArray>(
  x0: T,
  xt: FloatArray,
  timesteps: ArrayLike<number>,
  table: PosteriorTable,
): T {
  const T = table.variance.length;
  const indices = Array.from(timesteps, (t) => timestepIndex(t, T));
  return combinePerExample(
    x0,
    xt,
    indices.map((t) => table.meanCoefX0[t]),
    indices.map((t) => table.meanCoefXt[t]),
  );
}
