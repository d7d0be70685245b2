/**
 * `diffusion eval --model DIR` (or `--images DIR`): scores a model's samples against held-out data of
 * the dataset it was trained on and prints a table; `--json FILE` also writes the report. Vector models
 * get MMD² and sliced Wasserstein; MNIST-like image models FID, KID, precision/recall in the shipped
 * classifier's feature space and, when class-conditional, class accuracy (overall and per digit). A
 * folder of 28×28 PNG digits can be scored instead of a model.
 *
 * This command must not train; it parses and checks flags, calls src/metrics/evaluate.ts and renders.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { stringifyJson } from '../../io/json.js';
import {
  evaluatePipeline,
  evaluateSamples,
  metricValues,
  readImageSamples,
  trainedDataset,
  type EvaluationReport,
} from '../../metrics/evaluate.js';
import { loadPipeline, MODEL_INDEX } from '../../models/pipeline-folder.js';
import { isDiffusionError, UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { integerFlag, numberFlag } from '../flags.js';

interface EvalFlags {
  model?: string;
  images?: string;
  dataset?: string;
  num?: string;
  sampler: string;
  steps: string;
  guidance: string;
  seed: string;
  json?: string;
}

/** Runs `read`, turning a refused input (missing, wrong shape, bad format) into a usage error (exit 2). */
function asUsage<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isDiffusionError(error) && error.code !== 'usage')
      throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

/** The report of `--images DIR`: the PNGs scored as MNIST-like digits. */
async function imagesReport(flags: EvalFlags): Promise<EvaluationReport> {
  const { samples, shape } = asUsage(() => readImageSamples(flags.images!));
  return evaluateSamples(samples, shape, flags.dataset ?? 'mnist');
}

/** The report of `--model DIR`: samples drawn with the sampling flags and scored. */
async function modelReport(flags: EvalFlags): Promise<EvaluationReport> {
  const dir = flags.model!;
  if (!existsSync(join(dir, MODEL_INDEX))) {
    throw new UsageError(`--model: '${dir}' is not a pipeline folder (it has no ${MODEL_INDEX})`, {
      hint: 'pass a folder written by `diffusion train` or a diffusers pipeline folder',
    });
  }
  const steps = integerFlag('--steps', flags.steps, 1, 10_000);
  const seed = integerFlag('--seed', flags.seed, 0);
  const guidance = numberFlag('--guidance', flags.guidance, 0, 100);
  try {
    resolveSampler(flags.sampler);
  } catch (error) {
    throw new UsageError(`--sampler: ${(error as Error).message}`);
  }
  const pipeline = asUsage(() => loadPipeline(dir));
  const dataset = flags.dataset ?? trainedDataset(dir, pipeline.network);
  const num = integerFlag('--num', flags.num ?? defaultCount(pipeline.network.sampleShape), 2, 100_000);
  return evaluatePipeline({
    ...pipeline,
    dataset,
    numSamples: num,
    sampler: flags.sampler,
    steps,
    guidance,
    seed,
  });
}

/** Default sample count: 512 points, or 500 images (sampling a U-Net is the slow part). */
const defaultCount = (shape: readonly number[]) => (shape.length === 1 ? '512' : '500');

/** The table printed for a report: one metric per line, then the per-class accuracies. */
export function reportTable(report: EvaluationReport): string {
  const how = report.sampling
    ? `${report.sampling.sampler}, ${report.sampling.steps} steps, guidance ${report.sampling.guidance}, seed ${report.sampling.seed}; sampling ${report.samplingSeconds.toFixed(1)} s`
    : 'given samples';
  const lines = [
    `${report.numSamples} samples (${how}) against ${report.reference} (${report.numReference})`,
    `${'metric'.padEnd(20)} value`,
  ];
  for (const [name, value] of Object.entries(metricValues(report))) {
    lines.push(`${name.padEnd(20)} ${formatValue(value)}`);
  }
  if (report.kind === 'image' && report.metrics.perClassAccuracy) {
    const cells = report.metrics.perClassAccuracy.map((a, k) => `${k}:${(100 * a).toFixed(0)}%`);
    lines.push(`${'accuracy by class'.padEnd(20)} ${cells.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

const formatValue = (value: number) =>
  Math.abs(value) >= 1000 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(3)
    : value.toFixed(4);

async function runEval(flags: EvalFlags): Promise<void> {
  if ((flags.model === undefined) === (flags.images === undefined)) {
    throw new UsageError('give exactly one of --model DIR and --images DIR');
  }
  if (flags.num !== undefined) integerFlag('--num', flags.num, 2, 100_000);
  const report = flags.images !== undefined ? await imagesReport(flags) : await modelReport(flags);
  process.stdout.write(reportTable(report));
  if (flags.json !== undefined) {
    writeFileAtomic(flags.json, `${stringifyJson(report, { indent: 2 })}\n`);
    process.stdout.write(`wrote ${flags.json}\n`);
  }
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('score a model (or a folder of PNG digits) against held-out data: FID/KID/accuracy or MMD')
    .option('--model <dir>', 'pipeline folder to sample and evaluate')
    .option('--images <dir>', 'folder of 28×28 (or 32×32) grey PNG digits to evaluate instead of a model')
    .option('--dataset <name>', 'data to compare with (default: the dataset the model was trained on)')
    .option('--num <n>', 'number of samples (default 512 points or 500 images; at least 2)')
    .option(
      '--sampler <name>',
      'sampler (dpmpp_2m, euler_a, ddim, … or a diffusers scheduler class)',
      'dpmpp_2m',
    )
    .option('--steps <n>', 'sampling steps', '20')
    .option('--guidance <s>', 'classifier-free guidance scale for class-conditional models', '1')
    .option('--seed <n>', 'random seed', '0')
    .option('--json <file>', 'also write the report as JSON')
    .action(runEval);
}
