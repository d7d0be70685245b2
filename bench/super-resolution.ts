/**
 * Held-out scores of a trained MNIST super-resolution model (`diffusion train --data mnist-sr-14-28`):
 * `count` test digits (every k-th of the 1,000-digit test split, so the classes stay balanced) are
 * area-pooled to the model's low_res_size and brought back to 28×28 by bilinear and bicubic
 * interpolation and by the diffusion model — one sample per image (`steps` of a sampler) and the mean
 * of `average` samples (a Monte-Carlo estimate of the posterior mean E[x₀ | low-res]). For each: mean per-image PSNR against the original (range 2)
 * and the shipped MNIST classifier's accuracy; the originals' accuracy is the ceiling. Prints a
 * Markdown table; with `--png PATH` also a strip per digit: low-res, bicubic, diffusion, original.
 *
 * With `--cascade DIR` it instead samples `--per-class` digits of each class through a cascade folder
 * and prints the classifier's accuracy on the final (28×28) images.
 *
 * Usage: npx tsx bench/super-resolution.ts MODEL_DIR [--count 200] [--steps 10] [--average 4] [--png PATH]
 *        npx tsx bench/super-resolution.ts --cascade DIR [--per-class 10] [--png PATH]
 * This script must not train; it only loads a model folder and scores it.
 */
import { mnistDataset } from '../src/data/mnist.js';
import { imageGrid } from '../src/io/image-grid.js';
import { tensorToImages } from '../src/io/image-tensor.js';
import { writePng } from '../src/io/png.js';
import { upsample, type UpsampleFilter } from '../src/io/tensor-resize.js';
import { loadClassifier, classAccuracy } from '../src/metrics/classifier.js';
import { psnr } from '../src/metrics/image.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { cascade, loadCascade, superResolutionNetwork, upscale } from '../src/pipelines/upscale.js';

export interface SuperResolutionRow {
  method: string;
  psnr: number;
  accuracy: number;
  seconds: number;
}

export interface SuperResolutionScores {
  rows: SuperResolutionRow[];
  /** The low-res inputs, bicubic, single-sample diffusion and originals, [count, 1, ·, ·] each. */
  images: { low: Float32Array; bicubic: Float32Array; diffusion: Float32Array; original: Float32Array };
  lowSide: number;
}

/** Mean per-image PSNR (dB) of `images` against `reference`, both [n, 784]. */
function meanPsnr(images: Float32Array, reference: Float32Array, n: number): number {
  const per = images.length / n;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += psnr(images.subarray(i * per, (i + 1) * per), reference.subarray(i * per, (i + 1) * per));
  }
  return sum / n;
}

export async function superResolutionScores(
  modelDir: string,
  options: { count?: number; steps?: number; average?: number; sampler?: string; seed?: number } = {},
): Promise<SuperResolutionScores> {
  const count = options.count ?? 200;
  const steps = options.steps ?? 10;
  const average = options.average ?? 4;
  const pipeline = loadPipeline(modelDir);
  const network = superResolutionNetwork(pipeline.network);
  const test = mnistDataset({ split: 'test', imageSize: 28 });
  const stride = Math.floor(test.size / count);
  const side = network.sampleShape[1];
  const per = side * side;
  const original = new Float32Array(count * per);
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = i * stride;
    for (let p = 0; p < per; p++) original[i * per + p] = (2 * test.pixels[j * per + p]) / 255 - 1;
    labels.push(test.labels![j]);
  }
  const low = network.downsample(original, count);
  const lowSide = network.config.low_res_size;
  const classifier = loadClassifier();
  const rows: SuperResolutionRow[] = [];
  const score = async (method: string, images: Float32Array, seconds: number) => {
    rows.push({
      method,
      psnr: meanPsnr(images, original, count),
      accuracy: await classAccuracy(images, labels, classifier),
      seconds,
    });
    process.stderr.write(`${method}: done\n`);
  };
  await score('original (ceiling)', original, 0);
  const interp = (filter: UpsampleFilter) =>
    upsample(low, { batch: count, channels: 1, height: lowSide, width: lowSide }, side, side, filter).map(
      (v) => Math.min(1, Math.max(-1, v)),
    );
  await score('bilinear', interp('bilinear'), 0);
  const bicubic = interp('bicubic');
  await score('bicubic', bicubic, 0);
  const run = async (
    method: string,
    extra: { sampler?: string; numSteps: number; samplesPerImage?: number },
  ) => {
    const start = performance.now();
    const out = await upscale({
      network,
      params: pipeline.params,
      schedulerConfig: pipeline.schedulerConfig,
      lowRes: low,
      seed: options.seed ?? 0,
      sampler: options.sampler ?? 'dpmpp_2m',
      augLevel: 0.1,
      ...extra,
    });
    await score(method, out, (performance.now() - start) / 1000);
    return out;
  };
  const diffusion = await run(`diffusion, 1 sample, ${steps} steps`, { numSteps: steps });
  if (average > 1)
    await run(`diffusion, mean of ${average} samples, ${steps} steps`, {
      numSteps: steps,
      samplesPerImage: average,
    });
  return { rows, images: { low, bicubic, diffusion, original }, lowSide };
}

function markdown(rows: readonly SuperResolutionRow[]): string {
  const lines = ['| method | PSNR (dB) | classifier accuracy | time (s) |', '|---|---:|---:|---:|'];
  for (const r of rows)
    lines.push(
      `| ${r.method} | ${Number.isFinite(r.psnr) ? r.psnr.toFixed(2) : '—'} | ${(100 * r.accuracy).toFixed(1)} % | ${r.seconds.toFixed(1)} |`,
    );
  return lines.join('\n');
}

/** Ten digits as rows of [low-res (nearest ×), bicubic, diffusion, original]. */
function strip(scores: SuperResolutionScores, path: string): void {
  const { low, bicubic, diffusion, original } = scores.images;
  const n = original.length / 784;
  const lowUp = upsample(
    low,
    { batch: n, channels: 1, height: scores.lowSide, width: scores.lowSide },
    28,
    28,
    'bilinear',
  );
  const count = original.length / 784;
  const picks = Array.from({ length: 10 }, (_, d) => Math.floor((d * count) / 10));
  const images = picks.flatMap((i) =>
    [lowUp, bicubic, diffusion, original].map(
      (t) => tensorToImages(t.subarray(i * 784, (i + 1) * 784), [1, 28, 28])[0],
    ),
  );
  writePng(path, imageGrid(images, { nrow: 4, padding: 2 }));
}

/** Classifier accuracy of a cascade's final images, `perClass` per digit; optionally a grid PNG. */
export async function cascadeAccuracy(dir: string, perClass: number, png?: string): Promise<number> {
  const loaded = loadCascade(dir);
  const classifier = loadClassifier();
  const finals: Float32Array[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const outputs = await cascade({ cascade: loaded, numSamples: perClass, classLabels: digit, seed: digit });
    finals.push(outputs[outputs.length - 1]);
    labels.push(...Array<number>(perClass).fill(digit));
  }
  const all = new Float32Array(finals.reduce((n, f) => n + f.length, 0));
  finals.reduce((at, f) => (all.set(f, at), at + f.length), 0);
  if (png) writePng(png, imageGrid(tensorToImages(all, [labels.length, 1, 28, 28]), { nrow: perClass }));
  return classAccuracy(all, labels, classifier);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const cascadeDir = flag('--cascade');
  if (cascadeDir) {
    const accuracy = await cascadeAccuracy(cascadeDir, Number(flag('--per-class') ?? 10), flag('--png'));
    process.stdout.write(`cascade accuracy ${(100 * accuracy).toFixed(1)} %\n`);
    return;
  }
  const dir = args[0];
  if (!dir || dir.startsWith('--'))
    throw new Error(
      'usage: bench/super-resolution.ts MODEL_DIR [--count N] [--steps N] [--average K] [--png PATH]',
    );
  const scores = await superResolutionScores(dir, {
    count: Number(flag('--count') ?? 200),
    steps: Number(flag('--steps') ?? 10),
    average: Number(flag('--average') ?? 4),
  });
  process.stdout.write(`${markdown(scores.rows)}\n`);
  const png = flag('--png');
  if (png) strip(scores, png);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
