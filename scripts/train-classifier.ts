/**
 * Trains the project's MNIST classifier (src/metrics/classifier.ts) on the 9,000-image train split of
 * src/data/mnist.ts and writes `model.safetensors` + `config.json` to the output folder (default
 * models/mnist-classifier/). One compiled train step (forward, cross-entropy, backward, clipping,
 * AdamW) per batch; every image is shifted by a random offset of up to ±2 pixels (background fill) so
 * the network does not learn MNIST's exact centring. The learning rate decays on a half cosine. At the
 * end it reloads the written folder and prints the held-out (1,000-image test split) accuracy.
 *
 *   node --import tsx scripts/train-classifier.ts [--steps 3000] [--seed 0] [--batch 64] [--lr 0.002] [--out DIR]
 */
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor, TensorTree, HostTensor } from '../src/engine/index.js';
import {
  adamw,
  cast,
  constant,
  equal,
  hostZeros,
  logSoftmax,
  mean,
  mul,
  OrtNodeRuntime,
  sum,
  trainStep,
  trainStepTypes,
  unsqueeze,
} from '../src/engine/index.js';
import { mnistDataset } from '../src/data/mnist.js';
import {
  classifierLogits,
  classifierParamTypes,
  initClassifierParams,
  loadClassifier,
  MNIST_CLASSIFIER_CONFIG,
  type ClassifierParams,
} from '../src/metrics/classifier.js';
import { writeSafetensorsFile } from '../src/io/safetensors.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { Random } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '3000' },
    seed: { type: 'string', default: '0' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.002' },
    out: { type: 'string', default: 'models/mnist-classifier' },
  },
});
const steps = Number(values.steps);
const seed = Number(values.seed);
const batchSize = Number(values.batch);
const peakLr = Number(values.lr);
const config = MNIST_CLASSIFIER_CONFIG;
const side = config.imageSize;
const MAX_SHIFT = 2;

/** Mean cross-entropy −(1/B) Σ log p(label | image). */
function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const classes = constant(
    logits.graph,
    [...Array(config.numClasses).keys()],
    [1, config.numClasses],
    'int64',
  );
  const oneHot = cast(equal(unsqueeze(labels, [1]), classes), 'float32');
  return mul(mean(sum(mul(oneHot, logSoftmax(logits, 1)), [1])), -1);
}

/** The image moved by (dy, dx) pixels, the uncovered border filled with background (−1). */
function shifted(image: Float32Array, dy: number, dx: number): Float32Array {
  const out = new Float32Array(side * side).fill(-1);
  for (let row = 0; row < side; row++) {
    const from = row - dy;
    if (from < 0 || from >= side) continue;
    for (let col = 0; col < side; col++) {
      const c = col - dx;
      if (c >= 0 && c < side) out[row * side + col] = image[from * side + c];
    }
  }
  return out;
}

const train = mnistDataset({ split: 'train' });
const test = mnistDataset({ split: 'test' });
const optimizer = adamw({ weightDecay: 1e-4 });
const types = classifierParamTypes(config);
const runtime = new OrtNodeRuntime();
const step = trainStep({
  loss: (p: TensorTree, b: { images: Tensor; labels: Tensor }) =>
    crossEntropy(classifierLogits(p as ClassifierParams, b.images), b.labels),
  optimizer,
  clipNorm: 5,
});
const compiled = runtime.compile(
  step as never,
  trainStepTypes(
    types,
    {
      images: { shape: [batchSize, 1, side, side], dtype: 'float32' },
      labels: { shape: [batchSize], dtype: 'int64' },
    },
    optimizer,
  ),
);

const random = new Random(seed);
let params = initClassifierParams(config, random) as unknown;
let opt = hostZeros(optimizer.stateTypes(types)) as unknown;
let order: Int32Array = Int32Array.from({ length: train.size }, (_, i) => i);
let cursor = train.size;
const started = Date.now();
let averageLoss = 0;
for (let t = 1; t <= steps; t++) {
  if (cursor + batchSize > train.size) {
    order = shuffled(order, random);
    cursor = 0;
  }
  const picked = order.subarray(cursor, cursor + batchSize);
  cursor += batchSize;
  const batch = train.batch(picked);
  const images = new Float32Array(batchSize * side * side);
  for (let i = 0; i < batchSize; i++) {
    const dy = random.int(2 * MAX_SHIFT + 1) - MAX_SHIFT;
    const dx = random.int(2 * MAX_SHIFT + 1) - MAX_SHIFT;
    images.set(shifted(batch.x.subarray(i * side * side, (i + 1) * side * side), dy, dx), i * side * side);
  }
  const labels = BigInt64Array.from(batch.labels!, (l) => BigInt(l));
  const lr = peakLr * 0.5 * (1 + Math.cos((Math.PI * (t - 1)) / steps));
  const out = (await compiled.run({ params, opt, batch: { images, labels }, step: t, lr } as never)) as {
    loss: HostTensor;
    params: unknown;
    opt: unknown;
  };
  ({ params, opt } = out);
  averageLoss = 0.98 * averageLoss + 0.02 * (out.loss.data[0] as number);
  if (t % 250 === 0 || t === steps) {
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    console.log(
      `step ${t}/${steps}  loss ${(averageLoss / (1 - 0.98 ** t)).toFixed(4)}  lr ${lr.toExponential(2)}  ${seconds}s`,
    );
  }
}
await compiled.dispose();

function shuffled(indices: Int32Array, rng: Random): Int32Array {
  const out = indices.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const trained = params as Record<string, HostTensor>;
mkdirSync(values.out, { recursive: true });
const tensors = Object.fromEntries(
  Object.entries(trained).map(([name, t]) => [name, { shape: t.shape, data: t.data as Float32Array }]),
);
writeFileAtomic(join(values.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
writeSafetensorsFile(join(values.out, 'model.safetensors'), tensors, {
  format: 'pt',
  steps: String(steps),
  seed: String(seed),
});
const classifier = loadClassifier(values.out);
const held = test.batch(Int32Array.from({ length: test.size }, (_, i) => i));
const predicted = (await classifier.classify(held.x)).labels;
const correct = predicted.filter((label, i) => label === held.labels![i]).length;
await classifier.dispose();
console.log(`held-out accuracy ${correct}/${test.size} = ${((100 * correct) / test.size).toFixed(1)}%`);
console.log(`training took ${((Date.now() - started) / 1000).toFixed(0)}s`);
