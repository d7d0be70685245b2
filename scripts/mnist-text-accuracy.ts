/**
 * Prompt accuracy of a text-to-image MNIST folder (`train --data mnist-captions`): for N = 0…9 it draws
 * `--per-prompt` images for the word form "a handwritten <zero…nine>" and for the numeral form
 * "the digit <N>", classifies them with the shipped MNIST classifier, and prints the share recognised
 * as N per digit and overall for each form; `--grid FILE` writes the word-form images (one row per
 * digit). Guidance, sampler and steps are flags.
 */
import { parseArgs } from 'node:util';
import { DIGIT_WORDS } from '../src/data/captions.js';
import { imageGrid, tensorToImages, writePng } from '../src/io/images.js';
import { classAccuracy, loadClassifier } from '../src/metrics/classifier.js';
import { loadTextToImagePipeline } from '../src/models/text-to-image-folder.js';
import { textToImage } from '../src/pipelines/text-to-image.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/mnist-text' },
    'per-prompt': { type: 'string', default: '10' },
    guidance: { type: 'string', default: '3' },
    sampler: { type: 'string', default: 'dpmpp_2m' },
    steps: { type: 'string', default: '20' },
    seed: { type: 'string', default: '0' },
    grid: { type: 'string' },
  },
});
const pipeline = loadTextToImagePipeline(values.model!);
const perPrompt = Number(values['per-prompt']);
const labels = Array.from({ length: 10 * perPrompt }, (_, i) => Math.floor(i / perPrompt));
const classifier = loadClassifier();
const forms: [string, (d: number) => string][] = [
  ['a handwritten <word>', (d) => `a handwritten ${DIGIT_WORDS[d]}`],
  ['the digit <numeral>', (d) => `the digit ${d}`],
];
for (const [name, prompt] of forms) {
  const started = performance.now();
  const { images, shape } = await textToImage(pipeline, {
    prompt: DIGIT_WORDS.map((_, d) => prompt(d)),
    numImagesPerPrompt: perPrompt,
    guidance: Number(values.guidance),
    sampler: values.sampler!,
    numSteps: Number(values.steps),
    seed: Number(values.seed),
  });
  const seconds = (performance.now() - started) / 1000;
  const predicted = (await classifier.classify(images)).labels;
  const perDigit = DIGIT_WORDS.map((_, d) => {
    let correct = 0;
    for (let i = d * perPrompt; i < (d + 1) * perPrompt; i++) if (predicted[i] === d) correct++;
    return correct / perPrompt;
  });
  const accuracy = await classAccuracy(images, labels, classifier);
  console.log(`${name}: per digit ${perDigit.map((a, d) => `${d}:${(100 * a).toFixed(0)}%`).join(' ')}`);
  console.log(
    `${name}: accuracy ${(100 * accuracy).toFixed(1)}% over ${labels.length} images (${values.sampler}, ${values.steps} steps, guidance ${values.guidance}; sampling ${seconds.toFixed(1)} s)`,
  );
  if (values.grid && name === forms[0][0]) {
    writePng(values.grid, imageGrid(tensorToImages(images, [labels.length, ...shape]), { nrow: perPrompt }));
  }
}
