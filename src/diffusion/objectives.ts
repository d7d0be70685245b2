/**
 * Training objectives of diffusion models as plain-number reference functions: the regression target of
 * each parameterisation (ε, x₀, v), per-example loss weights (min-SNR-γ, EDM's λ(σ)), offset noise, the
 * choice of timesteps (uniform, or importance-sampled from a history of per-t losses), and the true
 * variational bound for models with learned variances (Gaussian KL terms, the discretised Gaussian decoder
 * L₀, the prior term L_T, all in bits per dimension) with the hybrid loss of improved DDPM.
 *
 * These functions are the oracle for the engine graphs that training compiles: each is written as the
 * formula it implements, in float64, with the equation cited, and nothing here calls a network except
 * `variationalBoundBpd`, which takes the model as a callback. Randomness comes only from a passed `Random`.
 */
import { NumericError, UsageError, unknownChoice, ConfigError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import {
  addNoise,
  checkSameLength,
  elementsPerExample,
  timestepIndex,
  velocity,
  posteriorMean,
  posteriorTable,
  type FloatArray,
  type PosteriorTable,
} from './forward.js';
import type { DiscreteSchedule } from './schedules.js';
import type { PredictionType } from './samplers/types.js';

const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'sample', 'v_prediction'];

// ─── Targets and weights ────────────────────────────────────────────────────────────────────────────

/**
 * What the network regresses onto for x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε: ε itself ('epsilon', L_simple of Ho et
 * al. eq. 14), x₀ ('sample') or v = √ᾱ_t ε − √(1−ᾱ_t) x₀ ('v_prediction', Salimans & Ho 2022).
 */
export function trainingTarget<T extends FloatArray>(
  objective: PredictionType,
  x0: T,
  noise: T,
  timesteps: ArrayLike<number>,
  alphasCumprod: Float64Array,
): T {
  checkSameLength({ x0, noise });
  elementsPerExample(x0, timesteps.length, 'x0');
  for (const t of Array.from(timesteps)) timestepIndex(t, alphasCumprod.length);
  switch (objective) {
    case 'epsilon':
      return noise.slice() as T;
    case 'sample':
      return x0.slice() as T;
    case 'v_prediction':
      return velocity(x0, noise, timesteps, alphasCumprod);
    default:
      throw unknownChoice('prediction type', String(objective), PREDICTION_TYPES);
  }
}

/** SNR(t) = ᾱ_t / (1 − ᾱ_t) for each timestep of the batch. */
export function snrAtTimesteps(timesteps: ArrayLike<number>, alphasCumprod: Float64Array): Float64Array {
  return Float64Array.from(timesteps, (t) => {
    const alphaBar = alphasCumprod[timestepIndex(t, alphasCumprod.length)];
    return alphaBar / (1 - alphaBar);
  });
}

/**
 * Min-SNR-γ loss weights (Hang et al. 2023, eq. 9 and §3.4): the x₀-space weight min(SNR, γ), expressed for
 * the loss of each parameterisation. Since ‖x₀ − x̂₀‖² = SNR⁻¹ ‖ε − ε̂‖² = (SNR + 1)⁻¹ ‖v − v̂‖², the weight on
 * the ε-MSE is min(SNR, γ) / SNR, on the x₀-MSE min(SNR, γ), on the v-MSE min(SNR, γ) / (SNR + 1).
 * γ = 5 is the paper's default. The ε weight is written as min(1, γ / SNR) so that SNR = 0 (a zero-terminal-SNR
 * schedule's last step) gives its limit 1 rather than 0 / 0.
 */
export function minSnrWeights(
  snr: ArrayLike<number>,
  gamma: number,
  objective: PredictionType,
): Float64Array {
  if (!(gamma > 0))
    throw new ConfigError(`min-SNR gamma must be positive, got ${gamma}`, { hint: 'the paper uses 5' });
  return Float64Array.from(snr, (s) => {
    if (!(s >= 0)) throw new NumericError(`SNR must be ≥ 0, got ${s}`);
    switch (objective) {
      case 'epsilon':
        return Math.min(1, gamma / s);
      case 'sample':
        return Math.min(s, gamma);
      case 'v_prediction':
        return Math.min(s, gamma) / (s + 1);
      default:
        throw unknownChoice('prediction type', String(objective), PREDICTION_TYPES);
    }
  });
}

/** Mean of (prediction − target)² over each batch element's values. */
export function perExampleMse(prediction: FloatArray, target: FloatArray, batch: number): Float64Array {
  checkSameLength({ prediction, target });
  const n = elementsPerExample(prediction, batch, 'prediction');
  const out = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    let sum = 0;
    for (let i = b * n; i < (b + 1) * n; i++) sum += (prediction[i] - target[i]) ** 2;
    out[b] = sum / n;
  }
  return out;
}

/** (1/B) Σ_b w_b L_b: the batch loss from per-example losses and weights (weights 1 when omitted). */
export function weightedMean(losses: ArrayLike<number>, weights?: ArrayLike<number>): number {
  if (losses.length === 0) throw new UsageError('weightedMean needs at least one loss');
  if (weights && weights.length !== losses.length) {
    throw new UsageError(`got ${losses.length} losses but ${weights.length} weights`);
  }
  let sum = 0;
  for (let i = 0; i < losses.length; i++) sum += (weights ? weights[i] : 1) * losses[i];
  return sum / losses.length;
}

/**
 * Offset noise (Guttenberg 2023, "Diffusion with Offset Noise"): ε = n + strength · c, with n ~ N(0, I) per
 * value and c ~ N(0, 1) per (example, channel) shared over all spatial positions, so the model learns to
 * change an image's overall brightness. Layout [batch, channels, ...spatial], flattened. `strength` 0.1 is
 * the usual choice; 0 gives plain Gaussian noise.
 */
export function offsetNoise(
  rng: Random,
  shape: { batch: number; channels: number; spatialSize: number },
  strength: number,
): Float32Array {
  const { batch, channels, spatialSize } = shape;
  for (const [name, value] of Object.entries(shape)) {
    if (!Number.isInteger(value) || value < 1)
      throw new UsageError(`offset noise ${name} must be a positive integer, got ${value}`);
  }
  if (!(strength >= 0 && Number.isFinite(strength))) {
    throw new UsageError(`offset noise strength must be ≥ 0, got ${strength}`);
  }
  const out = new Float32Array(batch * channels * spatialSize);
  for (let plane = 0; plane < batch * channels; plane++) {
    const offset = strength * rng.normal();
    for (let i = plane * spatialSize; i < (plane + 1) * spatialSize; i++) out[i] = rng.normal() + offset;
  }
  return out;
}

/** EDM's loss weight λ(σ) = (σ² + σ_data²) / (σ σ_data)² (Karras et al. 2022, Table 1), which makes c_out² λ = 1. */
export function edmLossWeight(sigma: number, sigmaData = 0.5): number {
  if (!(sigma > 0)) throw new UsageError(`EDM loss weight needs sigma > 0, got ${sigma}`);
  return (sigma * sigma + sigmaData * sigmaData) / (sigma * sigmaData) ** 2;
}

/** EDM's training noise levels: ln σ ~ N(P_mean, P_std²), P_mean = −1.2, P_std = 1.2 (Table 1). */
export function sampleEdmSigmas(rng: Random, count: number, pMean = -1.2, pStd = 1.2): Float64Array {
  if (!Number.isInteger(count) || count < 0) throw new UsageError(`sigma count must be ≥ 0, got ${count}`);
  return Float64Array.from({ length: count }, () => Math.exp(pMean + pStd * rng.normal()));
}

// ─── Choosing timesteps ─────────────────────────────────────────────────────────────────────────────

/**
 * A batch of training timesteps and the weight that makes the weighted loss an unbiased estimate of the
 * uniform-t average: E_p[w(t) L_t] = (1/T) Σ_t L_t with w(t) = 1 / (T p(t)).
 */
export interface TimestepBatch {
  timesteps: Int32Array;
  weights: Float64Array;
}

export interface TimestepSampler {
  /** p(t) for t = 0..T−1. */
  probabilities(): Float64Array;
  sample(rng: Random, batch: number): TimestepBatch;
  /** Records the per-example losses observed at these timesteps (ignored by the uniform sampler). */
  update(timesteps: ArrayLike<number>, losses: ArrayLike<number>): void;
}

/** Draws `batch` indices from a categorical distribution and returns them with weights 1 / (T p(t)). */
function sampleCategorical(rng: Random, probabilities: Float64Array, batch: number): TimestepBatch {
  if (!Number.isInteger(batch) || batch < 1)
    throw new UsageError(`batch size must be a positive integer, got ${batch}`);
  const T = probabilities.length;
  const cumulative = new Float64Array(T);
  let total = 0;
  for (let t = 0; t < T; t++) cumulative[t] = total += probabilities[t];
  const timesteps = new Int32Array(batch);
  const weights = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    const u = rng.uniform() * total;
    let low = 0;
    let high = T - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (cumulative[mid] > u) high = mid;
      else low = mid + 1;
    }
    timesteps[b] = low;
    weights[b] = total / (T * probabilities[low]);
  }
  return { timesteps, weights };
}

/** t ~ Uniform{0..T−1} with weight 1 (Ho et al. Algorithm 1). */
export class UniformTimestepSampler implements TimestepSampler {
  constructor(readonly numTrainTimesteps: number) {
    if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 1) {
      throw new ConfigError(`num_train_timesteps must be a positive integer, got ${numTrainTimesteps}`);
    }
  }

  probabilities(): Float64Array {
    return new Float64Array(this.numTrainTimesteps).fill(1 / this.numTrainTimesteps);
  }

  sample(rng: Random, batch: number): TimestepBatch {
    if (!Number.isInteger(batch) || batch < 1)
      throw new UsageError(`batch size must be a positive integer, got ${batch}`);
    const timesteps = Int32Array.from({ length: batch }, () => rng.int(this.numTrainTimesteps));
    return { timesteps, weights: new Float64Array(batch).fill(1) };
  }

  update(): void {}
}

/** The checkpointable state of a `LossAwareTimestepSampler`. */
export interface LossAwareSamplerState {
  historyLength: number;
  uniformProbability: number;
  /** Per timestep, its most recent losses, oldest first (at most historyLength). */
  history: number[][];
}

/**
 * Importance sampling of t (Nichol & Dhariwal 2021, §3.3, eq. 18; `LossSecondMomentResampler` of
 * improved-diffusion): p(t) ∝ √E[L_t²] estimated from the last `historyLength` losses seen at each t, mixed
 * with a little of the uniform distribution so no t starves. Until every t has a full history it samples
 * uniformly. Weights 1 / (T p(t)) keep the weighted loss an unbiased estimate of the uniform average, which
 * lowers the variance of L_vlb's gradient.
 */
export class LossAwareTimestepSampler implements TimestepSampler {
  private readonly history: number[][];

  constructor(
    readonly numTrainTimesteps: number,
    /** Losses kept per timestep (the paper: 10). */
    readonly historyLength = 10,
    /** Mass spread uniformly over all t once warmed up (improved-diffusion: 0.001). */
    readonly uniformProbability = 0.001,
  ) {
    if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 1) {
      throw new ConfigError(`num_train_timesteps must be a positive integer, got ${numTrainTimesteps}`);
    }
    if (!Number.isInteger(historyLength) || historyLength < 1) {
      throw new ConfigError(`loss history length must be a positive integer, got ${historyLength}`);
    }
    if (!(uniformProbability >= 0 && uniformProbability <= 1)) {
      throw new ConfigError(`uniform probability must lie in [0, 1], got ${uniformProbability}`);
    }
    this.history = Array.from({ length: numTrainTimesteps }, () => []);
  }

  static fromState(state: LossAwareSamplerState): LossAwareTimestepSampler {
    const sampler = new LossAwareTimestepSampler(
      state.history.length,
      state.historyLength,
      state.uniformProbability,
    );
    state.history.forEach((losses, t) => sampler.update(new Array(losses.length).fill(t), losses));
    return sampler;
  }

  state(): LossAwareSamplerState {
    return {
      historyLength: this.historyLength,
      uniformProbability: this.uniformProbability,
      history: this.history.map((losses) => losses.slice()),
    };
  }

  /** True once every timestep has `historyLength` recorded losses. */
  warmedUp(): boolean {
    return this.history.every((losses) => losses.length === this.historyLength);
  }

  probabilities(): Float64Array {
    const T = this.numTrainTimesteps;
    if (!this.warmedUp()) return new Float64Array(T).fill(1 / T);
    const rms = Float64Array.from(this.history, (losses) =>
      Math.sqrt(losses.reduce((sum, l) => sum + l * l, 0) / losses.length),
    );
    const total = rms.reduce((a, b) => a + b, 0);
    if (!(total > 0)) return new Float64Array(T).fill(1 / T);
    return rms.map((r) => (r / total) * (1 - this.uniformProbability) + this.uniformProbability / T);
  }

  sample(rng: Random, batch: number): TimestepBatch {
    return sampleCategorical(rng, this.probabilities(), batch);
  }

  update(timesteps: ArrayLike<number>, losses: ArrayLike<number>): void {
    if (timesteps.length !== losses.length) {
      throw new UsageError(`got ${timesteps.length} timesteps but ${losses.length} losses`);
    }
    for (let i = 0; i < timesteps.length; i++) {
      const t = timestepIndex(timesteps[i], this.numTrainTimesteps);
      if (!Number.isFinite(losses[i])) {
        throw new NumericError(`loss at timestep ${t} is ${losses[i]}`, {
          hint: 'lower the learning rate or clip gradients',
        });
      }
      const record = this.history[t];
      if (record.length === this.historyLength) record.shift();
      record.push(losses[i]);
    }
  }
}

// ─── The variational bound ──────────────────────────────────────────────────────────────────────────

/**
 * KL(N(μ₁, e^{ℓ₁}) ‖ N(μ₂, e^{ℓ₂})) per dimension in nats, with log-variances ℓ:
 * ½ (−1 + ℓ₂ − ℓ₁ + e^{ℓ₁−ℓ₂} + (μ₁ − μ₂)² e^{−ℓ₂}).
 */
export function normalKl(mean1: number, logVariance1: number, mean2: number, logVariance2: number): number {
  return (
    0.5 *
    (-1 +
      logVariance2 -
      logVariance1 +
      Math.exp(logVariance1 - logVariance2) +
      (mean1 - mean2) ** 2 * Math.exp(-logVariance2))
  );
}

/**
 * Φ(x) ≈ ½ (1 + tanh(√(2/π) (x + 0.044715 x³))), the approximation improved-diffusion and guided-diffusion
 * use for the decoder likelihood (absolute error below 1.8e-4), kept so that bits/dim match theirs and so
 * that the same formula is one tanh in an engine graph.
 */
export function approxStandardNormalCdf(x: number): number {
  return 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** Half the width of one 8-bit bin on data scaled to [−1, 1]. */
const HALF_BIN = 1 / 255;
/** Floor on probabilities before the log, as improved-diffusion (avoids log 0 far in the tails). */
const PROBABILITY_FLOOR = 1e-12;

/**
 * log P(x) of an 8-bit value x ∈ {−1, −1 + 2/255, …, 1} under N(mean, e^{2·logScale}) discretised into 256 bins
 * (Ho et al. 2020, eq. 13): the Gaussian mass of [x − 1/255, x + 1/255], with the outermost bins extended to
 * −∞ and +∞ so that the 256 probabilities sum to 1.
 */
export function discretizedGaussianLogLikelihood(x: number, mean: number, logScale: number): number {
  const inverseStd = Math.exp(-logScale);
  const cdfPlus = approxStandardNormalCdf(inverseStd * (x - mean + HALF_BIN));
  const cdfMinus = approxStandardNormalCdf(inverseStd * (x - mean - HALF_BIN));
  if (x < -0.999) return Math.log(Math.max(cdfPlus, PROBABILITY_FLOOR));
  if (x > 0.999) return Math.log(Math.max(1 - cdfMinus, PROBABILITY_FLOOR));
  return Math.log(Math.max(cdfPlus - cdfMinus, PROBABILITY_FLOOR));
}

/**
 * The learned variance of improved DDPM (eq. 15): the network outputs v ∈ [−1, 1] per value and
 * Σ_θ = exp(f log β_t + (1 − f) log β̃_t) with f = (v + 1) / 2, interpolating between the two fixed choices.
 * Returns the log-variance, one timestep per batch element.
 */
export function learnedRangeLogVariance<T extends FloatArray>(
  modelVarianceValues: T,
  timesteps: ArrayLike<number>,
  schedule: DiscreteSchedule,
  table: PosteriorTable = posteriorTable(schedule),
): T {
  const n = elementsPerExample(modelVarianceValues, timesteps.length, 'model variance values');
  const out = modelVarianceValues.slice() as T;
  for (let b = 0; b < timesteps.length; b++) {
    const t = timestepIndex(timesteps[b], table.betas.length);
    const maxLog = Math.log(table.betas[t]);
    const minLog = table.logVarianceClipped[t];
    for (let i = b * n; i < (b + 1) * n; i++) {
      const fraction = (modelVarianceValues[i] + 1) / 2;
      out[i] = fraction * maxLog + (1 - fraction) * minLog;
    }
  }
  return out;
}

/** The inputs of one bound term per batch element: the data, its noisy version, and the model's p(x_{t−1} | x_t). */
export interface VlbTermInputs {
  /** Clean data scaled to [−1, 1] (8-bit values for a meaningful L₀). */
  x0: FloatArray;
  xt: FloatArray;
  timesteps: ArrayLike<number>;
  /** Mean of p_θ(x_{t−1} | x_t). */
  modelMean: FloatArray;
  /** Log-variance of p_θ(x_{t−1} | x_t), per value. */
  modelLogVariance: FloatArray;
  schedule: DiscreteSchedule;
  table?: PosteriorTable;
}

/**
 * One term of the variational bound per batch element, in bits per dimension (Ho et al. eq. 5; improved
 * DDPM's `_vb_terms_bpd`): for t > 0, L_{t−1} = KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)) with the clipped
 * posterior log-variance; for t = 0, the decoder term L₀ = −log p_θ(x₀ | x₁) under the discretised Gaussian.
 * Each is averaged over the dimensions of the example and divided by ln 2.
 */
export function vlbTermsBpd(inputs: VlbTermInputs): Float64Array {
  const { x0, xt, timesteps, modelMean, modelLogVariance, schedule } = inputs;
  const table = inputs.table ?? posteriorTable(schedule);
  checkSameLength({ x0, xt, modelMean, modelLogVariance });
  const batch = timesteps.length;
  const n = elementsPerExample(x0, batch, 'x0');
  const trueMean = posteriorMean(x0, xt, timesteps, table);
  const out = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    const t = timestepIndex(timesteps[b], table.betas.length);
    let sum = 0;
    for (let i = b * n; i < (b + 1) * n; i++) {
      sum +=
        t === 0
          ? -discretizedGaussianLogLikelihood(x0[i], modelMean[i], 0.5 * modelLogVariance[i])
          : normalKl(trueMean[i], table.logVarianceClipped[t], modelMean[i], modelLogVariance[i]);
    }
    out[b] = sum / n / Math.LN2;
  }
  return out;
}

/** The prior term L_T = KL(q(x_T | x₀) ‖ N(0, I)) per batch element in bits/dim (improved DDPM's `_prior_bpd`). */
export function priorBpd(x0: FloatArray, batch: number, alphasCumprod: Float64Array): Float64Array {
  const n = elementsPerExample(x0, batch, 'x0');
  const last = alphasCumprod[alphasCumprod.length - 1];
  const meanScale = Math.sqrt(last);
  const logVariance = Math.log1p(-last);
  const out = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    let sum = 0;
    for (let i = b * n; i < (b + 1) * n; i++) sum += normalKl(meanScale * x0[i], logVariance, 0, 0);
    out[b] = sum / n / Math.LN2;
  }
  return out;
}

/**
 * The hybrid loss of improved DDPM (eq. 16) per batch element: L_simple + λ L_vlb with λ = 0.001. Here
 * L_vlb = Σ_t L_t is estimated from one term as T · L_t (t uniform), so the term's weight is λ T, as
 * improved-diffusion's `vb *= num_timesteps / 1000`. `vlbTermBpd` must be computed with the model mean
 * treated as a constant (stop-gradient), so L_vlb trains only the variance and L_simple the mean.
 */
export function hybridLoss(
  simpleMse: ArrayLike<number>,
  vlbTermBpd: ArrayLike<number>,
  numTrainTimesteps: number,
  lambda = 0.001,
): Float64Array {
  if (simpleMse.length !== vlbTermBpd.length) {
    throw new UsageError(`got ${simpleMse.length} MSE values but ${vlbTermBpd.length} bound terms`);
  }
  return Float64Array.from(simpleMse, (mse, b) => mse + lambda * numTrainTimesteps * vlbTermBpd[b]);
}

/**
 * Weight that turns the ε-MSE into the bound term L_{t−1} for a fixed variance Σ_t (Ho et al. eq. 12):
 * β_t² / (2 Σ_t α_t (1 − ᾱ_t)), times the number of dimensions when the MSE is a mean rather than a sum.
 */
export function vlbEpsilonWeight(timestep: number, schedule: DiscreteSchedule, variance: number): number {
  const { alphasCumprod } = schedule;
  const t = timestepIndex(timestep, alphasCumprod.length);
  if (!(variance > 0)) throw new UsageError(`the reverse-step variance must be positive, got ${variance}`);
  // β_t from the ᾱ ratio, consistent with `posteriorTable`.
  const beta = 1 - alphasCumprod[t] / (t === 0 ? 1 : alphasCumprod[t - 1]);
  return (beta * beta) / (2 * variance * (1 - beta) * (1 - alphasCumprod[t]));
}

/** The model's p_θ(x_{t−1} | x_t) for a batch at one timestep each, as `variationalBoundBpd` asks for it. */
export type ReverseMomentsFn = (
  xt: Float32Array,
  timesteps: Int32Array,
) => Promise<{ mean: FloatArray; logVariance: FloatArray }>;

/** The full bound and its parts, each per batch element in bits/dim. */
export interface VariationalBound {
  /** L_T + Σ_t L_t: an upper bound on −log₂ p(x₀) per dimension. */
  total: Float64Array;
  prior: Float64Array;
  /** terms[t][b] = L_t of example b (t = 0 is the decoder term). */
  terms: Float64Array[];
}

/**
 * The complete variational bound (Ho et al. eq. 5; improved DDPM's `calc_bpd_loop`): for every t from T−1
 * down to 0, noise x₀ to x_t with fresh noise, ask the model for p_θ(x_{t−1} | x_t) and add the bound term;
 * then add the prior term. T model calls per batch: a reference for evaluation, not a training loss.
 */
export async function variationalBoundBpd(
  x0: Float32Array,
  batch: number,
  schedule: DiscreteSchedule,
  model: ReverseMomentsFn,
  rng: Random,
): Promise<VariationalBound> {
  elementsPerExample(x0, batch, 'x0');
  const table = posteriorTable(schedule);
  const T = schedule.alphasCumprod.length;
  const terms: Float64Array[] = new Array(T);
  const total = priorBpd(x0, batch, schedule.alphasCumprod);
  const prior = total.slice();
  for (let t = T - 1; t >= 0; t--) {
    const timesteps = new Int32Array(batch).fill(t);
    const xt = addNoise(x0, rng.normals(x0.length), timesteps, schedule.alphasCumprod);
    const { mean, logVariance } = await model(xt, timesteps);
    terms[t] = vlbTermsBpd({
      x0,
      xt,
      timesteps,
      modelMean: mean,
      modelLogVariance: logVariance,
      schedule,
      table,
    });
    for (let b = 0; b < batch; b++) total[b] += terms[t][b];
  }
  return { total, prior, terms };
}
