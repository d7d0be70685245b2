/**
 * `diffusion sample --model DIR --out FILE`: draws samples from a saved pipeline folder with any
 * registered sampler and writes them as a PNG (a scatter plot for 2-D data, an image grid for images)
 * or, with `--format json`, as numbers (2-D and other vector data). `--class` and `--guidance` drive
 * a class-conditional model (classifier-free guidance); `--temperature` scales the noise.
 *
 * This command must not train; it reads a pipeline folder and writes one file.
 */
import type { Command } from 'commander';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { tensorToImages, imageGrid, writePng } from '../../io/images.js';
import { stringifyJson } from '../../io/json.js';
import { scatterPlot } from '../../io/scatter.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import type { DenoiserNetwork } from '../../models/types.js';
import { generate } from '../../pipelines/generate.js';
import { UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import { readRunSummary } from './train.js';

const FORMATS = ['png', 'json'] as const;

/** Whether the network's samples are points (a vector per sample) rather than images. */
export const isVectorData = (network: DenoiserNetwork): boolean => network.sampleShape.length === 1;

/** Writes samples as a scatter PNG (2-D), an image grid PNG (images) or JSON numbers (vectors). */
export function writeSamples(
  path: string,
  samples: Float32Array,
  network: DenoiserNetwork,
  format: string,
): void {
  const shape = network.sampleShape;
  const count = samples.length / shape.reduce((a, b) => a * b, 1);
  if (format === 'json') {
    if (!isVectorData(network))
      throw new UsageError('--format json is for vector (e.g. 2-D) data; use png for images');
    const rows = Array.from({ length: count }, (_, i) =>
      Array.from(samples.subarray(i * shape[0], (i + 1) * shape[0])),
    );
    writeFileAtomic(path, `${stringifyJson({ shape: [count, ...shape], samples: rows })}\n`);
    return;
  }
  if (isVectorData(network)) {
    if (shape[0] !== 2)
      throw new UsageError(
        `a PNG plot needs 2-D samples, these have ${shape[0]} dimensions; use --format json`,
      );
    writePng(path, scatterPlot(samples, { size: 512 }));
    return;
  }
  const images = tensorToImages(samples, [count, ...shape]);
  writePng(path, imageGrid(images, { nrow: Math.ceil(Math.sqrt(count)) }));
}

/** The class index a `--class` value names (an index, or a class name saved with the run). */
function classIndex(text: string, network: DenoiserNetwork, classNames: readonly string[] | null): number {
  if (network.numClassEmbeds === null) {
    throw new UsageError(`--class: this ${network.className} is unconditional (trained without labels)`);
  }
  const real = network.numClassEmbeds - 1;
  const named = classNames?.indexOf(text) ?? -1;
  return named >= 0 ? named : integerFlag('--class', text, 0, real - 1);
}

interface SampleFlags {
  model: string;
  out: string;
  sampler: string;
  steps: string;
  num?: string;
  class?: string;
  guidance?: string;
  seed: string;
  temperature: string;
  format?: string;
}

async function runSample(flags: SampleFlags): Promise<void> {
  const steps = integerFlag('--steps', flags.steps, 1, 10_000);
  const seed = integerFlag('--seed', flags.seed, 0);
  const temperature = numberFlag('--temperature', flags.temperature, 0, 10);
  const format = choiceFlag(
    '--format',
    flags.format ?? (flags.out.endsWith('.json') ? 'json' : 'png'),
    FORMATS,
  );
  try {
    resolveSampler(flags.sampler);
  } catch (error) {
    throw new UsageError(`--sampler: ${(error as Error).message}`);
  }
  const guidance =
    flags.guidance === undefined ? undefined : numberFlag('--guidance', flags.guidance, 0, 100);
  const { network, params, schedulerConfig } = loadPipeline(flags.model);
  const num = integerFlag('--num', flags.num ?? (isVectorData(network) ? '512' : '16'), 1, 100_000);
  const classLabels =
    flags.class === undefined
      ? undefined
      : classIndex(flags.class, network, readRunSummary(flags.model)?.classNames ?? null);
  if (guidance !== undefined && classLabels === undefined) {
    throw new UsageError('--guidance needs --class (classifier-free guidance steers towards a class)');
  }
  const samples = await generate({
    network,
    params,
    schedulerConfig,
    sampler: flags.sampler,
    numSteps: steps,
    numSamples: num,
    seed,
    temperature,
    ...(classLabels !== undefined ? { classLabels } : {}),
    ...(guidance !== undefined ? { guidance } : {}),
  });
  writeSamples(flags.out, samples, network, format);
  process.stdout.write(`wrote ${num} samples to ${flags.out} (${flags.sampler}, ${steps} steps)\n`);
}

export function register(program: Command): void {
  program
    .command('sample')
    .description('draw samples from a saved model folder into a PNG (or JSON numbers)')
    .requiredOption('--model <dir>', 'pipeline folder written by `diffusion train`')
    .requiredOption('--out <file>', 'output file (.png, or .json with --format json)')
    .option(
      '--sampler <name>',
      'sampler (dpmpp_2m, euler_a, ddim, … or a diffusers scheduler class)',
      'dpmpp_2m',
    )
    .option('--steps <n>', 'sampling steps', '25')
    .option('--num <n>', 'number of samples (default 512 points or 16 images)')
    .option('--class <c>', 'class index or name, for class-conditional models')
    .option('--guidance <s>', 'classifier-free guidance scale (1: plain conditional)')
    .option('--seed <n>', 'random seed', '0')
    .option('--temperature <t>', 'noise scale (1: the model distribution)', '1')
    .option('--format <fmt>', 'png or json (json: numbers, for vector data)')
    .action(runSample);
}
