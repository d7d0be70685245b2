/**
 * `diffusion upscale --model DIR --input low.png --out up.png`: diffusion super-resolution of one image
 * with a SuperResolutionUNet2DModel folder (`diffusion train --data mnist-sr-14-28`); the input must be
 * the model's low-resolution size. `diffusion cascade --model DIR --class 3 --num 16 --out grid.png`:
 * samples through a cascade folder (cascade.json + stage folders: a base, then super-resolution stages)
 * and writes the last stage's images as a grid. Every misuse is a one-line error, exit 2, and nothing is
 * written; outputs are written atomically.
 *
 * This command must not train; it reads its inputs, runs the pipeline and writes one PNG.
 */
import type { Command } from 'commander';
import { imageGrid } from '../../io/image-grid.js';
import { imageToTensor } from '../../io/image-tensor.js';
import { tensorToImages, writePng } from '../../io/images.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import {
  cascade,
  loadCascade,
  superResolutionNetwork,
  upscale,
  DEFAULT_AUG_LEVEL,
  type CascadeStageOverride,
} from '../../pipelines/upscale.js';
import { UsageError } from '../../util/errors.js';
import { integerFlag, numberFlag } from '../flags.js';
import { asUsageError, checkOutputExtension, readFlagImage, samplerFlag, seedFlag } from './edit-common.js';

interface UpscaleFlags {
  model: string;
  input: string;
  out: string;
  steps: string;
  sampler: string;
  seed: string;
  augLevel: string;
  average: string;
  class?: string;
  guidance: string;
}

interface CascadeFlags {
  model: string;
  out: string;
  class?: string;
  num: string;
  seed: string;
  steps?: string;
}

async function runUpscale(flags: UpscaleFlags): Promise<void> {
  checkOutputExtension(flags.out, 'out', ['.png']);
  const steps = integerFlag('--steps', flags.steps, 1, 1000);
  const sampler = samplerFlag(flags.sampler);
  const seed = seedFlag(flags.seed);
  const augLevel = numberFlag('--aug-level', flags.augLevel, 0, 0.999);
  const average = integerFlag('--average', flags.average, 1, 64);
  const guidance = numberFlag('--guidance', flags.guidance, 0, 100);
  let pipeline;
  try {
    pipeline = loadPipeline(flags.model);
  } catch (error) {
    throw asUsageError(error, 'model');
  }
  let network;
  try {
    network = superResolutionNetwork(pipeline.network);
  } catch (error) {
    throw asUsageError(error, 'model');
  }
  const low = network.config.low_res_size;
  const image = readFlagImage(flags.input, 'input');
  if (image.width !== low || image.height !== low) {
    throw new UsageError(
      `--input '${flags.input}' is ${image.width}×${image.height} but the model upscales ${low}×${low} images`,
      {
        hint: `resize it to ${low}×${low} first`,
      },
    );
  }
  const channels = network.sampleShape[0];
  if (channels !== 1 && channels !== 3) {
    throw new UsageError(
      `the model's images have ${channels} channels; only 1 (grey) or 3 (RGB) are supported`,
    );
  }
  const input = imageToTensor(image, { channels });
  const classLabel = flags.class === undefined ? undefined : classFlag(flags.class, network.numClassEmbeds);
  const out = await upscale({
    network,
    params: pipeline.params,
    schedulerConfig: pipeline.schedulerConfig,
    lowRes: input.data,
    sampler,
    numSteps: steps,
    seed,
    augLevel,
    samplesPerImage: average,
    ...(classLabel !== undefined ? { classLabels: classLabel, guidance } : {}),
  });
  writePng(flags.out, tensorToImages(out, [1, ...network.sampleShape])[0]);
  process.stdout.write(
    `wrote ${flags.out} (${low}×${low} → ${network.sampleShape[1]}×${network.sampleShape[2]})\n`,
  );
}

function classFlag(text: string, numClassEmbeds: number | null): number {
  if (numClassEmbeds === null) throw new UsageError('--class: this model is not class-conditional');
  return integerFlag('--class', text, 0, numClassEmbeds - 2);
}

/** `--steps 20` for every stage, or `--steps 20,10,10` per stage. */
function stageSteps(text: string, stages: number): CascadeStageOverride[] {
  const parts = text.split(',');
  if (parts.length !== 1 && parts.length !== stages) {
    throw new UsageError(`--steps '${text}' gives ${parts.length} values for a cascade of ${stages} stages`, {
      hint: 'give one number for all stages or one per stage',
    });
  }
  const values = parts.map((p) => integerFlag('--steps', p.trim(), 1, 1000));
  return Array.from({ length: stages }, (_, i) => ({ steps: values.length === 1 ? values[0] : values[i] }));
}

async function runCascade(flags: CascadeFlags): Promise<void> {
  checkOutputExtension(flags.out, 'out', ['.png']);
  const num = integerFlag('--num', flags.num, 1, 1024);
  const seed = seedFlag(flags.seed);
  let loaded;
  try {
    loaded = loadCascade(flags.model);
  } catch (error) {
    throw asUsageError(error, 'model');
  }
  const base = loaded.stages[0].network;
  const classLabel = flags.class === undefined ? undefined : classFlag(flags.class, base.numClassEmbeds);
  const overrides = flags.steps === undefined ? undefined : stageSteps(flags.steps, loaded.stages.length);
  const outputs = await cascade({
    cascade: loaded,
    numSamples: num,
    seed,
    ...(classLabel !== undefined ? { classLabels: classLabel } : {}),
    ...(overrides ? { overrides } : {}),
  });
  const last = loaded.stages[loaded.stages.length - 1].network.sampleShape;
  const images = tensorToImages(outputs[outputs.length - 1], [num, ...last]);
  writePng(flags.out, imageGrid(images, { nrow: Math.ceil(Math.sqrt(num)) }));
  const sides = loaded.stages.map((s) => s.network.sampleShape[1]).join(' → ');
  process.stdout.write(`wrote ${flags.out} (${num} samples, ${sides})\n`);
}

export function register(program: Command): void {
  program
    .command('upscale')
    .description('diffusion super-resolution of one image with a super-resolution model folder')
    .requiredOption('--model <dir>', 'pipeline folder of a SuperResolutionUNet2DModel')
    .requiredOption('--input <file>', "low-resolution PNG/JPEG at the model's low_res_size")
    .requiredOption('--out <file>', 'output .png')
    .option('--steps <n>', 'sampler steps', '20')
    .option('--sampler <name>', 'sampler (k-diffusion or diffusers name)', 'dpmpp_2m')
    .option('--seed <n>', 'random seed', '0')
    .option(
      '--aug-level <s>',
      'noise-augmentation level of the condition, 0 ≤ s < 1',
      String(DEFAULT_AUG_LEVEL),
    )
    .option('--average <k>', 'average k samples (≈ the posterior mean: higher PSNR, softer)', '1')
    .option('--class <n>', 'class label, for a class-conditional model')
    .option('--guidance <s>', 'classifier-free guidance scale with --class', '1')
    .action(runUpscale);
  program
    .command('cascade')
    .description('sample through a cascade folder (cascade.json: a base, then super-resolution stages)')
    .requiredOption('--model <dir>', 'cascade folder holding cascade.json and the stage folders')
    .requiredOption('--out <file>', "output .png: a grid of the last stage's images")
    .option('--class <n>', 'class label for class-conditional stages')
    .option('--num <n>', 'samples', '16')
    .option('--seed <n>', 'random seed', '0')
    .option(
      '--steps <list>',
      "sampler steps for all stages, or one per stage (comma-separated); default cascade.json's",
    )
    .action(runCascade);
}
