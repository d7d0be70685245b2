/**
 * The host-side half of a training step: from a batch of clean data x₀, draw uniform timesteps t and
 * noise ε, form x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (`addNoise`, Ho et al. eq. 4), the regression target of the
 * objective (`trainingTarget`), the per-example loss weight (1, or min-SNR-γ of Hang et al. 2023), and the
 * class labels with label dropout to the null class `numClasses` (Ho & Salimans 2022, classifier-free
 * guidance). Every draw comes from the passed `Random`, in a fixed order, so a run is reproducible.
 *
 * This module must not call the network or touch parameters.
 */
import { addNoise } from '../diffusion/forward.js';
import { minSnrWeights, snrAtTimesteps, trainingTarget } from '../diffusion/objectives.js';
import type { PredictionType } from '../diffusion/samplers/types.js';
import type { Batch } from '../data/dataset.js';
import type { Random } from '../util/random.js';

/** What one compiled train step consumes as its `batch`. */
export interface NoisedBatch {
  sample: Float32Array;
  timestep: Float32Array;
  target: Float32Array;
  weight: Float32Array;
  classLabels?: BigInt64Array;
  /** Observed values for a network with `conditioningInput` (DenoiserInputs.conditioning). */
  conditioning?: Float32Array;
}

export interface NoisingSetup {
  alphasCumprod: Float64Array;
  objective: PredictionType;
  minSnrGamma: number | null;
  /** Set for class-conditional training: the number of real classes (the null class is this index). */
  numClasses: number | null;
  labelDropout: number;
}

/** The noised batch for clean data `batch` (timesteps, then noise, then label dropout drawn from `random`). */
export function noisedBatch(batch: Batch, size: number, setup: NoisingSetup, random: Random): NoisedBatch {
  const T = setup.alphasCumprod.length;
  const timesteps = Int32Array.from({ length: size }, () => random.int(T));
  const noise = random.normals(batch.x.length);
  const sample = addNoise(batch.x, noise, timesteps, setup.alphasCumprod);
  const target = trainingTarget(setup.objective, batch.x, noise, timesteps, setup.alphasCumprod);
  const weight =
    setup.minSnrGamma === null
      ? new Float32Array(size).fill(1)
      : Float32Array.from(
          minSnrWeights(snrAtTimesteps(timesteps, setup.alphasCumprod), setup.minSnrGamma, setup.objective),
        );
  const out: NoisedBatch = { sample, timestep: Float32Array.from(timesteps), target, weight };
  if (setup.numClasses !== null) out.classLabels = droppedLabels(batch, size, setup, random);
  return out;
}

function droppedLabels(batch: Batch, size: number, setup: NoisingSetup, random: Random): BigInt64Array {
  const numClasses = setup.numClasses!;
  return BigInt64Array.from({ length: size }, (_, i) => {
    const label = batch.labels![i];
    return BigInt(random.uniform() < setup.labelDropout ? numClasses : label);
  });
}

/**
 * A copy of `rows` [count, width] with each row zeroed with probability `dropout` (one uniform per row,
 * in order): the null condition of classifier-free guidance for vector conditions.
 */
export function droppedRows(
  rows: Float32Array,
  width: number,
  dropout: number,
  random: Random,
): Float32Array {
  const out = Float32Array.from(rows);
  for (let row = 0; row < out.length / width; row++) {
    if (random.uniform() < dropout) out.fill(0, row * width, (row + 1) * width);
  }
  return out;
}
