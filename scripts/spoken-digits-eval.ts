/**
 * Spectral scores of a spoken-digits model against held-out clips, for docs/audio.md:
 * `node --import tsx scripts/spoken-digits-eval.ts --model runs/spoken-digits --data data/spoken-digits
 * [--num 20] [--steps 25] [--out samples.wav]`. Generates `num` clips (classes in turn, 0–9, 0–9, …) and
 * scores them with src/metrics/spectral.ts against the `test/` split; two baselines get the same number
 * of clips: `num` training clips (the data's own spread, what a copy of the training set scores) and
 * Gaussian noise at the held-out clips' RMS level. Prints a Markdown table.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { audioFolderDataset } from '../src/data/audio-folder.js';
import { writeWav } from '../src/io/audio.js';
import { spectralScores } from '../src/metrics/spectral.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { generate } from '../src/pipelines/generate.js';
import { Random } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/spoken-digits' },
    data: { type: 'string', default: 'data/spoken-digits' },
    num: { type: 'string', default: '20' },
    steps: { type: 'string', default: '25' },
    out: { type: 'string' },
  },
});
const num = Number(values.num);
const rate = 8000;
const length = 4096;
const options = { length, sampleRate: rate, labels: 'folders' as const };
const held = audioFolderDataset({ path: join(values.data!, 'test'), ...options });
const train = audioFolderDataset({ path: join(values.data!, 'train'), ...options });
const all = (d: typeof held) => d.batch(Int32Array.from({ length: d.size }, (_, i) => i)).x;
const reference = all(held);

const { network, params, schedulerConfig } = loadPipeline(values.model!);
const started = Date.now();
const generated = await generate({
  network,
  params,
  schedulerConfig,
  sampler: 'dpmpp_2m',
  numSteps: Number(values.steps),
  numSamples: num,
  seed: 0,
  classLabels: Array.from({ length: num }, (_, i) => i % 10),
});
const seconds = (Date.now() - started) / 1000;
if (values.out) writeWav(values.out, generated, rate);

const random = new Random(1);
const trainClips = train.batch(random.permutation(train.size).subarray(0, num)).x;
const rms = Math.sqrt(reference.reduce((s, v) => s + v * v, 0) / reference.length);
const noise = Float32Array.from({ length: num * length }, () => rms * random.normal());
const spectral = { sampleRate: rate };
const rows: [string, Float32Array][] = [
  [`model (${num} clips, dpmpp_2m ${values.steps} steps, ${seconds.toFixed(0)} s)`, generated],
  [`training clips (${num}, baseline: the data itself)`, trainClips],
  [`Gaussian noise at the data's RMS ${rms.toFixed(3)} (${num})`, noise],
];
process.stdout.write(
  '| clips scored against the 60 held-out clips | RMS | log-mel Fréchet ↓ | nearest LSD (dB) ↓ |\n|---|---|---|---|\n',
);
for (const [name, clips] of rows) {
  const s = spectralScores(clips, reference, length, spectral);
  const level = Math.sqrt(clips.reduce((sum, v) => sum + v * v, 0) / clips.length);
  process.stdout.write(
    `| ${name} | ${level.toFixed(3)} | ${s.frechet.toFixed(1)} | ${s.nearestLsd.toFixed(2)} |\n`,
  );
}
