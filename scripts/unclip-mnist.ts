/**
 * unCLIP on MNIST, trained and measured: trains the contrastive encoder, the prior and the decoder
 * (warm-started from models/mnist-unet) on `mnist-captions` (`trainUnclip`), saves the folder to `--out`,
 * then measures on held-out data and prints a markdown report (also written as `--out`/report.md):
 * - encoder: zero-shot top-1 of 1,000 test digits' image embeddings among the ten captions
 *   "a handwritten zero" … "a handwritten nine";
 * - prior: top-1 retrieval of the right caption among those ten for `--per-digit` generated image
 *   embeddings per prompt (chance 10%), at guidance 1 and `--prior-guidance`;
 * - text to image: the shipped classifier's accuracy on the decoded images of each prompt;
 * - variations: one variation of each of `--variations` test digits (spread evenly over the digit-ordered
 *   split), classified as the input's label.
 * `--reuse` measures the folder already at `--out` instead of training one.
 *
 * Usage: node --import tsx scripts/unclip-mnist.ts [--out runs/unclip-mnist] [--clip-steps 600]
 *   [--prior-steps 4000] [--decoder-steps 800] [--decoder-minutes 20] [--per-digit 10] [--variations 100]
 *   [--steps 20] [--guidance 3] [--prior-guidance 2] [--reuse]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DIGIT_WORDS } from '../src/data/captions.js';
import { resolveDataset } from '../src/data/dataset.js';
import { imageGrid, tensorToImages, writePng } from '../src/io/images.js';
import { classAccuracy, loadClassifier } from '../src/metrics/classifier.js';
import { topOneRetrieval } from '../src/metrics/retrieval.js';
import { embedImages, embedTexts } from '../src/models/contrastive.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { isUnclipFolder, loadUnclip, saveUnclip } from '../src/models/unclip-folder.js';
import { imageVariations, priorEmbeddings, unclipTextToImage } from '../src/pipelines/unclip.js';
import { TINY_DECODER_UNET_CONFIG } from '../src/training/unclip-decoder.js';
import { trainUnclip } from '../src/training/unclip.js';
import { writeFileAtomic } from '../src/util/fs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'runs', 'unclip-mnist') },
    'clip-steps': { type: 'string', default: '600' },
    'prior-steps': { type: 'string', default: '4000' },
    'decoder-steps': { type: 'string', default: '800' },
    'decoder-minutes': { type: 'string', default: '20' },
    'per-digit': { type: 'string', default: '10' },
    variations: { type: 'string', default: '100' },
    steps: { type: 'string', default: '20' },
    guidance: { type: 'string', default: '3' },
    'prior-guidance': { type: 'string', default: '2' },
    /** Measure the unCLIP folder already at --out instead of training one. */
    reuse: { type: 'boolean', default: false },
  },
});
const OUT = values.out!;
const PER_DIGIT = Number(values['per-digit']);
const STEPS = Number(values.steps);
const GUIDANCE = Number(values.guidance);
const PRIOR_GUIDANCE = Number(values['prior-guidance']);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

const train = await resolveDataset('mnist-captions', { split: 'train' });
const started = performance.now();
const reused = values.reuse && isUnclipFolder(OUT);
const trained = reused
  ? null
  : await trainUnclip({
      dataset: train,
      clip: { steps: Number(values['clip-steps']), batchSize: 64, lr: 2e-3, warmupSteps: 50 },
      prior: { steps: Number(values['prior-steps']), batchSize: 256, lr: 1e-3, emaDecay: 0.999 },
      decoder: {
        unet: TINY_DECODER_UNET_CONFIG,
        steps: Number(values['decoder-steps']),
        batchSize: 32,
        lr: 5e-4,
        warmupSteps: 20,
      },
      initialDecoder: loadPipeline(join(root, 'models', 'mnist-unet')).params,
      timeLimits: { decoder: 60 * Number(values['decoder-minutes']) },
      onLog: (line) => console.log(line),
    });
const trainMinutes = (performance.now() - started) / 60000;
const components = trained ? trained.components : loadUnclip(OUT);
if (trained) {
  saveUnclip(OUT, components);
  console.log(`saved ${OUT}`);
}

const width = components.clip.model.embedDim;
const prompts = DIGIT_WORDS.map((w) => `a handwritten ${w}`);
const captionKeys = await embedTexts(components.clip, prompts);
const test = await resolveDataset('mnist', { split: 'test' });
const first = Array.from({ length: 1000 }, (_, i) => i);
const testBatch = test.batch(first);
const testEmbeddings = await embedImages(components.clip, testBatch.x, first.length);
const zeroShot = topOneRetrieval(testEmbeddings, captionKeys, width, testBatch.labels!);

const digitOf = Array.from({ length: 10 * PER_DIGIT }, (_, i) => Math.floor(i / PER_DIGIT));
const priorRetrieval = async (guidance: number) =>
  topOneRetrieval(
    await priorEmbeddings(components, prompts, {
      numImagesPerPrompt: PER_DIGIT,
      priorGuidance: guidance,
      seed: 1,
    }),
    captionKeys,
    width,
    digitOf,
  );
const retrievalPlain = await priorRetrieval(1);
const retrievalGuided = await priorRetrieval(PRIOR_GUIDANCE);

const classifier = loadClassifier();
const t2i = await unclipTextToImage(components, prompts, {
  numImagesPerPrompt: PER_DIGIT,
  priorGuidance: PRIOR_GUIDANCE,
  guidance: GUIDANCE,
  numSteps: STEPS,
  sampler: 'dpmpp_2m',
  seed: 2,
});
const t2iAccuracy = await classAccuracy(t2i.images, digitOf, classifier);
writePng(
  join(OUT, 'text-to-image.png'),
  imageGrid(tensorToImages(t2i.images, [digitOf.length, 1, 28, 28]), { nrow: PER_DIGIT }),
);

// The test split is ordered by digit: take `count` digits spread evenly over it (every class alike).
const count = Number(values.variations);
const inputs = test.batch(Array.from({ length: count }, (_, i) => Math.floor((i * test.size) / count)));
const variations = await imageVariations(components, inputs.x, count, {
  numVariations: 1,
  guidance: GUIDANCE,
  numSteps: STEPS,
  sampler: 'dpmpp_2m',
  seed: 3,
});
const variationAccuracy = await classAccuracy(variations.images, Array.from(inputs.labels!), classifier);
// Grid: ten inputs spread over the set (one per digit when count ≥ 10) above one variation of each.
const shown = Math.min(count, 10);
const pairs = new Float32Array(2 * shown * 784);
for (let k = 0; k < shown; k++) {
  const row = Math.floor((k * count) / shown);
  pairs.set(inputs.x.subarray(row * 784, (row + 1) * 784), k * 784);
  pairs.set(variations.images.subarray(row * 784, (row + 1) * 784), (shown + k) * 784);
}
writePng(
  join(OUT, 'variations.png'),
  imageGrid(tensorToImages(pairs, [2 * shown, 1, 28, 28]), { nrow: shown }),
);
await classifier.dispose();

const s = trained?.stages;
const report = [
  ...(s
    ? [
        `Trained in ${trainMinutes.toFixed(1)} min: encoder ${s.clip.steps} steps (${s.clip.seconds.toFixed(0)} s, loss ${s.clip.finalLoss.toFixed(3)}),`,
        `embeddings of ${train.size} pairs ${trained!.embedSeconds.toFixed(0)} s, prior ${s.prior.steps} steps (${s.prior.seconds.toFixed(0)} s, loss ${s.prior.finalLoss.toFixed(4)}),`,
        `decoder ${s.decoder.steps} steps (${s.decoder.seconds.toFixed(0)} s, loss ${s.decoder.finalLoss.toFixed(4)}).`,
      ]
    : [`Measured the folder at ${OUT}.`]),
  '',
  '| measurement | result | chance |',
  '|---|---|---|',
  `| encoder zero-shot: 1,000 test digits → right caption among 10 | ${pct(zeroShot)} | 10% |`,
  `| prior, guidance 1: generated embedding → right caption among 10 (${10 * PER_DIGIT}) | ${pct(retrievalPlain)} | 10% |`,
  `| prior, guidance ${PRIOR_GUIDANCE}: same | ${pct(retrievalGuided)} | 10% |`,
  `| text → prior → decoder (guidance ${GUIDANCE}, dpmpp_2m ${STEPS}): classifier says the prompt's digit | ${pct(t2iAccuracy)} | 10% |`,
  `| variations (guidance ${GUIDANCE}, dpmpp_2m ${STEPS}): classifier says the input's digit (${count}) | ${pct(variationAccuracy)} | 10% |`,
].join('\n');
writeFileAtomic(join(OUT, 'report.md'), `${report}\n`);
console.log(`\n${report}`);
