/**
 * Evaluation of a generative model against its data: draws samples from a pipeline (or takes given
 * samples, e.g. a folder of PNGs) and compares them with held-out data of the dataset the model was
 * trained on. Vector data (2-D toys and other points) is scored with MMD² (Gaussian kernel, bandwidth
 * by the median heuristic) and the sliced Wasserstein distance against a fresh draw of the
 * distribution; MNIST-like 1×28×28 (or padded 1×32×32) grey images with FID and KID in the shipped
 * classifier's feature space, improved precision/recall, and — for class-conditional models — the
 * per-class accuracy of the generated digits; FID/KID/precision/recall can use a user's ONNX feature
 * network instead (onnx-features.ts). `--metrics` names are parsed and checked against the data here
 * (`parseMetricNames`, `checkMetricsApply`). `evaluationHook` makes the same report for a training run
 * and appends it to `metrics.jsonl`. This module combines the metric functions of this folder; it must
 * not train, must not know about command-line flags, and writes nothing but the hook's appended lines.
 */
import { appendFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDataset, type Dataset } from '../data/dataset.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import { imagesToTensor, readImage } from '../io/images.js';
import type { DenoiserNetwork, Params } from '../models/types.js';
import { generate } from '../pipelines/generate.js';
import { NotFoundError, ShapeError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { loadClassifier, type MnistClassifier } from './classifier.js';
import type { FeatureNetwork } from './onnx-features.js';
import { fid, kid } from './fid.js';
import { medianDistance, mmdSquared } from './mmd.js';
import { precisionRecall } from './precision-recall.js';
import { slicedWasserstein } from './wasserstein.js';

/** Points of vector data drawn as the held-out reference (a fresh draw, not the training points). */
export const VECTOR_REFERENCE_SIZE = 2000;
/** Seed of that fresh draw; training draws its points with the dataset's own seed (0 by default). */
const HELD_OUT_SEED = 7_919;
/** Rows of each set the median heuristic looks at: the median is stable long before O(n²) gets slow. */
const MEDIAN_ROWS = 500;
/** KID subsets: fewer than torch-fidelity's 100, since each costs O(m²·d) in plain TypeScript. */
const KID_SUBSETS = 20;
/** Sides of the grey images the MNIST feature network can judge (32 = MNIST padded for U-Nets). */
const MNIST_SIDES = [28, 32];

/** Metrics `diffusion eval --metrics` can select (names as on the command line). */
export const METRIC_NAMES = ['fid', 'kid', 'accuracy', 'precision', 'recall', 'swd', 'mmd', 'bpd'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** What is being evaluated, which decides the metrics that apply. */
export interface EvaluatedData {
  kind: 'vector' | 'image';
  /** Class-conditional samples (a class-conditional model); class accuracy needs them. */
  conditional: boolean;
  /** A model rather than given samples; bits/dim needs one. */
  model: boolean;
}

/** Why a metric does not apply to the data, or null when it does. */
function inapplicable(metric: MetricName, data: EvaluatedData): string | null {
  const imageOnly = ['fid', 'kid', 'precision', 'recall', 'accuracy', 'bpd'].includes(metric);
  if (data.kind === 'vector' && imageOnly) {
    return `'${metric}' applies to image models; for vector data use mmd, swd`;
  }
  if (data.kind === 'image' && (metric === 'swd' || metric === 'mmd')) {
    return `'${metric}' applies to vector (point) data; for images use fid, kid, precision, recall`;
  }
  if (metric === 'accuracy' && !data.conditional) {
    return "'accuracy' needs samples of a class-conditional model (this one has no class labels)";
  }
  if (metric === 'bpd' && !data.model) return "'bpd' needs a model (--model DIR), not given images";
  return null;
}

/**
 * The metric names of a comma-separated list, in the order given, without repeats; a UsageError
 * naming the valid ones for an unknown name or an empty list.
 */
export function parseMetricNames(list: string): MetricName[] {
  const names = list
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0);
  const valid = METRIC_NAMES.join(', ');
  if (names.length === 0) throw new UsageError(`--metrics: no metric named; valid: ${valid}`);
  for (const name of names) {
    if (!(METRIC_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--metrics: unknown metric '${name}'; valid: ${valid}`);
    }
  }
  return [...new Set(names)] as MetricName[];
}

/** The metrics evaluated when none are named: every cheap one that applies (bits/dim only on request). */
export function defaultMetrics(data: EvaluatedData): MetricName[] {
  if (data.kind === 'vector') return ['mmd', 'swd'];
  return data.conditional
    ? ['fid', 'kid', 'precision', 'recall', 'accuracy']
    : ['fid', 'kid', 'precision', 'recall'];
}

/** Throws a UsageError for the first metric that does not apply to the data. */
export function checkMetricsApply(metrics: readonly MetricName[], data: EvaluatedData): void {
  for (const metric of metrics) {
    const reason = inapplicable(metric, data);
    if (reason) throw new UsageError(`--metrics: ${reason}`);
  }
}

/** The keys of `metricValues` each selectable metric reports. */
const METRIC_KEYS: Record<MetricName, readonly string[]> = {
  fid: ['fid'],
  kid: ['kid', 'kid_std'],
  precision: ['precision'],
  recall: ['recall'],
  accuracy: ['class_accuracy'],
  mmd: ['mmd2'],
  swd: ['sliced_wasserstein'],
  bpd: [],
};

/** Distances between two point clouds (vector data). */
export interface VectorMetrics {
  /** Unbiased MMD² with a Gaussian kernel of bandwidth `bandwidth` (Gretton et al. 2012, eq. 3). */
  mmd2: number;
  /** The kernel bandwidth σ: the median pairwise distance of the pooled sets. */
  bandwidth: number;
  /** Sliced 1-Wasserstein distance over 128 seeded random directions. */
  slicedWasserstein: number;
}

/** Distances between two image sets in the MNIST classifier's feature space, and class accuracy. */
export interface ImageMetrics {
  /** Fréchet distance of Gaussians fitted to the 64-d penultimate features. */
  fid: number;
  /** Mean and spread of the unbiased polynomial-kernel MMD² over random subsets. */
  kid: number;
  kidStd: number;
  /** Kynkäänniemi et al. 2019 with k = 3. */
  precision: number;
  recall: number;
  /** Fraction of class-conditional samples classified as the class asked for; null without labels. */
  classAccuracy: number | null;
  /** The same per class (index = label); null without labels. */
  perClassAccuracy: number[] | null;
}

/** How samples were drawn from a model (null in a report of given samples). */
export interface SamplingSettings {
  sampler: string;
  steps: number;
  guidance: number;
  seed: number;
}

interface ReportBase {
  /** The reference data: dataset name and which part of it. */
  reference: string;
  numSamples: number;
  numReference: number;
  sampling: SamplingSettings | null;
  /** Wall-clock seconds spent drawing the samples (0 for given samples). */
  samplingSeconds: number;
}

/** What `evaluatePipeline` / `evaluateSamples` return: the metrics for the kind of data. */
export type EvaluationReport =
  | (ReportBase & { kind: 'vector'; metrics: VectorMetrics })
  | (ReportBase & { kind: 'image'; featureSpace?: string; metrics: ImageMetrics });

/** Held-out data of a dataset: [count, ...shape] flat. */
export interface ReferenceData {
  description: string;
  shape: readonly number[];
  data: Float32Array;
}

/** Whether one example of this shape is an MNIST-like grey image the classifier can judge. */
export function isMnistLike(shape: readonly number[]): boolean {
  return shape.length === 3 && shape[0] === 1 && shape[1] === shape[2] && MNIST_SIDES.includes(shape[1]);
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** All examples of a dataset, gathered in one batch. */
function everyExample(dataset: Dataset): Float32Array {
  return dataset.batch(Int32Array.from({ length: dataset.size }, (_, i) => i)).x;
}

/**
 * Held-out data for `datasetName` with examples of `shape`: MNIST's test split (1,000 digits, never seen
 * in training) at the sample's side; for other data a fresh draw of `count` points with a seed training
 * does not use. Data sets with neither (image folders, time series) raise a UsageError.
 */
export async function referenceData(
  datasetName: string,
  shape: readonly number[],
  count = VECTOR_REFERENCE_SIZE,
): Promise<ReferenceData> {
  if (datasetName === 'mnist') {
    if (!isMnistLike(shape)) {
      throw new ShapeError(`MNIST evaluation needs 1×28×28 or 1×32×32 samples, got [${shape.join(', ')}]`);
    }
    const dataset = await resolveDataset('mnist', { split: 'test', imageSize: shape[1] });
    return { description: `mnist test split`, shape: dataset.shape, data: everyExample(dataset) };
  }
  if (shape.length !== 1) {
    throw new UsageError(`evaluation of '${datasetName}' images is not supported`, {
      hint: 'image metrics use the MNIST classifier: evaluate 1×28×28 models against --dataset mnist',
    });
  }
  let dataset: Dataset;
  try {
    dataset = await resolveDataset(datasetName, { size: count, seed: HELD_OUT_SEED });
  } catch (error) {
    throw new UsageError(`no held-out data can be drawn for dataset '${datasetName}'`, {
      hint: 'evaluate vector models of a built-in 2-D distribution (moons, 8gaussians, …)',
      cause: error,
    });
  }
  if (dataset.shape.join(',') !== shape.join(',')) {
    throw new ShapeError(
      `samples of shape [${shape.join(', ')}] cannot be compared with '${datasetName}' [${dataset.shape.join(', ')}]`,
    );
  }
  return {
    description: `${datasetName} fresh draw (seed ${HELD_OUT_SEED})`,
    shape,
    data: everyExample(dataset),
  };
}

/** MMD² (median-heuristic bandwidth) and sliced Wasserstein between points [n, dim] and [m, dim]. */
export function vectorMetrics(samples: Float32Array, reference: Float32Array, dim: number): VectorMetrics {
  // The heuristic's median over a prefix of each set: O(MEDIAN_ROWS²) instead of O((n+m)²).
  const bandwidth = medianDistance(
    samples.subarray(0, Math.min(samples.length, MEDIAN_ROWS * dim)),
    reference.subarray(0, Math.min(reference.length, MEDIAN_ROWS * dim)),
    dim,
  );
  return {
    mmd2: mmdSquared(samples, reference, dim, { bandwidths: [bandwidth] }),
    bandwidth,
    slicedWasserstein: slicedWasserstein(samples, reference, dim, { projections: 128, seed: 0 }),
  };
}

/** Fraction of images classified as their label, overall and per class 0..numClasses-1. */
function accuracies(
  predicted: Int32Array,
  labels: ArrayLike<number>,
  numClasses: number,
): { overall: number; perClass: number[] } {
  const correct = new Array<number>(numClasses).fill(0);
  const total = new Array<number>(numClasses).fill(0);
  let all = 0;
  for (let i = 0; i < labels.length; i++) {
    total[labels[i]]++;
    if (predicted[i] === labels[i]) {
      correct[labels[i]]++;
      all++;
    }
  }
  return { overall: all / labels.length, perClass: correct.map((c, k) => (total[k] ? c / total[k] : NaN)) };
}

/**
 * FID, KID, precision/recall of MNIST-like images [n, 1, S, S] against reference images, in the
 * classifier's feature space (or in that of `network`, a user's ONNX feature network, when given);
 * with `labels` (one per sample) also the class accuracy by the classifier.
 */
export async function imageMetrics(
  samples: Float32Array,
  reference: Float32Array,
  classifier: MnistClassifier | null,
  labels?: ArrayLike<number>,
  network?: FeatureNetwork,
  imageShape?: readonly number[],
): Promise<ImageMetrics> {
  let dim: number;
  let fake: Float32Array;
  let real: Float32Array;
  if (network) {
    const shape = imageShape ?? [1, 28, 28];
    ({ data: fake, dim } = await network.features(samples, shape));
    ({ data: real } = await network.features(reference, shape));
  } else {
    if (!classifier) throw new UsageError('image metrics need the MNIST classifier or a feature network');
    dim = classifier.config.featureDim;
    fake = await classifier.features(samples);
    real = await classifier.features(reference);
  }
  const kidResult = kid(fake, real, dim, { subsets: KID_SUBSETS, random: new Random(0) });
  const pr = precisionRecall(real, fake, dim, { k: 3 });
  let accuracy: { overall: number; perClass: number[] } | null = null;
  if (labels) {
    if (!classifier) throw new UsageError('class accuracy needs the MNIST classifier');
    const generated = await classifier.classify(samples);
    accuracy = accuracies(generated.labels, labels, classifier.config.numClasses);
  }
  return {
    fid: fid(fake, real, dim),
    kid: kidResult.mean,
    kidStd: kidResult.std,
    precision: pr.precision,
    recall: pr.recall,
    classAccuracy: accuracy?.overall ?? null,
    perClassAccuracy: accuracy?.perClass ?? null,
  };
}

/** Options of `evaluateSamples`. */
export interface SampleEvaluationOptions {
  /** Class label of each sample, for class accuracy (images only). */
  labels?: ArrayLike<number>;
  /** A loaded classifier to reuse (images only); default: the shipped one, disposed afterwards. */
  classifier?: MnistClassifier;
  sampling?: SamplingSettings | null;
  samplingSeconds?: number;
  /** A user's ONNX feature network for FID/KID/precision/recall (images only; default: the classifier). */
  features?: FeatureNetwork;
}

/** Scores given samples [n, ...shape] flat against held-out data of `datasetName`. */
export async function evaluateSamples(
  samples: Float32Array,
  shape: readonly number[],
  datasetName: string,
  options: SampleEvaluationOptions = {},
): Promise<EvaluationReport> {
  const perSample = product(shape);
  const numSamples = samples.length / perSample;
  if (!Number.isInteger(numSamples) || numSamples < 2) {
    throw new ShapeError(`evaluation needs at least 2 samples of shape [${shape.join(', ')}]`);
  }
  const reference = await referenceData(datasetName, shape, Math.max(VECTOR_REFERENCE_SIZE, numSamples));
  const base = {
    reference: reference.description,
    numSamples,
    numReference: reference.data.length / perSample,
    sampling: options.sampling ?? null,
    samplingSeconds: options.samplingSeconds ?? 0,
  };
  if (shape.length === 1) {
    return { ...base, kind: 'vector', metrics: vectorMetrics(samples, reference.data, shape[0]) };
  }
  // The classifier judges class accuracy, and gives the features unless a feature network does.
  const needsClassifier = !options.features || options.labels !== undefined;
  const classifier = options.classifier ?? (needsClassifier ? loadClassifier() : null);
  try {
    const metrics = await imageMetrics(
      samples,
      reference.data,
      classifier,
      options.labels,
      options.features,
      shape,
    );
    return {
      ...base,
      kind: 'image',
      featureSpace: options.features?.name ?? 'mnist-classifier (64-d penultimate layer)',
      metrics,
    };
  } finally {
    if (!options.classifier) await classifier?.dispose();
  }
}

/** What the model was trained on: `training_summary.json`'s `data`, else MNIST for MNIST-like models. */
export function trainedDataset(dir: string, network: DenoiserNetwork): string {
  const summaryPath = join(dir, 'training_summary.json');
  if (existsSync(summaryPath)) {
    const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as { data?: unknown };
    if (typeof summary.data === 'string') return summary.data;
  }
  if (isMnistLike(network.sampleShape)) return 'mnist';
  throw new UsageError(`cannot tell which dataset the model in '${dir}' was trained on`, {
    hint: 'name it with --dataset (e.g. moons)',
  });
}

/** The model and how to sample it for an evaluation. */
export interface PipelineEvaluationOptions {
  network: DenoiserNetwork;
  params: Params;
  schedulerConfig: SchedulerConfig;
  /** The dataset to compare with (see `trainedDataset`). */
  dataset: string;
  numSamples: number;
  sampler?: string;
  steps?: number;
  /** Classifier-free guidance scale for class-conditional models (default 1: plain conditional). */
  guidance?: number;
  seed?: number;
  classifier?: MnistClassifier;
  /** A user's ONNX feature network for FID/KID/precision/recall (see `SampleEvaluationOptions`). */
  features?: FeatureNetwork;
}

/** Balanced labels for a class-conditional network (sample i asks for class i mod classes), else none. */
export function balancedLabels(network: DenoiserNetwork, count: number): number[] | undefined {
  if (network.numClassEmbeds === null) return undefined;
  const classes = network.numClassEmbeds - 1; // the last embedding is the null class of CFG
  return Array.from({ length: count }, (_, i) => i % classes);
}

/** Draws `numSamples` samples from the model (balanced over classes) and scores them. */
export async function evaluatePipeline(options: PipelineEvaluationOptions): Promise<EvaluationReport> {
  const { network, numSamples } = options;
  if (!Number.isInteger(numSamples) || numSamples < 2) {
    throw new UsageError(`evaluation needs at least 2 samples, got ${numSamples}`);
  }
  const sampling: SamplingSettings = {
    sampler: options.sampler ?? 'dpmpp_2m',
    steps: options.steps ?? 20,
    guidance: options.guidance ?? 1,
    seed: options.seed ?? 0,
  };
  const labels = balancedLabels(network, numSamples);
  const started = performance.now();
  const samples = await generate({
    network,
    params: options.params,
    schedulerConfig: options.schedulerConfig,
    sampler: sampling.sampler,
    numSteps: sampling.steps,
    numSamples,
    seed: sampling.seed,
    ...(labels ? { classLabels: labels, guidance: sampling.guidance } : {}),
  });
  const samplingSeconds = (performance.now() - started) / 1000;
  return evaluateSamples(samples, network.sampleShape, options.dataset, {
    ...(labels ? { labels } : {}),
    ...(options.classifier ? { classifier: options.classifier } : {}),
    ...(options.features ? { features: options.features } : {}),
    sampling,
    samplingSeconds,
  });
}

/**
 * Reads a folder of PNG images (sorted by name) as grey MNIST-like samples [n, 1, S, S] in [−1, 1];
 * every image must be S×S with S = 28 or 32.
 */
export function readImageSamples(dir: string): { samples: Float32Array; shape: number[] } {
  if (!existsSync(dir)) throw new NotFoundError(`image folder '${dir}' does not exist`);
  const files = readdirSync(dir)
    .filter((name) => name.toLowerCase().endsWith('.png'))
    .sort();
  if (files.length < 2) {
    throw new NotFoundError(`image folder '${dir}' holds ${files.length} PNG files; evaluation needs ≥ 2`);
  }
  const images = files.map((name) => readImage(join(dir, name)));
  images.forEach((image, i) => {
    if (image.width !== image.height || !MNIST_SIDES.includes(image.width)) {
      throw new ShapeError(
        `image '${files[i]}' is ${image.width}×${image.height}; image evaluation takes 28×28 (or 32×32) digits`,
      );
    }
    if (image.width !== images[0].width) {
      throw new ShapeError(`image '${files[i]}' is ${image.width}×${image.height}, '${files[0]}' is not`);
    }
  });
  const tensor = imagesToTensor(images, { channels: 1 });
  return { samples: tensor.data, shape: tensor.shape.slice(1) };
}

/**
 * The metrics of a report as one flat record of numbers (for metrics.jsonl and tables); with
 * `selection`, only the values of those metrics (KID's spread `kid_std` comes with `kid`).
 */
export function metricValues(
  report: EvaluationReport,
  selection?: readonly MetricName[],
): Record<string, number> {
  const { metrics } = report;
  let values: Record<string, number>;
  if (report.kind === 'vector') {
    const m = metrics as VectorMetrics;
    values = { mmd2: m.mmd2, sliced_wasserstein: m.slicedWasserstein };
  } else {
    const m = metrics as ImageMetrics;
    values = {
      fid: m.fid,
      kid: m.kid,
      precision: m.precision,
      recall: m.recall,
      ...(m.classAccuracy === null ? {} : { class_accuracy: m.classAccuracy }),
    };
    if (selection) values.kid_std = m.kidStd;
  }
  if (!selection) return values;
  const keys = new Set(selection.flatMap((name) => METRIC_KEYS[name]));
  return Object.fromEntries(Object.entries(values).filter(([key]) => keys.has(key)));
}

/** Settings of `evaluationHook`: the run's model, data, where its metrics go, and how to sample. */
export interface EvaluationHookOptions {
  network: DenoiserNetwork;
  schedulerConfig: SchedulerConfig;
  dataset: string;
  /** The run's `metrics.jsonl`; one `{ "step": …, "eval": { … } }` line is appended per call. */
  metricsPath: string;
  /** Default 256 samples, dpmpp_2m, 20 steps, guidance 1, seed 0: cheap enough to run every N steps. */
  numSamples?: number;
  sampler?: string;
  steps?: number;
  guidance?: number;
  seed?: number;
}

/**
 * A function a trainer calls with the current weights (usually the EMA weights) and step: it evaluates
 * them as `evaluatePipeline` does, appends the metrics to `metricsPath` and returns the report. The
 * classifier is loaded on the first image evaluation and kept; `dispose` releases it.
 */
export function evaluationHook(options: EvaluationHookOptions): {
  evaluate(params: Params, step: number): Promise<EvaluationReport>;
  dispose(): Promise<void>;
} {
  let classifier: MnistClassifier | null = null;
  return {
    async evaluate(params, step) {
      if (!classifier && options.network.sampleShape.length > 1) classifier = loadClassifier();
      const report = await evaluatePipeline({
        network: options.network,
        params,
        schedulerConfig: options.schedulerConfig,
        dataset: options.dataset,
        numSamples: options.numSamples ?? 256,
        ...(options.sampler ? { sampler: options.sampler } : {}),
        ...(options.steps ? { steps: options.steps } : {}),
        ...(options.guidance !== undefined ? { guidance: options.guidance } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(classifier ? { classifier } : {}),
      });
      // Appended, not rewritten: the trainer appends its own lines to the same file between calls.
      appendFileSync(options.metricsPath, `${JSON.stringify({ step, eval: metricValues(report) })}\n`);
      return report;
    },
    async dispose() {
      await classifier?.dispose();
      classifier = null;
    },
  };
}
