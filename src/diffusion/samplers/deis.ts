/**
 * DEIS (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator",
 * arXiv:2204.13902), the multistep ρAB-DEIS variant, step for step as diffusers' DEISMultistepScheduler.
 * In ρ = σ_t/α_t the diffusion ODE is dx/α = ε̂ dρ, so x_t/α_t = x_s/α_s + ∫ ε̂ dρ over [ρ_s, ρ_t]; DEIS
 * interpolates the last p noise predictions by a polynomial in log ρ ('logrho') and integrates it exactly.
 * Orders 1–3; order 1 is DDIM. This module only turns model outputs into steps: no model code, no noise.
 */
import { expectSchedulerClass, type DEISMultistepSchedulerConfig } from '../scheduler-config.js';
import type { SamplerEntry, SamplerOptions } from './common.js';
import {
  checkVpSupport,
  combine,
  denoisedPrediction,
  gridFor,
  multistepOrder,
  noisePrediction,
  runSolver,
  solverGrid,
  solverLevel,
  type SolverGrid,
  type Prediction,
  type SolverLevel,
} from './dpm-solver.js';
import type { SampleRequest } from './types.js';

/** The σ grid of a DEIS config: its last step always lands on the smallest training σ, never on 0. */
export function deisGrid(config: DEISMultistepSchedulerConfig, n: number): SolverGrid {
  return solverGrid({ ...config, finalSigmasType: 'sigma_min' }, n);
}

/** Polynomial coefficients, lowest power first. */
type Polynomial = number[];

function evaluate(p: Polynomial, u: number): number {
  return p.reduceRight((sum, c) => sum * u + c, 0);
}

/** The Lagrange basis polynomial ℓ_j through `nodes`: 1 at nodes[j], 0 at the others. */
function lagrangeBasis(nodes: readonly number[], j: number): Polynomial {
  let p: Polynomial = [1];
  nodes.forEach((node, k) => {
    if (k === j) return;
    const scale = 1 / (nodes[j] - node);
    const next = new Array<number>(p.length + 1).fill(0);
    p.forEach((c, power) => {
      next[power + 1] += c * scale; // · u
      next[power] -= c * node * scale; // · (−node)
    });
    p = next;
  });
  return p;
}

/** e^u · Σ_n (−1)ⁿ p⁽ⁿ⁾(u): an antiderivative of p(u)·e^u (integrate by parts until p⁽ⁿ⁾ = 0), at ρ = e^u. */
function expAntiderivative(p: Polynomial, rho: number): number {
  const u = Math.log(rho);
  let sum = 0;
  for (let n = 0, d = p; d.length > 0; n++, d = d.slice(1).map((c, power) => c * (power + 1))) {
    sum += (n % 2 === 0 ? 1 : -1) * evaluate(d, u);
  }
  return rho * sum;
}

/**
 * ρAB-DEIS (Zhang & Chen 2023, §4, with the polynomial in log ρ as diffusers' 'logrho'):
 *   x_t = α_t (x_s/α_s + Σ_j C_j ε̂_j),   C_j = ∫_{ρ_s}^{ρ_t} ℓ_j(log ρ) dρ,
 * with ℓ_j the Lagrange basis through the log ρ of the last `order` outputs (newest first, at ρ_s).
 */
function deisUpdate(x: Float64Array, outputs: readonly Prediction[], t: SolverLevel): Float64Array {
  const rho = (level: SolverLevel) => level.sigma / level.alpha;
  const nodes = outputs.map((m) => Math.log(rho(m.level)));
  const [rhoS, rhoT] = [rho(outputs[0].level), rho(t)];
  const weights = outputs.map((_, j) => {
    const basis = lagrangeBasis(nodes, j);
    return expAntiderivative(basis, rhoT) - expAntiderivative(basis, rhoS);
  });
  return combine([
    [t.alpha / outputs[0].level.alpha, x],
    ...outputs.map((m, j) => [t.alpha * weights[j], m.value] as const),
  ]);
}

/**
 * DEIS multistep sampling (diffusers' DEISMultistepScheduler): one model call per step; the order warms
 * up from 1 and, with `lowerOrderFinal` and fewer than 15 steps, drops again in the last two steps.
 */
export async function sampleDeis(
  request: SampleRequest,
  config: DEISMultistepSchedulerConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const sampler = 'DEISMultistepScheduler';
  checkVpSupport(config, sampler);
  const grid = gridFor(options, () => deisGrid(config, request.numInferenceSteps));
  const levels = grid.sigmas.map(solverLevel);
  const batchSize = request.batchSize ?? 1; // checked by runSolver before the first step
  const orderConfig = { ...config, eulerAtFinal: false, finalSigmasType: 'sigma_min' };
  const history: Prediction[] = []; // newest first
  return runSolver(request, grid, { sampler, stochastic: false }, (x, output, i) => {
    const denoised = denoisedPrediction(output, x, levels[i], config, batchSize);
    history.unshift({ level: levels[i], value: noisePrediction(output, x, levels[i], config, denoised) });
    history.length = Math.min(history.length, config.solverOrder);
    const order = multistepOrder(i, grid.timesteps.length, orderConfig);
    return { next: deisUpdate(x, history.slice(0, order), levels[i + 1]), denoised };
  });
}

export const DEIS_SAMPLERS: SamplerEntry[] = [
  {
    name: 'deis',
    aliases: ['deis_multistep'],
    className: 'DEISMultistepScheduler',
    stochastic: false,
    summary: 'DEIS: multistep exponential integrator, polynomial in log ρ (Zhang & Chen 2023)',
    run: (request, config, options) =>
      sampleDeis(request, expectSchedulerClass(config, 'DEISMultistepScheduler'), options),
  },
];
