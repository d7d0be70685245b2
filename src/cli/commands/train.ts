/**
 * `diffusion train --data NAME --out DIR`: trains a denoiser on a built-in dataset from the dataset's
 * preset (or a `--config` JSON), with flags overriding single fields, and writes a run folder that is a
 * diffusers pipeline folder (model_index.json, unet/, scheduler/) plus `training_state/` (resumable with
 * `--resume`), `metrics.jsonl`, `training_summary.json` and `samples.png` (a scatter plot for 2-D data,
 * an image grid for images). SIGINT stops after the current step, checkpoints, and exits 130.
 *
 * This command must not implement training or sampling: it validates flags and wires `train`, `generate`
 * and the pipeline folder together.
 */
import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { datasetNames, resolveDataset, type Dataset } from '../../data/dataset.js';
import { schedulerConfig, type SchedulerConfig } from '../../diffusion/scheduler-config.js';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { readJsonFile, stringifyJson } from '../../io/json.js';
import { CONFIG_NAME, MODEL_INDEX, savePipeline } from '../../models/pipeline-folder.js';
import { buildNetwork } from '../../models/registry.js';
import type { DenoiserNetwork, Params } from '../../models/types.js';
import { generate } from '../../pipelines/generate.js';
import { TRAINING_STATE_DIR, hasTrainingState } from '../../training/checkpoint.js';
import {
  SMALL_UNET_CONFIG,
  parseTrainConfig,
  presetFor,
  presetNames,
  type TrainConfig,
} from '../../training/config.js';
import { progressReporter, summaryLine } from '../../training/progress.js';
import { train, type TrainResult } from '../../training/trainer.js';
import { UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import { isVectorData, writeSamples } from './sample.js';

export const SUMMARY_NAME = 'training_summary.json';
const METRICS_NAME = 'metrics.jsonl';
const SAMPLES_NAME = 'samples.png';

/** Network presets for `--model`: a registry class and its config. */
const MODEL_PRESETS: Record<string, TrainConfig['model']> = {
  'mlp-small': { className: 'MLPDenoiser', config: { hidden_size: 64, num_layers: 2 } },
  mlp: { className: 'MLPDenoiser', config: {} },
  'mlp-large': { className: 'MLPDenoiser', config: { hidden_size: 256, num_layers: 4 } },
  'unet-small': { className: 'UNet2DModel', config: SMALL_UNET_CONFIG },
  unet: { className: 'UNet2DModel', config: {} },
};

/** What `training_summary.json` records of a run (read by `info` and `sample --class NAME`). */
export interface RunSummary {
  data: string;
  classNames: string[] | null;
  step: number;
  totalSteps: number;
  seconds: number;
  finalLoss: number | null;
  interrupted: boolean;
}

/** The run summary of a folder, or null when it has none. */
export function readRunSummary(dir: string): RunSummary | null {
  const path = join(dir, SUMMARY_NAME);
  return existsSync(path) ? (readJsonFile(path, 'training summary') as unknown as RunSummary) : null;
}

interface TrainFlags {
  out: string;
  data?: string;
  config?: string;
  model?: string;
  steps?: string;
  batchSize?: string;
  lr?: string;
  seed?: string;
  resume?: boolean;
  sampleEvery?: string;
  checkpointEvery?: string;
}

/** The run's config: saved (resume), file or preset, then the flags' overrides, validated. */
function runConfig(flags: TrainFlags): TrainConfig {
  let base: Record<string, unknown>;
  if (flags.resume) {
    const saved = readJsonFile(join(flags.out, TRAINING_STATE_DIR, 'state.json'), 'training state');
    base = (saved as { config: Record<string, unknown> }).config;
  } else if (flags.config) {
    base = readJsonFile(flags.config, 'training config') as Record<string, unknown>;
  } else if (flags.data) {
    base = presetFor(choiceFlag('--data', flags.data, presetNames())) as Record<string, unknown>;
  } else {
    throw new UsageError('train needs --data NAME or --config FILE', {
      hint: `datasets: ${presetNames().join(', ')}`,
    });
  }
  const overrides: Record<string, unknown> = {};
  if (flags.data && !flags.resume) overrides.data = choiceFlag('--data', flags.data, datasetNames());
  if (flags.model)
    overrides.model = MODEL_PRESETS[choiceFlag('--model', flags.model, Object.keys(MODEL_PRESETS))];
  if (flags.steps) overrides.steps = integerFlag('--steps', flags.steps, 1, 10_000_000);
  if (flags.batchSize) overrides.batchSize = integerFlag('--batch-size', flags.batchSize, 1, 65_536);
  if (flags.lr) overrides.lr = numberFlag('--lr', flags.lr, 0, 1, true);
  if (flags.seed) overrides.seed = integerFlag('--seed', flags.seed, 0);
  if (flags.sampleEvery) overrides.sampleEvery = integerFlag('--sample-every', flags.sampleEvery, 0);
  if (flags.checkpointEvery)
    overrides.checkpointEvery = integerFlag('--checkpoint-every', flags.checkpointEvery, 0);
  const config = parseTrainConfig({ ...base, ...overrides }, flags.config ?? 'training config');
  if (!datasetNames().includes(config.data)) choiceFlag('data', config.data, datasetNames());
  return config;
}

/** The network the config names, sized for the dataset's samples and classes. */
function networkFor(config: TrainConfig, dataset: Dataset): DenoiserNetwork {
  const fit: Record<string, unknown> = {};
  if (config.model.className === 'MLPDenoiser') fit.in_features = dataset.shape[0];
  if (config.model.className === 'UNet2DModel') {
    const [channels, size] = dataset.shape;
    Object.assign(fit, { sample_size: size, in_channels: channels, out_channels: channels });
  }
  if (config.classConditional && dataset.numClasses) fit.num_class_embeds = dataset.numClasses + 1;
  return buildNetwork({ _class_name: config.model.className, ...fit, ...config.model.config });
}

/** The DDPM schedule the model was trained under; vector data is not clipped to [−1, 1] when sampling. */
function trainedScheduler(config: TrainConfig, network: DenoiserNetwork): SchedulerConfig {
  return schedulerConfig('DDPMScheduler', {
    numTrainTimesteps: config.numTrainTimesteps,
    betaStart: config.betaStart,
    betaEnd: config.betaEnd,
    betaSchedule: config.betaSchedule,
    predictionType: config.objective,
    clipSample: !isVectorData(network),
  });
}

/**
 * Every file of the run folder outside the pipeline components, so that a weights save keeps them —
 * training_state/ included: a kill between this save and the trainer's next state write must still leave
 * a resumable folder. Temporary siblings left by an interrupted atomic write are not carried.
 */
function runFiles(runDir: string): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  if (!existsSync(runDir)) return files;
  const skip = new Set(['unet', 'scheduler', 'vae', MODEL_INDEX]);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if ((dir === runDir && skip.has(name)) || /^\..*\.tmp-/.test(name)) continue;
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(runDir, path)] = readFileSync(path);
    }
  };
  walk(runDir);
  return files;
}

/** Refuses to overwrite a finished or resumable run unless resuming it. */
function checkOutFolder(flags: TrainFlags): void {
  const { out } = flags;
  if (flags.resume) {
    if (!hasTrainingState(out))
      throw new UsageError(`--resume: '${out}' holds no ${TRAINING_STATE_DIR}/ to resume from`);
    return;
  }
  if (
    existsSync(join(out, MODEL_INDEX)) ||
    hasTrainingState(out) ||
    existsSync(join(out, 'unet', CONFIG_NAME))
  ) {
    throw new UsageError(`--out '${out}' already holds a run`, {
      hint: 'pass --resume to continue it, or choose another --out',
    });
  }
}

function writeSummary(out: string, config: TrainConfig, dataset: Dataset, result: TrainResult): void {
  const summary: RunSummary = {
    data: config.data,
    classNames: dataset.classNames ? [...dataset.classNames] : null,
    step: result.step,
    totalSteps: config.steps,
    seconds: result.seconds,
    finalLoss: result.losses.at(-1) ?? null,
    interrupted: result.interrupted,
  };
  writeFileAtomic(join(out, SUMMARY_NAME), `${stringifyJson(summary, { indent: 2 })}\n`);
}

async function runTrain(flags: TrainFlags): Promise<void> {
  checkOutFolder(flags);
  const config = runConfig(flags);
  resolveSampler(config.sampler);
  const dataset = await resolveDataset(config.data, config.dataOptions);
  const network = networkFor(config, dataset);
  const scheduler = trainedScheduler(config, network);
  const out = flags.out;
  const sampleImage = async (weights: Params, step: number) => {
    const samples = await generate({
      network,
      params: weights,
      schedulerConfig: scheduler,
      sampler: config.sampler,
      numSteps: config.sampleSteps,
      numSamples: config.numSamples,
      seed: config.seed,
    });
    const name = step === config.steps ? SAMPLES_NAME : `samples-step${step}.png`;
    writeSamples(join(out, name), samples, network, 'png');
  };
  const startStep = flags.resume
    ? (readJsonFile(join(out, TRAINING_STATE_DIR, 'state.json'), 'training state') as { step: number }).step
    : 0;
  const reporter = progressReporter({
    stream: process.stderr,
    logEvery: config.logEvery,
    metricsPath: join(out, METRICS_NAME),
    startStep,
    totalSteps: config.steps,
  });
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let result: TrainResult;
  try {
    result = await train({
      config,
      network,
      dataset,
      runDir: out,
      resume: flags.resume ?? false,
      signal: controller.signal,
      onStep: (report) => reporter.onStep(report),
      saveWeights: (dir, weights) =>
        savePipeline(dir, { network, params: weights, scheduler, extra: runFiles(dir) }),
      onSample: sampleImage,
    });
  } finally {
    process.off('SIGINT', onSigint);
    reporter.finish();
  }
  writeSummary(out, config, dataset, result);
  process.stdout.write(`${summaryLine(result)}\n`);
  if (result.interrupted) {
    process.stdout.write(
      `checkpoint saved in ${out}; continue with: diffusion train --out ${out} --resume\n`,
    );
    process.exitCode = 130;
    return;
  }
  process.stdout.write(`wrote ${out} (pipeline folder, ${METRICS_NAME}, ${SAMPLES_NAME})\n`);
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a diffusion model on a built-in dataset into a pipeline folder')
    .requiredOption(
      '--out <dir>',
      'run folder (pipeline folder + training_state/ + metrics.jsonl + samples.png)',
    )
    .option('--data <name>', `dataset (its preset gives the defaults): ${presetNames().join(', ')}`)
    .option('--config <file>', 'training config JSON (fields as in training_state/state.json "config")')
    .option('--model <preset>', `network preset: ${Object.keys(MODEL_PRESETS).join(', ')}`)
    .option('--steps <n>', 'optimizer steps in total')
    .option('--batch-size <n>', 'examples per step')
    .option('--lr <rate>', 'peak learning rate')
    .option('--seed <n>', 'random seed')
    .option('--resume', 'continue the run in --out from its training_state/')
    .option('--sample-every <n>', 'write samples-step<N>.png every N steps (0: only at the end)')
    .option('--checkpoint-every <n>', 'save a checkpoint every N steps (0: only at the end)')
    .action(runTrain);
}
