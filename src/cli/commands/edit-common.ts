/**
 * What the image-editing commands (`edit`, `inpaint`, `denoise`, `noise`, `generate-dataset`) and
 * `sample --trajectory` share: loading a pipeline folder whose network works on images, reading an
 * input PNG/JPEG as a [1, C, H, W] tensor in [−1, 1] of exactly the model's size (colour input to a
 * 1-channel model becomes grey by ITU-R 601 luma; a grey input to a 3-channel model is repeated; images
 * are never resized), the class label and guidance flags, the model function an editing pipeline calls,
 * and writing a denoising trajectory as a PNG strip or a GIF. Every misuse — a missing or undecodable
 * file, a size mismatch, `--class` on an unconditional model — is a one-line UsageError (exit 2) that
 * names the flag, the file and the fix.
 *
 * This module must not run a pipeline or choose a command's defaults; it only checks and converts.
 */
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { OrtNodeRuntime } from '../../engine/index.js';
import type { ModelFn } from '../../diffusion/samplers/types.js';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import type { SchedulerConfig } from '../../diffusion/scheduler-config.js';
import {
  decodeImage,
  imageToTensor,
  readImageBytes,
  writePng,
  type ImageChannels,
  type RgbaImage,
} from '../../io/images.js';
import { loadPipeline, type LoadedPipeline } from '../../models/pipeline-folder.js';
import type { DenoiserNetwork } from '../../models/types.js';
import { compiledDenoiser, guidedModel } from '../../pipelines/generate.js';
import { editScheduleOf } from '../../pipelines/edit-inputs.js';
import type { EditInput, EditScheduleConfig } from '../../pipelines/img2img.js';
import {
  trajectoryGif,
  trajectoryScatter,
  trajectoryStrip,
  type TrajectoryFrame,
} from '../../pipelines/trajectory.js';
import { DiffusionError, UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { integerFlag, numberFlag } from '../flags.js';
import { readRunSummary } from './run-folder.js';

/** How many evenly spread steps a `--trajectory` file shows. */
export const TRAJECTORY_FRAMES = 10;

/** The pipeline folder, refused unless its network works on [C, H, W] images in pixel space. */
export function loadImagePipeline(dir: string, command: string): LoadedPipeline {
  const pipeline = loadPipeline(dir);
  if (pipeline.vae) {
    throw new UsageError(`${command} works on pixel-space models; '${dir}' holds a latent model (vae/)`);
  }
  if (pipeline.network.sampleShape.length !== 3) {
    throw new UsageError(
      `${command} works on images; the model in '${dir}' makes samples of shape [${pipeline.network.sampleShape.join(', ')}]`,
      { hint: 'pass a pipeline folder trained on images' },
    );
  }
  return pipeline;
}

/** The scheduler config as the editing pipelines read it, or a UsageError for one they cannot use. */
export function editScheduleConfig(config: SchedulerConfig): EditScheduleConfig {
  try {
    return editScheduleOf(config);
  } catch (error) {
    throw asUsageError(error, 'model');
  }
}

/** A DiffusionError re-thrown as a UsageError (exit 2) whose message starts with the flag it concerns. */
export function asUsageError(error: unknown, flag: string): unknown {
  if (!(error instanceof DiffusionError) || error instanceof UsageError) return error;
  return new UsageError(`--${flag}: ${error.message}`, { cause: error });
}

/** The decoded image at `path`, or a UsageError naming the flag when it is missing or not an image. */
export function readFlagImage(path: string, flag: string): RgbaImage {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UsageError(`--${flag}: file '${path}' does not exist`);
  }
  try {
    return decodeImage(readImageBytes(path), `'${path}'`);
  } catch (error) {
    throw asUsageError(error, flag);
  }
}

/** The model's image size [C, H, W]. */
export function imageShape(network: DenoiserNetwork): [number, number, number] {
  const [channels, height, width] = network.sampleShape;
  return [channels, height, width];
}

/**
 * The image as a [1, C, H, W] tensor in [−1, 1] for the network: C from the model (colour → grey by luma
 * for a 1-channel model), H×W checked against the model's size, never resized.
 */
export function modelInput(
  image: RgbaImage,
  path: string,
  flag: string,
  network: DenoiserNetwork,
): EditInput {
  const [channels, height, width] = imageShape(network);
  if (image.width !== width || image.height !== height) {
    throw new UsageError(
      `--${flag} '${path}' is ${image.width}×${image.height} but the model works on ${width}×${height} images`,
      { hint: `resize or crop it to ${width}×${height} first` },
    );
  }
  if (channels !== 1 && channels !== 3) {
    throw new UsageError(
      `the model's images have ${channels} channels; only 1 (grey) or 3 (RGB) are supported`,
    );
  }
  const tensor = imageToTensor(image, { channels: channels as ImageChannels });
  return { data: tensor.data, shape: tensor.shape };
}

/** The class index a `--class` value names (an index, or a class name saved with the run). */
export function classLabelFlag(text: string, network: DenoiserNetwork, modelDir: string): number {
  if (network.numClassEmbeds === null) {
    throw new UsageError(`--class: this ${network.className} is unconditional (trained without labels)`);
  }
  const names = readRunSummary(modelDir)?.classNames ?? null;
  const named = names?.indexOf(text) ?? -1;
  return named >= 0 ? named : integerFlag('--class', text, 0, network.numClassEmbeds - 2);
}

/** `--class` and `--guidance` checked together: guidance steers towards a class, so it needs one. */
export function conditioningFlags(
  flags: { class?: string; guidance?: string },
  network: DenoiserNetwork,
  modelDir: string,
): { classLabel?: number; guidance?: number } {
  const guidance =
    flags.guidance === undefined ? undefined : numberFlag('--guidance', flags.guidance, 0, 100);
  const classLabel = flags.class === undefined ? undefined : classLabelFlag(flags.class, network, modelDir);
  if (guidance !== undefined && classLabel === undefined) {
    throw new UsageError('--guidance needs --class (classifier-free guidance steers towards a class)');
  }
  return {
    ...(classLabel !== undefined ? { classLabel } : {}),
    ...(guidance !== undefined ? { guidance } : {}),
  };
}

/**
 * The network compiled once with its weights frozen, as the `ModelFn` of a batch of `batchSize`: the
 * given class (with classifier-free guidance when a scale other than 1 is given) or, without a class,
 * the unconditional model (the null class of a class-conditional network).
 */
export function conditionedModel(
  pipeline: Pick<LoadedPipeline, 'network' | 'params'>,
  batchSize: number,
  conditioning: { classLabel?: number; guidance?: number },
): { model: ModelFn; dispose: () => Promise<void> } {
  const { network, params } = pipeline;
  const labels =
    conditioning.classLabel === undefined
      ? null
      : new BigInt64Array(batchSize).fill(BigInt(conditioning.classLabel));
  const guidance = conditioning.guidance ?? 1;
  const doubled = labels !== null && guidance !== 0 && guidance !== 1;
  const { denoise, dispose } = compiledDenoiser(
    { network, params, numSamples: doubled ? 2 * batchSize : batchSize },
    new OrtNodeRuntime(),
  );
  const nullClass = (network.numClassEmbeds ?? 1) - 1;
  return { model: guidedModel(denoise, labels, guidance, nullClass), dispose };
}

/** A seed flag: an integer ≥ 0. */
export const seedFlag = (text: string): number => integerFlag('--seed', text, 0);

/** A sampler name the registry knows, or a UsageError listing them. */
export function samplerFlag(name: string): string {
  try {
    resolveSampler(name);
  } catch (error) {
    throw asUsageError(error, 'sampler');
  }
  return name;
}

/** A sampling-steps flag: 1 up to the model's number of training timesteps. */
export function stepsFlag(text: string, config: EditScheduleConfig | { numTrainTimesteps: number }): number {
  return integerFlag('--steps', text, 1, config.numTrainTimesteps);
}

/** Refuses an output path whose extension is not one of `extensions` (before any work is done). */
export function checkOutputExtension(path: string, flag: string, extensions: readonly string[]): void {
  if (!extensions.includes(extname(path).toLowerCase())) {
    throw new UsageError(`--${flag} '${path}' must end in ${extensions.join(' or ')}`);
  }
}

/**
 * Checks a `--trajectory` path up front: `.png` (a strip) for images and 2-D points, `.gif` (an animation)
 * for images only; refused for 1-D signals and for latent models (whose path would show latents).
 */
export function checkTrajectoryPath(path: string, sampleShape: readonly number[], latent = false): void {
  checkOutputExtension(path, 'trajectory', ['.png', '.gif']);
  if (latent) throw new UsageError('--trajectory: not available for latent models (it would show latents)');
  const points = sampleShape.length === 1 && sampleShape[0] === 2;
  if (sampleShape.length !== 3 && !points) {
    throw new UsageError(
      `--trajectory: pictures need images or 2-D points; these samples have shape [${sampleShape.join(', ')}]`,
    );
  }
  if (points && extname(path).toLowerCase() === '.gif') {
    throw new UsageError('--trajectory: a GIF animation needs image data; use a .png strip for points');
  }
}

/**
 * Writes the trajectory: `.png` → x_t above x̂₀, one column per kept step, for the first example (scatter
 * plots for 2-D points); `.gif` → one frame per kept step showing the whole batch.
 */
export function writeTrajectory(
  path: string,
  frames: readonly TrajectoryFrame[],
  sampleShape: readonly number[],
): void {
  if (extname(path).toLowerCase() === '.gif') {
    writeFileAtomic(path, trajectoryGif(frames, sampleShape));
  } else if (sampleShape.length === 3) {
    writePng(path, trajectoryStrip(frames, sampleShape));
  } else {
    writePng(path, trajectoryScatter(frames));
  }
}
