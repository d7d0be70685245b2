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
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { datasetNames, resolveDataset, type Dataset } from '../../data/dataset.js';
import { schedulerConfig, type SchedulerConfig } from '../../diffusion/scheduler-config.js';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { readJsonFile } from '../../io/json.js';
import { CONFIG_NAME, savePipeline, type VaeComponent } from '../../models/pipeline-folder.js';
import { buildNetwork } from '../../models/registry.js';
import type { DenoiserNetwork, Params } from '../../models/types.js';
import { evaluationHook } from '../../metrics/evaluate.js';
import { generate } from '../../pipelines/generate.js';
import { encodeDataset, fitUNetLevels, loadVaeFolder, pipelineOutput } from '../../pipelines/latent.js';
import { SIGNAL_INFO_NAME, signalInfoFor, signalInfoText } from '../../pipelines/signals.js';
import { TRAINING_STATE_DIR } from '../../training/checkpoint.js';
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
import { checkOutFolder, runFiles, writeSummary } from './run-folder.js';
import { isSignalData, isVectorData, writeSamples } from './sample.js';
import { isTextToImageRun, runTextToImageTrain } from './train-text-to-image.js';

const METRICS_NAME = 'metrics.jsonl';
const SAMPLES_NAME = 'samples.png';
/** The final samples file: samples.png, or samples.csv for 1-D signal models. */
const samplesName = (format: 'png' | 'csv'): string => SAMPLES_NAME.replace('.png', `.${format}`);

/** Network presets for `--model`: a registry class and its config. */
const MODEL_PRESETS: Record<string, TrainConfig['model']> = {
  'mlp-small': { className: 'MLPDenoiser', config: { hidden_size: 64, num_layers: 2 } },
  mlp: { className: 'MLPDenoiser', config: {} },
  'mlp-large': { className: 'MLPDenoiser', config: { hidden_size: 256, num_layers: 4 } },
  'unet-small': { className: 'UNet2DModel', config: SMALL_UNET_CONFIG },
  unet: { className: 'UNet2DModel', config: {} },
};

interface TrainFlags {
  out: string;
  data?: string;
  dataPath?: string;
  config?: string;
  model?: string;
  steps?: string;
  batchSize?: string;
  gradientAccumulation?: string;
  lr?: string;
  seed?: string;
  resume?: boolean;
  vae?: string;
  sampleEvery?: string;
  checkpointEvery?: string;
  timeLimit?: string;
  evalEvery?: string;
  initUnet?: string;
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
  if (flags.dataPath) {
    const options = (base.dataOptions ?? {}) as Record<string, unknown>;
    overrides.dataOptions = { ...options, path: flags.dataPath };
  }
  if (flags.model)
    overrides.model = MODEL_PRESETS[choiceFlag('--model', flags.model, Object.keys(MODEL_PRESETS))];
  if (flags.steps) overrides.steps = integerFlag('--steps', flags.steps, 1, 10_000_000);
  if (flags.batchSize) overrides.batchSize = integerFlag('--batch-size', flags.batchSize, 1, 65_536);
  if (flags.gradientAccumulation)
    overrides.gradientAccumulation = integerFlag(
      '--gradient-accumulation',
      flags.gradientAccumulation,
      1,
      1024,
    );
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
  if (['UNet2DModel', 'UNet1DModel', 'ForecastUNet1DModel'].includes(config.model.className)) {
    // [C, H, W] images or [C, L] signals: the last axis is the (square image's / signal's) size.
    const channels = dataset.shape[0];
    const size = dataset.shape[dataset.shape.length - 1];
    Object.assign(fit, { sample_size: size, in_channels: channels, out_channels: channels });
  }
  if (config.classConditional && dataset.numClasses) fit.num_class_embeds = dataset.numClasses + 1;
  return buildNetwork({ _class_name: config.model.className, ...fit, ...config.model.config });
}

/** The DDPM schedule the model was trained under; vector data and latents are not clipped to [−1, 1]. */
function trainedScheduler(config: TrainConfig, network: DenoiserNetwork, latent = false): SchedulerConfig {
  return schedulerConfig('DDPMScheduler', {
    numTrainTimesteps: config.numTrainTimesteps,
    betaStart: config.betaStart,
    betaEnd: config.betaEnd,
    betaSchedule: config.betaSchedule,
    predictionType: config.objective,
    // Standardised series (a forecasting model's windows) are not confined to [−1, 1].
    clipSample: !isVectorData(network) && !latent && !network.conditioningInput,
  });
}

/** The VAE of a latent diffusion run: `--vae DIR`, or the run's own vae/ when resuming one. */
function latentVae(flags: TrainFlags): VaeComponent | undefined {
  if (flags.vae) return loadVaeFolder(flags.vae);
  const saved = join(flags.out, 'vae');
  return flags.resume && existsSync(join(saved, CONFIG_NAME)) ? loadVaeFolder(saved) : undefined;
}

/** The config with a UNet2DModel's levels trimmed to those the latent side allows. */
function withUNetFitted(config: TrainConfig, side: number): TrainConfig {
  if (config.model.className !== 'UNet2DModel') return config;
  return { ...config, model: { ...config.model, config: fitUNetLevels(config.model.config, side) } };
}

/** Whether `--eval-every` can score this sample shape: vectors, or single-channel 28/32-px digits. */
const evaluable = (shape: readonly number[]): boolean =>
  shape.length === 1 ||
  (shape.length === 3 && shape[0] === 1 && shape[1] === shape[2] && [28, 32].includes(shape[1]));

async function runTrain(flags: TrainFlags): Promise<void> {
  if (isTextToImageRun(flags)) return runTextToImageTrain(flags);
  checkOutFolder(flags.out, flags.resume ?? false);
  const config = runConfig(flags);
  resolveSampler(config.sampler);
  const out = flags.out;
  const vae = latentVae(flags);
  // Images at the VAE's own size where the dataset has a size option (the mnist preset pads to 32).
  const sized = vae && 'imageSize' in config.dataOptions ? { imageSize: vae.model.config.sample_size } : {};
  const data = await resolveDataset(config.data, { ...config.dataOptions, ...sized });
  // Latent diffusion: the data is encoded once and the denoiser (its levels fitted to the latent side) trains on it.
  const dataset = vae ? await encodeDataset(vae, data) : data;
  const network = networkFor(vae ? withUNetFitted(config, dataset.shape[1]) : config, dataset);
  const scheduler = trainedScheduler(config, network, vae !== undefined);
  // 1-D signals: record the normalisation / sample rate (carried by every save) and sample as CSV.
  const signal = signalInfoFor(dataset);
  if (signal) writeFileAtomic(join(out, SIGNAL_INFO_NAME), signalInfoText(signal));
  const samplesFormat = isSignalData(network) ? 'csv' : 'png';
  // A class-conditional model previews every class: sample i asks for class i mod K (a column per class).
  const classes = network.numClassEmbeds === null ? 0 : network.numClassEmbeds - 1;
  const previewLabels = classes > 0 ? Array.from({ length: config.numSamples }, (_, i) => i % classes) : null;
  const sampleImage = async (weights: Params, step: number, final: boolean) => {
    const samples = await generate({
      network,
      params: weights,
      schedulerConfig: scheduler,
      sampler: config.sampler,
      numSteps: config.sampleSteps,
      numSamples: config.numSamples,
      seed: config.seed,
      ...(previewLabels ? { classLabels: previewLabels } : {}),
    });
    const name = final ? samplesName(samplesFormat) : `samples-step${step}.${samplesFormat}`;
    const output = await pipelineOutput(samples, network.sampleShape, vae);
    writeSamples(join(out, name), output.samples, output, samplesFormat, out);
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
  const evalEvery = flags.evalEvery ? integerFlag('--eval-every', flags.evalEvery, 1) : 0;
  // Metrics against held-out data of the run's dataset (not for latent runs: the judge sees pixels).
  const evaluator =
    evalEvery > 0 && !vae
      ? evaluationHook({
          network,
          schedulerConfig: scheduler,
          dataset: config.data,
          metricsPath: join(out, METRICS_NAME),
        })
      : null;
  if (evalEvery > 0 && (vae || !evaluable(network.sampleShape)))
    throw new UsageError('--eval-every evaluates points and MNIST-like 1×28×28 or 1×32×32 images only', {
      hint: 'latent runs and other images: run `diffusion eval` on the saved folder instead',
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
      ...(evaluator
        ? {
            evalEvery,
            onEvaluate: async (weights: Params, step: number) =>
              void (await evaluator.evaluate(weights, step)),
          }
        : {}),
      ...(flags.timeLimit
        ? { timeLimitSeconds: 60 * numberFlag('--time-limit', flags.timeLimit, 0, 1e6, true) }
        : {}),
      onStep: (report) => reporter.onStep(report),
      saveWeights: (dir, weights) =>
        savePipeline(dir, {
          network,
          params: weights,
          scheduler,
          ...(vae ? { vae } : {}),
          extra: runFiles(dir),
        }),
      onSample: sampleImage,
    });
  } finally {
    process.off('SIGINT', onSigint);
    reporter.finish();
    await evaluator?.dispose();
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
  process.stdout.write(`wrote ${out} (pipeline folder, ${METRICS_NAME}, ${samplesName(samplesFormat)})\n`);
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
    .option('--data-path <dir|file>', 'the folder or CSV file of image-folder, audio-folder, timeseries')
    .option('--config <file>', 'training config JSON (fields as in training_state/state.json "config")')
    .option('--model <preset>', `network preset: ${Object.keys(MODEL_PRESETS).join(', ')}`)
    .option('--steps <n>', 'optimizer steps in total')
    .option('--batch-size <n>', 'examples per step')
    .option('--gradient-accumulation <k>', 'average gradients over k batches per update (batch k × size)')
    .option('--lr <rate>', 'peak learning rate')
    .option('--seed <n>', 'random seed')
    .option('--resume', 'continue the run in --out from its training_state/')
    .option('--vae <dir>', 'latent diffusion: train on the latents of this AutoencoderKL folder (train-vae)')
    .option('--sample-every <n>', 'write samples-step<N>.png every N steps (0: only at the end)')
    .option('--eval-every <n>', 'append eval metrics (FID/accuracy or MMD) to metrics.jsonl every N steps')
    .option('--time-limit <minutes>', 'stop after this much training time, finishing as if complete')
    .option('--checkpoint-every <n>', 'save a checkpoint every N steps (0: only at the end)')
    .option(
      '--init-unet <dir>',
      'text-to-image runs: start the U-Net from the matching weights of this pipeline',
    )
    .action(runTrain);
}
