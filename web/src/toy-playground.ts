/**
 * The 2-D playground: an MLP denoiser (src/models/mlp.ts) trained live in the tab on a toy distribution
 * with the engine's one-graph train step (forward, ε-MSE loss, backward, clipping, AdamW, EMA;
 * src/training/step.ts) running on onnxruntime-web, then sampled with two registry samplers side by
 * side, each drawn step by step as its samples flow from noise to data. Every run is seeded.
 *
 * Quality is measured, not eyeballed: the mean distance from each sample to its nearest point of a
 * fixed reference draw of the data, for the untrained network and for both samplers after training,
 * next to the same statistic for a fresh draw of the data itself (the floor a perfect model reaches).
 *
 * This module must not touch the DOM beyond the elements it is given, nor know how the page is tested.
 */
import { sampleToy2d } from '../../src/data/toy2d.js';
import { alphasCumprod, betaSchedule } from '../../src/diffusion/schedules.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import type { StepCallback, StepInfo } from '../../src/diffusion/samplers/types.js';
import { hostCopy, hostZeros, type Runtime, type TypeTree } from '../../src/engine/index.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import type { Params } from '../../src/models/types.js';
import { compiledDenoiser, generate, type CompiledDenoiser } from '../../src/pipelines/generate.js';
import { noisedBatch, type NoisingSetup } from '../../src/training/batch.js';
import { learningRate, type LrSchedule } from '../../src/training/lr.js';
import { compileTrainStep, type TrainState } from '../../src/training/step.js';
import { ConfigError, NumericError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { drawCurve, drawScatter } from './plot.js';

export interface ToySettings {
  data: string;
  trainSteps: number;
  batchSize: number;
  hiddenSize: number;
  lr: number;
  samplers: readonly { name: string; steps: number }[];
  numSamples: number;
  seed: number;
}

export interface SamplerResult {
  name: string;
  steps: number;
  /** Mean distance from a sample to its nearest reference data point. */
  nnDistance: number;
  seconds: number;
}

/** Everything a run measured; the page publishes it as it goes. */
export interface ToyReport {
  phase: 'idle' | 'training' | 'sampling' | 'done' | 'error';
  runtime: string;
  step: number;
  losses: number[];
  trainSeconds: number;
  /** Nearest-data distance of the N(0, I) noise every sampler starts from. */
  noiseDistance: number | null;
  /** Nearest-data distance of the untrained network's samples (first sampler). */
  untrainedDistance: number | null;
  /** Nearest-data distance of a fresh draw of the data itself: what a perfect model would score. */
  dataDistance: number | null;
  samplers: SamplerResult[];
  error?: string;
}

export interface ToyElements {
  lossPlot: HTMLCanvasElement;
  sampleCanvases: readonly HTMLCanvasElement[];
  sampleCaptions: readonly HTMLElement[];
  status: HTMLElement;
}

/** Points of the reference draw against which samples are measured. */
const REFERENCE_POINTS = 2000;
const DATA_COLOR = 'rgba(150, 150, 150, 0.35)';
const SAMPLE_COLOR = 'rgba(31, 119, 180, 0.8)';

/** Mean over `points` of the Euclidean distance to the nearest row of `reference` (both [N, 2]). */
export function meanNearestDistance(points: Float32Array, reference: Float32Array): number {
  let total = 0;
  const n = points.length / 2;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i];
    const y = points[2 * i + 1];
    let best = Infinity;
    for (let j = 0; j < reference.length; j += 2) {
      const dx = x - reference[j];
      const dy = y - reference[j + 1];
      const d = dx * dx + dy * dy;
      if (d < best) best = d;
    }
    total += Math.sqrt(best);
  }
  return total / n;
}

function checkSettings(s: ToySettings): void {
  const positive = {
    trainSteps: s.trainSteps,
    batchSize: s.batchSize,
    hiddenSize: s.hiddenSize,
    numSamples: s.numSamples,
  };
  for (const [name, value] of Object.entries(positive)) {
    if (!Number.isInteger(value) || value < 1)
      throw new ConfigError(`${name} must be a positive integer, got ${value}`);
  }
  if (!(s.lr > 0 && s.lr < 1)) throw new ConfigError(`learning rate must lie in (0, 1), got ${s.lr}`);
  for (const sampler of s.samplers) {
    if (!Number.isInteger(sampler.steps) || sampler.steps < 1 || sampler.steps > 1000)
      throw new ConfigError(`${sampler.name}: steps must be an integer from 1 to 1000, got ${sampler.steps}`);
  }
}

/** The DDPM training schedule of the playground (the CLI's toy preset: linear β, T = 1000, ε). */
const SCHEDULE = { betaSchedule: 'linear', numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 } as const;

const nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Runs a whole playground session (train, then sample with each sampler) and reports as it goes. */
export async function runToySession(
  settings: ToySettings,
  runtime: Runtime,
  el: ToyElements,
  publish: (report: ToyReport) => void,
): Promise<ToyReport> {
  checkSettings(settings);
  const report: ToyReport = {
    phase: 'training',
    runtime: runtime.name,
    step: 0,
    losses: [],
    trainSeconds: 0,
    noiseDistance: null,
    untrainedDistance: null,
    dataDistance: null,
    samplers: [],
  };
  const root = new Random(settings.seed);
  const reference = sampleToy2d(settings.data, REFERENCE_POINTS, root.split()).x;
  report.dataDistance = meanNearestDistance(
    sampleToy2d(settings.data, settings.numSamples, root.split()).x,
    reference,
  );
  // generate() draws its initial noise first from Random(seed), so this is the samplers' starting point.
  const noise = new Random(settings.seed + 1).normals(settings.numSamples * 2);
  report.noiseDistance = meanNearestDistance(noise, reference);
  const network = new MLPDenoiser({ hidden_size: settings.hiddenSize });
  const params = network.init(root.split());
  const scheduler = schedulerConfig('DDPMScheduler', {
    ...SCHEDULE,
    predictionType: 'epsilon',
    clipSample: false,
  });
  const sampleWith = (
    weights: Params,
    sampler: { name: string; steps: number },
    extra: { denoiser?: CompiledDenoiser; callback?: StepCallback } = {},
  ) =>
    generate({
      network,
      params: weights,
      schedulerConfig: scheduler,
      sampler: sampler.name,
      numSteps: sampler.steps,
      numSamples: settings.numSamples,
      // Every sampler starts from the same noise, so the panels differ only by the sampler.
      seed: settings.seed + 1,
      runtime,
      ...extra,
    });
  el.status.textContent = 'sampling the untrained network…';
  report.untrainedDistance = meanNearestDistance(await sampleWith(params, settings.samplers[0]), reference);
  publish(report);

  const state = await train(
    network,
    params,
    settings,
    runtime,
    root.split(),
    (step, loss) => {
      report.step = step;
      report.losses.push(loss);
    },
    async (seconds) => {
      report.trainSeconds = seconds;
      el.status.textContent = `training on ${runtime.name}: step ${report.step}/${settings.trainSteps}, loss ${report.losses.at(-1)!.toFixed(4)}`;
      drawCurve(el.lossPlot, smoothed(report.losses), {
        color: '#2ca02c',
        title: 'training loss (log scale, smoothed)',
        log: true,
      });
      publish(report);
      await nextFrame();
    },
  );

  report.phase = 'sampling';
  publish(report);
  const weights = state.ema ?? state.params;
  const denoiser = compiledDenoiser({ network, params: weights, numSamples: settings.numSamples }, runtime);
  try {
    for (let i = 0; i < settings.samplers.length; i++) {
      const { name, steps } = settings.samplers[i];
      const canvas = el.sampleCanvases[i];
      el.status.textContent = `sampling with ${name}, ${steps} steps…`;
      const started = performance.now();
      const draw = (points: Float32Array) =>
        drawScatter(canvas, [
          { points: reference, color: DATA_COLOR, radius: 1 },
          { points, color: SAMPLE_COLOR, radius: 1.2 },
        ]);
      const samples = await sampleWith(weights, settings.samplers[i], {
        denoiser,
        callback: async (info) => {
          draw(varianceScaled(info));
          await nextFrame();
        },
      });
      const result = {
        name,
        steps,
        nnDistance: meanNearestDistance(samples, reference),
        seconds: (performance.now() - started) / 1000,
      };
      draw(samples);
      el.sampleCaptions[i].textContent =
        `${name}, ${steps} steps: mean distance to data ${result.nnDistance.toFixed(3)} (${result.seconds.toFixed(1)} s)`;
      report.samplers.push(result);
      publish(report);
    }
  } finally {
    await denoiser.dispose();
  }
  report.phase = 'done';
  el.status.textContent =
    `done on ${runtime.name}: ${settings.trainSteps} steps in ${report.trainSeconds.toFixed(1)} s; ` +
    `distance to data: initial noise ${report.noiseDistance.toFixed(3)}, untrained network ` +
    `${report.untrainedDistance.toPrecision(3)}, data itself ${report.dataDistance.toFixed(3)}`;
  publish(report);
  return report;
}

/** Trains from `params` with AdamW (cosine LR after a short warm-up) and an EMA of the weights. */
async function train(
  network: MLPDenoiser,
  params: Params,
  settings: ToySettings,
  runtime: Runtime,
  random: Random,
  onStep: (step: number, loss: number) => void,
  onProgress: (seconds: number) => Promise<void>,
): Promise<TrainState> {
  const setup: NoisingSetup = {
    alphasCumprod: alphasCumprod(betaSchedule(SCHEDULE)),
    objective: 'epsilon',
    minSnrGamma: null,
    numClasses: null,
    labelDropout: 0,
  };
  const lr: LrSchedule = {
    peak: settings.lr,
    warmupSteps: Math.min(100, Math.floor(settings.trainSteps / 10)),
    totalSteps: settings.trainSteps,
    name: 'cosine',
    minRatio: 0.1,
  };
  const moments = () => hostZeros(network.paramTypes() as TypeTree) as Params;
  let state: TrainState = { params, opt: { m: moments(), v: moments() }, ema: hostCopy(params) as Params };
  const compiled = compileTrainStep(runtime, network, {
    batchSize: settings.batchSize,
    weightDecay: 0,
    clipNorm: 1,
    emaDecay: 0.995,
    emaWarmup: true,
    classConditional: false,
  });
  const started = performance.now();
  try {
    for (let step = 1; step <= settings.trainSteps; step++) {
      // Fresh data every step: a toy distribution is an infinite dataset.
      const x = sampleToy2d(settings.data, settings.batchSize, random).x;
      const batch = noisedBatch({ x }, settings.batchSize, setup, random);
      const out = await compiled.run(state, [batch], step, learningRate(lr, step));
      if (!Number.isFinite(out.loss))
        throw new NumericError(`training loss became ${out.loss} at step ${step}`, {
          hint: 'lower the learning rate',
        });
      state = { params: out.params, opt: out.opt, ema: out.ema };
      onStep(step, out.loss);
      if (step % 20 === 0 || step === settings.trainSteps)
        await onProgress((performance.now() - started) / 1000);
    }
  } finally {
    await compiled.dispose();
  }
  return state;
}

/** Running mean over a window of 20 steps, so the loss plot shows the trend rather than batch noise. */
function smoothed(losses: readonly number[]): Float64Array {
  const window = 20;
  const out = new Float64Array(losses.length);
  let sum = 0;
  for (let i = 0; i < losses.length; i++) {
    sum += losses[i];
    if (i >= window) sum -= losses[i - window];
    out[i] = sum / Math.min(i + 1, window);
  }
  return out;
}

/**
 * A sampler's state on the variance-preserving scale, where data and noise both have spread ~1: σ-space
 * samplers (Euler, DPM-Solver, …) carry x_σ = x_t/√ᾱ_t with σ² = (1 − ᾱ_t)/ᾱ_t, so x_t = x_σ/√(1 + σ²)
 * (Karras et al. 2022, Table 1); DDPM-style samplers already report x_t. For drawing only.
 */
function varianceScaled(info: StepInfo): Float32Array {
  if (info.sigma === undefined) return info.sample;
  const scale = 1 / Math.sqrt(1 + info.sigma * info.sigma);
  return info.sample.map((v) => v * scale);
}
