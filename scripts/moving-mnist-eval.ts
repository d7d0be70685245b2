/**
 * Frame-consistency scores of a moving-MNIST video model, for docs/video.md:
 * `node --import tsx scripts/moving-mnist-eval.ts --model runs/moving-mnist [--num 8] [--steps 20]
 * [--out samples.gif]`. Generates `num` videos and scores them with src/metrics/video.ts beside two
 * baselines of the same count: real held-out videos (digits from MNIST's test images) and Gaussian noise
 * clipped to [−1, 1]. Prints a Markdown table.
 */
import { parseArgs } from 'node:util';
import { movingMnistDataset } from '../src/data/moving-mnist.js';
import { writeVideoGif } from '../src/io/video.js';
import { loadClassifier } from '../src/metrics/classifier.js';
import { digitConsistency, frameChange } from '../src/metrics/video.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { generate } from '../src/pipelines/generate.js';
import { Random } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/moving-mnist' },
    num: { type: 'string', default: '8' },
    steps: { type: 'string', default: '20' },
    out: { type: 'string' },
  },
});
const num = Number(values.num);
const { network, params, schedulerConfig } = loadPipeline(values.model!);
const shape = [num, ...network.sampleShape];
const started = Date.now();
const generated = await generate({
  network,
  params,
  schedulerConfig,
  sampler: 'dpmpp_2m',
  numSteps: Number(values.steps),
  numSamples: num,
  seed: 0,
});
const seconds = (Date.now() - started) / 1000;
if (values.out) writeVideoGif(values.out, generated, shape);

const [, frames, side] = network.sampleShape;
const real = movingMnistDataset({ size: num, seed: 7, split: 'test', frames, imageSize: side as 24 | 32 });
const realVideos = real.batch(Int32Array.from({ length: num }, (_, i) => i)).x;
const random = new Random(1);
const noise = Float32Array.from({ length: realVideos.length }, () =>
  Math.max(-1, Math.min(1, random.normal())),
);
const dataChange = frameChange(realVideos, shape);
const classifier = loadClassifier();
process.stdout.write(
  '| videos | frame change | ÷ data | same digit in all frames | frames agreeing with majority | classifier confidence |\n|---|---|---|---|---|---|\n',
);
const rows: [string, Float32Array][] = [
  [`model (${num}, dpmpp_2m ${values.steps} steps, ${seconds.toFixed(0)} s)`, generated],
  [`real held-out videos (${num})`, realVideos],
  [`clipped Gaussian noise (${num})`, noise],
];
for (const [name, videos] of rows) {
  const change = frameChange(videos, shape);
  const c = await digitConsistency(videos, shape, classifier);
  process.stdout.write(
    `| ${name} | ${change.toFixed(3)} | ${(change / dataChange).toFixed(2)} | ${(100 * c.sameDigitRate).toFixed(0)} % | ${(100 * c.majorityAgreement).toFixed(0)} % | ${c.confidence.toFixed(2)} |\n`,
  );
}
await classifier.dispose();
