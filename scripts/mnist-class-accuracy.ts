/**
 * Class accuracy of a class-conditional MNIST pipeline folder: draws `--per-class` samples for every
 * digit (classifier-free guidance `--guidance`, sampler `--sampler`, `--steps`), classifies them with
 * the shipped MNIST classifier, and prints the accuracy per class and overall; `--grid FILE` also writes
 * the samples as a PNG grid (one row per class). `--weights FILE` samples with other weights of the same
 * network (e.g. `training_state/params.safetensors` instead of the EMA weights the folder holds).
 */
import { parseArgs } from 'node:util';
import { imageGrid, tensorToImages, writePng } from '../src/io/images.js';
import { loadClassifier, classAccuracy } from '../src/metrics/classifier.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { loadWeights } from '../src/models/weights.js';
import { generate } from '../src/pipelines/generate.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist-unet' },
    weights: { type: 'string' },
    'per-class': { type: 'string', default: '20' },
    guidance: { type: 'string', default: '2' },
    sampler: { type: 'string', default: 'dpmpp_2m' },
    steps: { type: 'string', default: '20' },
    seed: { type: 'string', default: '0' },
    grid: { type: 'string' },
  },
});
const pipeline = loadPipeline(values.model!);
const params = values.weights ? loadWeights(values.weights, pipeline.network.paramTypes()) : pipeline.params;
const perClass = Number(values['per-class']);
const labels = Array.from({ length: 10 * perClass }, (_, i) => Math.floor(i / perClass));
const started = performance.now();
const samples = await generate({
  network: pipeline.network,
  params,
  schedulerConfig: pipeline.schedulerConfig,
  sampler: values.sampler!,
  numSteps: Number(values.steps),
  numSamples: labels.length,
  seed: Number(values.seed),
  classLabels: labels,
  guidance: Number(values.guidance),
});
const seconds = (performance.now() - started) / 1000;
const classifier = loadClassifier();
const predicted = (await classifier.classify(samples)).labels;
const perDigit = Array.from({ length: 10 }, (_, d) => {
  let correct = 0;
  for (let i = d * perClass; i < (d + 1) * perClass; i++) if (predicted[i] === d) correct++;
  return correct / perClass;
});
const accuracy = await classAccuracy(samples, labels, classifier);
console.log(`per class: ${perDigit.map((a, d) => `${d}:${(100 * a).toFixed(0)}%`).join(' ')}`);
console.log(
  `accuracy ${(100 * accuracy).toFixed(1)}% over ${labels.length} samples (${values.sampler}, ${values.steps} steps, guidance ${values.guidance}; sampling ${seconds.toFixed(1)} s)`,
);
if (values.grid) {
  const images = tensorToImages(samples, [labels.length, ...pipeline.network.sampleShape]);
  writePng(values.grid, imageGrid(images, { nrow: perClass }));
}
