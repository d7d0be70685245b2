/**
 * `diffusion inpaint --model DIR --image in.png --mask mask.png --out out.png`: fills part of an image
 * with a saved pipeline folder. In the mask, white (luma ≥ 128) marks pixels to fill and black pixels to
 * keep; kept pixels come back exactly as given. `--method repaint` (default; Lugmayr et al. 2022, with
 * `--jump-length` and `--resamplings`) or `replace` (the replacement method, one pass). `--class` steers
 * a class-conditional model; `--trajectory FILE` writes the denoising path (.png strip or .gif).
 *
 * This command must not train or resize: image and mask must have the same size, the model's size.
 */
import type { Command } from 'commander';
import { randomNoiseSource } from '../../diffusion/samplers/common.js';
import { tensorToImages, writePng } from '../../io/images.js';
import { keepMask } from '../../pipelines/edit-inputs.js';
import type { EditSampler } from '../../pipelines/img2img.js';
import { inpaint, INPAINT_METHODS, type InpaintMethod } from '../../pipelines/inpaint.js';
import { trajectoryCollector } from '../../pipelines/trajectory.js';
import { UsageError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import {
  checkOutputExtension,
  checkTrajectoryPath,
  conditionedModel,
  conditioningFlags,
  editScheduleConfig,
  loadImagePipeline,
  modelInput,
  readFlagImage,
  seedFlag,
  stepsFlag,
  TRAJECTORY_FRAMES,
  writeTrajectory,
} from './edit-common.js';

interface InpaintFlags {
  model: string;
  image: string;
  mask: string;
  out: string;
  method: string;
  jumpLength: string;
  resamplings: string;
  steps: string;
  eta: string;
  seed: string;
  class?: string;
  guidance?: string;
  trajectory?: string;
}

export { keepMask };

async function runInpaint(flags: InpaintFlags): Promise<void> {
  const method = choiceFlag('--method', flags.method, INPAINT_METHODS) as InpaintMethod;
  const jumpLength = integerFlag('--jump-length', flags.jumpLength, 1, 1000);
  const resamplings = integerFlag('--resamplings', flags.resamplings, 1, 100);
  const eta = numberFlag('--eta', flags.eta, 0, 1);
  const seed = seedFlag(flags.seed);
  checkOutputExtension(flags.out, 'out', ['.png']);
  const image = readFlagImage(flags.image, 'image');
  const maskImage = readFlagImage(flags.mask, 'mask');
  if (maskImage.width !== image.width || maskImage.height !== image.height) {
    throw new UsageError(
      `--mask '${flags.mask}' is ${maskImage.width}×${maskImage.height} but --image '${flags.image}' is ${image.width}×${image.height}; they must be the same size`,
    );
  }
  const pipeline = loadImagePipeline(flags.model, 'inpaint');
  const { network } = pipeline;
  const config = editScheduleConfig(pipeline.schedulerConfig);
  const steps = stepsFlag(flags.steps, config);
  const conditioning = conditioningFlags(flags, network, flags.model);
  const input = modelInput(image, flags.image, 'image', network);
  const mask = keepMask(maskImage, network.sampleShape[0]);
  if (flags.trajectory !== undefined) checkTrajectoryPath(flags.trajectory, network.sampleShape);
  const collector = trajectoryCollector({ count: TRAJECTORY_FRAMES });
  const { model, dispose } = conditionedModel(pipeline, 1, conditioning);
  let result: Float32Array;
  try {
    const sampler: EditSampler = {
      model,
      config,
      numInferenceSteps: steps,
      eta,
      noiseSource: randomNoiseSource(new Random(seed)),
      ...(flags.trajectory !== undefined ? { callback: collector.callback } : {}),
    };
    result = await inpaint(sampler, { image: input, mask, method, jumpLength, resamplings });
  } finally {
    await dispose();
  }
  writePng(flags.out, tensorToImages(result, input.shape)[0]);
  if (flags.trajectory !== undefined)
    writeTrajectory(flags.trajectory, collector.frames, network.sampleShape);
  const filled = mask.data.reduce((n, m) => n + (m === 0 ? 1 : 0), 0) / network.sampleShape[0];
  process.stdout.write(`wrote ${flags.out} (${method}, ${steps} steps, ${filled} pixels filled)\n`);
}

export function register(program: Command): void {
  program
    .command('inpaint')
    .description('fill the white part of a mask in an image with the model; black pixels are kept exactly')
    .requiredOption('--model <dir>', 'pipeline folder of an image model')
    .requiredOption(
      '--image <file>',
      "input PNG/JPEG of the model's size (not resized; colour becomes grey for a 1-channel model)",
    )
    .requiredOption('--mask <file>', "PNG/JPEG of the image's size: white = fill, black = keep")
    .requiredOption('--out <file>', 'output PNG')
    .option('--method <m>', 'repaint (resampling jumps) or replace (one pass)', 'repaint')
    .option('--jump-length <n>', 'RePaint: levels gone back up per jump', '10')
    .option('--resamplings <n>', 'RePaint: times each jump interval is denoised', '10')
    .option('--steps <n>', 'denoising levels of the timetable', '50')
    .option('--eta <η>', "DDIM's η per step (1: DDPM's posterior)", '1')
    .option('--seed <n>', 'random seed', '0')
    .option('--class <c>', 'class index or name, for class-conditional models')
    .option('--guidance <s>', 'classifier-free guidance scale (needs --class)')
    .option('--trajectory <file>', `denoising path at ${TRAJECTORY_FRAMES} steps: .png strip or .gif`)
    .action(runInpaint);
}
