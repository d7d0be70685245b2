/**
 * `diffusion plan --model DIR --maze umaze --start x,y --goal x,y [--out plan.png]`: plans a path from
 * the start to the goal with a trajectory-diffusion model (trained with `diffusion train --data
 * maze2d-umaze`), executes it in the maze — closed loop by default (re-plan every k steps, steer to the
 * next planned state), or open loop with the planned actions — with the start and goal inpainted by
 * RePaint unless `--conditioning` says otherwise, and prints whether and when the goal was
 * reached. `--out` draws the maze, the first plan (blue), the executed path (red), the start (green) and
 * the goal with its success radius (orange). Coordinates are in cells: x along the map's columns, y down
 * its rows. Every misuse is a one-line error, exit 2, and no file is written.
 *
 * This command must not train or implement planning; it wires the model folder, the maze and
 * pipelines/plan.ts together and draws the result.
 */
import type { Command } from 'commander';
import { randomNoiseSource } from '../../diffusion/samplers/common.js';
import { MAZE_NAMES, mazeByName, type Maze2D, type Vec2 } from '../../envs/maze2d.js';
import { mazePlot } from '../../io/maze-plot.js';
import { writePng } from '../../io/png.js';
import { loadPipeline } from '../../models/pipeline-folder.js';
import type { EditSampler } from '../../pipelines/img2img.js';
import {
  CONDITIONING_MODES,
  EXECUTION_MODES,
  type ConditioningMode,
  executePlans,
  planHorizon,
  type ExecutionMode,
  type PlanNormalization,
  type PlannedEpisode,
} from '../../pipelines/plan.js';
import { readSignalInfo } from '../../pipelines/signals.js';
import { UsageError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import { choiceFlag, integerFlag, numberFlag } from '../flags.js';
import {
  asUsageError,
  checkOutputExtension,
  conditionedModel,
  editScheduleConfig,
  seedFlag,
  stepsFlag,
} from './edit-common.js';

interface PlanFlags {
  model: string;
  maze: string;
  start: string;
  goal: string;
  out?: string;
  steps: string;
  replanEvery: string;
  execute: string;
  episodeSteps: string;
  rewardScale: string;
  conditioning: string;
  seed: string;
}

/** A planner loaded from a pipeline folder: what `executePlans` needs, plus the model's horizon. */
export interface LoadedPlanner {
  sampler: EditSampler;
  sampleShape: readonly number[];
  normalization: PlanNormalization;
  horizon: number;
  dispose: () => Promise<void>;
}

/** The folder's model compiled for `batch` plans at once, with its DDIM timetable of `steps` steps. */
export function loadPlanner(dir: string, batch: number, steps: number, seed: number): LoadedPlanner {
  let pipeline: ReturnType<typeof loadPipeline>;
  try {
    pipeline = loadPipeline(dir);
  } catch (error) {
    throw asUsageError(error, 'model');
  }
  const { sampleShape } = pipeline.network;
  let horizon: number;
  try {
    horizon = planHorizon(sampleShape);
  } catch (error) {
    throw new UsageError(`--model '${dir}': ${(error as Error).message}`);
  }
  const normalization = readSignalInfo(dir).normalization;
  if (!normalization || normalization.mean.length !== 4) {
    throw new UsageError(`--model '${dir}' records no [x, y, a_x, a_y] normaliser in signal.json`, {
      hint: 'train the model with `diffusion train --data maze2d-umaze`',
    });
  }
  const config = editScheduleConfig(pipeline.schedulerConfig);
  stepsFlag(String(steps), config);
  const { model, dispose } = conditionedModel(pipeline, batch, {});
  const sampler: EditSampler = {
    model,
    config,
    numInferenceSteps: steps,
    eta: 0,
    noiseSource: randomNoiseSource(new Random(seed)),
  };
  return { sampler, sampleShape, normalization, horizon, dispose };
}

/** An `x,y` flag as a point in a free cell of the maze. */
function pointFlag(flag: string, text: string, maze: Maze2D): Vec2 {
  const parts = text.split(',').map((part) => Number(part.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite)) {
    throw new UsageError(`${flag} '${text}' is not x,y`, {
      hint: 'e.g. 1.5,3.5 (cells; x along columns, y down rows)',
    });
  }
  const point: Vec2 = [parts[0], parts[1]];
  if (!maze.isFree(point)) {
    throw new UsageError(`${flag} ${text} lies in a wall of the ${maze.name} maze`, {
      hint: `free cells (row, column): ${maze.freeCells.map(([r, c]) => `${r},${c}`).join(' ')}; cell (r, c) spans x ∈ [c, c+1), y ∈ [r, r+1)`,
    });
  }
  return point;
}

/** The picture of one planned episode: maze, first plan, executed path, start and goal. */
export function episodePicture(maze: Maze2D, episode: PlannedEpisode, goal: Vec2, cellPixels = 64) {
  const start = [episode.states[0], episode.states[1]];
  return mazePlot(
    maze,
    [
      { points: episode.firstPlan.states, color: [31, 119, 180, 255], radius: 3 },
      { points: episode.states, color: [214, 39, 40, 255], radius: 2 },
      { points: start, color: [44, 160, 44, 255], radius: 7, line: false },
      { points: [...goal], color: [255, 127, 14, 255], radius: 7, line: false, ring: maze.goalRadius },
    ],
    cellPixels,
  );
}

async function runPlan(flags: PlanFlags): Promise<void> {
  const maze = mazeByName(choiceFlag('--maze', flags.maze, MAZE_NAMES));
  const start = pointFlag('--start', flags.start, maze);
  const goal = pointFlag('--goal', flags.goal, maze);
  if (flags.out) checkOutputExtension(flags.out, 'out', ['.png']);
  const execute = choiceFlag('--execute', flags.execute, EXECUTION_MODES) as ExecutionMode;
  const replanEvery = integerFlag('--replan-every', flags.replanEvery, 1, 1_000_000);
  const episodeSteps = integerFlag('--episode-steps', flags.episodeSteps, 1, 100_000);
  const rewardScale = numberFlag('--reward-scale', flags.rewardScale, 0, 1e6);
  const conditioning = choiceFlag(
    '--conditioning',
    flags.conditioning,
    CONDITIONING_MODES,
  ) as ConditioningMode;
  const seed = seedFlag(flags.seed);
  // Checked against the model's training timesteps once its folder is loaded.
  const steps = integerFlag('--steps', flags.steps, 1, 1_000_000);
  const planner = loadPlanner(flags.model, 1, steps, seed);
  let episode: PlannedEpisode;
  try {
    [episode] = await executePlans(planner.sampler, {
      maze,
      tasks: [{ start, goal }],
      sampleShape: planner.sampleShape,
      normalization: planner.normalization,
      rewardScale,
      conditioning,
      episodeSteps,
      replanEvery,
      execute,
    });
  } finally {
    await planner.dispose();
  }
  if (flags.out) writePng(flags.out, episodePicture(maze, episode, goal));
  const outcome = episode.success
    ? `reached the goal in ${episode.steps} steps`
    : `did not reach the goal in ${episode.steps} steps`;
  const loop = replanEvery >= planner.horizon - 1 ? 'open loop' : `re-planning every ${replanEvery} steps`;
  process.stdout.write(`${outcome} (${execute}, ${loop})${flags.out ? `; wrote ${flags.out}` : ''}\n`);
}

export function register(program: Command): void {
  program
    .command('plan')
    .description('plan and execute a path in a 2-D maze with a trajectory-diffusion model (Diffuser)')
    .requiredOption('--model <dir>', 'pipeline folder trained on maze trajectories (--data maze2d-umaze)')
    .option('--maze <name>', `maze map: ${MAZE_NAMES.join(', ')}`, 'umaze')
    .requiredOption('--start <x,y>', 'start point in cells (x along columns, y down rows)')
    .requiredOption('--goal <x,y>', 'goal point in cells')
    .option('--out <file.png>', 'draw the maze, the plan and the executed path')
    .option('--steps <n>', 'denoising steps per plan (DDIM)', '20')
    .option('--replan-every <k>', 're-plan every k steps (≥ horizon − 1: one plan, open loop)', '8')
    .option(
      '--execute <mode>',
      'states: steer to the planned states; actions: apply the planned actions',
      'states',
    )
    .option('--episode-steps <T>', 'step budget of the episode', '64')
    .option('--reward-scale <s>', 'reward guidance toward the goal (0: none)', '0')
    .option(
      '--conditioning <mode>',
      "start/goal inpainting: repaint, clean (Diffuser's) or noised",
      'repaint',
    )
    .option('--seed <n>', 'random seed', '0')
    .action(runPlan);
}
