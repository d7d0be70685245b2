/**
 * Noisy classifiers p(y | x_t, t) for classifier guidance (Dhariwal & Nichol 2021, §4): the interface a
 * guidance pipeline differentiates, a small noise-conditioned MLP for vector data (and a small conv net
 * for images), and their training on
 * noised data — x₀ drawn from a labelled data set, t uniform over the training timesteps, x_t = √ᾱ_t·x₀ +
 * √(1−ᾱ_t)·ε (the same forward process the denoiser was trained with), cross-entropy loss, AdamW, one
 * compiled engine graph per update, every random draw from one seed. Also the held-out accuracy at a
 * chosen timestep, to judge a trained classifier before guiding with it.
 *
 * This module must not sample or guide; `pipelines/classifier-guidance.ts` does that.
 */
import {
  OrtNodeRuntime,
  argmax,
  adamw,
  cast,
  constant,
  equal,
  hostZeros,
  logSoftmax,
  mean,
  mul,
  add,
  reshape,
  div,
  log,
  silu,
  sum,
  trainStep,
  trainStepTypes,
  unsqueeze,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TensorTree,
  type TensorType,
} from '../engine/index.js';
import { conv2d, initParams, linear, mergeSpecs, paramTypesOf, sinusoidalEmbedding } from '../nn/index.js';
import type { Layer, ParamSpecs, Params, ParamTensors } from '../nn/index.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import { Random } from '../util/random.js';

/**
 * What a classifier sees: the noised batch and its noise level, per example. `timestep` is the
 * diffusers timestep (fractional for σ-space samplers); `alpha` and `sigma` are its x_t = α·x₀ + σ·ε,
 * for classifiers written in terms of the noise level rather than t.
 */
export interface NoisyClassifierInputs {
  /** [B, ...sampleShape] */
  sample: Tensor;
  /** [B] */
  timestep: Tensor;
  /** [B] */
  alpha: Tensor;
  /** [B] */
  sigma: Tensor;
}

/** A classifier of noised samples as the engine traces it. */
export interface NoisyClassifier {
  readonly numClasses: number;
  /** Shape of one example, without the batch axis. */
  readonly sampleShape: readonly number[];
  paramTypes(): Record<string, TensorType>;
  /** Unnormalised class log-probabilities [B, numClasses]. */
  logits(params: ParamTensors, inputs: NoisyClassifierInputs): Tensor;
}

/** A trainable classifier: a `NoisyClassifier` that also declares how its parameters start out. */
export interface TrainableClassifier extends NoisyClassifier {
  readonly specs: ParamSpecs;
}

export interface MlpClassifierConfig {
  /** Coordinates per example. */
  dim: number;
  numClasses: number;
  /** Width of the hidden layers. Default 64. */
  hidden?: number;
  /** Hidden layers after the input layer. Default 2. */
  depth?: number;
  /** Size of the sinusoidal noise-level embedding added after the input layer. Default 32. */
  timeEmbedDim?: number;
}

function positiveInteger(name: string, value: number, minimum = 1): number {
  if (!Number.isInteger(value) || value < minimum) {
    throw new ConfigError(`noisy classifier ${name} must be an integer ≥ ${minimum}, got ${value}`);
  }
  return value;
}

/**
 * The sinusoidal embedding [B, dim] of the log VE noise level ln(σ/α) (EDM's c_noise up to scale, Karras
 * et al. 2022, Table 1) rather than of the raw timestep: it varies smoothly over the whole schedule
 * (about −4.6 … 5 for DDPM's linear β), so a few hundred updates cover it, and a fractional σ-space
 * timestep needs no special case. Angular frequencies span 0.1 … 10 per unit of ln σ.
 */
function noiseEmbedding(alpha: Tensor, sigma: Tensor, dim: number): Tensor {
  return sinusoidalEmbedding(log(div(sigma, alpha)), dim, {
    flipSinToCos: true,
    downscaleFreqShift: 0,
    maxPeriod: 100,
    scale: 10,
  });
}

/**
 * A noise-conditioned MLP: h = SiLU(W_in·x_t + W_t·emb(ln(σ/α))), `depth` SiLU layers, then a linear
 * head; the noise level enters through `noiseEmbedding`.
 */
export function mlpClassifier(config: MlpClassifierConfig): TrainableClassifier {
  const dim = positiveInteger('dim', config.dim);
  const numClasses = positiveInteger('numClasses', config.numClasses, 2);
  const hidden = positiveInteger('hidden', config.hidden ?? 64);
  const depth = positiveInteger('depth', config.depth ?? 2, 0);
  const timeEmbedDim = positiveInteger('timeEmbedDim', config.timeEmbedDim ?? 32, 4);
  const input = linear('input', dim, hidden);
  const time = linear('time', timeEmbedDim, hidden, false);
  const layers: Layer[] = Array.from({ length: depth }, (_, i) => linear(`layers.${i}`, hidden, hidden));
  const head = linear('head', hidden, numClasses);
  const specs = mergeSpecs(input.specs, time.specs, ...layers.map((l) => l.specs), head.specs);
  return {
    numClasses,
    sampleShape: [dim],
    specs,
    paramTypes: () => paramTypesOf(specs),
    logits: (params, { sample, alpha, sigma }) => {
      const embedded = noiseEmbedding(alpha, sigma, timeEmbedDim);
      let h = silu(add(input.apply(params, sample), time.apply(params, embedded)));
      for (const layer of layers) h = silu(layer.apply(params, h));
      return head.apply(params, h);
    },
  };
}

export interface ConvClassifierConfig {
  /** Image channels, height and width of one example. */
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  /** Channels of the first convolution; the two strided ones use twice as many. Default 16. */
  baseChannels?: number;
  /** Size of the sinusoidal noise-level embedding. Default 32. */
  timeEmbedDim?: number;
}

/**
 * A small noise-conditioned conv net for images [B, C, H, W]: conv3×3 → + per-channel projection of the
 * noise-level embedding (as in the MLP) → SiLU → two stride-2 conv3×3 + SiLU → global average pool →
 * linear head. Small enough to train in minutes on 28×28 digits; the guidance pipeline treats it like
 * any other `NoisyClassifier`.
 */
export function convClassifier(config: ConvClassifierConfig): TrainableClassifier {
  const channels = positiveInteger('channels', config.channels);
  const height = positiveInteger('height', config.height);
  const width = positiveInteger('width', config.width);
  const numClasses = positiveInteger('numClasses', config.numClasses, 2);
  const base = positiveInteger('baseChannels', config.baseChannels ?? 16);
  const timeEmbedDim = positiveInteger('timeEmbedDim', config.timeEmbedDim ?? 32, 4);
  const first = conv2d('conv_in', channels, base, { kernelSize: 3, padding: 1 });
  const time = linear('time', timeEmbedDim, base);
  const down = [
    conv2d('down.0', base, 2 * base, { kernelSize: 3, padding: 1, stride: 2 }),
    conv2d('down.1', 2 * base, 2 * base, { kernelSize: 3, padding: 1, stride: 2 }),
  ];
  const head = linear('head', 2 * base, numClasses);
  const specs = mergeSpecs(first.specs, time.specs, ...down.map((l) => l.specs), head.specs);
  return {
    numClasses,
    sampleShape: [channels, height, width],
    specs,
    paramTypes: () => paramTypesOf(specs),
    logits: (params, { sample, alpha, sigma }) => {
      const batch = sample.shape[0];
      const embedded = time.apply(params, noiseEmbedding(alpha, sigma, timeEmbedDim));
      let h = silu(add(first.apply(params, sample), reshape(embedded, [batch, base, 1, 1])));
      for (const layer of down) h = silu(layer.apply(params, h));
      return head.apply(params, mean(h, [2, 3]));
    },
  };
}

/** Per-example log p(y | x_t) [B] from logits [B, K] and int64 labels [B]: one-hot · log-softmax. */
export function labelLogProbs(logits: Tensor, labels: Tensor): Tensor {
  const classes = logits.shape[1];
  const ids = constant(
    logits.graph,
    Array.from({ length: classes }, (_, k) => k),
    [1, classes],
    'int64',
  );
  const oneHot = cast(equal(unsqueeze(labels, [1]), ids), 'float32');
  return sum(mul(oneHot, logSoftmax(logits, 1)), [1]);
}

/** A labelled data set of vectors: samples [N, ...sampleShape] flat, one class index per example. */
export interface LabelledData {
  samples: Float32Array;
  labels: ArrayLike<number>;
}

function checkData(classifier: NoisyClassifier, data: LabelledData): number {
  const perExample = classifier.sampleShape.reduce((a, b) => a * b, 1);
  const count = data.labels.length;
  if (count === 0 || data.samples.length !== count * perExample) {
    throw new ShapeError(
      `classifier data: ${data.samples.length} values for ${count} labels of ${perExample} values each`,
    );
  }
  for (let i = 0; i < count; i++) {
    const label = data.labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= classifier.numClasses) {
      throw new ConfigError(`classifier data: label ${label} at example ${i} is out of range`, {
        hint: `use 0..${classifier.numClasses - 1}`,
      });
    }
  }
  return count;
}

/** A noised batch as the compiled graphs take it. */
interface NoisyBatch {
  sample: Float32Array;
  timestep: Float32Array;
  alpha: Float32Array;
  sigma: Float32Array;
  labels: BigInt64Array;
}

/**
 * `size` examples noised per the forward process q(x_t | x₀) = N(√ᾱ_t·x₀, (1−ᾱ_t)I): `pick(i)` chooses
 * the data index and `timestepOf()` the timestep of each example.
 */
function noisedBatch(
  data: LabelledData,
  perExample: number,
  size: number,
  alphasCumprod: Float64Array,
  random: Random,
  pick: (i: number) => number,
  timestepOf: () => number,
): NoisyBatch {
  const batch: NoisyBatch = {
    sample: new Float32Array(size * perExample),
    timestep: new Float32Array(size),
    alpha: new Float32Array(size),
    sigma: new Float32Array(size),
    labels: new BigInt64Array(size),
  };
  for (let b = 0; b < size; b++) {
    const index = pick(b);
    const t = timestepOf();
    const alpha = Math.sqrt(alphasCumprod[t]);
    const sigma = Math.sqrt(1 - alphasCumprod[t]);
    for (let d = 0; d < perExample; d++) {
      batch.sample[b * perExample + d] =
        alpha * data.samples[index * perExample + d] + sigma * random.normal();
    }
    batch.timestep[b] = t;
    batch.alpha[b] = alpha;
    batch.sigma[b] = sigma;
    batch.labels[b] = BigInt(data.labels[index]);
  }
  return batch;
}

/** Types of a classifier's inputs for `size` examples (everything but the labels). */
export function inputTypes(
  classifier: NoisyClassifier,
  size: number,
): Record<keyof NoisyClassifierInputs, TensorType> {
  const vector = { shape: [size], dtype: 'float32' as const };
  return {
    sample: { shape: [size, ...classifier.sampleShape], dtype: 'float32' },
    timestep: vector,
    alpha: vector,
    sigma: vector,
  };
}

function batchTypes(classifier: NoisyClassifier, size: number): Record<keyof NoisyBatch, TensorType> {
  return { ...inputTypes(classifier, size), labels: { shape: [size], dtype: 'int64' } };
}

export interface TrainClassifierOptions {
  classifier: TrainableClassifier;
  data: LabelledData;
  /** ᾱ_t of the denoiser's training schedule, t = 0..T−1. */
  alphasCumprod: Float64Array;
  steps: number;
  /** Default 256. */
  batchSize?: number;
  /** AdamW learning rate. Default 3e-3. */
  learningRate?: number;
  /** AdamW decoupled weight decay. Default 1e-4. */
  weightDecay?: number;
  /** Seeds the initial weights, the batches, the timesteps and the noise. Default 0. */
  seed?: number;
  runtime?: Runtime;
}

export interface TrainedClassifier {
  params: Params;
  /** Mean cross-entropy of each update's batch. */
  losses: number[];
}

/** Trains `classifier` on noised data with cross-entropy and AdamW; returns the final weights. */
export async function trainNoisyClassifier(options: TrainClassifierOptions): Promise<TrainedClassifier> {
  const { classifier, data, alphasCumprod } = options;
  const steps = positiveInteger('training steps', options.steps);
  const batchSize = positiveInteger('batch size', options.batchSize ?? 256);
  const learningRate = options.learningRate ?? 3e-3;
  if (!(learningRate > 0 && Number.isFinite(learningRate)))
    throw new ConfigError(`noisy classifier learning rate must be positive, got ${learningRate}`);
  const count = checkData(classifier, data);
  const perExample = data.samples.length / count;
  const random = new Random(options.seed ?? 0);
  const optimizer = adamw({ weightDecay: options.weightDecay ?? 1e-4 });
  const step = trainStep({
    loss: (p: TensorTree, batch: Record<keyof NoisyBatch, Tensor>) =>
      mul(mean(labelLogProbs(classifier.logits(p as ParamTensors, batch), batch.labels)), -1),
    optimizer,
  });
  const types = classifier.paramTypes();
  const compiled = (options.runtime ?? new OrtNodeRuntime()).compile(
    step as never,
    trainStepTypes(types, batchTypes(classifier, batchSize), optimizer),
  );
  let params: unknown = initParams(classifier.specs, random.split());
  let opt: unknown = hostZeros(optimizer.stateTypes(types));
  const losses: number[] = [];
  try {
    for (let t = 1; t <= steps; t++) {
      const batch = noisedBatch(
        data,
        perExample,
        batchSize,
        alphasCumprod,
        random,
        () => random.int(count),
        () => random.int(alphasCumprod.length),
      );
      const out = (await compiled.run({ params, opt, batch, step: t, lr: learningRate } as never)) as {
        loss: HostTensor;
        params: unknown;
        opt: unknown;
      };
      ({ params, opt } = out);
      losses.push(out.loss.data[0] as number);
    }
  } finally {
    await compiled.dispose();
  }
  return { params: params as Params, losses };
}

export interface AccuracyOptions {
  classifier: NoisyClassifier;
  params: Params;
  data: LabelledData;
  alphasCumprod: Float64Array;
  /** The integer timestep every example is noised to. */
  timestep: number;
  /** Seeds the noise. Default 0. */
  seed?: number;
  runtime?: Runtime;
}

/** Fraction of `data`, each example noised once to `timestep`, whose arg-max class is its label. */
export async function classifierAccuracy(options: AccuracyOptions): Promise<number> {
  const { classifier, data, alphasCumprod, timestep } = options;
  if (!Number.isInteger(timestep) || timestep < 0 || timestep >= alphasCumprod.length) {
    throw new ConfigError(
      `accuracy timestep must be an integer in [0, ${alphasCumprod.length - 1}], got ${timestep}`,
    );
  }
  const count = checkData(classifier, data);
  const perExample = data.samples.length / count;
  const batch = noisedBatch(
    data,
    perExample,
    count,
    alphasCumprod,
    new Random(options.seed ?? 0),
    (i) => i,
    () => timestep,
  );
  const predict = (options.runtime ?? new OrtNodeRuntime()).compile(
    (inputs: { params: ParamTensors } & NoisyClassifierInputs) =>
      argmax(classifier.logits(inputs.params, inputs), 1),
    { params: classifier.paramTypes(), ...inputTypes(classifier, count) },
    { frozen: { params: options.params } as never },
  );
  try {
    const { labels, ...inputs } = batch;
    const predicted = ((await predict.run(inputs as never)) as HostTensor).data as BigInt64Array;
    return predicted.filter((p, i) => p === labels[i]).length / count;
  } finally {
    await predict.dispose();
  }
}
