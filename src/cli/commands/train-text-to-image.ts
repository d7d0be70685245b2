/**
 * `diffusion train --data mnist-captions --out DIR`: the text-to-image branch of `train`. It trains the
 * captioned dataset's preset (a UNet2DConditionModel and a CLIP text encoder jointly, with caption
 * dropout for classifier-free guidance; `--config FILE` gives a whole text-to-image config instead) and
 * writes a diffusers-layout folder — model_index.json, unet/, text_encoder/, tokenizer/, scheduler/ —
 * plus `metrics.jsonl` and `training_summary.json`. `--init-unet DIR` starts the U-Net from the matching
 * tensors of a saved pixel-space pipeline (e.g. one `train --data mnist` wrote). Resuming is not
 * offered for these runs.
 *
 * This command must not implement training or sampling: it validates flags and wires
 * `trainTextToImage` and the folder writer together.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDataset } from '../../data/dataset.js';
import { schedulerConfig, type SchedulerConfig } from '../../diffusion/scheduler-config.js';
import { readJsonFile, stringifyJson } from '../../io/json.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import { saveTextToImagePipeline } from '../../models/text-to-image-folder.js';
import type { Params } from '../../models/types.js';
import { progressReporter } from '../../training/progress.js';
import {
  parseTextToImageConfig,
  textToImageModels,
  textToImagePreset,
  textToImagePresetNames,
  trainTextToImage,
  type TextToImageConfig,
} from '../../training/text-to-image.js';
import { UsageError } from '../../util/errors.js';
import { assertWritableDir } from '../../util/fs.js';
import { integerFlag, numberFlag } from '../flags.js';
import { checkOutFolder, SUMMARY_NAME } from './run-folder.js';

const METRICS_NAME = 'metrics.jsonl';

/** The flags of `train` this branch reads. */
export interface TextToImageTrainFlags {
  out: string;
  data?: string;
  config?: string;
  steps?: string;
  batchSize?: string;
  lr?: string;
  seed?: string;
  resume?: boolean;
  timeLimit?: string;
  initUnet?: string;
}

/** Whether `train --data NAME` (or a `--config` naming a captioned dataset) is a text-to-image run. */
export function isTextToImageRun(flags: { data?: string; config?: string }): boolean {
  if (flags.data !== undefined) return textToImagePresetNames().includes(flags.data);
  if (flags.config === undefined) return false;
  const config = readJsonFile(flags.config, 'training config');
  return typeof config === 'object' && config !== null && !Array.isArray(config) && 'textEncoder' in config;
}

function runConfig(flags: TextToImageTrainFlags): TextToImageConfig {
  const base = flags.config
    ? (readJsonFile(flags.config, 'text-to-image config') as Record<string, unknown>)
    : textToImagePreset(flags.data!);
  const overrides: Record<string, unknown> = {};
  if (flags.steps) overrides.steps = integerFlag('--steps', flags.steps, 1, 10_000_000);
  if (flags.batchSize) overrides.batchSize = integerFlag('--batch-size', flags.batchSize, 1, 65_536);
  if (flags.lr) overrides.lr = numberFlag('--lr', flags.lr, 0, 1, true);
  if (flags.seed) overrides.seed = integerFlag('--seed', flags.seed, 0);
  return parseTextToImageConfig({ ...base, ...overrides }, flags.config ?? 'text-to-image config');
}

/** The DDPM schedule the model was trained under, as the folder's scheduler_config.json. */
function trainedScheduler(config: TextToImageConfig): SchedulerConfig {
  return schedulerConfig('DDPMScheduler', {
    numTrainTimesteps: config.numTrainTimesteps,
    betaStart: config.betaStart,
    betaEnd: config.betaEnd,
    betaSchedule: config.betaSchedule,
    predictionType: config.objective,
    clipSample: true,
  });
}

/** Starting U-Net weights from `--init-unet DIR` (a pixel-space pipeline folder). */
function initialUnet(dir: string | undefined): Params | undefined {
  if (dir === undefined) return undefined;
  const pipeline = loadPipeline(dir);
  if (pipeline.vae)
    throw new UsageError(`--init-unet: '${dir}' holds a latent model; pass a pixel-space one`);
  return pipeline.params;
}

/** Trains and saves a text-to-image run (see the module header). */
export async function runTextToImageTrain(flags: TextToImageTrainFlags): Promise<void> {
  if (flags.resume)
    throw new UsageError('--resume is not available for text-to-image runs; start a new --out');
  checkOutFolder(flags.out, false);
  const config = runConfig(flags);
  const timeLimit = flags.timeLimit
    ? 60 * numberFlag('--time-limit', flags.timeLimit, 0, 1e6, true)
    : undefined;
  const initUnet = initialUnet(flags.initUnet);
  assertWritableDir(flags.out);
  const dataset = await resolveDataset(config.data, config.dataOptions);
  const models = textToImageModels(config, dataset);
  const reporter = progressReporter({
    stream: process.stderr,
    logEvery: 10,
    metricsPath: join(flags.out, METRICS_NAME),
    startStep: 0,
    totalSteps: config.steps,
  });
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const started = Date.now();
  let result;
  try {
    result = await trainTextToImage({
      config,
      models,
      dataset,
      signal: controller.signal,
      ...(timeLimit !== undefined ? { timeLimitSeconds: timeLimit } : {}),
      ...(initUnet ? { initialUnet: initUnet } : {}),
      onStep: (r) => reporter.onStep({ ...r, stepsPerSecond: r.step / ((Date.now() - started) / 1000) }),
    });
  } finally {
    process.off('SIGINT', onSigint);
    reporter.finish();
  }
  const tail = result.losses.slice(-100);
  const meanLoss = tail.reduce((a, b) => a + b, 0) / Math.max(tail.length, 1);
  const summary = {
    data: config.data,
    classNames: null,
    step: result.steps,
    totalSteps: config.steps,
    seconds: result.seconds,
    finalLoss: result.losses.at(-1) ?? null,
    meanLossLast100: meanLoss,
    interrupted: controller.signal.aborted,
    timeLimited: result.timeLimited,
    copiedUnetParams: result.copiedUnetParams,
    config,
  };
  saveTextToImagePipeline(
    flags.out,
    {
      unet: models.unet,
      unetParams: result.samplingParams.unet,
      textEncoder: models.textEncoder,
      textEncoderParams: result.samplingParams.textEncoder,
      tokenizer: models.tokenizer,
      schedulerConfig: trainedScheduler(config),
    },
    {
      [SUMMARY_NAME]: `${stringifyJson(summary as never, { indent: 2 })}\n`,
      [METRICS_NAME]: readMetrics(flags.out),
    },
  );
  process.stdout.write(
    `trained ${result.steps} steps in ${result.seconds.toFixed(1)} s, mean loss of the last ${tail.length} ${meanLoss.toFixed(4)}; wrote ${flags.out} (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/)\n`,
  );
}

/** The metrics log written during the run, carried into the atomically replaced folder. */
function readMetrics(out: string): string {
  const path = join(out, METRICS_NAME);
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
