/**
 * `diffusion noise --image in.png --steps 0,100,250,500,999 --out strip.png`: illustrates the forward
 * process q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I) — the image noised to each listed t (t = 0 is the image
 * itself) side by side, seeded — for a named beta schedule (`--schedule`) or a model's own (`--model`).
 * `--plot FILE` draws ᾱ_t (blue) and log-SNR_t (red) against t. Any image size works; grey images stay
 * grey.
 *
 * This command must not run a model; it reads at most a scheduler config and writes one or two PNGs.
 */
import type { Command } from 'commander';
import { BETA_SCHEDULES, DEFAULT_BETA_SCHEDULE, type BetaScheduleConfig } from '../../diffusion/schedules.js';
import { flattenAlpha, imageToTensor, isGrey, writePng, WHITE } from '../../io/images.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import { forwardStrip, schedulePlot } from '../../pipelines/forward-illustration.js';
import { UsageError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import { choiceFlag, integerFlag } from '../flags.js';
import { checkOutputExtension, readFlagImage, seedFlag } from './edit-common.js';

interface NoiseFlags {
  image?: string;
  steps: string;
  schedule?: string;
  model?: string;
  out?: string;
  plot?: string;
  seed: string;
}

/** The beta schedule: the model's (`--model`), a named one with DDPM's β range, or DDPM's linear default. */
function scheduleFlags(flags: NoiseFlags): BetaScheduleConfig {
  if (flags.model !== undefined && flags.schedule !== undefined) {
    throw new UsageError('give --schedule or --model, not both');
  }
  if (flags.model === undefined) {
    const name = choiceFlag('--schedule', flags.schedule ?? 'linear', BETA_SCHEDULES);
    return { ...DEFAULT_BETA_SCHEDULE, betaSchedule: name as BetaScheduleConfig['betaSchedule'] };
  }
  const config = loadPipeline(flags.model).schedulerConfig as unknown as Partial<
    BetaScheduleConfig & { trainedBetas: number[] | null; rescaleBetasZeroSnr: boolean }
  >;
  if (config.trainedBetas || config.rescaleBetasZeroSnr) {
    throw new UsageError(
      `--model: the illustration draws named schedules; this model uses trained or rescaled betas`,
    );
  }
  const { betaSchedule, numTrainTimesteps, betaStart, betaEnd } = config;
  if (
    betaSchedule === undefined ||
    numTrainTimesteps === undefined ||
    betaStart === undefined ||
    betaEnd === undefined
  ) {
    throw new UsageError(`--model: the model's scheduler config has no beta schedule`);
  }
  return { betaSchedule, numTrainTimesteps, betaStart, betaEnd };
}

/** The `--steps` list: comma-separated forward steps 0..T. */
export function forwardStepsFlag(text: string, numTrainTimesteps: number): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((s) => s === '')) {
    throw new UsageError(`--steps must be a comma-separated list of timesteps, got '${text}'`);
  }
  return parts.map((s) => integerFlag('--steps', s, 0, numTrainTimesteps));
}

function runNoise(flags: NoiseFlags): void {
  if (flags.out === undefined && flags.plot === undefined) {
    throw new UsageError('nothing to write: give --image and --out for a strip, and/or --plot FILE');
  }
  if ((flags.image === undefined) !== (flags.out === undefined)) {
    throw new UsageError('--image and --out go together (the noised strip of that image)');
  }
  if (flags.out !== undefined) checkOutputExtension(flags.out, 'out', ['.png']);
  if (flags.plot !== undefined) checkOutputExtension(flags.plot, 'plot', ['.png']);
  const seed = seedFlag(flags.seed);
  const schedule = scheduleFlags(flags);
  const steps = forwardStepsFlag(flags.steps, schedule.numTrainTimesteps);
  if (flags.image !== undefined && flags.out !== undefined) {
    const image = flattenAlpha(readFlagImage(flags.image, 'image'), WHITE);
    const tensor = imageToTensor(image, { channels: isGrey(image) ? 1 : 3 });
    const strip = forwardStrip(
      { data: tensor.data, shape: tensor.shape.slice(1) },
      schedule,
      steps,
      new Random(seed),
    );
    writePng(flags.out, strip);
    process.stdout.write(`wrote ${flags.out} (t = ${steps.join(', ')}; ${schedule.betaSchedule})\n`);
  }
  if (flags.plot !== undefined) {
    writePng(flags.plot, schedulePlot(schedule).image);
    process.stdout.write(`wrote ${flags.plot} (ᾱ_t blue, log-SNR_t red; ${schedule.betaSchedule})\n`);
  }
}

export function register(program: Command): void {
  program
    .command('noise')
    .description('show the forward process: an image noised at chosen timesteps, and a schedule plot')
    .option('--image <file>', 'input PNG/JPEG (any size)')
    .option('--steps <list>', 'forward timesteps, comma-separated (0 = the input)', '0,100,250,500,999')
    .option('--schedule <name>', `beta schedule (${BETA_SCHEDULES.join(', ')}; β from 0.0001 to 0.02)`)
    .option('--model <dir>', "use this pipeline folder's schedule instead of --schedule")
    .option('--out <file>', 'strip PNG of the noised images')
    .option('--plot <file>', 'PNG plot of ᾱ_t and log-SNR_t against t')
    .option('--seed <n>', 'random seed of the noise', '0')
    .action(runNoise);
}
