/**
 * `diffusion txt2img --model DIR --prompt "..." [--negative "..."] [--guidance 7.5] [--steps N]
 * [--sampler S] [--num N] [--seed S] [--out grid.png] [--height H --width W]`: text-to-image with a
 * text-to-image pipeline folder — one this project trained (`train --data mnist-captions`) or a
 * downloaded diffusers Stable Diffusion folder (safetensors weights, float16 or float32). `--prompt` may
 * be given several times; the grid has one row per prompt and `--num` images in each. `--image` turns
 * the run into image-to-image at `--strength`, and `--image` with `--mask` into inpainting (white =
 * fill, black = keep). An unCLIP folder (`scripts/unclip-mnist.ts`) draws through its prior and decoder
 * (`--prior-guidance`; no edits, negative prompts or other sizes there). Flags are checked before any
 * model is loaded; misuse is a one-line UsageError.
 *
 * This command must not implement sampling or guidance: it validates flags and calls the pipelines.
 */
import type { Command } from 'commander';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { imageGrid, imageToTensor, tensorToImages, writePng, type RgbaImage } from '../../io/images.js';
import {
  loadTextToImagePipeline,
  type LoadedTextToImagePipeline,
} from '../../models/text-to-image-folder.js';
import { isUnclipFolder, loadUnclip } from '../../models/unclip-folder.js';
import { keepMask } from '../../pipelines/edit-inputs.js';
import { INPAINT_METHODS, type InpaintMethod } from '../../pipelines/inpaint.js';
import { textImg2img, textInpaint, textToImage, type TextImages } from '../../pipelines/text-to-image.js';
import { unclipTextToImage } from '../../pipelines/unclip.js';
import { UsageError } from '../../util/errors.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import { asUsageError, checkOutputExtension, readFlagImage, seedFlag } from './edit-common.js';

interface Txt2ImgFlags {
  model: string;
  prompt: string[];
  negative?: string;
  guidance: string;
  steps: string;
  sampler?: string;
  num: string;
  seed: string;
  out: string;
  height?: string;
  width?: string;
  variant?: string;
  image?: string;
  mask?: string;
  strength: string;
  method: string;
  priorGuidance: string;
}

/** What the flags ask for, checked (nothing is loaded yet). */
interface Request {
  prompts: string[];
  negative?: string;
  guidance: number;
  steps: number;
  num: number;
  seed: number;
  sampler?: string;
  height?: number;
  width?: number;
  strength: number;
  method: InpaintMethod;
}

function checkedRequest(flags: Txt2ImgFlags): Request {
  const prompts = flags.prompt.map((p) => p.trim());
  if (prompts.some((p) => p === '')) throw new UsageError('--prompt must not be empty');
  if (flags.sampler !== undefined) {
    try {
      resolveSampler(flags.sampler);
    } catch (error) {
      throw asUsageError(error, 'sampler');
    }
  }
  if ((flags.height === undefined) !== (flags.width === undefined))
    throw new UsageError('--height and --width go together');
  if (flags.mask !== undefined && flags.image === undefined) throw new UsageError('--mask needs --image');
  if (flags.image !== undefined && (flags.height !== undefined || flags.sampler !== undefined)) {
    throw new UsageError(
      '--height/--width/--sampler are for text-to-image; an --image edit uses its size and DDIM',
    );
  }
  checkOutputExtension(flags.out, 'out', ['.png']);
  return {
    prompts,
    ...(flags.negative !== undefined ? { negative: flags.negative } : {}),
    guidance: numberFlag('--guidance', flags.guidance, 0, 100),
    steps: integerFlag('--steps', flags.steps, 1, 1000),
    num: integerFlag('--num', flags.num, 1, 256),
    seed: seedFlag(flags.seed),
    ...(flags.sampler !== undefined ? { sampler: flags.sampler } : {}),
    ...(flags.height !== undefined ? { height: integerFlag('--height', flags.height, 1, 4096) } : {}),
    ...(flags.width !== undefined ? { width: integerFlag('--width', flags.width, 1, 4096) } : {}),
    strength: numberFlag('--strength', flags.strength, 0, 1),
    method: choiceFlag('--method', flags.method, INPAINT_METHODS) as InpaintMethod,
  };
}

/** The image flag as a [1, C, H, W] tensor in [−1, 1] for the model (colour → grey for 1 channel). */
function flagImage(
  image: RgbaImage,
  pipeline: LoadedTextToImagePipeline,
): { data: Float32Array; shape: number[] } {
  const channels = pipeline.vae ? pipeline.vae.model.config.in_channels : pipeline.unet.sampleShape[0];
  if (channels !== 1 && channels !== 3) throw new UsageError(`the model's images have ${channels} channels`);
  const tensor = imageToTensor(image, { channels: channels as 1 | 3 });
  return { data: tensor.data, shape: [1, channels, image.height, image.width] };
}

/** Runs the edit the flags ask for, once per prompt and image, as one grid of rows. */
async function runEdits(
  flags: Txt2ImgFlags,
  request: Request,
  pipeline: LoadedTextToImagePipeline,
): Promise<TextImages> {
  const image = flagImage(readFlagImage(flags.image!, 'image'), pipeline);
  const maskImage = flags.mask === undefined ? undefined : readFlagImage(flags.mask, 'mask');
  const [, c, h, w] = image.shape;
  if (maskImage && (maskImage.width !== w || maskImage.height !== h))
    throw new UsageError(`--mask is ${maskImage.width}×${maskImage.height} but --image is ${w}×${h}`);
  // Each prompt edits `num` copies of the image (different noise per copy), prompt-major like txt2img.
  const count = request.prompts.length * request.num;
  const batch = { data: new Float32Array(count * c * h * w), shape: [count, c, h, w] };
  for (let i = 0; i < count; i++) batch.data.set(image.data, i * c * h * w);
  const prompt = request.prompts.flatMap((p) => Array<string>(request.num).fill(p));
  const common = {
    prompt,
    ...(request.negative !== undefined ? { negativePrompt: request.negative } : {}),
    guidance: request.guidance,
    seed: request.seed,
    numSteps: request.steps,
    image: batch,
  };
  if (!maskImage) return textImg2img(pipeline, { ...common, strength: request.strength });
  return textInpaint(pipeline, { ...common, mask: keepMask(maskImage, c), method: request.method });
}

/** Text to image through an unCLIP folder's prior and decoder. */
async function runUnclip(flags: Txt2ImgFlags, request: Request): Promise<TextImages> {
  if (flags.image !== undefined || flags.negative !== undefined || flags.height !== undefined) {
    throw new UsageError('--image, --negative and --height/--width are not available with an unCLIP folder');
  }
  let components;
  try {
    components = loadUnclip(flags.model);
  } catch (error) {
    throw asUsageError(error, 'model');
  }
  const out = await unclipTextToImage(components, request.prompts, {
    numImagesPerPrompt: request.num,
    priorGuidance: numberFlag('--prior-guidance', flags.priorGuidance, 0, 100),
    guidance: request.guidance,
    numSteps: request.steps,
    seed: request.seed,
    ...(request.sampler ? { sampler: request.sampler } : {}),
  });
  return { images: out.images, shape: out.shape as [number, number, number] };
}

async function runTxt2Img(flags: Txt2ImgFlags): Promise<void> {
  const request = checkedRequest(flags);
  if (isUnclipFolder(flags.model)) {
    writeGrid(flags, request, await runUnclip(flags, request));
    return;
  }
  let pipeline: LoadedTextToImagePipeline;
  try {
    pipeline = loadTextToImagePipeline(flags.model, flags.variant ? { variant: flags.variant } : {});
  } catch (error) {
    throw asUsageError(error, 'model');
  }
  let result: TextImages;
  try {
    result = flags.image
      ? await runEdits(flags, request, pipeline)
      : await textToImage(pipeline, {
          prompt: request.prompts,
          ...(request.negative !== undefined ? { negativePrompt: request.negative } : {}),
          guidance: request.guidance,
          numSteps: request.steps,
          numImagesPerPrompt: request.num,
          seed: request.seed,
          ...(request.sampler ? { sampler: request.sampler } : {}),
          ...(request.height ? { height: request.height, width: request.width } : {}),
        });
  } catch (error) {
    throw asUsageError(error, 'model');
  }
  writeGrid(flags, request, result);
}

function writeGrid(flags: Txt2ImgFlags, request: Request, result: TextImages): void {
  const count = result.images.length / result.shape.reduce((a, b) => a * b, 1);
  const images = tensorToImages(result.images, [count, ...result.shape]);
  writePng(flags.out, imageGrid(images, { nrow: request.num }));
  process.stdout.write(
    `wrote ${flags.out} (${request.prompts.length} prompt(s) × ${request.num}, ${result.shape[2]}×${result.shape[1]}, guidance ${request.guidance}, ${request.steps} steps)\n`,
  );
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function register(program: Command): void {
  program
    .command('txt2img')
    .description('text-to-image (and --image edits) with a text-to-image or Stable Diffusion folder')
    .requiredOption(
      '--model <dir>',
      'text-to-image pipeline folder (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/)',
    )
    .requiredOption(
      '--prompt <text>',
      'what to draw; repeat for several prompts (one grid row each)',
      collect,
    )
    .option('--negative <text>', 'negative prompt: the unconditional side of guidance (default "")')
    .option('--guidance <s>', 'classifier-free guidance scale (1: the prompt alone)', '7.5')
    .option('--steps <n>', 'sampling steps', '25')
    .option(
      '--sampler <name>',
      "sampler (dpmpp_2m, euler_a, DDIMScheduler, …); default the folder's scheduler",
    )
    .option('--num <n>', 'images per prompt', '4')
    .option('--seed <n>', 'random seed', '0')
    .option('--out <file>', 'output PNG grid', 'txt2img.png')
    .option('--height <px>', 'image height (with --width); default the model size')
    .option('--width <px>', 'image width (with --height)')
    .option('--variant <name>', "weights variant, e.g. fp16 for '*.fp16.safetensors'")
    .option('--image <file>', 'edit this image with the prompt (image-to-image; inpainting with --mask)')
    .option('--mask <file>', 'inpainting mask of the image size: white = fill, black = keep')
    .option('--strength <s>', 'image-to-image strength in [0, 1]', '0.6')
    .option('--method <m>', 'inpainting method: repaint or replace', 'repaint')
    .option('--prior-guidance <s>', "guidance of an unCLIP folder's prior", '2')
    .action(runTxt2Img);
}
