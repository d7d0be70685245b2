/**
 * Shared harness for judging samplers against the exact Gaussian-mixture oracle: the 2-D test mixture,
 * a seeded noise source, the two-sample statistic — the unbiased squared maximum mean discrepancy
 * (Gretton et al. 2012) with a sum of Gaussian kernels of bandwidths 0.05, 0.1, 0.2 and 0.4, which
 * sees wrong component widths as well as wrong locations and weights (the energy distance, tried first,
 * missed a doubled component variance at this sample size) — and a pass threshold computed from the
 * statistic's own spread between independent exact data draws of the same size, so "matches the
 * mixture" means "no further from it than a fresh data set plausibly is".
 * Used by the sampler tests and by bench/sampler-quality.ts; not a test file itself.
 */
import {
  mixtureModelFn,
  mixtureParams,
  sampleMixture,
  type MixtureParams,
} from '../../src/diffusion/oracle.js';
import { withSchedulerFields, type SchedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { trainingAlphasCumprod, type TrainingScheduleConfig } from '../../src/diffusion/timesteps.js';
import { randomNoiseSource } from '../../src/diffusion/samplers/common.js';
import { samplerSetup, type SamplerEntry } from '../../src/diffusion/samplers/registry.js';
import type { ModelFn, NoiseSource, PredictionType } from '../../src/diffusion/samplers/types.js';
import { Random } from '../../src/util/random.js';

/**
 * Three unequal, differently shaped components inside [−1, 1]² (so diffusers' `clip_sample` never
 * bites): weights 0.5/0.3/0.2, one isotropic, one elongated along x, one small.
 */
export const TEST_MIXTURE: MixtureParams = mixtureParams({
  weights: [0.5, 0.3, 0.2],
  means: [
    [-0.45, -0.25],
    [0.45, 0.45],
    [0.35, -0.55],
  ],
  variances: [0.01, [0.03, 0.004], 0.006],
});

export const DIM = 2;

/**
 * One training schedule for every sampler (DDPM's linear β from 1e-4 to 0.02 over 1,000 steps, the
 * discretisation of the VP SDE with β(t) = 0.1 + 19.9·t), so that all samplers integrate the same
 * process; some classes default to Stable Diffusion's 0.00085..0.012 instead.
 */
export const ORACLE_SCHEDULE = {
  betaSchedule: 'linear',
  betaStart: 1e-4,
  betaEnd: 0.02,
  numTrainTimesteps: 1000,
};

/** A registry sampler with its class defaults, the shared schedule and the given prediction type. */
export function oracleSetup(
  name: string,
  predictionType: PredictionType = 'epsilon',
): { entry: SamplerEntry; config: SchedulerConfig; model: ModelFn } {
  const { entry, config: defaults } = samplerSetup(name);
  const fields = { ...ORACLE_SCHEDULE, predictionType };
  const config = withSchedulerFields(defaults, fields as never) as SchedulerConfig;
  const model = mixtureModelFn(TEST_MIXTURE, {
    alphasCumprod: trainingAlphasCumprod(config as TrainingScheduleConfig),
    predictionType,
  });
  return { entry, config, model };
}

/** A NoiseSource drawing from a seeded generator. */
export function seededNoise(seed: number): NoiseSource {
  return randomNoiseSource(new Random(seed));
}

/** The kernel bandwidths h of k(x, y) = Σ_h exp(−|x−y|²/(2h²)), each 2× the last. */
export const KERNEL_BANDWIDTHS = [0.05, 0.1, 0.2, 0.4];

/**
 * Mean kernel value between points of a and b; within one set (a === b) the diagonal is left out.
 * Bandwidths double, so each exponential is the fourth power of the next wider one: one exp per pair.
 */
function meanKernel(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number {
  const na = a.length / dim;
  const nb = b.length / dim;
  const same = a === b;
  const widest = KERNEL_BANDWIDTHS[KERNEL_BANDWIDTHS.length - 1];
  const inverse = 1 / (2 * widest * widest);
  const levels = KERNEL_BANDWIDTHS.length;
  const ai = new Float64Array(dim);
  let sum = 0;
  for (let i = 0; i < na; i++) {
    for (let k = 0; k < dim; k++) ai[k] = a[i * dim + k];
    for (let j = same ? i + 1 : 0; j < nb; j++) {
      let d2 = 0;
      for (let k = 0; k < dim; k++) {
        const diff = ai[k] - b[j * dim + k];
        d2 += diff * diff;
      }
      let e = Math.exp(-d2 * inverse);
      for (let h = 0; h < levels; h++) {
        sum += e;
        e *= e;
        e *= e;
      }
    }
  }
  return same ? sum / ((na * (na - 1)) / 2) : sum / (na * nb);
}

/**
 * A fixed reference draw with its within-set mean kernel cached, so each comparison costs only the
 * cross term and the sample's own term.
 */
export interface ReferenceSet {
  points: Float64Array;
  selfKernel: number;
}

export function referenceSet(params: MixtureParams, size: number, seed: number): ReferenceSet {
  const points = sampleMixture(params, size, new Random(seed));
  return { points, selfKernel: meanKernel(points, points, params.dim) };
}

/** Unbiased MMD² = E k(x,x') + E k(y,y') − 2·E k(x,y): zero in expectation iff the laws agree. */
export function mmd(sample: ArrayLike<number>, reference: ReferenceSet, dim: number): number {
  return (
    meanKernel(sample, sample, dim) + reference.selfKernel - 2 * meanKernel(sample, reference.points, dim)
  );
}

export interface Threshold {
  /** mean + 5·sd of the null draws: a sample with a larger MMD² does not match the mixture. */
  threshold: number;
  mean: number;
  sd: number;
}

/**
 * The pass threshold for samples of `size` points: mean + 5·sd of the MMD² between `draws` independent
 * exact data draws of that size and the reference (the statistic's null spread; its upper tail is heavy,
 * 4·sd was reached by 1 of 300 null draws in trials, 5·sd by none).
 */
export function nullThreshold(
  params: MixtureParams,
  reference: ReferenceSet,
  size: number,
  draws: number,
  seed: number,
): Threshold {
  const random = new Random(seed);
  const values = Array.from({ length: draws }, () =>
    mmd(sampleMixture(params, size, random), reference, params.dim),
  );
  const mean = values.reduce((a, b) => a + b, 0) / draws;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws - 1));
  return { threshold: mean + 5 * sd, mean, sd };
}

/** Root-mean-square distance between two equally shaped batches (for convergence in steps). */
export function rmsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum / a.length);
}
