/**
 * `diffusion sample --model DIR --out FILE`: draws samples from a saved pipeline folder with any
 * registered sampler and writes them as a PNG (a scatter plot for 2-D data, an image grid for images)
 * or, with `--format json`, as numbers (2-D and other vector data). `--class` and `--guidance` drive
 * a class-conditional model (classifier-free guidance); `--temperature` scales the noise. A latent
 * pipeline (one with `vae/`) samples latents and decodes them to images. `--control img.png` steers a
 * folder with a ControlNet (`diffusion train-control`): the picture is resized to the condition's size
 * and turned into Canny edges (`--control-is-edges`: it already is an edge map, white on black), and
 * `--control-scale` multiplies the ControlNet's residuals.
 * A video model's samples are written as an animated `.gif` or a PNG with one row of frames per video.
 *
 * This command must not train; it reads a pipeline folder and writes one file.
 */
import type { Command } from 'commander';
import { extname } from 'node:path';
import { resolveSampler } from '../../diffusion/samplers/registry.js';
import { tensorToImages, imageGrid, writePng } from '../../io/images.js';
import { videoGrid, writeVideoGif } from '../../io/video.js';
import { stringifyJson } from '../../io/json.js';
import { scatterPlot } from '../../io/scatter.js';
import { loadControlNet } from '../../models/controlnet-folder.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import type { DenoiserNetwork } from '../../models/types.js';
import { conditionFromImage } from '../../pipelines/control.js';
import { generate, type ControlOptions } from '../../pipelines/generate.js';
import { pipelineOutput } from '../../pipelines/latent.js';
import { readSignalInfo, writeSignalSamples, type SignalInfo } from '../../pipelines/signals.js';
import { UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { trajectoryCollector } from '../../pipelines/trajectory.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import { checkTrajectoryPath, readFlagImage, TRAJECTORY_FRAMES, writeTrajectory } from './edit-common.js';
import { readRunSummary } from './run-folder.js';
import { readDistillationInfo } from '../../training/distill.js';

const FORMATS = ['png', 'json', 'csv', 'wav', 'gif'] as const;

/** A model folder without `signal.json`: raw values, no sample rate. */
const NO_SIGNAL_INFO: SignalInfo = { sampleRate: null, normalization: null };

/** Whether the network's samples are points (a vector per sample) rather than images. */
export const isVectorData = (network: Pick<DenoiserNetwork, 'sampleShape'>): boolean =>
  network.sampleShape.length === 1;

/** Whether the network's samples are 1-D signals [channels, length] (time series, audio). */
export const isSignalData = (network: Pick<DenoiserNetwork, 'sampleShape'>): boolean =>
  network.sampleShape.length === 2;

/** Whether the network's samples are videos [channels, frames, height, width]. */
export const isVideoData = (network: Pick<DenoiserNetwork, 'sampleShape'>): boolean =>
  network.sampleShape.length === 4;

/**
 * Writes samples as a scatter PNG (2-D), an image grid PNG (images), JSON numbers (vectors), or, for 1-D
 * signals, a CSV (one column per sample, one row per time step) or one WAV (the clips in turn with a short
 * silence between; `--num 1` for a single clip), de-normalised with the statistics and written at the
 * sample rate recorded in `modelDir` (see pipelines/signals.ts). A `.csv` or `.wav` path picks that format.
 */
export function writeSamples(
  path: string,
  samples: Float32Array,
  network: Pick<DenoiserNetwork, 'sampleShape'>,
  format: string,
  modelDir?: string,
): void {
  const shape = network.sampleShape;
  const count = samples.length / shape.reduce((a, b) => a * b, 1);
  const extension = extname(path).toLowerCase();
  const chosen = ['.csv', '.wav', '.gif'].includes(extension) ? extension.slice(1) : format;
  if (isVideoData(network)) {
    // Videos: an animated GIF (.gif), or a PNG with one row of frames per video.
    if (chosen === 'gif') writeVideoGif(path, samples, [count, ...shape]);
    else if (chosen === 'png') writePng(path, videoGrid(samples, [count, ...shape]));
    else throw new UsageError(`--format ${chosen} is not for videos; write a .gif or .png`);
    return;
  }
  if (chosen === 'gif') throw new UsageError('--format gif is for video models (samples [C, F, H, W])');
  if (chosen === 'csv' || chosen === 'wav') {
    if (!isSignalData(network)) {
      throw new UsageError(
        `--format ${chosen} is for 1-D signal models; these samples have shape [${shape.join(', ')}]`,
      );
    }
    const info = modelDir === undefined ? NO_SIGNAL_INFO : readSignalInfo(modelDir);
    writeSignalSamples(path, samples, shape, info, chosen);
    return;
  }
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
  if (isSignalData(network)) {
    throw new UsageError('1-D signal samples are written as .csv or .wav, not PNG', {
      hint: 'pass --out samples.csv (or .wav for an audio model)',
    });
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
  sampler?: string;
  steps?: string;
  num?: string;
  class?: string;
  guidance?: string;
  seed: string;
  temperature: string;
  format?: string;
  trajectory?: string;
  control?: string;
  controlScale?: string;
  controlIsEdges?: boolean;
}

/** The ControlNet of the folder with the `--control` picture as its condition, or undefined without one. */
function controlFlags(flags: SampleFlags): ControlOptions | undefined {
  if (flags.control === undefined) {
    if (flags.controlScale !== undefined || flags.controlIsEdges)
      throw new UsageError('--control-scale and --control-is-edges need --control IMAGE');
    return undefined;
  }
  const scale = numberFlag('--control-scale', flags.controlScale ?? '1', 0, 10);
  const control = loadControlNet(flags.model);
  if (!control) {
    throw new UsageError(`--control: '${flags.model}' holds no ControlNet`, {
      hint: 'train one with `diffusion train-control --base DIR --out DIR`',
    });
  }
  const image = readFlagImage(flags.control, 'control');
  const condition = conditionFromImage(image, control.model.conditionShape, {
    kind: control.condition,
    isEdges: flags.controlIsEdges ?? false,
  });
  return { network: control.model, params: control.params, condition, scale };
}

/** The sampler and step count a folder samples with by default: a distilled model's own, else dpmpp_2m at 25. */
function samplingDefaults(modelDir: string): { sampler: string; steps: string } {
  const distilled = readDistillationInfo(modelDir);
  if (!distilled) return { sampler: 'dpmpp_2m', steps: '25' };
  const sampler = distilled.method === 'progressive' ? 'DDIMScheduler' : 'CMStochasticIterativeScheduler';
  return { sampler, steps: String(distilled.steps) };
}

async function runSample(flags: SampleFlags): Promise<void> {
  const defaults = samplingDefaults(flags.model);
  const sampler = flags.sampler ?? defaults.sampler;
  const steps = integerFlag('--steps', flags.steps ?? defaults.steps, 1, 10_000);
  const seed = integerFlag('--seed', flags.seed, 0);
  const temperature = numberFlag('--temperature', flags.temperature, 0, 10);
  const format = choiceFlag(
    '--format',
    flags.format ?? (flags.out.endsWith('.json') ? 'json' : 'png'),
    FORMATS,
  );
  try {
    resolveSampler(sampler);
  } catch (error) {
    throw new UsageError(`--sampler: ${(error as Error).message}`);
  }
  const guidance =
    flags.guidance === undefined ? undefined : numberFlag('--guidance', flags.guidance, 0, 100);
  const { network, params, schedulerConfig, vae } = loadPipeline(flags.model);
  const control = controlFlags(flags);
  const num = integerFlag('--num', flags.num ?? (isVectorData(network) ? '512' : '16'), 1, 100_000);
  const classLabels =
    flags.class === undefined
      ? undefined
      : classIndex(flags.class, network, readRunSummary(flags.model)?.classNames ?? null);
  if (guidance !== undefined && classLabels === undefined) {
    throw new UsageError('--guidance needs --class (classifier-free guidance steers towards a class)');
  }
  if (flags.trajectory !== undefined)
    checkTrajectoryPath(flags.trajectory, network.sampleShape, vae !== undefined);
  const collector = trajectoryCollector({ count: TRAJECTORY_FRAMES });
  const samples = await generate({
    network,
    params,
    schedulerConfig,
    sampler,
    numSteps: steps,
    numSamples: num,
    seed,
    temperature,
    ...(classLabels !== undefined ? { classLabels } : {}),
    ...(guidance !== undefined ? { guidance } : {}),
    ...(control ? { control } : {}),
    ...(flags.trajectory !== undefined ? { callback: collector.callback } : {}),
  });
  const output = await pipelineOutput(samples, network.sampleShape, vae);
  writeSamples(flags.out, output.samples, output, format, flags.model);
  if (flags.trajectory !== undefined)
    writeTrajectory(flags.trajectory, collector.frames, network.sampleShape);
  process.stdout.write(`wrote ${num} samples to ${flags.out} (${sampler}, ${steps} steps)\n`);
}

export function register(program: Command): void {
  program
    .command('sample')
    .description('draw samples from a saved model folder into a PNG (or JSON numbers)')
    .requiredOption('--model <dir>', 'pipeline folder written by `diffusion train`')
    .requiredOption('--out <file>', 'output file (.png, .json with --format json, .gif for video models)')
    .option(
      '--sampler <name>',
      "sampler (dpmpp_2m, euler_a, ddim, … or a diffusers scheduler class); default dpmpp_2m, or a distilled model's own",
    )
    .option('--steps <n>', "sampling steps (default 25, or a distilled model's step count)")
    .option('--num <n>', 'number of samples (default 512 points or 16 images)')
    .option('--class <c>', 'class index or name, for class-conditional models')
    .option('--guidance <s>', 'classifier-free guidance scale (1: plain conditional)')
    .option('--seed <n>', 'random seed', '0')
    .option('--temperature <t>', 'noise scale (1: the model distribution)', '1')
    .option('--format <fmt>', 'png or json (json: numbers, for vector data)')
    .option(
      '--trajectory <file>',
      `denoising path at ${TRAJECTORY_FRAMES} steps: .png strip (x_t over predicted x₀) or .gif (images)`,
    )
    .option('--control <image>', 'steer a folder with a ControlNet: picture whose edges the samples follow')
    .option('--control-scale <s>', "multiplies the ControlNet's residuals (default 1; 0: off)")
    .option('--control-is-edges', 'the --control picture already is an edge map (white on black)')
    .action(runSample);
}
