/**
 * `diffusion generate-dataset --model DIR --per-class N --out DIR`: synthetic training data from a saved
 * class-conditional image model — N samples of every class written as `<out>/<class>/<index>.png` plus
 * `<out>/labels.csv` (columns file,label), so the folder can be the `--data` of an image-folder training
 * run (its sub-folder names sort in label order). An unconditional model takes `--num N` instead and
 * writes `<out>/<index>.png` and a labels.csv with the file column only. The folder is written atomically.
 *
 * This command must not train and must not overwrite a non-empty folder.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { OrtNodeRuntime } from '../../engine/index.js';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { encodePng, tensorToImages } from '../../io/images.js';
import { compiledDenoiser, generate } from '../../pipelines/generate.js';
import { UsageError } from '../../util/errors.js';
import { writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { integerFlag, numberFlag } from '../flags.js';
import { loadImagePipeline, seedFlag } from './edit-common.js';

/** Samples generated per network call (bounds memory; each chunk has its own seed). */
const CHUNK = 64;

interface GenerateDatasetFlags {
  model: string;
  out: string;
  perClass?: string;
  num?: string;
  sampler: string;
  steps: string;
  guidance?: string;
  seed: string;
}

/** Zero-padded decimal names that sort in numeric order: `name(7, 100)` is '07'. */
export function paddedName(index: number, count: number): string {
  return String(index).padStart(String(Math.max(0, count - 1)).length, '0');
}

/** The label of every sample to draw (null entries for an unconditional model), in output order. */
function plannedLabels(flags: GenerateDatasetFlags, numClasses: number | null): (number | null)[] {
  if (numClasses === null) {
    if (flags.perClass !== undefined) {
      throw new UsageError('--per-class: this model is unconditional (trained without labels); use --num N');
    }
    if (flags.guidance !== undefined) throw new UsageError('--guidance needs a class-conditional model');
    if (flags.num === undefined) throw new UsageError('an unconditional model needs --num N');
    return Array<null>(integerFlag('--num', flags.num, 1, 1_000_000)).fill(null);
  }
  if (flags.num !== undefined) {
    throw new UsageError(
      '--num is for unconditional models; this one is class-conditional, use --per-class N',
    );
  }
  if (flags.perClass === undefined) throw new UsageError('a class-conditional model needs --per-class N');
  const perClass = integerFlag('--per-class', flags.perClass, 1, 100_000);
  return Array.from({ length: numClasses * perClass }, (_, i) => Math.floor(i / perClass));
}

async function runGenerateDataset(flags: GenerateDatasetFlags): Promise<void> {
  const steps = integerFlag('--steps', flags.steps, 1, 10_000);
  const seed = seedFlag(flags.seed);
  const guidance = flags.guidance === undefined ? 1 : numberFlag('--guidance', flags.guidance, 0, 100);
  try {
    resolveSampler(flags.sampler);
  } catch (error) {
    throw new UsageError(`--sampler: ${(error as Error).message}`);
  }
  if (existsSync(flags.out) && (!statSync(flags.out).isDirectory() || readdirSync(flags.out).length > 0)) {
    throw new UsageError(
      `--out '${flags.out}' already exists and is not an empty folder; choose a new folder`,
    );
  }
  const { network, params, schedulerConfig } = loadImagePipeline(flags.model, 'generate-dataset');
  const numClasses = network.numClassEmbeds === null ? null : network.numClassEmbeds - 1;
  const labels = plannedLabels(flags, numClasses);
  const shape = network.sampleShape;
  const doubled = numClasses !== null && guidance !== 0 && guidance !== 1;
  const batch = Math.min(CHUNK, labels.length);
  const denoiser = compiledDenoiser(
    { network, params, numSamples: doubled ? 2 * batch : batch },
    new OrtNodeRuntime(),
  );
  const pngs: Uint8Array[] = [];
  try {
    for (let start = 0; start < labels.length; start += CHUNK) {
      const chunk = labels.slice(start, start + CHUNK);
      const samples = await generate({
        network,
        params,
        schedulerConfig,
        sampler: flags.sampler,
        numSteps: steps,
        numSamples: chunk.length,
        seed: seed + start / CHUNK,
        denoiser,
        ...(numClasses !== null ? { classLabels: chunk as number[], guidance } : {}),
      });
      for (const image of tensorToImages(samples, [chunk.length, ...shape])) pngs.push(encodePng(image));
    }
  } finally {
    await denoiser.dispose();
  }
  const files = datasetFiles(labels, numClasses);
  writeDirAtomic(flags.out, (dir) => {
    files.forEach((file, i) => writeFileAtomic(join(dir, file), pngs[i]));
    const rows = files.map((file, i) => (numClasses === null ? file : `${file},${labels[i]}`));
    const header = numClasses === null ? 'file' : 'file,label';
    writeFileAtomic(join(dir, 'labels.csv'), `${[header, ...rows].join('\n')}\n`);
  });
  const what = numClasses === null ? '' : ` (${numClasses} classes)`;
  process.stdout.write(`wrote ${labels.length} images${what} and labels.csv to ${flags.out}\n`);
}

/** Relative file paths: `<class>/<index>.png` (index within the class), or `<index>.png` unconditionally. */
function datasetFiles(labels: readonly (number | null)[], numClasses: number | null): string[] {
  if (numClasses === null) return labels.map((_, i) => `${paddedName(i, labels.length)}.png`);
  const perClass = labels.length / numClasses;
  return labels.map(
    (label, i) => `${paddedName(label!, numClasses)}/${paddedName(i % perClass, perClass)}.png`,
  );
}

export function register(program: Command): void {
  program
    .command('generate-dataset')
    .description('write generated images per class plus labels.csv, ready as image-folder training data')
    .requiredOption('--model <dir>', 'pipeline folder of an image model')
    .requiredOption('--out <dir>', 'new folder: <class>/<index>.png and labels.csv (file,label)')
    .option('--per-class <n>', 'images per class (class-conditional models)')
    .option('--num <n>', 'number of images (unconditional models; no label column)')
    .option(
      '--sampler <name>',
      'sampler (dpmpp_2m, euler_a, ddim, … or a diffusers scheduler class)',
      'dpmpp_2m',
    )
    .option('--steps <n>', 'sampling steps', '25')
    .option('--guidance <s>', 'classifier-free guidance scale (1: plain conditional)')
    .option('--seed <n>', 'random seed', '0')
    .action(runGenerateDataset);
}
