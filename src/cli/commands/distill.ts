/**
 * `diffusion distill --teacher DIR --steps 4 --out DIR`: distils a trained pipeline folder into a
 * few-step student — progressive distillation (Salimans & Ho 2022; the default), consistency distillation
 * or consistency training (Song et al. 2023) — and writes it as a pipeline folder that
 * `diffusion sample --model DIR` samples at its distilled step count by default. Flags are validated
 * before any work (bad values exit 2 with one line); the output folder appears whole or not at all.
 *
 * This command must not sample or evaluate; the library does the work (training/distill-pipeline.ts).
 */
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { readSchedulerConfig } from '../../diffusion/scheduler-config-file.js';
import { SCHEDULER_CONFIG_NAME } from '../../models/pipeline-folder.js';
import { roundSteps } from '../../training/distill.js';
import { DISTILL_METHODS, distillPipeline, type DistillMethod } from '../../training/distill-pipeline.js';
import { ConfigError, UsageError } from '../../util/errors.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import { checkOutFolder } from './run-folder.js';

interface DistillFlags {
  teacher: string;
  out: string;
  steps: string;
  method: string;
  fromSteps: string;
  iterationsPerRound?: string;
  batchSize: string;
  lr?: string;
  guidance: string;
  seed: string;
  levels: string;
  data?: string;
  timeLimit?: string;
  quiet?: boolean;
}

/** The step counts against the teacher's training schedule, as a usage error (exit 2) when they do not fit. */
function checkProgressiveSteps(teacherDir: string, fromSteps: number, steps: number): void {
  const config = readSchedulerConfig(join(teacherDir, 'scheduler', SCHEDULER_CONFIG_NAME));
  const trained = (config as { numTrainTimesteps?: number }).numTrainTimesteps ?? 0;
  try {
    roundSteps(fromSteps, steps, trained);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`--steps/--from-steps: ${error.message}`);
    throw error;
  }
}

/** Progress lines at most every this many updates. */
const REPORT_EVERY = 50;

async function runDistill(flags: DistillFlags): Promise<void> {
  const method = choiceFlag('--method', flags.method, DISTILL_METHODS) as DistillMethod;
  const steps = integerFlag('--steps', flags.steps, 1, 1000);
  const fromSteps = integerFlag('--from-steps', flags.fromSteps, 2, 1000);
  if (method === 'progressive' && (fromSteps <= steps || !Number.isInteger(Math.log2(fromSteps / steps)))) {
    throw new UsageError(
      `--from-steps ${fromSteps} must be --steps ${steps} times a power of two (each round halves the steps)`,
    );
  }
  const iterations = integerFlag('--iterations-per-round', flags.iterationsPerRound ?? '2000', 1);
  const batchSize = integerFlag('--batch-size', flags.batchSize, 1, 65_536);
  const lr = numberFlag('--lr', flags.lr ?? (method === 'progressive' ? '1e-4' : '2e-4'), 0, 1, true);
  const guidance = numberFlag('--guidance', flags.guidance, 0, 100);
  const seed = integerFlag('--seed', flags.seed, 0);
  const numLevels = integerFlag('--levels', flags.levels, 2, 10_000);
  if (method === 'consistency' && steps > numLevels)
    throw new UsageError(`--steps ${steps} must be at most --levels ${numLevels}`);
  const timeLimit =
    flags.timeLimit === undefined ? undefined : numberFlag('--time-limit', flags.timeLimit, 0, 1e6, true);
  if (resolve(flags.out) === resolve(flags.teacher))
    throw new UsageError(
      '--out must differ from --teacher (the teacher is read while the student is written)',
    );
  checkOutFolder(flags.out, false);
  if (method === 'progressive') checkProgressiveSteps(flags.teacher, fromSteps, steps);
  const result = await distillPipeline({
    teacherDir: flags.teacher,
    outDir: flags.out,
    method,
    steps,
    fromSteps,
    iterations,
    batchSize,
    lr,
    guidance,
    seed,
    numLevels,
    ...(flags.data !== undefined ? { data: flags.data } : {}),
    ...(timeLimit !== undefined ? { timeLimitSeconds: 60 * timeLimit } : {}),
    onStep: (line) => {
      const update = Number(/update (\d+)/.exec(line)?.[1] ?? 0);
      if (!flags.quiet && update % REPORT_EVERY === 0) process.stderr.write(`${line}\n`);
    },
  });
  const limited = result.timeLimited ? ' (stopped by --time-limit)' : '';
  process.stdout.write(
    `wrote ${flags.out}: ${method} student, ${steps} steps, ${result.seconds.toFixed(1)} s${limited}\n`,
  );
}

export function register(program: Command): void {
  program
    .command('distill')
    .description('distil a trained model into a few-step student (progressive or consistency)')
    .requiredOption('--teacher <dir>', 'pipeline folder of the trained teacher')
    .requiredOption('--out <dir>', 'pipeline folder to write the student into')
    .option('--steps <n>', "the student's sampling steps", '4')
    .option('--method <m>', `${DISTILL_METHODS.join(', ')}`, 'progressive')
    .option('--from-steps <n>', "progressive: the teacher's DDIM steps (halved each round)", '64')
    .option(
      '--iterations-per-round <n>',
      'progressive: updates per round; consistency: updates in all (default 2000)',
    )
    .option('--batch-size <n>', 'examples per update', '64')
    .option('--lr <rate>', 'learning rate (default 1e-4 progressive, 2e-4 consistency)')
    .option(
      '--guidance <w>',
      'classifier-free guidance scale of a conditional teacher, baked into the student',
      '1',
    )
    .option('--levels <n>', 'consistency distillation: number of Karras noise levels N', '18')
    .option('--data <name>', "training data set (default: the teacher's training_summary.json)")
    .option('--seed <n>', 'random seed', '0')
    .option('--time-limit <minutes>', 'stop after this much time, saving the student as it is')
    .option('--quiet', 'no progress lines')
    .action(runDistill);
}
