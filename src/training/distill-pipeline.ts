/**
 * Distillation from a teacher pipeline folder into a student folder: the one function behind
 * `diffusion distill` and the MNIST measurement script. It loads the teacher, its training data (named by
 * the teacher's `training_summary.json` unless given; encoded to latents for a latent pipeline, so the
 * latent variant — latent consistency distillation, Luo et al. 2023, without LCM's own scheduler — is the
 * same code on the VAE's latents), runs progressive distillation or consistency distillation / training,
 * and saves the student with the scheduler it samples with and `distillation.json` (its default step
 * count). The save replaces the output folder in one atomic step. This module must not parse flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDataset, type Dataset, type DatasetOptions } from '../data/dataset.js';
import { sigmasFromAlphasCumprod } from '../diffusion/noise-levels.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import type { PredictionType } from '../diffusion/samplers/types.js';
import { trainingAlphasCumprod } from '../diffusion/timesteps.js';
import { OrtNodeRuntime, type Runtime } from '../engine/index.js';
import { loadPipeline, savePipeline, type LoadedPipeline } from '../models/pipeline-folder.js';
import type { Params } from '../models/types.js';
import { encodeDataset } from '../pipelines/latent.js';
import { ConfigError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';
import {
  consistencySchedulerConfig,
  DEFAULT_CONSISTENCY_SETTINGS,
  sigmaDenoiser,
  trainConsistency,
} from './consistency.js';
import {
  DISTILLATION_FILE,
  distillationInfoText,
  distilledSchedulerConfig,
  networkTeacher,
  progressiveDistillation,
  type DistillationInfo,
} from './distill.js';

export const DISTILL_METHODS = ['progressive', 'consistency', 'consistency-training'] as const;
export type DistillMethod = (typeof DISTILL_METHODS)[number];

export interface DistillPipelineOptions {
  teacherDir: string;
  outDir: string;
  method: DistillMethod;
  /** The student's sampling steps (progressive: its grid; consistency: the default of `sample`). */
  steps: number;
  /** Progressive: the teacher's step count N₀. */
  fromSteps: number;
  /** Progressive: updates per round; consistency: updates in all. */
  iterations: number;
  batchSize: number;
  lr: number;
  /** Classifier-free guidance scale of the teacher baked into the student (1: none). */
  guidance: number;
  seed: number;
  /** Consistency distillation: the number of Karras levels N. */
  numLevels?: number;
  /** The dataset name; default: the teacher's `training_summary.json`. */
  data?: string;
  /** Options of that dataset (e.g. `{ split: 'test' }`); default none. */
  dataOptions?: DatasetOptions;
  timeLimitSeconds?: number;
  onStep?: (line: string) => void;
  runtime?: Runtime;
}

export interface DistillPipelineResult {
  seconds: number;
  /** Loss of the last update of each round (progressive) or of the run (consistency). */
  finalLosses: number[];
  timeLimited: boolean;
}

const SUMMARY_FILE = 'training_summary.json';

/** The teacher's run summary fields this module reads (data set name and class names). */
function teacherSummary(dir: string): { data?: string; classNames?: string[] | null } {
  const path = join(dir, SUMMARY_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { data?: string }) : {};
}

/** The teacher's prediction type; only ᾱ-space (DDPM-family) configs can teach. */
function predictionOf(config: SchedulerConfig): PredictionType {
  const prediction = (config as { predictionType?: string }).predictionType;
  if (prediction !== 'epsilon' && prediction !== 'sample' && prediction !== 'v_prediction') {
    throw new ConfigError(`a ${config.className} teacher cannot be distilled`, {
      hint: 'the teacher must be a diffusion model with prediction_type epsilon, sample or v_prediction',
    });
  }
  return prediction;
}

/** The training data of the teacher, as its network sees it (latents for a latent pipeline). */
async function teacherData(
  teacher: LoadedPipeline,
  name: string,
  options: DatasetOptions = {},
): Promise<Dataset> {
  const data = await resolveDataset(name, options);
  const dataset = teacher.vae ? await encodeDataset(teacher.vae, data) : data;
  const shape = teacher.network.sampleShape;
  if (shape.length !== dataset.shape.length || shape.some((n, i) => n !== dataset.shape[i])) {
    throw new UsageError(
      `dataset '${name}' has examples of shape [${dataset.shape.join(', ')}], the teacher takes [${shape.join(', ')}]`,
      { hint: 'pass --data with the data set the teacher was trained on' },
    );
  }
  if (teacher.network.numClassEmbeds !== null && !dataset.numClasses)
    throw new UsageError(`the teacher is class-conditional but dataset '${name}' has no labels`);
  return dataset;
}

/** Distils the teacher folder into `outDir`; see the module header. */
export async function distillPipeline(options: DistillPipelineOptions): Promise<DistillPipelineResult> {
  const teacher = loadPipeline(options.teacherDir);
  const summary = teacherSummary(options.teacherDir);
  const name = options.data ?? summary.data;
  if (!name)
    throw new UsageError(`'${options.teacherDir}' records no training data set`, {
      hint: 'pass --data NAME',
    });
  const prediction = predictionOf(teacher.schedulerConfig);
  if (options.guidance !== 1 && teacher.network.numClassEmbeds === null)
    throw new UsageError('--guidance needs a class-conditional teacher (classifier-free guidance)');
  const alphas = trainingAlphasCumprod(
    teacher.schedulerConfig as Parameters<typeof trainingAlphasCumprod>[0],
  );
  const dataset = await teacherData(teacher, name, options.dataOptions);
  const runtime = options.runtime ?? new OrtNodeRuntime();
  const started = performance.now();
  const compiled = networkTeacher(runtime, teacher.network, teacher.params, prediction, options.guidance);
  let params: Params;
  let scheduler: SchedulerConfig;
  let finalLosses: number[];
  let timeLimited: boolean;
  try {
    if (options.method === 'progressive') {
      const result = await progressiveDistillation({
        network: teacher.network,
        initialParams: teacher.params,
        teacher: compiled.teacher,
        alphasCumprod: alphas,
        dataset,
        fromSteps: options.fromSteps,
        steps: options.steps,
        runtime,
        settings: {
          iterationsPerRound: options.iterations,
          batchSize: options.batchSize,
          lr: options.lr,
          weighting: 'truncated-snr',
          clipNorm: 1,
          seed: options.seed,
          ...(options.timeLimitSeconds !== undefined ? { timeLimitSeconds: options.timeLimitSeconds } : {}),
          onStep: (r) =>
            options.onStep?.(
              `round ${r.round + 1} (${r.steps} steps) update ${r.iteration} loss ${r.loss.toFixed(5)}`,
            ),
        },
      });
      params = result.params;
      scheduler = distilledSchedulerConfig(teacher.schedulerConfig);
      finalLosses = result.rounds.map((r) => r.losses.at(-1) ?? NaN);
      timeLimited = result.timeLimited;
    } else {
      // The teacher's σ range caps σ_max (a VP teacher has never seen σ beyond its last timestep).
      const teacherMax = sigmasFromAlphasCumprod(alphas).at(-1)!;
      const levels = { ...DEFAULT_CONSISTENCY_SETTINGS.levels, sigmaMax: Math.min(80, teacherMax) };
      const numLevels = options.numLevels ?? DEFAULT_CONSISTENCY_SETTINGS.numLevels;
      const result = await trainConsistency({
        method: options.method === 'consistency' ? 'distillation' : 'training',
        network: teacher.network,
        // CD starts from the teacher's weights; CT trains from scratch (a fresh init of the same network).
        initialParams:
          options.method === 'consistency' ? teacher.params : teacher.network.init(new Random(options.seed)),
        dataset,
        teacher: sigmaDenoiser(compiled.teacher, alphas),
        runtime,
        settings: {
          ...DEFAULT_CONSISTENCY_SETTINGS,
          levels,
          numLevels,
          iterations: options.iterations,
          batchSize: options.batchSize,
          lr: options.lr,
          seed: options.seed,
          ...(options.timeLimitSeconds !== undefined ? { timeLimitSeconds: options.timeLimitSeconds } : {}),
          onStep: (r) =>
            options.onStep?.(`update ${r.iteration} (N = ${r.numLevels}) loss ${r.loss.toFixed(5)}`),
        },
      });
      if (options.steps > result.numLevels) {
        throw new UsageError(
          `--steps ${options.steps} is more than the ${result.numLevels} levels the consistency model was trained on`,
        );
      }
      params = result.params;
      // Images are clamped to [−1, 1] after each step as diffusers does; other data (points, latents) is not.
      const images = teacher.vae === undefined && teacher.network.sampleShape.length === 3;
      scheduler = consistencySchedulerConfig(levels, result.numLevels, images);
      finalLosses = [result.losses.at(-1) ?? NaN];
      timeLimited = result.timeLimited;
    }
  } finally {
    await compiled.dispose();
  }
  const info: DistillationInfo = {
    method:
      options.method === 'progressive'
        ? 'progressive'
        : options.method === 'consistency'
          ? 'consistency-distillation'
          : 'consistency-training',
    steps: options.steps,
    guidance: options.guidance,
  };
  const seconds = (performance.now() - started) / 1000;
  const studentSummary = { ...summary, data: name, seconds, timeLimited };
  savePipeline(options.outDir, {
    network: teacher.network,
    params,
    scheduler,
    ...(teacher.vae ? { vae: teacher.vae } : {}),
    extra: {
      [DISTILLATION_FILE]: distillationInfoText(info),
      [SUMMARY_FILE]: `${JSON.stringify(studentSummary, null, 2)}\n`,
    },
  });
  return { seconds, finalLosses, timeLimited };
}
