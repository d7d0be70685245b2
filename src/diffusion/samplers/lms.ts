/**
 * Linear multistep sampling in σ-space (k-diffusion's `sample_lms`, diffusers' `LMSDiscreteScheduler`):
 * the probability-flow ODE dx/dσ = d(x, σ) is advanced with the last `order` derivatives, each weighted
 * by the integral over [σ_i, σ_{i+1}] of its Lagrange basis polynomial through the past σ levels
 * (an Adams–Bashforth method on a non-uniform grid). The order ramps up from 1 over the first steps.
 */
import { ConfigError } from '../../util/errors.js';
import type { LMSDiscreteSchedulerConfig } from '../scheduler-config.js';
import {
  denoiseAtSigma,
  KARRAS_SIGMAS,
  report,
  runAs,
  startSigmaSpace,
  toDerivative,
  type SamplerEntry,
  type SamplerOptions,
} from './common.js';
import type { SampleRequest } from './types.js';

export async function sampleLms(
  request: SampleRequest,
  config: LMSDiscreteSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const order = options.order ?? 4;
  if (!Number.isInteger(order) || order < 1 || order > 4) {
    throw new ConfigError(`LMS order must be an integer from 1 to 4, got ${order}`);
  }
  const start = startSigmaSpace(request, 'LMS', false, config, options);
  const { sigmas, timesteps, steps } = start;
  const derivatives: Float64Array[] = []; // newest last
  let x = start.x;
  for (let i = 0; i < steps; i++) {
    const denoised = await denoiseAtSigma(request, x, sigmas[i], timesteps[i], config.predictionType);
    derivatives.push(toDerivative(x, denoised, sigmas[i]));
    if (derivatives.length > order) derivatives.shift();
    const currentOrder = Math.min(i + 1, order);
    const weights = Array.from({ length: currentOrder }, (_, j) =>
      lmsCoefficient(sigmas, i, j, currentOrder),
    );
    const current = x;
    x = current.map(
      (v, k) => v + weights.reduce((sum, w, j) => sum + w * derivatives[derivatives.length - 1 - j][k], 0),
    );
    await report(request, i, steps, timesteps[i], x, denoised, sigmas[i]);
  }
  return Float32Array.from(x);
}

/** Gauss–Legendre nodes and weights on [−1, 1]; exact for polynomials up to degree 5 (LMS needs ≤ 3). */
const GAUSS_NODES = [-Math.sqrt(3 / 5), 0, Math.sqrt(3 / 5)];
const GAUSS_WEIGHTS = [5 / 9, 8 / 9, 5 / 9];

/**
 * ∫_{σ_i}^{σ_{i+1}} ∏_{k≠j} (τ − σ_{i−k}) / (σ_{i−j} − σ_{i−k}) dτ: the weight of the derivative taken
 * j steps ago in an order-`order` multistep update from σ_i to σ_{i+1}.
 */
export function lmsCoefficient(sigmas: ArrayLike<number>, i: number, j: number, order: number): number {
  const basis = (tau: number) => {
    let product = 1;
    for (let k = 0; k < order; k++) {
      if (k !== j) product *= (tau - sigmas[i - k]) / (sigmas[i - j] - sigmas[i - k]);
    }
    return product;
  };
  const [a, b] = [sigmas[i], sigmas[i + 1]];
  const half = (b - a) / 2;
  return (
    half * GAUSS_NODES.reduce((sum, node, n) => sum + GAUSS_WEIGHTS[n] * basis(a + half * (node + 1)), 0)
  );
}

export const LMS_SAMPLERS: SamplerEntry[] = [
  {
    name: 'lms',
    aliases: ['k_lms'],
    className: 'LMSDiscreteScheduler',
    stochastic: false,
    summary: 'linear multistep (order 4) on the probability-flow ODE',
    run: runAs('LMSDiscreteScheduler', sampleLms),
  },
  {
    name: 'lms_karras',
    aliases: [],
    className: 'LMSDiscreteScheduler',
    configFields: KARRAS_SIGMAS,
    stochastic: false,
    summary: 'LMS with Karras σ spacing (ρ = 7)',
    run: runAs('LMSDiscreteScheduler', sampleLms),
  },
];
