/**
 * Scores of probabilistic forecasts and the baselines they are compared with. CRPS from samples uses the
 * energy form CRPS(F, y) = E|X − y| − ½ E|X − X'| (Gneiting & Raftery 2007, eq. 21) with X, X' drawn
 * from the N forecast samples (both expectations over all pairs, i = j included, so a point mass scores
 * exactly its absolute error), computed in O(N log N) from the sorted samples:
 * Σ_{i,j} |x_i − x_j| = 2 Σ_k (2k − N + 1) x_(k). Scores are per point (window, channel, step) and
 * averaged per channel. MAE is that of the sample median; coverage is the fraction of true values inside
 * the central 80% interval [q0.1, q0.9]. Quantiles interpolate linearly between order statistics
 * (NumPy's default). Baselines: seasonal-naive (the value one period earlier, repeated), and a
 * least-squares line through the past window extrapolated over the horizon; as point forecasts (one
 * sample) their CRPS is their MAE.
 *
 * This module must not sample or read files; it only scores arrays.
 */
import { ShapeError, UsageError } from '../util/errors.js';

/** CRPS of the sample set against the observation y (energy form, see the module header). */
export function crps(samples: ArrayLike<number>, y: number): number {
  const n = samples.length;
  if (n === 0) throw new UsageError('CRPS needs at least one sample');
  const sorted = Float64Array.from(samples).sort();
  let absError = 0;
  let spread = 0;
  for (let k = 0; k < n; k++) {
    absError += Math.abs(sorted[k] - y);
    spread += (2 * k - n + 1) * sorted[k];
  }
  return absError / n - spread / (n * n);
}

/** The q-quantile (0 ≤ q ≤ 1) of ascending `sorted`, linear between order statistics. */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new UsageError('a quantile needs at least one value');
  if (!(q >= 0 && q <= 1)) throw new UsageError(`quantile level must lie in [0, 1], got ${q}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Per-channel averages over windows and steps. */
export interface ForecastScores {
  crps: number[];
  /** MAE of the median forecast. */
  mae: number[];
  /** Fraction of observations inside the central 80% interval (NaN for point forecasts). */
  coverage80: number[];
}

/**
 * Scores of forecasts `samples` [W, S, C, H] (S samples per window; S = 1 for a point forecast)
 * against `truth` [W, C, H].
 */
export function forecastScores(
  samples: ArrayLike<number>,
  truth: ArrayLike<number>,
  shape: { windows: number; samples: number; channels: number; horizon: number },
): ForecastScores {
  const { windows: W, samples: S, channels: C, horizon: H } = shape;
  if (samples.length !== W * S * C * H || truth.length !== W * C * H) {
    throw new ShapeError(
      `forecast scores: ${samples.length} samples and ${truth.length} observations do not fit [${W}, ${S}, ${C}, ${H}]`,
    );
  }
  const sums = { crps: new Float64Array(C), mae: new Float64Array(C), inside: new Float64Array(C) };
  const point = new Float64Array(S);
  for (let w = 0; w < W; w++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++) {
        for (let s = 0; s < S; s++) point[s] = samples[((w * S + s) * C + c) * H + h];
        const y = truth[(w * C + c) * H + h];
        point.sort();
        sums.crps[c] += crps(point, y);
        sums.mae[c] += Math.abs(quantileOfSorted(point, 0.5) - y);
        if (y >= quantileOfSorted(point, 0.1) && y <= quantileOfSorted(point, 0.9)) sums.inside[c] += 1;
      }
  const count = W * H;
  return {
    crps: Array.from(sums.crps, (v) => v / count),
    mae: Array.from(sums.mae, (v) => v / count),
    coverage80: Array.from(sums.inside, (v) => (S > 1 ? v / count : NaN)),
  };
}

/**
 * Seasonal-naive forecasts [W, C, H]: step h after origin o is the value at o + h − k·period, with k the
 * smallest count of periods that lands before the origin (the last observed season, repeated).
 */
export function seasonalNaiveForecasts(
  series: readonly Float64Array[],
  origins: ArrayLike<number>,
  horizon: number,
  period: number,
): Float64Array {
  if (!Number.isInteger(period) || period < 1)
    throw new UsageError(`season length must be a positive integer, got ${period}`);
  const C = series.length;
  const out = new Float64Array(origins.length * C * horizon);
  for (let w = 0; w < origins.length; w++) {
    const origin = origins[w];
    if (origin - period < 0) {
      throw new UsageError(
        `seasonal-naive with period ${period} needs ${period} rows before origin ${origin}`,
      );
    }
    for (let c = 0; c < C; c++)
      for (let h = 0; h < horizon; h++) {
        const back = period * Math.ceil((h + 1) / period);
        out[(w * C + c) * horizon + h] = series[c][origin + h - back];
      }
  }
  return out;
}

/** Least-squares line a + b·i through one past window's values (i = 0..P−1), extrapolated H steps. */
function lineForecast(
  past: ArrayLike<number>,
  from: number,
  length: number,
  horizon: number,
  out: Float64Array,
  at: number,
): void {
  const meanI = (length - 1) / 2;
  let meanY = 0;
  for (let i = 0; i < length; i++) meanY += past[from + i];
  meanY /= length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < length; i++) {
    sxy += (i - meanI) * (past[from + i] - meanY);
    sxx += (i - meanI) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  for (let h = 0; h < horizon; h++) out[at + h] = meanY + slope * (length + h - meanI);
}

/** Linear-trend forecasts [W, C, H] from the past windows [W, C, P] (least squares per window and channel). */
export function linearTrendForecasts(
  past: ArrayLike<number>,
  shape: { windows: number; channels: number; contextLength: number },
  horizon: number,
): Float64Array {
  const { windows: W, channels: C, contextLength: P } = shape;
  if (past.length !== W * C * P)
    throw new ShapeError(`${past.length} past values do not fit [${W}, ${C}, ${P}]`);
  const out = new Float64Array(W * C * horizon);
  for (let k = 0; k < W * C; k++) lineForecast(past, k * P, P, horizon, out, k * horizon);
  return out;
}
