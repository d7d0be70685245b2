/**
 * Pseudo numerical methods (Liu et al. 2022, PNDM) with diffusers' `PNDMScheduler` semantics. Every
 * step applies the transfer φ(x_t, ε, t → t') of eq. 11 with a combined ε: PLMS mixes the last four
 * outputs by the Adams–Bashforth weights (55, −59, 37, −9)/24, after a warm-up that is either pseudo
 * Runge–Kutta (three 4-call steps) or, with `skip_prk_steps` (Stable Diffusion), one pseudo-improved-Euler
 * step that evaluates the network twice — N + 1 calls in all.
 */
import { ConfigError } from '../../util/errors.js';
import { expectSchedulerClass, type PNDMSchedulerConfig } from '../scheduler-config.js';
import { spacedTimesteps, trainingAlphasCumprod } from '../timesteps.js';
import { callModel, checkRequest, initialSample, report, toDenoised, type SamplerEntry } from './common.js';
import type { SampleRequest } from './types.js';

/** Adams–Bashforth weights for 1–4 past outputs, newest first (Liu et al. 2022, eq. 12). */
const PLMS_WEIGHTS = [
  [1],
  [3 / 2, -1 / 2],
  [23 / 12, -16 / 12, 5 / 12],
  [55 / 24, -59 / 24, 37 / 24, -9 / 24],
];
/** Classic fourth-order Runge–Kutta weights of the four pseudo-RK outputs (Liu et al. 2022, eq. 13). */
const RK_WEIGHTS = [1 / 6, 1 / 3, 1 / 3, 1 / 6];

export async function samplePndm(request: SampleRequest, config: PNDMSchedulerConfig): Promise<Float32Array> {
  checkRequest(request, 'PNDM', false);
  const alphas = trainingAlphasCumprod(config);
  const finalAlpha = config.setAlphaToOne ? 1 : alphas[0];
  const alphaAt = (t: number) => (t >= 0 ? alphas[t] : finalAlpha);
  const stride = Math.floor(config.numTrainTimesteps / request.numInferenceSteps);
  const { prk, plms } = pndmTimesteps(config, request.numInferenceSteps);
  const calls = [...prk, ...plms];
  let x = initialSample(request, 1);
  const state: PndmState = { history: [], stepStart: x, rkSum: new Float64Array(x.length) };
  for (let counter = 0; counter < calls.length; counter++) {
    const output = await callModel(request, x, calls[counter]);
    const { from, to, source, epsilon } = pndmUpdate(counter, calls[counter], output, x, state, prk, stride);
    const alphaFrom = alphaAt(from);
    const noise = asEpsilon(epsilon, source, alphaFrom, config);
    x = transfer(source, noise, alphaFrom, alphaAt(to));
    await report(
      request,
      counter,
      calls.length,
      calls[counter],
      x,
      toDenoised(noise, source, alphaFrom, 'epsilon'),
    );
  }
  return Float32Array.from(x);
}

/** What PNDM carries between calls. */
interface PndmState {
  /** ε at the start of each step, newest last (diffusers' `ets`). */
  history: Float64Array[];
  /** The sample a multi-call step departs from. */
  stepStart: Float64Array;
  /** The running Runge–Kutta combination of the current pseudo-RK step. */
  rkSum: Float64Array;
}

/** The update one call makes: from timestep `from` to `to`, departing from `source`, with combined ε. */
function pndmUpdate(
  counter: number,
  t: number,
  output: Float64Array,
  x: Float64Array,
  state: PndmState,
  prk: number[],
  stride: number,
): { from: number; to: number; source: Float64Array; epsilon: Float64Array } {
  if (counter < prk.length) {
    // Pseudo Runge–Kutta: four calls per step at t, t − δ/2, t − δ/2, t − δ, all departing from its start.
    const stage = counter % 4;
    if (stage === 0) {
      [state.stepStart, state.rkSum] = [x, new Float64Array(x.length)];
      state.history.push(output);
    }
    state.rkSum = state.rkSum.map((v, k) => v + RK_WEIGHTS[stage] * output[k]);
    const to = t - (counter % 2 === 0 ? Math.floor(stride / 2) : 0);
    return {
      from: prk[counter - stage],
      to,
      source: state.stepStart,
      epsilon: stage === 3 ? state.rkSum : output,
    };
  }
  if (prk.length === 0 && counter === 1) {
    // Skipped warm-up: redo the first step with the mean of both outputs (pseudo improved Euler).
    const epsilon = output.map((v, k) => (v + state.history[0][k]) / 2);
    return { from: t + stride, to: t, source: state.stepStart, epsilon };
  }
  state.history.push(output);
  if (state.history.length > 4) state.history.shift();
  const { history } = state;
  const weights = PLMS_WEIGHTS[history.length - 1];
  const epsilon = output.map((_, k) =>
    weights.reduce((sum, w, j) => sum + w * history[history.length - 1 - j][k], 0),
  );
  return { from: t, to: t - stride, source: x, epsilon };
}

/** v-prediction outputs are turned into ε at the step's start (diffusers does this after combining). */
function asEpsilon(combined: Float64Array, x: Float64Array, alpha: number, config: PNDMSchedulerConfig) {
  if (config.predictionType !== 'v_prediction') return combined;
  return combined.map((v, k) => Math.sqrt(alpha) * v + Math.sqrt(1 - alpha) * x[k]);
}

/**
 * The transfer φ (Liu et al. 2022, eq. 11): x_{t'} = √(ᾱ_{t'}/ᾱ_t) x_t − (ᾱ_{t'} − ᾱ_t) ε /
 * (ᾱ_t √(1 − ᾱ_{t'}) + √(ᾱ_t (1 − ᾱ_t) ᾱ_{t'})), which is DDIM's deterministic step written for ε.
 */
function transfer(x: Float64Array, epsilon: Float64Array, alphaT: number, alphaPrev: number) {
  const sampleCoefficient = Math.sqrt(alphaPrev / alphaT);
  const denominator = alphaT * Math.sqrt(1 - alphaPrev) + Math.sqrt(alphaT * (1 - alphaT) * alphaPrev);
  return x.map((v, k) => sampleCoefficient * v - ((alphaPrev - alphaT) * epsilon[k]) / denominator);
}

/**
 * diffusers' call timesteps (descending). With `skip_prk_steps`: the N spaced timesteps with the second
 * one repeated. Otherwise the pseudo-RK warm-up over the first three steps, built from the four largest
 * timesteps a₃ > a₂ > a₁ > a₀ and h = ⌊δ/2⌋ as [a₃, a₂+h, a₂+h, a₂, a₂, a₁+h, a₁+h, a₁, a₁, a₀+h, a₀+h, a₀],
 * then PLMS on the remaining N − 3 timesteps.
 */
export function pndmTimesteps(
  config: PNDMSchedulerConfig,
  numInferenceSteps: number,
): { prk: number[]; plms: number[] } {
  const descending = Array.from(spacedTimesteps(config, numInferenceSteps, true));
  if (config.skipPrkSteps)
    return { prk: [], plms: [descending[0], ...descending.slice(1, 2), ...descending.slice(1)] };
  if (numInferenceSteps < 4) {
    throw new ConfigError(`PNDM's Runge–Kutta warm-up needs at least 4 steps, got ${numInferenceSteps}`, {
      hint: 'use more steps, or skip_prk_steps (the "plms" sampler)',
    });
  }
  const h = Math.floor(Math.floor(config.numTrainTimesteps / numInferenceSteps) / 2);
  const [a3, a2, a1, a0] = descending;
  const prk = [a3, a2 + h, a2 + h, a2, a2, a1 + h, a1 + h, a1, a1, a0 + h, a0 + h, a0];
  return { prk, plms: descending.slice(3) };
}

export const PNDM_SAMPLERS: SamplerEntry[] = [
  {
    name: 'pndm',
    aliases: [],
    className: 'PNDMScheduler',
    stochastic: false,
    summary: 'PNDM (Liu et al. 2022): pseudo Runge–Kutta warm-up, then PLMS',
    run: (request, config) => samplePndm(request, expectSchedulerClass(config, 'PNDMScheduler')),
  },
  {
    name: 'plms',
    aliases: [],
    className: 'PNDMScheduler',
    configFields: { skipPrkSteps: true },
    stochastic: false,
    summary: 'PLMS (Liu et al. 2022) without the Runge–Kutta warm-up, as Stable Diffusion runs it',
    run: (request, config) => samplePndm(request, expectSchedulerClass(config, 'PNDMScheduler')),
  },
];
