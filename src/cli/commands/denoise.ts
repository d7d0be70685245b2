/**
 * `diffusion denoise --model DIR --image noisy.png --out out.png`: removes additive Gaussian noise from an
 * image with a saved pipeline folder — deterministic DDIM from the training timestep whose noise level
 * matches σ (`--sigma`, in the model's [−1, 1] units; estimated from the image when absent). Prints the σ
 * it used and the timestep it started from.
 *
 * This command must not train or resize: the input must have the model's size (colour becomes grey for a
 * 1-channel model), and it writes only the output image.
 */
import type { Command } from 'commander';
import { tensorToImages, writePng } from '../../io/images.js';
import type { EditSampler } from '../../pipelines/img2img.js';
import { restorationSigma, restore, timestepForSigma } from '../../pipelines/restore.js';
import { trainingAlphasCumprod } from '../../diffusion/timesteps.js';
import { numberFlag } from '../flags.js';
import {
  checkOutputExtension,
  conditionedModel,
  editScheduleConfig,
  loadImagePipeline,
  modelInput,
  readFlagImage,
  stepsFlag,
} from './edit-common.js';

interface DenoiseFlags {
  model: string;
  image: string;
  out: string;
  sigma?: string;
  steps: string;
}

async function runDenoise(flags: DenoiseFlags): Promise<void> {
  const givenSigma = flags.sigma === undefined ? undefined : numberFlag('--sigma', flags.sigma, 0, 1000);
  checkOutputExtension(flags.out, 'out', ['.png']);
  const image = readFlagImage(flags.image, 'image');
  const pipeline = loadImagePipeline(flags.model, 'denoise');
  const config = editScheduleConfig(pipeline.schedulerConfig);
  const steps = stepsFlag(flags.steps, config);
  const input = modelInput(image, flags.image, 'image', pipeline.network);
  const sigma = restorationSigma({ image: input, sigma: givenSigma ?? 'estimate' });
  const start = timestepForSigma(trainingAlphasCumprod(config), sigma);
  const { model, dispose } = conditionedModel(pipeline, 1, {});
  let result: Float32Array;
  try {
    const sampler: EditSampler = { model, config, numInferenceSteps: steps };
    result = await restore(sampler, { image: input, sigma });
  } finally {
    await dispose();
  }
  writePng(flags.out, tensorToImages(result, input.shape)[0]);
  const how = givenSigma === undefined ? 'estimated' : 'given';
  process.stdout.write(`wrote ${flags.out} (σ ${sigma.toFixed(4)} ${how}, DDIM from timestep ${start})\n`);
}

export function register(program: Command): void {
  program
    .command('denoise')
    .description('remove Gaussian noise of a given or estimated level from an image with the model')
    .requiredOption('--model <dir>', 'pipeline folder of an image model')
    .requiredOption(
      '--image <file>',
      "noisy PNG/JPEG of the model's size (not resized; colour becomes grey for a 1-channel model)",
    )
    .requiredOption('--out <file>', 'output PNG')
    .option('--sigma <s>', 'noise standard deviation in [−1, 1] pixel units (default: estimated)')
    .option('--steps <n>', 'DDIM timetable length (the run uses the entries below the start)', '50')
    .action(runDenoise);
}
