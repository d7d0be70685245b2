/**
 * The project's MNIST classifier: a small CNN written with the engine, used to judge generated digits
 * (class accuracy of class-conditional samples) and as the feature network for FID/KID on MNIST (the
 * role Inception-v3 plays for natural images). Three 3×3 convolutions with ReLU and 2×2 average pooling
 * (28 → 14 → 7 → 3), a fully connected layer to the feature vector (ReLU; the penultimate layer), and a
 * linear layer to the 10 class logits. Images are 1×28×28 in [−1, 1] (ink +1 on background −1, as
 * `src/data/mnist.ts` serves them); 1×32×32 images (MNIST padded for U-Nets) are cropped to the centre.
 * The shipped weights live in `models/mnist-classifier/` (safetensors + config.json; the README there
 * says how they were trained). This module defines the network and runs it; it must not train (that is
 * `scripts/train-classifier.ts`) nor compute distribution metrics (fid.ts and friends take features).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Tensor } from '../engine/index.js';
import { avgPool2d, conv2d, linear, relu, reshape, softmax } from '../engine/index.js';
import type { CompiledFunction, HostTensor, Runtime } from '../engine/index.js';
import { OrtNodeRuntime } from '../engine/index.js';
import { readSafetensorsFile, getFloatTensor } from '../io/safetensors.js';
import { ConfigError, FormatError, NotFoundError, ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';

/** The network's shape; stored as `config.json` next to the weights. */
export const classifierConfigSchema = z
  .object({
    /** Side of the (square, single-channel) input images the network sees. */
    imageSize: z.literal(28).default(28),
    /** Output channels of the three 3×3 convolutions. */
    channels: z.tuple([
      z.number().int().positive(),
      z.number().int().positive(),
      z.number().int().positive(),
    ]),
    /** Width of the penultimate layer: the dimension of `features(images)`. */
    featureDim: z.number().int().positive(),
    /** Number of classes (10 digits). */
    numClasses: z.number().int().min(2),
  })
  .strict();

export type ClassifierConfig = z.output<typeof classifierConfigSchema>;

/** The configuration of the shipped MNIST classifier. */
export const MNIST_CLASSIFIER_CONFIG: ClassifierConfig = {
  imageSize: 28,
  channels: [16, 32, 64],
  featureDim: 64,
  numClasses: 10,
};

/** Parameter name → shape. */
export type ClassifierParamTypes = Record<string, { shape: number[]; dtype: 'float32' }>;
export type ClassifierParams = Record<string, Tensor>;
export type ClassifierHostParams = Record<string, HostTensor>;

/** Side of the map after the three 2×2 poolings (floor division, as PyTorch's AvgPool2d). */
const pooledSide = (config: ClassifierConfig): number => Math.floor(Math.floor(config.imageSize / 2 / 2) / 2);

/** Shapes of every parameter (PyTorch layouts: conv [out, in, kh, kw], linear [out, in]). */
export function classifierParamTypes(config: ClassifierConfig): ClassifierParamTypes {
  const [c1, c2, c3] = config.channels;
  const flat = c3 * pooledSide(config) ** 2;
  const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
  return {
    'conv1.weight': f32([c1, 1, 3, 3]),
    'conv1.bias': f32([c1]),
    'conv2.weight': f32([c2, c1, 3, 3]),
    'conv2.bias': f32([c2]),
    'conv3.weight': f32([c3, c2, 3, 3]),
    'conv3.bias': f32([c3]),
    'fc.weight': f32([config.featureDim, flat]),
    'fc.bias': f32([config.featureDim]),
    'head.weight': f32([config.numClasses, config.featureDim]),
    'head.bias': f32([config.numClasses]),
  };
}

/** PyTorch's default initialisation: uniform(±1/√fan_in) for the weight and bias of every layer. */
export function initClassifierParams(config: ClassifierConfig, random: Random): ClassifierHostParams {
  const types = classifierParamTypes(config);
  const out: ClassifierHostParams = {};
  for (const [name, type] of Object.entries(types)) {
    const weightShape = types[name.replace(/bias$/, 'weight')].shape;
    const fanIn = weightShape.slice(1).reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const size = type.shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: size }, () => (2 * random.uniform() - 1) * bound);
    out[name] = { data, shape: type.shape, dtype: 'float32' };
  }
  return out;
}

/** conv 3×3 (padding 1) → ReLU → 2×2 average pooling. */
function convBlock(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  return avgPool2d(relu(conv2d(x, weight, bias, { padding: 1 })), 2);
}

/** The penultimate activations [batch, featureDim] for images [batch, 1, S, S]. */
export function classifierFeatures(params: ClassifierParams, images: Tensor): Tensor {
  let h = convBlock(images, params['conv1.weight'], params['conv1.bias']);
  h = convBlock(h, params['conv2.weight'], params['conv2.bias']);
  h = convBlock(h, params['conv3.weight'], params['conv3.bias']);
  const flat = reshape(h, [images.shape[0], -1]);
  return relu(linear(flat, params['fc.weight'], params['fc.bias']));
}

/** Class logits [batch, numClasses] for images [batch, 1, S, S]. */
export function classifierLogits(params: ClassifierParams, images: Tensor): Tensor {
  return linear(classifierFeatures(params, images), params['head.weight'], params['head.bias']);
}

/** What `classify` returns: the most probable class of each image and the full probability rows. */
export interface Classification {
  /** [count] */
  labels: Int32Array;
  /** [count, numClasses], rows sum to 1 */
  probabilities: Float32Array;
}

/** Images are run in chunks of this many (the last chunk is padded), so one graph serves every count. */
const CHUNK = 250;

/** A loaded classifier, compiled once with its weights frozen into the graph. */
export class MnistClassifier {
  readonly config: ClassifierConfig;
  private readonly compiled: CompiledFunction<{ probabilities: HostTensor; features: HostTensor }>;

  constructor(
    config: ClassifierConfig,
    params: ClassifierHostParams,
    runtime: Runtime = new OrtNodeRuntime(),
  ) {
    this.config = config;
    const side = config.imageSize;
    this.compiled = runtime.compile(
      ((inputs: { params: ClassifierParams; images: Tensor }) => {
        const features = classifierFeatures(inputs.params, inputs.images);
        const logits = linear(features, inputs.params['head.weight'], inputs.params['head.bias']);
        return { probabilities: softmax(logits, 1), features };
      }) as never,
      {
        params: classifierParamTypes(config),
        images: { shape: [CHUNK, 1, side, side], dtype: 'float32' },
      } as never,
      { frozen: { params } as never },
    ) as CompiledFunction<{ probabilities: HostTensor; features: HostTensor }>;
  }

  /** The most probable digit and the class probabilities of each image ([count, 1, 28|32, 28|32] flat). */
  async classify(images: Float32Array): Promise<Classification> {
    const { probabilities } = await this.runAll(images);
    const k = this.config.numClasses;
    const labels = new Int32Array(probabilities.length / k);
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (probabilities[i * k + c] > probabilities[i * k + best]) best = c;
      labels[i] = best;
    }
    return { labels, probabilities };
  }

  /** Penultimate-layer features [count, featureDim] (flat), the embedding FID/KID on MNIST use. */
  async features(images: Float32Array): Promise<Float32Array> {
    return (await this.runAll(images)).features;
  }

  async dispose(): Promise<void> {
    await this.compiled.dispose();
  }

  private async runAll(
    images: Float32Array,
  ): Promise<{ probabilities: Float32Array; features: Float32Array }> {
    const input = centredImages(images, this.config.imageSize);
    const perImage = this.config.imageSize ** 2;
    const count = input.length / perImage;
    const probabilities = new Float32Array(count * this.config.numClasses);
    const features = new Float32Array(count * this.config.featureDim);
    for (let start = 0; start < count; start += CHUNK) {
      const chunk = new Float32Array(CHUNK * perImage).fill(-1);
      const n = Math.min(CHUNK, count - start);
      chunk.set(input.subarray(start * perImage, (start + n) * perImage));
      const out = await this.compiled.run({ images: chunk } as never);
      const k = this.config.numClasses;
      const d = this.config.featureDim;
      probabilities.set((out.probabilities.data as Float32Array).subarray(0, n * k), start * k);
      features.set((out.features.data as Float32Array).subarray(0, n * d), start * d);
    }
    return { probabilities, features };
  }
}

/**
 * The images as [count, S·S] with S = `side`: already that size, or 32×32 (MNIST padded by 2 pixels of
 * background each side) cropped to the centre. Anything else is a ShapeError.
 */
export function centredImages(images: Float32Array, side: number): Float32Array {
  const perImage = side * side;
  const padded = 32;
  if (side === 28 && images.length % (padded * padded) === 0 && images.length % perImage !== 0) {
    const count = images.length / (padded * padded);
    const out = new Float32Array(count * perImage);
    for (let i = 0; i < count; i++) {
      for (let row = 0; row < side; row++) {
        const from = i * padded * padded + (row + 2) * padded + 2;
        out.set(images.subarray(from, from + side), i * perImage + row * side);
      }
    }
    return out;
  }
  if (images.length === 0 || images.length % perImage !== 0) {
    throw new ShapeError(
      `the classifier takes 1×${side}×${side} (or 1×32×32) images; got ${images.length} values, which is neither`,
    );
  }
  return images;
}

/** The folder of the shipped weights (found from the source tree and from the compiled `dist/` tree). */
export function defaultClassifierDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    join(here, '..', '..', 'models', 'mnist-classifier'),
    join(here, '..', '..', '..', 'models', 'mnist-classifier'),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, 'model.safetensors')));
  if (!found) {
    throw new NotFoundError('the shipped MNIST classifier weights (models/mnist-classifier/) are missing', {
      hint: 'run scripts/train-classifier.ts to make them',
    });
  }
  return found;
}

/** Reads `config.json` and `model.safetensors` from a classifier folder (default: the shipped one). */
export function readClassifierWeights(dir: string = defaultClassifierDir()): {
  config: ClassifierConfig;
  params: ClassifierHostParams;
} {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) {
    throw new NotFoundError(`classifier config '${configPath}' is missing`, {
      hint: 'a classifier folder holds config.json and model.safetensors',
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (error) {
    throw new FormatError(`classifier config '${configPath}' is not valid JSON`, { cause: error });
  }
  const parsed = classifierConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`classifier config '${configPath}' is invalid: ${parsed.error.issues[0].message}`, {
      hint: 'expected { imageSize: 28, channels: [c1, c2, c3], featureDim, numClasses }',
    });
  }
  const config = parsed.data;
  const file = readSafetensorsFile(join(dir, 'model.safetensors'));
  const params: ClassifierHostParams = {};
  for (const [name, type] of Object.entries(classifierParamTypes(config))) {
    const tensor = getFloatTensor(file, name);
    if (tensor.shape.join(',') !== type.shape.join(',')) {
      throw new ShapeError(
        `classifier weight '${name}' has shape [${tensor.shape}] but config.json implies [${type.shape}]`,
      );
    }
    params[name] = { data: tensor.data, shape: type.shape, dtype: 'float32' };
  }
  return { config, params };
}

/** Loads and compiles a classifier folder (default: the shipped MNIST classifier). */
export function loadClassifier(dir?: string, runtime?: Runtime): MnistClassifier {
  const { config, params } = readClassifierWeights(dir);
  return new MnistClassifier(config, params, runtime);
}

/**
 * The fraction of class-conditional samples the classifier assigns to the class they were asked for:
 * samples [count, 1, 28|32, 28|32] flat, labels [count].
 */
export async function classAccuracy(
  samples: Float32Array,
  labels: ArrayLike<number>,
  classifier: MnistClassifier,
): Promise<number> {
  const predicted = (await classifier.classify(samples)).labels;
  if (predicted.length !== labels.length) {
    throw new ShapeError(`classAccuracy got ${predicted.length} samples but ${labels.length} labels`);
  }
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / labels.length;
}
