/**
 * `diffusion eval --model DIR` (or `--images DIR`): scores a model's samples against held-out data of
 * the dataset it was trained on and prints a table; `--json FILE` also writes the report. Vector models
 * get MMD² and sliced Wasserstein; MNIST-like image models FID, KID, precision/recall in the shipped
 * classifier's feature space (or in a user's ONNX network's, `--features model.onnx --layer NAME`) and,
 * when class-conditional, class accuracy (overall and per digit). `--metrics` picks some of these, or
 * bits/dim of held-out digits through the probability-flow ODE (`bpd`, only on request: it is slow). A
 * folder of 28×28 PNG digits can be scored instead of a model.
 *
 * This command must not train; it parses and checks flags, calls src/metrics/evaluate.ts and renders.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { stringifyJson } from '../../io/json.js';
import { DIVERGENCE_ESTIMATORS, type DivergenceEstimator } from '../../diffusion/likelihood.js';
import {
  checkMetricsApply,
  defaultMetrics,
  evaluatePipeline,
  evaluateSamples,
  metricValues,
  parseMetricNames,
  readImageSamples,
  referenceData,
  trainedDataset,
  type EvaluatedData,
  type EvaluationReport,
  type MetricName,
} from '../../metrics/evaluate.js';
import { bitsPerDimension, type BitsPerDimReport } from '../../metrics/likelihood.js';
import {
  FEATURE_RANGES,
  loadFeatureNetwork,
  type FeatureNetwork,
  type FeatureRange,
} from '../../metrics/onnx-features.js';
import { loadPipeline, MODEL_INDEX, type LoadedPipeline } from '../../models/pipeline-folder.js';
import { isDiffusionError, UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';

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
  metrics?: string;
  features?: string;
  layer?: string;
  featuresRange: string;
  bpdNum?: string;
  bpdEstimator: string;
  bpdTol: string;
}

/** What `diffusion eval` prints and writes: the sample metrics and/or bits/dim, as selected. */
interface EvalResult {
  metrics: MetricName[];
  report: EvaluationReport | null;
  bpd: BitsPerDimReport | null;
}

/** Metrics computed from samples (everything but bits/dim). */
const sampleMetrics = (metrics: readonly MetricName[]) => metrics.filter((m) => m !== 'bpd');

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

/** The metrics `--metrics` names (default: those that apply), checked against the data. */
function selectedMetrics(flags: EvalFlags, data: EvaluatedData): MetricName[] {
  const metrics = flags.metrics === undefined ? defaultMetrics(data) : parseMetricNames(flags.metrics);
  checkMetricsApply(metrics, data);
  if (flags.features !== undefined && data.kind === 'vector') {
    throw new UsageError('--features applies to image data; vector data is scored with mmd, swd');
  }
  return metrics;
}

/** The user's feature network of `--features FILE --layer NAME`, or none. */
async function featureNetwork(flags: EvalFlags): Promise<FeatureNetwork | undefined> {
  if (flags.features === undefined) {
    if (flags.layer !== undefined) throw new UsageError('--layer needs --features model.onnx');
    return undefined;
  }
  if (flags.layer === undefined) {
    throw new UsageError('--features needs --layer NAME: the value of the network to use as features');
  }
  const range = choiceFlag('--features-range', flags.featuresRange, FEATURE_RANGES) as FeatureRange;
  const path = flags.features;
  const layer = flags.layer;
  return asUsageAsync(() => loadFeatureNetwork(path, layer, { range }));
}

/** Like `asUsage`, for a promise. */
async function asUsageAsync<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isDiffusionError(error) && error.code !== 'usage')
      throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

/** The result of `--images DIR`: the PNGs scored as MNIST-like digits. */
async function imagesResult(flags: EvalFlags): Promise<EvalResult> {
  const { samples, shape } = asUsage(() => readImageSamples(flags.images!));
  const metrics = selectedMetrics(flags, { kind: 'image', conditional: false, model: false });
  const features = await featureNetwork(flags);
  try {
    const report = await evaluateSamples(samples, shape, flags.dataset ?? 'mnist', {
      ...(features ? { features } : {}),
    });
    return { metrics, report, bpd: null };
  } finally {
    await features?.dispose();
  }
}

/** Bits/dim of the first `count` held-out examples under the model (`--metrics bpd`). */
async function bpdReport(
  flags: EvalFlags,
  pipeline: LoadedPipeline,
  dataset: string,
  count: number,
): Promise<BitsPerDimReport> {
  const estimator = choiceFlag(
    '--bpd-estimator',
    flags.bpdEstimator,
    DIVERGENCE_ESTIMATORS,
  ) as DivergenceEstimator;
  const tolerance = numberFlag('--bpd-tol', flags.bpdTol, 1e-8, 0.1);
  const seed = integerFlag('--seed', flags.seed, 0);
  const { shape, data } = await referenceData(dataset, pipeline.network.sampleShape);
  const perExample = shape.reduce((a, b) => a * b, 1);
  const available = data.length / perExample;
  if (count > available) {
    throw new UsageError(`bits/dim: asked for ${count} held-out examples, the reference has ${available}`);
  }
  return bitsPerDimension({
    ...pipeline,
    images: data.subarray(0, count * perExample),
    settings: { estimator, tolerance, seed },
  });
}

/** The result of `--model DIR`: samples drawn with the sampling flags and scored, and/or bits/dim. */
async function modelResult(flags: EvalFlags): Promise<EvalResult> {
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
  const { network } = pipeline;
  const metrics = selectedMetrics(flags, {
    kind: network.sampleShape.length === 1 ? 'vector' : 'image',
    conditional: network.numClassEmbeds !== null,
    model: true,
  });
  const dataset = flags.dataset ?? trainedDataset(dir, network);
  const onlyBpd = sampleMetrics(metrics).length === 0;
  // --num counts the samples; with bpd alone it counts the held-out examples bits/dim is taken on.
  const bpdCount = integerFlag(
    '--bpd-num',
    flags.bpdNum ?? (onlyBpd && flags.num !== undefined ? flags.num : '16'),
    1,
    10_000,
  );
  let report: EvaluationReport | null = null;
  if (!onlyBpd) {
    const num = integerFlag('--num', flags.num ?? defaultCount(network.sampleShape), 2, 100_000);
    const features = await featureNetwork(flags);
    try {
      report = await evaluatePipeline({
        ...pipeline,
        dataset,
        numSamples: num,
        sampler: flags.sampler,
        steps,
        guidance,
        seed,
        ...(features ? { features } : {}),
      });
    } finally {
      await features?.dispose();
    }
  }
  const bpd = metrics.includes('bpd') ? await bpdReport(flags, pipeline, dataset, bpdCount) : null;
  return { metrics, report, bpd };
}

/** Default sample count: 512 points, or 500 images (sampling a U-Net is the slow part). */
const defaultCount = (shape: readonly number[]) => (shape.length === 1 ? '512' : '500');

/** The table printed for a report: one metric per line, then the per-class accuracies. */
export function reportTable(report: EvaluationReport, selection?: readonly MetricName[]): string {
  const how = report.sampling
    ? `${report.sampling.sampler}, ${report.sampling.steps} steps, guidance ${report.sampling.guidance}, seed ${report.sampling.seed}; sampling ${report.samplingSeconds.toFixed(1)} s`
    : 'given samples';
  const lines = [
    `${report.numSamples} samples (${how}) against ${report.reference} (${report.numReference})`,
    ...(report.kind === 'image' && report.featureSpace ? [`features: ${report.featureSpace}`] : []),
    `${'metric'.padEnd(20)} value`,
  ];
  for (const [name, value] of Object.entries(metricValues(report, selection))) {
    lines.push(`${name.padEnd(20)} ${formatValue(value)}`);
  }
  const showClasses = !selection || selection.includes('accuracy');
  if (report.kind === 'image' && report.metrics.perClassAccuracy && showClasses) {
    const cells = report.metrics.perClassAccuracy.map((a, k) => `${k}:${(100 * a).toFixed(0)}%`);
    lines.push(`${'accuracy by class'.padEnd(20)} ${cells.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The lines printed for a bits/dim estimate, with its estimator and ODE settings. */
export function bpdTable(bpd: BitsPerDimReport): string {
  const s = bpd.settings;
  const estimator =
    s.estimator === 'hutchinson'
      ? 'Hutchinson trace estimator (1 Rademacher probe per image, fixed along the path)'
      : 'exact trace';
  return (
    [
      `bits/dim of ${bpd.numExamples} held-out examples (8-bit, uniformly dequantised, seed ${s.seed}):`,
      `${'bpd'.padEnd(20)} ${bpd.bpd.toFixed(4)} ± ${bpd.bpdStdError.toFixed(4)} (standard error)`,
      `  ${estimator}; probability-flow ODE of the VP SDE (β ${bpd.sde.betaMin}→${bpd.sde.betaMax}), ` +
        `RK45 rtol = atol = ${s.tolerance}, t from ${s.eps} to 1: ${bpd.odeSteps} ODE steps, ` +
        `${bpd.nfe} network evaluations, ${bpd.seconds.toFixed(1)} s`,
    ].join('\n') + '\n'
  );
}

const formatValue = (value: number) =>
  Math.abs(value) >= 1000 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(3)
    : value.toFixed(4);

async function runEval(flags: EvalFlags): Promise<void> {
  if ((flags.model === undefined) === (flags.images === undefined)) {
    throw new UsageError('give exactly one of --model DIR and --images DIR');
  }
  if (flags.num !== undefined) integerFlag('--num', flags.num, 1, 100_000);
  if (flags.metrics !== undefined) parseMetricNames(flags.metrics);
  const result = flags.images !== undefined ? await imagesResult(flags) : await modelResult(flags);
  const selection = flags.metrics === undefined ? undefined : sampleMetrics(result.metrics);
  if (result.report) process.stdout.write(reportTable(result.report, selection));
  if (result.bpd) process.stdout.write(bpdTable(result.bpd));
  if (flags.json !== undefined) {
    const json = {
      ...(result.report ?? {}),
      selectedMetrics: result.metrics,
      ...(result.bpd ? { bitsPerDim: result.bpd } : {}),
    };
    writeFileAtomic(flags.json, `${stringifyJson(json as never, { indent: 2 })}\n`);
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
    .option(
      '--metrics <list>',
      'comma-separated: fid,kid,accuracy,precision,recall (images), mmd,swd (points), bpd (bits/dim ' +
        'of held-out images by the probability-flow ODE); default: all that apply except bpd',
    )
    .option('--features <file>', 'ONNX network whose --layer gives the features of fid/kid/precision/recall')
    .option('--layer <name>', 'name of the value of the --features network to use (flattened per image)')
    .option(
      '--features-range <range>',
      `value range the --features network expects: ${FEATURE_RANGES.join(', ')} (images are ` +
        'grey/RGB-adapted and bilinearly resized to its declared input)',
      'zero-one',
    )
    .option('--bpd-num <n>', 'held-out examples for bpd (default 16; --num when bpd is the only metric)')
    .option('--bpd-estimator <name>', `divergence for bpd: ${DIVERGENCE_ESTIMATORS.join(', ')}`, 'hutchinson')
    .option('--bpd-tol <x>', 'relative and absolute tolerance of the bpd ODE solver', '1e-3')
    .action(runEval);
}
