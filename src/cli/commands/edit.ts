/**
 * `diffusion edit --model DIR --image in.png --strength S --out out.png`: image-to-image (SDEdit) with a
 * saved pipeline folder — the input is noised to strength S ∈ [0, 1] and denoised with DDIM, so S = 0
 * returns the input pixel for pixel and S = 1 ignores it (a fresh sample). `--class`/`--guidance` steer a
 * class-conditional model; `--trajectory FILE` writes the denoising path (.png strip or .gif).
 *
 * This command must not train or resize: the input must have the model's size (colour becomes grey for a
 * 1-channel model), and it writes only the output image and the optional trajectory.
 */
import type { Command } from 'commander';
import { randomNoiseSource } from '../../diffusion/samplers/common.js';
import { tensorToImages, writePng } from '../../io/images.js';
import { img2img, strengthStart, type EditSampler } from '../../pipelines/img2img.js';
import { trajectoryCollector } from '../../pipelines/trajectory.js';
import { UsageError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import { numberFlag } from '../flags.js';
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

interface EditFlags {
  model: string;
  image: string;
  strength: string;
  out: string;
  steps: string;
  eta: string;
  seed: string;
  class?: string;
  guidance?: string;
  trajectory?: string;
}

async function runEdit(flags: EditFlags): Promise<void> {
  const strength = numberFlag('--strength', flags.strength, 0, 1);
  const eta = numberFlag('--eta', flags.eta, 0, 1);
  const seed = seedFlag(flags.seed);
  checkOutputExtension(flags.out, 'out', ['.png']);
  const image = readFlagImage(flags.image, 'image');
  const pipeline = loadImagePipeline(flags.model, 'edit');
  const { network } = pipeline;
  const config = editScheduleConfig(pipeline.schedulerConfig);
  const steps = stepsFlag(flags.steps, config);
  const conditioning = conditioningFlags(flags, network, flags.model);
  const input = modelInput(image, flags.image, 'image', network);
  if (flags.trajectory !== undefined) {
    checkTrajectoryPath(flags.trajectory, network.sampleShape);
    if (strengthStart(steps, strength) === steps) {
      throw new UsageError(`--trajectory: strength ${strength} runs no denoising step, so there is no path`);
    }
  }
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
    result = await img2img(sampler, input, strength);
  } finally {
    await dispose();
  }
  writePng(flags.out, tensorToImages(result, input.shape)[0]);
  if (flags.trajectory !== undefined)
    writeTrajectory(flags.trajectory, collector.frames, network.sampleShape);
  const ran = steps - strengthStart(steps, strength);
  process.stdout.write(`wrote ${flags.out} (strength ${strength}: ${ran} of ${steps} DDIM steps)\n`);
}

export function register(program: Command): void {
  program
    .command('edit')
    .description('image-to-image (SDEdit): noise an image to a strength and denoise it with the model')
    .requiredOption('--model <dir>', 'pipeline folder of an image model')
    .requiredOption(
      '--image <file>',
      "input PNG/JPEG of the model's size (not resized; colour becomes grey for a 1-channel model)",
    )
    .requiredOption('--strength <s>', 'in [0, 1]: 0 returns the input, 1 ignores it')
    .requiredOption('--out <file>', 'output PNG')
    .option('--steps <n>', 'DDIM steps of the full timetable (the edit runs ⌊steps·strength⌋)', '50')
    .option('--eta <η>', "DDIM's η: 0 deterministic, 1 DDPM-like", '0')
    .option('--seed <n>', 'random seed', '0')
    .option('--class <c>', 'class index or name, for class-conditional models')
    .option('--guidance <s>', 'classifier-free guidance scale (needs --class)')
    .option('--trajectory <file>', `denoising path at ${TRAJECTORY_FRAMES} steps: .png strip or .gif`)
    .action(runEdit);
}
