/**
 * UniPC (Zhao et al. 2023, arXiv:2302.04867), step for step as diffusers' UniPCMultistepScheduler: a
 * unified predictor–corrector for the diffusion ODE in λ = log(α_t/σ_t). The predictor UniP-p extrapolates
 * from the last p model outputs, like a multistep exponential integrator; the corrector UniC-p then reuses
 * the model call made at the predicted sample to correct it before the next step, which raises the order
 * by one without an extra model call. B(h) = h ('bh1') or e^h − 1 ('bh2') selects the variant. This module
 * never calls the model more than once per step, and the corrected sample is only the starting point of
 * the next step: the model always sees the predicted one.
 */
import { ConfigError } from '../../util/errors.js';
import { expectSchedulerClass, type UniPCMultistepSchedulerConfig } from '../scheduler-config.js';
import type { SamplerEntry, SamplerOptions } from './common.js';
import {
  checkVpSupport,
  combine,
  denoisedPrediction,
  gridFor,
  noisePrediction,
  runSolver,
  solverGrid,
  solverLevel,
  type Prediction,
  type SolverLevel,
} from './dpm-solver.js';
import type { SampleRequest } from './types.js';

type UniPcConfig = UniPCMultistepSchedulerConfig;
type UniPcSolverType = UniPcConfig['solverType'];

/** Solves A·x = b by Gaussian elimination with partial pivoting (A is as small as the solver order). */
function solveLinear(a: readonly number[][], b: readonly number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = col + 1; r < n; r++) {
      const factor = m[r][col] / m[col][col];
      for (let c = col; c <= n; c++) m[r][c] -= factor * m[col][c];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let sum = m[r][n];
    for (let c = r + 1; c < n; c++) sum -= m[r][c] * x[c];
    x[r] = sum / m[r][r];
  }
  return x;
}

/**
 * The order conditions of UniPC's B(h) variant (Zhao et al. 2023, §3.1–3.2): row k of R holds r_j^(k−1)
 * over the ratios r_j = (λ_{s_j} − λ_{s_0})/h (the last one 1), and b_k = k!·hh·φ_{k+1}(hh)/B(h), with
 * hh = −h for data prediction and φ the exponential-integrator functions (hh·φ₁(hh) = e^hh − 1).
 */
function orderConditions(ratios: readonly number[], hh: number, solverType: UniPcSolverType) {
  const hPhi1 = Math.expm1(hh);
  const bh = solverType === 'bh1' ? hh : hPhi1;
  const rows: number[][] = [];
  const b: number[] = [];
  let hPhiK = hPhi1 / hh - 1; // hh·φ₂(hh)
  let factorial = 1;
  for (let k = 1; k <= ratios.length; k++) {
    rows.push(ratios.map((r) => r ** (k - 1)));
    b.push((hPhiK * factorial) / bh);
    factorial *= k + 1;
    hPhiK = hPhiK / hh - 1 / factorial; // hh·φ_{k+2}(hh)
  }
  return { rows, b, hPhi1, bh };
}

/**
 * What UniP and UniC both start from, stepping from the newest of the last `order` outputs to `t`: the
 * ratios r_k = (λ_{s_k} − λ_{s_0})/h of the older outputs, their scaled differences D1_k = (m_k − m₀)/r_k,
 * and the order conditions over r_1 … r_{p−1}, 1.
 */
function stepTerms(config: UniPcConfig, history: readonly Prediction[], order: number, t: SolverLevel) {
  const [m0, ...older] = history.slice(0, order);
  const h = t.lambda - m0.level.lambda;
  const ratios = older.map((m) => (m.level.lambda - m0.level.lambda) / h);
  const d1s = older.map((m, k) =>
    combine([
      [1 / ratios[k], m.value],
      [-1 / ratios[k], m0.value],
    ]),
  );
  const hh = config.predictX0 ? -h : h;
  return { m0, d1s, ...orderConditions([...ratios, 1], hh, config.solverType) };
}

/**
 * x_t = (σ_t/σ_s) x − α_t(e^hh − 1) m₀ − α_t B(h) Σ ρ_k D_k for data prediction, and the α/σ-swapped form
 * for noise prediction: the common update of UniP and UniC (Zhao et al. 2023, Algorithms 1–2).
 */
function uniUpdate(
  config: UniPcConfig,
  x: Float64Array,
  m0: Prediction,
  t: SolverLevel,
  hPhi1: number,
  bh: number,
  corrections: ReadonlyArray<readonly [number, Float64Array]>,
): Float64Array {
  const s = m0.level;
  const [ratio, scale] = config.predictX0 ? [t.sigma / s.sigma, t.alpha] : [t.alpha / s.alpha, t.sigma];
  return combine([
    [ratio, x],
    [-scale * hPhi1, m0.value],
    ...corrections.map(([rho, d]) => [-scale * bh * rho, d] as const),
  ]);
}

/** UniP-p: the predicted sample at `t` from x at the newest output's level and the last `order` outputs. */
function predict(
  config: UniPcConfig,
  x: Float64Array,
  history: readonly Prediction[],
  t: SolverLevel,
  order: number,
): Float64Array {
  const { m0, d1s, rows, b, hPhi1, bh } = stepTerms(config, history, order, t);
  // Order 2 takes ρ = ½ (diffusers' simplification); higher orders satisfy the first p − 1 conditions.
  const lower = rows.slice(0, -1).map((row) => row.slice(0, -1));
  const rhos = order === 2 ? [0.5] : solveLinear(lower, b.slice(0, -1));
  const terms = d1s.map((d, k) => [rhos[k], d] as const);
  return uniUpdate(config, x, m0, t, hPhi1, bh, terms);
}

/**
 * UniC-p: corrects the sample predicted from `lastSample` with the model output `current` already computed
 * there; `history` holds the outputs before `current`, newest first. Order 1 takes ρ = ½; higher orders
 * satisfy all p conditions, the last one through D1_t = m_t − m₀.
 */
function correct(
  config: UniPcConfig,
  lastSample: Float64Array,
  history: readonly Prediction[],
  current: Prediction,
  order: number,
): Float64Array {
  const { m0, d1s, rows, b, hPhi1, bh } = stepTerms(config, history, order, current.level);
  const rhos = order === 1 ? [0.5] : solveLinear(rows, b);
  const dT = combine([
    [1, current.value],
    [-1, m0.value],
  ]);
  const terms = [...d1s, dT].map((d, k) => [rhos[k], d] as const);
  return uniUpdate(config, lastSample, m0, current.level, hPhi1, bh, terms);
}

/**
 * UniPC multistep sampling (diffusers' UniPCMultistepScheduler): each step corrects the previous step's
 * prediction with the new model output (UniC), then predicts the next sample (UniP). Step orders warm up
 * from 1 and, with `lowerOrderFinal`, fall to the number of steps left.
 */
export async function sampleUniPc(
  request: SampleRequest,
  config: UniPcConfig,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const sampler = 'UniPCMultistepScheduler';
  checkVpSupport(config, sampler);
  if (config.shiftTerminal !== null)
    throw new ConfigError(`shift_terminal is not supported by ${sampler}; set it to null`);
  if (!config.predictX0 && config.finalSigmasType === 'zero') {
    throw new ConfigError(`final_sigmas_type 'zero' needs predict_x0 = true in ${sampler}`, {
      hint: "noise-prediction UniPC cannot step to σ = 0; use final_sigmas_type 'sigma_min'",
    });
  }
  const grid = gridFor(options, () => solverGrid(config, request.numInferenceSteps));
  const levels = grid.sigmas.map(solverLevel);
  const steps = grid.timesteps.length;
  const batchSize = request.batchSize ?? 1; // checked by runSolver before the first step
  const history: Prediction[] = []; // newest first
  let previous: { sample: Float64Array; order: number } | null = null;
  return runSolver(request, grid, { sampler, stochastic: false }, (x, output, i) => {
    const denoised = denoisedPrediction(output, x, levels[i], config, batchSize);
    const value = config.predictX0 ? denoised : noisePrediction(output, x, levels[i], config, denoised);
    const current = { level: levels[i], value };
    const corrected =
      previous && !config.disableCorrector.includes(i - 1)
        ? correct(config, previous.sample, history, current, previous.order)
        : x;
    history.unshift(current);
    history.length = Math.min(history.length, config.solverOrder);
    const order = Math.min(config.solverOrder, i + 1, config.lowerOrderFinal ? steps - i : Infinity);
    previous = { sample: corrected, order };
    return { next: predict(config, corrected, history, levels[i + 1], order), denoised };
  });
}

export const UNIPC_SAMPLERS: SamplerEntry[] = [
  {
    name: 'unipc',
    aliases: ['uni_pc', 'unipc_multistep'],
    className: 'UniPCMultistepScheduler',
    stochastic: false,
    summary: 'UniPC: multistep predictor with a free corrector in log-SNR (Zhao et al. 2023)',
    run: (request, config, options) =>
      sampleUniPc(request, expectSchedulerClass(config, 'UniPCMultistepScheduler'), options),
  },
  {
    name: 'unipc_karras',
    aliases: [],
    className: 'UniPCMultistepScheduler',
    configFields: { useKarrasSigmas: true, useExponentialSigmas: false, useBetaSigmas: false },
    stochastic: false,
    summary: 'UniPC on Karras σ levels',
    run: (request, config, options) =>
      sampleUniPc(request, expectSchedulerClass(config, 'UniPCMultistepScheduler'), options),
  },
];
