import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  approxStandardNormalCdf,
  discretizedGaussianLogLikelihood,
  edmLossWeight,
  hybridLoss,
  learnedRangeLogVariance,
  LossAwareTimestepSampler,
  minSnrWeights,
  normalKl,
  offsetNoise,
  perExampleMse,
  priorBpd,
  sampleEdmSigmas,
  snrAtTimesteps,
  trainingTarget,
  UniformTimestepSampler,
  variationalBoundBpd,
  vlbEpsilonWeight,
  vlbTermsBpd,
  weightedMean,
} from '../../src/diffusion/objectives.js';
import { addNoise, posteriorMean, posteriorTable, velocity } from '../../src/diffusion/forward.js';
import { convertPrediction } from '../../src/diffusion/parameterization.js';
import { noiseLevelFromAlphaCumprod } from '../../src/diffusion/noise-levels.js';
import { edmPreconditioning } from '../../src/diffusion/parameterization.js';
import { discreteSchedule } from '../../src/diffusion/schedules.js';
import { Random } from '../../src/util/random.js';
import { NumericError, UsageError } from '../../src/util/errors.js';

const linear = discreteSchedule({
  betaSchedule: 'linear',
  numTrainTimesteps: 1000,
  betaStart: 1e-4,
  betaEnd: 0.02,
});

function close(actual: number, expected: number, tolerance: number, what: string) {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

/** A random batch of 8-bit-valued images scaled to [−1, 1]. */
function eightBitBatch(rng: Random, count: number): Float32Array {
  return Float32Array.from({ length: count }, () => (rng.int(256) / 255) * 2 - 1);
}

test('Gaussian KL: identical Gaussians give 0, hand-computed cases, and quadrature', () => {
  assert.equal(normalKl(0.3, Math.log(2), 0.3, Math.log(2)), 0);
  close(normalKl(0, 0, 1, 0), 0.5, 1e-15, 'KL(N(0,1) ‖ N(1,1))');
  // KL(N(1, 4) ‖ N(0, 1)) = ½(−1 + 0 − ln 4 + 4 + 1) = 2 − ln 2.
  close(normalKl(1, Math.log(4), 0, 0), 2 - Math.LN2, 1e-15, 'KL(N(1,4) ‖ N(0,1))');
  // ∫ p log(p/q) by the midpoint rule for p = N(−0.4, 0.3), q = N(0.5, 1.7).
  const [m1, v1, m2, v2] = [-0.4, 0.3, 0.5, 1.7];
  const logN = (x: number, m: number, v: number) => -0.5 * Math.log(2 * Math.PI * v) - (x - m) ** 2 / (2 * v);
  let integral = 0;
  const h = 1e-3;
  for (let x = -8; x < 8; x += h) {
    const mid = x + h / 2;
    integral += Math.exp(logN(mid, m1, v1)) * (logN(mid, m1, v1) - logN(mid, m2, v2)) * h;
  }
  close(normalKl(m1, Math.log(v1), m2, Math.log(v2)), integral, 1e-9, 'KL by quadrature');
});

test('the approximate normal CDF stays within 1.8e-4 of Φ', () => {
  const exact: [number, number][] = [
    [0, 0.5],
    [1, 0.8413447460685429],
    [-2, 0.022750131948179195],
    [-2.592, 0.004770000587],
    [3, 0.9986501019683699],
  ];
  for (const [x, phi] of exact) close(approxStandardNormalCdf(x), phi, 1.8e-4, `Φ(${x})`);
});

test('discretised Gaussian likelihood sums to 1 over all 256 bins', () => {
  for (const [mean, logScale] of [
    [0, Math.log(0.1)],
    [0.95, Math.log(0.02)],
    [-1.2, Math.log(0.5)],
    [0.3, Math.log(1e-3)],
    [0, Math.log(3)],
  ]) {
    let total = 0;
    for (let k = 0; k < 256; k++) {
      const p = Math.exp(discretizedGaussianLogLikelihood((k / 255) * 2 - 1, mean, logScale));
      assert.ok(p > 0 && p <= 1);
      total += p;
    }
    // Exactly 1 up to the 1e-12 floor on far-tail bins and rounding.
    close(total, 1, 1e-9, `sum over bins for mean ${mean}, scale ${Math.exp(logScale)}`);
  }
  // An interior bin by hand: mass of [x − 1/255, x + 1/255] under N(x, 0.01²).
  const x = 2 / 255 - 1 + 0.5;
  const expected = Math.log(approxStandardNormalCdf(100 / 255) - approxStandardNormalCdf(-100 / 255));
  close(discretizedGaussianLogLikelihood(x, x, Math.log(0.01)), expected, 1e-12, 'interior bin');
});

test('min-SNR-γ weights by hand for each prediction type', () => {
  const snr = [0, 0.5, 5, 20];
  assert.deepEqual(Array.from(minSnrWeights(snr, 5, 'epsilon')), [1, 1, 1, 0.25]);
  assert.deepEqual(Array.from(minSnrWeights(snr, 5, 'sample')), [0, 0.5, 5, 5]);
  const v = minSnrWeights(snr, 5, 'v_prediction');
  [0, 0.5 / 1.5, 5 / 6, 5 / 21].forEach((w, i) => close(v[i], w, 1e-15, `v weight ${i}`));
  assert.throws(() => minSnrWeights(snr, 0, 'epsilon'), /gamma/);
  const fromTimesteps = snrAtTimesteps([0, 999], linear.alphasCumprod);
  close(fromTimesteps[0], linear.alphasCumprod[0] / (1 - linear.alphasCumprod[0]), 1e-9, 'SNR(0)');
});

test('min-SNR weights express one loss in every parameterisation', () => {
  // For any network, w_ε ‖ε − ε̂‖² = w_x₀ ‖x₀ − x̂₀‖² = w_v ‖v − v̂‖² when the predictions are converted.
  const rng = new Random(21);
  const batch = 4;
  const n = 32;
  const timesteps = [3, 200, 600, 990];
  const x0 = rng.fillNormal(new Float64Array(batch * n));
  const noise = rng.fillNormal(new Float64Array(batch * n));
  const xt = addNoise(x0, noise, timesteps, linear.alphasCumprod);
  const epsHat = noise.map((e) => e + 0.3 * rng.normal());
  const levels = timesteps.map((t) => noiseLevelFromAlphaCumprod(linear.alphasCumprod[t]));
  const x0Hat = convertPrediction(epsHat, xt, 'epsilon', 'sample', levels);
  const vHat = convertPrediction(epsHat, xt, 'epsilon', 'v_prediction', levels);
  const snr = snrAtTimesteps(timesteps, linear.alphasCumprod);
  const lossEps = perExampleMse(
    epsHat,
    trainingTarget('epsilon', x0, noise, timesteps, linear.alphasCumprod),
    batch,
  );
  const lossX0 = perExampleMse(
    x0Hat,
    trainingTarget('sample', x0, noise, timesteps, linear.alphasCumprod),
    batch,
  );
  const lossV = perExampleMse(
    vHat,
    trainingTarget('v_prediction', x0, noise, timesteps, linear.alphasCumprod),
    batch,
  );
  const wEps = minSnrWeights(snr, 5, 'epsilon');
  const wX0 = minSnrWeights(snr, 5, 'sample');
  const wV = minSnrWeights(snr, 5, 'v_prediction');
  for (let b = 0; b < batch; b++) {
    const reference = wEps[b] * lossEps[b];
    close(wX0[b] * lossX0[b], reference, 1e-9 * reference, `x₀ form at t=${timesteps[b]}`);
    close(wV[b] * lossV[b], reference, 1e-9 * reference, `v form at t=${timesteps[b]}`);
  }
  close(
    weightedMean(lossEps, wEps),
    (wEps[0] * lossEps[0] + wEps[1] * lossEps[1] + wEps[2] * lossEps[2] + wEps[3] * lossEps[3]) / 4,
    1e-15,
    'batch mean',
  );
});

test('training targets are ε, x₀ and v', () => {
  const x0 = Float32Array.of(1, 2, 3, 4);
  const noise = Float32Array.of(-1, 0.5, 0, 2);
  const timesteps = [10, 700];
  assert.deepEqual(trainingTarget('epsilon', x0, noise, timesteps, linear.alphasCumprod), noise);
  assert.deepEqual(trainingTarget('sample', x0, noise, timesteps, linear.alphasCumprod), x0);
  assert.deepEqual(
    trainingTarget('v_prediction', x0, noise, timesteps, linear.alphasCumprod),
    velocity(x0, noise, timesteps, linear.alphasCumprod),
  );
  assert.throws(
    () => trainingTarget('flow' as never, x0, noise, timesteps, linear.alphasCumprod),
    /prediction type/,
  );
});

test('importance-sampled timesteps: p(t) ∝ √E[L²] and the 1/(T p) weights are unbiased', () => {
  // Probabilities by hand on T = 4 with two losses per timestep and no uniform mixing.
  const small = new LossAwareTimestepSampler(4, 2, 0);
  assert.deepEqual(Array.from(small.probabilities()), [0.25, 0.25, 0.25, 0.25]);
  small.update([0, 0, 1, 1, 2, 2, 3], [1, 1, 3, 4, 0, 0, 7]);
  assert.ok(!small.warmedUp());
  small.update([3, 3], [1, 7]); // keeps only the last two: [1, 7]
  const rms = [1, Math.sqrt(12.5), 0, 5];
  const total = rms.reduce((a, b) => a + b);
  small.probabilities().forEach((p, t) => close(p, rms[t] / total, 1e-15, `p(${t})`));

  // Unbiasedness on a synthetic per-t loss that varies by a factor of 200 over t.
  const T = 100;
  const meanLoss = (t: number) => 0.05 + 10 * Math.exp(-t / 8);
  const rng = new Random(99);
  const sampler = new LossAwareTimestepSampler(T, 10, 0.001);
  for (let t = 0; t < T; t++)
    for (let k = 0; k < 10; k++) sampler.update([t], [meanLoss(t) * (0.8 + 0.4 * rng.uniform())]);
  assert.ok(sampler.warmedUp());
  let uniformAverage = 0;
  for (let t = 0; t < T; t++) uniformAverage += meanLoss(t) / T;
  const batches = 4000;
  const estimates: number[] = [];
  const counts = new Float64Array(T);
  for (let i = 0; i < batches; i++) {
    const { timesteps, weights } = sampler.sample(rng, 8);
    timesteps.forEach((t, b) => {
      counts[t]++;
      close(weights[b], 1 / (T * sampler.probabilities()[t]), 1e-12, 'weight');
    });
    estimates.push(weightedMean(Array.from(timesteps, meanLoss), weights));
  }
  const mean = estimates.reduce((a, b) => a + b) / batches;
  const sd = Math.sqrt(estimates.reduce((a, b) => a + (b - mean) ** 2, 0) / (batches - 1));
  close(mean, uniformAverage, (5 * sd) / Math.sqrt(batches), 'importance-weighted mean');
  // The draws follow p(t): the most likely timestep's frequency within 5 binomial standard errors.
  const p = sampler.probabilities();
  const draws = batches * 8;
  close(counts[0] / draws, p[0], 5 * Math.sqrt((p[0] * (1 - p[0])) / draws), 'frequency of t = 0');
  // Importance sampling lowers the estimator's spread relative to uniform sampling.
  let uniformSquares = 0;
  for (let t = 0; t < T; t++) uniformSquares += (meanLoss(t) - uniformAverage) ** 2 / T;
  assert.ok(sd < Math.sqrt(uniformSquares / 8), 'variance is reduced');

  const restored = LossAwareTimestepSampler.fromState(JSON.parse(JSON.stringify(sampler.state())));
  assert.deepEqual(restored.probabilities(), sampler.probabilities());
  assert.throws(() => sampler.update([3], [NaN]), NumericError);
});

test('uniform timesteps have weight 1 and cover the range', () => {
  const sampler = new UniformTimestepSampler(10);
  const { timesteps, weights } = sampler.sample(new Random(1), 2000);
  assert.ok(weights.every((w) => w === 1));
  const seen = new Set(timesteps);
  assert.equal(seen.size, 10);
  assert.ok(timesteps.every((t) => t >= 0 && t < 10));
});

test('offset noise adds one shared N(0, strength²) shift per (example, channel)', () => {
  const rng = new Random(4);
  const shape = { batch: 50, channels: 40, spatialSize: 64 };
  const noise = offsetNoise(rng, shape, 0.5);
  assert.equal(noise.length, 50 * 40 * 64);
  // Per-plane means have variance strength² + 1/spatialSize = 0.265625.
  const planes = 2000;
  const means = Array.from(
    { length: planes },
    (_, p) => noise.subarray(p * 64, (p + 1) * 64).reduce((a, b) => a + b) / 64,
  );
  const variance = means.reduce((a, m) => a + m * m, 0) / planes;
  close(variance, 0.265625, 5 * 0.265625 * Math.sqrt(2 / planes), 'variance of plane means');
  assert.throws(() => offsetNoise(rng, { ...shape, channels: 0 }, 0.1), UsageError);
});

test('EDM loss weight makes λ c_out² = 1; training σ are log-normal(−1.2, 1.2²)', () => {
  for (const sigma of [0.01, 0.5, 3, 80])
    close(edmLossWeight(sigma) * edmPreconditioning(sigma).cOut ** 2, 1, 1e-12, `σ=${sigma}`);
  const logs = Array.from(sampleEdmSigmas(new Random(8), 20000), Math.log);
  const mean = logs.reduce((a, b) => a + b) / logs.length;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / logs.length);
  close(mean, -1.2, (5 * 1.2) / Math.sqrt(20000), 'mean of ln σ');
  close(sd, 1.2, 5 * 1.2 * Math.sqrt(1 / 40000), 'std of ln σ');
});

test('bound terms: zero for the true posterior, Ho et al. eq. 12 for an ε-model with fixed variance', () => {
  const rng = new Random(31);
  const table = posteriorTable(linear);
  const batch = 3;
  const n = 48;
  const timesteps = [1, 250, 999];
  // Float64 throughout: at t = 1 the mean error is a small difference of large terms.
  const x0 = Float64Array.from(eightBitBatch(rng, batch * n));
  const noise = rng.fillNormal(new Float64Array(batch * n));
  const xt = addNoise(x0, noise, timesteps, linear.alphasCumprod);
  const trueMean = posteriorMean(x0, xt, timesteps, table);
  const logVar = new Float64Array(batch * n).map(
    (_, i) => table.logVarianceClipped[timesteps[Math.floor(i / n)]],
  );
  const exact = vlbTermsBpd({
    x0,
    xt,
    timesteps,
    modelMean: trueMean,
    modelLogVariance: logVar,
    schedule: linear,
  });
  exact.forEach((v) => close(v, 0, 1e-12, 'KL to the true posterior'));

  // An imperfect ε-model: μ_θ = μ̃(x̂₀(ε̂), x_t), Σ = β̃_t, so L_{t−1} = w_t · mean (ε − ε̂)² in nats.
  const epsHat = noise.map((e) => e + 0.2 * rng.normal());
  const levels = timesteps.map((t) => noiseLevelFromAlphaCumprod(linear.alphasCumprod[t]));
  const x0Hat = convertPrediction(epsHat, xt, 'epsilon', 'sample', levels);
  const modelMean = posteriorMean(x0Hat, xt, timesteps, table);
  const terms = vlbTermsBpd({ x0, xt, timesteps, modelMean, modelLogVariance: logVar, schedule: linear });
  const mse = perExampleMse(epsHat, noise, batch);
  timesteps.forEach((t, b) => {
    const expected = (vlbEpsilonWeight(t, linear, table.variance[t]) * mse[b]) / Math.LN2;
    close(terms[b], expected, 1e-9 * expected, `L_${t - 1} vs eq. 12`);
  });
});

test('decoder term, prior term, learned-range variance and hybrid loss by hand', () => {
  const table = posteriorTable(linear);
  // Decoder at t = 0 for the value 0.2 (interior) under N(0.2 + 0.001, e^{2·ln 0.004}).
  const x0 = Float32Array.of(Math.fround((51 / 255) * 2 - 1));
  const modelMean = Float64Array.of(x0[0] + 0.001);
  const modelLogVariance = Float64Array.of(2 * Math.log(0.004));
  const [decoder] = vlbTermsBpd({
    x0,
    xt: x0,
    timesteps: [0],
    modelMean,
    modelLogVariance,
    schedule: linear,
  });
  const mass =
    approxStandardNormalCdf((-0.001 + 1 / 255) / 0.004) - approxStandardNormalCdf((-0.001 - 1 / 255) / 0.004);
  close(decoder, -Math.log(mass) / Math.LN2, 1e-6, 'L_0 in bits');

  // Prior term for x₀ = 0: KL(N(0, 1 − ᾱ_T) ‖ N(0, 1)) = ½(−1 − ln(1 − ᾱ_T) + 1 − ᾱ_T).
  const last = linear.alphasCumprod[999];
  const [prior] = priorBpd(Float64Array.of(0, 0), 1, linear.alphasCumprod);
  close(prior, (0.5 * (-Math.log1p(-last) - last)) / Math.LN2, 1e-15, 'L_T');

  // Learned range: v = 1 → log β_t, v = −1 → log β̃_t (clipped), v = 0 → their midpoint.
  const logVar = learnedRangeLogVariance(Float64Array.of(1, -1, 0, 1), [500, 0], linear);
  close(logVar[0], Math.log(table.betas[500]), 1e-15, 'max');
  close(logVar[1], table.logVarianceClipped[500], 1e-15, 'min');
  close(logVar[2], table.logVarianceClipped[0] / 2 + Math.log(table.betas[0]) / 2, 1e-12, 'mid at t = 0');

  // Hybrid (improved DDPM eq. 16): L_simple + λ T L_t with λ = 0.001, T = 4000.
  assert.deepEqual(Array.from(hybridLoss([0.5, 1], [2, 0], 4000)), [8.5, 1]);
});

test('the full bound of a model that knows the true posterior is L_T + L_0', async () => {
  const schedule = discreteSchedule({
    betaSchedule: 'linear',
    numTrainTimesteps: 50,
    betaStart: 1e-3,
    betaEnd: 0.2,
  });
  const table = posteriorTable(schedule);
  const rng = new Random(2);
  const batch = 2;
  const x0 = eightBitBatch(rng, batch * 12);
  // The "model" is the true posterior given the real x₀ (the best possible reverse step).
  const model = async (xt: Float32Array, timesteps: Int32Array) => ({
    mean: posteriorMean(x0, xt, timesteps, table),
    logVariance: new Float64Array(xt.length).fill(table.logVarianceClipped[timesteps[0]]),
  });
  const bound = await variationalBoundBpd(x0, batch, schedule, model, rng);
  assert.equal(bound.terms.length, 50);
  for (let t = 1; t < 50; t++) bound.terms[t].forEach((v) => close(v, 0, 1e-12, `L_${t}`));
  // L_0: each value's bin mass under N(x₀, β̃_1) with half-width 1/255.
  const s = Math.sqrt(table.variance[1]);
  const interiorBits = -Math.log2(
    approxStandardNormalCdf(1 / 255 / s) - approxStandardNormalCdf(-1 / 255 / s),
  );
  for (let b = 0; b < batch; b++) {
    let expected = 0;
    for (let i = b * 12; i < (b + 1) * 12; i++) {
      const edge = x0[i] < -0.999 || x0[i] > 0.999;
      expected += edge ? -Math.log2(approxStandardNormalCdf(1 / 255 / s)) : interiorBits;
    }
    close(bound.terms[0][b], expected / 12, 1e-9, 'L_0');
    close(bound.total[b], bound.prior[b] + bound.terms[0][b], 1e-12, 'total');
  }
});
