/**
 * Sample quality of the shipped class-conditional MNIST model (models/mnist-unet) per sampler and
 * number of steps: for every sampler × steps cell it draws the same `--num` digits (balanced over the
 * classes, the same seed, classifier-free guidance `--guidance`) and reports FID against the 1,000
 * held-out test digits in the MNIST classifier's feature space and the class accuracy of the digits.
 * A first row scores `--num` real training digits the same way: the floor FID reaches at that sample
 * count (FID is biased upwards for small sets, so compare cells of one run, not runs of other sizes).
 * Writes `quality-vs-steps.md` (the table) and `quality-vs-steps.png` (FID left, accuracy right, one
 * line per sampler against steps on a log axis; the colours are listed in the markdown) into
 * `--out-dir`, and prints the table.
 *
 * Usage: npx tsx bench/quality-vs-steps.ts [--num 200] [--samplers ddim,euler_a,dpmpp_2m,unipc]
 *          [--steps 5,10,20,50] [--guidance 2] [--model models/mnist-unet] [--out-dir docs]
 * Numbers only, no assertions; this script must not train.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { resolveDataset } from '../src/data/dataset.js';
import { blankImage, writePng, type Rgba, type RgbaImage } from '../src/io/images.js';
import { loadClassifier } from '../src/metrics/classifier.js';
import { evaluatePipeline, evaluateSamples, type ImageMetrics } from '../src/metrics/evaluate.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { writeFileAtomic } from '../src/util/fs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    num: { type: 'string', default: '200' },
    samplers: { type: 'string', default: 'ddim,euler_a,dpmpp_2m,unipc' },
    steps: { type: 'string', default: '5,10,20,50' },
    guidance: { type: 'string', default: '2' },
    model: { type: 'string', default: join(root, 'models', 'mnist-unet') },
    'out-dir': { type: 'string', default: join(root, 'docs') },
  },
});
const NUM = Number(values.num);
const SAMPLERS = values.samplers!.split(',');
const STEPS = values.steps!.split(',').map(Number);
const GUIDANCE = Number(values.guidance);

/** One line colour per sampler (matplotlib's tab10), named in the markdown legend. */
const COLOURS: readonly { name: string; rgba: Rgba }[] = [
  { name: 'blue', rgba: [31, 119, 180, 255] },
  { name: 'orange', rgba: [255, 127, 14, 255] },
  { name: 'green', rgba: [44, 160, 44, 255] },
  { name: 'red', rgba: [214, 39, 40, 255] },
  { name: 'purple', rgba: [148, 103, 189, 255] },
  { name: 'brown', rgba: [140, 86, 75, 255] },
];
const AXIS: Rgba = [128, 128, 128, 255];

interface Cell {
  fid: number;
  accuracy: number;
  seconds: number;
}

/** The FID and class accuracy of NUM real training digits: the floor at this sample count. */
async function dataRow(classifier: ReturnType<typeof loadClassifier>): Promise<ImageMetrics> {
  const train = await resolveDataset('mnist', { split: 'train' });
  const stride = Math.floor(train.size / NUM);
  const { x, labels } = train.batch(Int32Array.from({ length: NUM }, (_, i) => i * stride));
  const report = await evaluateSamples(x, train.shape, 'mnist', { labels: labels!, classifier });
  return report.metrics as ImageMetrics;
}

function paint(image: RgbaImage, x: number, y: number, colour: Rgba): void {
  if (x >= 0 && y >= 0 && x < image.width && y < image.height)
    image.data.set(colour, (y * image.width + x) * 4);
}

/** A straight segment, one pixel per step of its longer extent. */
function line(image: RgbaImage, x0: number, y0: number, x1: number, y1: number, colour: Rgba): void {
  const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= n; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / n);
    const y = Math.round(y0 + ((y1 - y0) * i) / n);
    for (const d of [0, 1]) paint(image, x, y + d, colour);
  }
}

/**
 * One panel at x offset `left`: steps on a log axis, `value` from 0 (bottom) to `top` (top of the
 * panel), one polyline with 5×5 markers per sampler.
 */
function panel(
  image: RgbaImage,
  left: number,
  size: number,
  cells: Map<string, Cell>,
  value: (c: Cell) => number,
  top: number,
  floor: number,
): void {
  const margin = 20;
  const [lo, hi] = [Math.log(STEPS[0]), Math.log(STEPS[STEPS.length - 1])];
  const px = (s: number) =>
    left + margin + Math.round(((Math.log(s) - lo) / (hi - lo || 1)) * (size - 2 * margin));
  const py = (v: number) => size - margin - Math.round((Math.min(v, top) / top) * (size - 2 * margin));
  line(image, left + margin, size - margin, left + size - margin, size - margin, AXIS);
  line(image, left + margin, margin, left + margin, size - margin, AXIS);
  for (const s of STEPS) line(image, px(s), size - margin, px(s), size - margin + 4, AXIS);
  // The real digits' score as a dashed grey line: what a perfect model would reach at this count.
  for (let x = left + margin; x < left + size - margin; x += 8)
    line(image, x, py(floor), x + 3, py(floor), AXIS);
  SAMPLERS.forEach((sampler, k) => {
    const colour = COLOURS[k % COLOURS.length].rgba;
    const points = STEPS.map((s) => [px(s), py(value(cells.get(`${sampler}/${s}`)!))]);
    points.slice(1).forEach(([x, y], i) => line(image, points[i][0], points[i][1], x, y, colour));
    for (const [x, y] of points)
      for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) paint(image, x + dx, y + dy, colour);
  });
}

function plot(cells: Map<string, Cell>, data: ImageMetrics): RgbaImage {
  const size = 320;
  const image = blankImage(2 * size, size);
  const maxFid = Math.max(data.fid, ...[...cells.values()].map((c) => c.fid));
  panel(image, 0, size, cells, (c) => c.fid, maxFid * 1.05, data.fid);
  panel(image, size, size, cells, (c) => c.accuracy, 1, data.classAccuracy!);
  return image;
}

function markdown(cells: Map<string, Cell>, data: ImageMetrics, seconds: number): string {
  const header = `| sampler | ${STEPS.map((s) => `${s} steps`).join(' | ')} |`;
  const rule = `|---|${STEPS.map(() => '---').join('|')}|`;
  const rows = SAMPLERS.map(
    (sampler) =>
      `| ${sampler} | ${STEPS.map((s) => {
        const c = cells.get(`${sampler}/${s}`)!;
        return `${c.fid.toFixed(1)} / ${(100 * c.accuracy).toFixed(0)}%`;
      }).join(' | ')} |`,
  );
  const legend = SAMPLERS.map((s, k) => `${s} ${COLOURS[k % COLOURS.length].name}`).join(', ');
  return [
    `FID / class accuracy of ${NUM} digits (${NUM / 10} per class, guidance ${GUIDANCE}, seed 0) from models/mnist-unet,`,
    `FID against the 1,000 held-out test digits in the MNIST classifier's 64-d feature space.`,
    `${NUM} real training digits score FID ${data.fid.toFixed(1)} / ${(100 * data.classAccuracy!).toFixed(0)}% (the floor at this count).`,
    '',
    header,
    rule,
    ...rows,
    '',
    `Plot quality-vs-steps.png: FID (left, 0 at the bottom) and class accuracy (right, 0 to 100%) against`,
    `steps on a log axis (dashed grey: the real digits); ${legend}. Total time ${(seconds / 60).toFixed(1)} min.`,
  ].join('\n');
}

async function main(): Promise<void> {
  const started = performance.now();
  const pipeline = loadPipeline(values.model!);
  const classifier = loadClassifier();
  const data = await dataRow(classifier);
  console.log(`real digits: FID ${data.fid.toFixed(1)}, accuracy ${(100 * data.classAccuracy!).toFixed(0)}%`);
  const cells = new Map<string, Cell>();
  for (const sampler of SAMPLERS) {
    for (const steps of STEPS) {
      const report = await evaluatePipeline({
        ...pipeline,
        dataset: 'mnist',
        numSamples: NUM,
        sampler,
        steps,
        guidance: GUIDANCE,
        classifier,
      });
      const metrics = report.metrics as ImageMetrics;
      const cell = { fid: metrics.fid, accuracy: metrics.classAccuracy!, seconds: report.samplingSeconds };
      cells.set(`${sampler}/${steps}`, cell);
      console.log(
        `${sampler.padEnd(10)} ${String(steps).padStart(3)} steps: FID ${cell.fid.toFixed(1).padStart(7)}, ` +
          `accuracy ${(100 * cell.accuracy).toFixed(0).padStart(3)}% (sampling ${cell.seconds.toFixed(1)} s)`,
      );
    }
  }
  await classifier.dispose();
  const table = markdown(cells, data, (performance.now() - started) / 1000);
  const outDir = values['out-dir']!;
  writeFileAtomic(join(outDir, 'quality-vs-steps.md'), `${table}\n`);
  writePng(join(outDir, 'quality-vs-steps.png'), plot(cells, data));
  console.log(`\n${table}\n\nwrote ${join(outDir, 'quality-vs-steps.md')} and quality-vs-steps.png`);
}

await main();
