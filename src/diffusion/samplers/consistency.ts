/**
 * Consistency-model sampling (Song et al. 2023, Algorithm 1) with diffusers' `CMStochasticIterativeScheduler`
 * semantics, and the consistency parameterisation it shares with training. The stored network is the raw
 * F_θ; the boundary condition lives here, as in diffusers: the network sees c_in(σ)·x at the timestep
 * 250·ln σ, and the consistency function is f(x, σ) = c_skip(σ) x + c_out(σ) F_θ with
 * c_skip = σ_d² / ((σ − σ_min)² + σ_d²), c_out = (σ − σ_min) σ_d / √(σ² + σ_d²) (paper, Appendix C), so
 * f(x, σ_min) = x exactly. One step maps σ_max noise to data; with more steps each denoised sample is
 * re-noised to the next σ: x = f + s_noise·√(σ_next² − σ_min²)·z. The σ levels are Karras' (ρ = 7) at
 * the ramp positions diffusers picks: i·⌊N_train/N⌋/(N_train − 1), i = 0…N−1.
 * Nothing here trains; training/consistency.ts imports the scalings and levels from this file.
 */
import { ConfigError } from '../../util/errors.js';
import type { CMStochasticIterativeSchedulerConfig } from '../scheduler-config.js';
import {
  callModel,
  checkRequest,
  drawNoise,
  initialSample,
  report,
  runAs,
  type SamplerEntry,
  type SamplerOptions,
} from './common.js';
import type { SampleRequest } from './types.js';

/** The consistency model's settings: σ range, data scale and the Karras ρ. */
export interface ConsistencyLevels {
  sigmaMin: number;
  sigmaMax: number;
  sigmaData: number;
  rho: number;
}

/** c_skip and c_out of the boundary-condition parameterisation at σ (Song et al. 2023, eq. 5 and App. C). */
export function boundaryScalings(sigma: number, levels: ConsistencyLevels): { cSkip: number; cOut: number } {
  const { sigmaMin, sigmaData } = levels;
  const shifted = sigma - sigmaMin;
  return {
    cSkip: (sigmaData * sigmaData) / (shifted * shifted + sigmaData * sigmaData),
    cOut: (shifted * sigmaData) / Math.sqrt(sigma * sigma + sigmaData * sigmaData),
  };
}

/** c_in = 1/√(σ² + σ_d²): the scale of the network input (EDM, Karras et al. 2022, Table 1). */
export function consistencyInputScale(sigma: number, levels: ConsistencyLevels): number {
  return 1 / Math.sqrt(sigma * sigma + levels.sigmaData * levels.sigmaData);
}

/** The value the network is conditioned on at σ: 1000·¼·ln σ (diffusers' `sigma_to_t`). */
export function consistencyTimestep(sigma: number): number {
  return 250 * Math.log(sigma + 1e-44);
}

/** Karras σ at ramp positions r ∈ [0, 1]: (σ_max^{1/ρ} + r(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, r = 0 → σ_max. */
export function karrasLevels(ramp: ArrayLike<number>, levels: ConsistencyLevels): Float64Array {
  const maxInv = levels.sigmaMax ** (1 / levels.rho);
  const minInv = levels.sigmaMin ** (1 / levels.rho);
  return Float64Array.from(ramp, (r) => (maxInv + r * (minInv - maxInv)) ** levels.rho);
}

/** The levels of a scheduler config. */
export function levelsOf(config: CMStochasticIterativeSchedulerConfig): ConsistencyLevels {
  return {
    sigmaMin: config.sigmaMin,
    sigmaMax: config.sigmaMax,
    sigmaData: config.sigmaData,
    rho: config.rho,
  };
}

/** The N sampling σ (descending from σ_max) and the final σ_min, as diffusers' `set_timesteps` builds them. */
export function consistencySigmas(config: CMStochasticIterativeSchedulerConfig, steps: number): Float64Array {
  const trained = config.numTrainTimesteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > trained) {
    throw new ConfigError(
      `a consistency model trained on ${trained} levels samples with 1..${trained} steps, got ${steps}`,
    );
  }
  const ratio = Math.floor(trained / steps);
  const ramp = Array.from({ length: steps }, (_, i) => (i * ratio) / (trained - 1));
  return Float64Array.from([...karrasLevels(ramp, levelsOf(config)), config.sigmaMin]);
}

/** f(x, σ) = c_skip x + c_out F from the raw network output F, clamped to [−1, 1] when asked. */
export function consistencyOutput(
  raw: ArrayLike<number>,
  x: ArrayLike<number>,
  sigma: number,
  levels: ConsistencyLevels,
  clip: boolean,
): Float64Array {
  const { cSkip, cOut } = boundaryScalings(sigma, levels);
  const out = Float64Array.from(x, (v, i) => cSkip * v + cOut * raw[i]);
  return clip ? out.map((v) => Math.min(1, Math.max(-1, v))) : out;
}

/** One-step (N = 1) or multistep consistency sampling (Algorithm 1). */
export async function sampleConsistency(
  request: SampleRequest,
  config: CMStochasticIterativeSchedulerConfig,
  _options: SamplerOptions = {},
): Promise<Float32Array> {
  const sigmas = consistencySigmas(config, request.numInferenceSteps);
  const steps = sigmas.length - 1;
  checkRequest(request, 'consistency', steps > 1);
  const levels = levelsOf(config);
  let x = initialSample(request, config.sigmaMax);
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const scale = consistencyInputScale(sigma, levels);
    const timestep = consistencyTimestep(sigma);
    const raw = await callModel(
      request,
      x.map((v) => v * scale),
      timestep,
    );
    const denoised = consistencyOutput(raw, x, sigma, levels, config.clipDenoised);
    const next = Math.min(config.sigmaMax, Math.max(config.sigmaMin, sigmas[i + 1]));
    const spread = config.sNoise * Math.sqrt(next * next - config.sigmaMin * config.sigmaMin);
    if (spread > 0) {
      const noise = drawNoise(request, x.length);
      x = denoised.map((v, k) => v + spread * noise[k]);
    } else x = denoised;
    await report(request, i, steps, timestep, x, denoised, sigma);
  }
  return Float32Array.from(x);
}

export const CONSISTENCY_SAMPLERS: SamplerEntry[] = [
  {
    name: 'consistency',
    aliases: ['cm'],
    className: 'CMStochasticIterativeScheduler',
    stochastic: true,
    summary: 'consistency models (Song et al. 2023): one step, or multistep with re-noising',
    run: runAs('CMStochasticIterativeScheduler', sampleConsistency),
  },
];
