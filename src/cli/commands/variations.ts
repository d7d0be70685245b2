/**
 * `diffusion variations --model DIR --image in.png --out grid.png`: unCLIP image variations (Ramesh et
 * al. 2022, §3.1) — the input's embedding from the folder's contrastive encoder, decoded from fresh noise
 * `--num` times with guidance. The grid is one row: the input, then its variations. The input must have
 * the decoder's size and channels. Every misuse is a one-line error, exit 2, and nothing is written.
 *
 * This command must not train; unCLIP folders come from `scripts/unclip-mnist.ts` (`trainUnclip`).
 */
import type { Command } from 'commander';
import { imageGrid } from '../../io/image-grid.js';
import { imageToTensor } from '../../io/image-tensor.js';
import { tensorToImages, writePng } from '../../io/images.js';
import { loadUnclip, type UnclipComponents } from '../../models/unclip-folder.js';
import { imageVariations } from '../../pipelines/unclip.js';
import { UsageError } from '../../util/errors.js';
import { integerFlag, numberFlag } from '../flags.js';
import { asUsageError, checkOutputExtension, readFlagImage, samplerFlag, seedFlag } from './edit-common.js';

interface VariationsFlags {
  model: string;
  image: string;
  out: string;
  num: string;
  guidance: string;
  steps: string;
  sampler: string;
  seed: string;
}

function loadModel(dir: string): UnclipComponents {
  try {
    return loadUnclip(dir);
  } catch (error) {
    throw asUsageError(error, 'model');
  }
}

async function runVariations(flags: VariationsFlags): Promise<void> {
  checkOutputExtension(flags.out, 'out', ['.png']);
  const num = integerFlag('--num', flags.num, 1, 256);
  const guidance = numberFlag('--guidance', flags.guidance, 0, 100);
  const steps = integerFlag('--steps', flags.steps, 1, 1000);
  const sampler = samplerFlag(flags.sampler);
  const seed = seedFlag(flags.seed);
  const model = loadModel(flags.model);
  const shape = model.decoder.network.sampleShape;
  const [channels, height, width] = shape;
  const image = readFlagImage(flags.image, 'image');
  if (image.width !== width || image.height !== height) {
    throw new UsageError(
      `--image '${flags.image}' is ${image.width}×${image.height} but the model draws ${width}×${height} images`,
      { hint: `resize it to ${width}×${height} first` },
    );
  }
  if (channels !== 1 && channels !== 3) {
    throw new UsageError(
      `the model's images have ${channels} channels; only 1 (grey) or 3 (RGB) are supported`,
    );
  }
  const input = imageToTensor(image, { channels }).data;
  const out = await imageVariations(model, input, 1, {
    numVariations: num,
    guidance,
    numSteps: steps,
    sampler,
    seed,
  });
  const row = new Float32Array(input.length * (num + 1));
  row.set(input);
  row.set(out.images, input.length);
  writePng(flags.out, imageGrid(tensorToImages(row, [num + 1, ...shape]), { nrow: num + 1 }));
  process.stdout.write(`wrote ${flags.out} (the input and ${num} variations, ${width}×${height})\n`);
}

export function register(program: Command): void {
  program
    .command('variations')
    .description("unCLIP image variations: new images from an input image's embedding")
    .requiredOption('--model <dir>', 'unCLIP folder (clip/, prior/, decoder/)')
    .requiredOption('--image <file>', "input PNG/JPEG at the decoder's size")
    .requiredOption('--out <file>', 'output .png: the input, then the variations, in one row')
    .option('--num <n>', 'variations', '4')
    .option('--guidance <s>', 'decoder guidance against the zero embedding', '3')
    .option('--steps <n>', 'sampler steps', '20')
    .option('--sampler <name>', 'sampler (k-diffusion or diffusers name)', 'dpmpp_2m')
    .option('--seed <n>', 'random seed', '0')
    .action(runVariations);
}
