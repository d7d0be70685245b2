/**
 * Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1), the sampler of noise-conditional score
 * networks: for geometrically spaced noise levels σ_1 > … > σ_L it runs T Langevin steps
 * x ← x + (α_i/2)·s(x, σ_i) + √α_i·z with step size α_i = ε·σ_i²/σ_L², so the signal-to-noise ratio of
 * every step is the same at every level. The score is conditioned on σ directly (VE form: x = x₀ + σ·z).
 * It holds no model code; an optional final denoising step x + σ_L²·s(x, σ_L) (Tweedie; Jolicoeur-
 * Martineau et al. 2021) removes the last level's noise.
 */
import { ConfigError } from '../../util/errors.js';
import type { NoiseSource, StepCallback } from './types.js';
import { requireNoise } from './ode.js';

/** A score conditioned on the noise level: s(x, σ) ≈ ∇ₓ log p_σ(x), p_σ = p_data ∗ N(0, σ²I). */
export type NoiseLevelScoreFn = (x: Float64Array, sigma: number) => Promise<Float32Array | Float64Array>;

export interface AnnealedLangevinRequest {
  score: NoiseLevelScoreFn;
  /** Initial N(0, I) noise for the batch; scaled by σ_1 (the prior of the largest level). */
  noise: Float32Array | Float64Array;
  noiseSource?: NoiseSource;
  /** Largest noise level σ_1 (Song & Ermon: 1 for images in [0, 1]; above the data's diameter). */
  sigmaMax: number;
  /** Smallest noise level σ_L (Song & Ermon: 0.01). */
  sigmaMin: number;
  /** Number of levels L (Song & Ermon: 10). */
  numLevels: number;
  /** Langevin steps T per level (Song & Ermon: 100). */
  stepsPerLevel: number;
  /** Base step size ε (Song & Ermon: 2·10⁻⁵). */
  stepSize: number;
  /** End with x + σ_L²·s(x, σ_L) (default false, as published). */
  denoise?: boolean;
  /** Scales the injected noise (1 = as published). */
  temperature?: number;
  /** Reported once per noise level, after its last step. */
  callback?: StepCallback;
}

/** σ_i = σ_1·(σ_L/σ_1)^((i−1)/(L−1)), i = 1..L: a geometric sequence from sigmaMax down to sigmaMin. */
export function geometricSigmas(sigmaMax: number, sigmaMin: number, numLevels: number): Float64Array {
  if (!(sigmaMax >= sigmaMin && sigmaMin > 0)) {
    throw new ConfigError(`noise levels need sigmaMax ≥ sigmaMin > 0, got ${sigmaMax} and ${sigmaMin}`);
  }
  if (!Number.isInteger(numLevels) || numLevels < 1) {
    throw new ConfigError(`numLevels must be a positive integer, got ${numLevels}`);
  }
  if (numLevels === 1) return Float64Array.of(sigmaMin);
  const ratio = Math.log(sigmaMin / sigmaMax) / (numLevels - 1);
  return Float64Array.from({ length: numLevels }, (_, i) => sigmaMax * Math.exp(ratio * i));
}

function validate(request: AnnealedLangevinRequest): void {
  const { stepsPerLevel, stepSize } = request;
  if (!Number.isInteger(stepsPerLevel) || stepsPerLevel < 1) {
    throw new ConfigError(`stepsPerLevel must be a positive integer, got ${stepsPerLevel}`);
  }
  if (!(stepSize > 0) || !Number.isFinite(stepSize)) {
    throw new ConfigError(`Langevin stepSize must be positive, got ${stepSize}`, {
      hint: 'Song & Ermon use 2e-5 with sigmaMin 0.01',
    });
  }
}

/** Samples by annealed Langevin dynamics; returns the batch at the smallest noise level. */
export async function sampleAnnealedLangevin(request: AnnealedLangevinRequest): Promise<Float32Array> {
  validate(request);
  const { score, stepsPerLevel, stepSize, denoise = false, temperature = 1, callback } = request;
  const sigmas = geometricSigmas(request.sigmaMax, request.sigmaMin, request.numLevels);
  const noise = requireNoise(request.noiseSource, 'annealed Langevin dynamics');
  const sigmaLast = sigmas[sigmas.length - 1];
  const x = Float64Array.from(request.noise, (z) => sigmas[0] * z);
  for (let level = 0; level < sigmas.length; level++) {
    const sigma = sigmas[level];
    const alpha = (stepSize * sigma * sigma) / (sigmaLast * sigmaLast);
    const noiseScale = temperature * Math.sqrt(alpha);
    let grad: Float32Array | Float64Array = new Float64Array(x.length);
    for (let step = 0; step < stepsPerLevel; step++) {
      grad = await score(x, sigma);
      const z = noise.normal(x.length);
      for (let i = 0; i < x.length; i++) x[i] += 0.5 * alpha * grad[i] + noiseScale * z[i];
    }
    if (callback) {
      // x₀ estimate by Tweedie from the level's last score (taken just before the last update).
      await callback({
        step: level,
        numSteps: sigmas.length,
        timestep: sigma,
        sigma,
        sample: Float32Array.from(x),
        predictedOriginal: Float32Array.from(x, (xi, i) => xi + sigma * sigma * grad[i]),
      });
    }
  }
  if (denoise) {
    const grad = await score(x, sigmaLast);
    for (let i = 0; i < x.length; i++) x[i] += sigmaLast * sigmaLast * grad[i];
  }
  return Float32Array.from(x);
}
