/**
 * Demonstrations in a 2-D maze (envs/maze2d.ts) as a dataset of trajectory windows for Diffuser-style
 * planning (Janner et al. 2022). One long episode is generated the way D4RL's maze2d data were: the agent
 * repeatedly draws a random goal in a free cell, follows the breadth-first shortest cell path to it with
 * a proportional waypoint controller a = clip(gain·(w − s)) plus Gaussian action noise (cell centres are
 * the waypoints, the goal itself the last one), lingers near the goal for a random number of steps, and
 * draws the next goal. Each step records [x, y, a_x, a_y] with the action as executed (clipped to
 * [−1, 1]). Windows of H consecutive steps, every `stride` steps, form examples of shape [4, H]
 * (channel-first, as a 1-D U-Net reads them). Every channel is scaled to [−1, 1] by its range over the
 * data, x' = (x − mean)/std with mean = (max + min)/2 and std = (max − min)/2, and that normaliser is
 * stored with the dataset (and so, via signal.json, with a model trained on it).
 *
 * This module must not plan, train or plot; it only generates and cuts demonstrations.
 */
import { z } from 'zod';
import { mazeByName, type Maze2D, type MazeName, type Vec2 } from '../envs/maze2d.js';
import { ShapeError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { parseOptions } from './dataset.js';
import { TimeSeriesDataset, type SeriesNormalization } from './timeseries.js';

/** The channels of one trajectory step, in dataset order. */
export const MAZE_CHANNELS = ['x', 'y', 'action_x', 'action_y'] as const;

const mazeTrajectoryOptions = z
  .object({
    /** Steps of the generated demonstration episode. */
    steps: z.number().int().min(64).default(40_000),
    /** Window length H (the planning horizon). */
    horizon: z.number().int().min(2).default(48),
    /** Steps between window starts. */
    stride: z.number().int().min(1).default(2),
    /** Standard deviation of the Gaussian noise added to the controller's action. */
    actionNoise: z.number().nonnegative().default(0.1),
    /** Proportional gain of the waypoint controller (per cell of distance). */
    gain: z.number().positive().default(4),
    /** At most this many steps lingering near each reached goal (uniform in 0..max). */
    maxDwell: z.number().int().nonnegative().default(8),
    seed: z.number().int().default(0),
  })
  .strict();

export type MazeTrajectoryOptions = z.input<typeof mazeTrajectoryOptions>;

/** A demonstration: T steps of [x, y, a_x, a_y], step-major (T × 4, flat). */
export interface Demonstration {
  steps: Float64Array;
  length: number;
}

const clip = (v: number): number => Math.min(1, Math.max(-1, v));

/** Waypoints from `state` to `goal`: the centres of the shortest cell path after the first, then the goal. */
export function pathWaypoints(maze: Maze2D, state: Vec2, goal: Vec2): Vec2[] {
  const cells = maze.cellPath(maze.cellOf(state), maze.cellOf(goal));
  const centres: Vec2[] = cells.slice(1, -1).map(([r, c]) => [c + 0.5, r + 0.5]);
  return [...centres, goal];
}

/** The demonstration episode of the module header, `steps` steps long, from a seeded generator. */
export function demonstration(
  maze: Maze2D,
  options: { steps: number; actionNoise: number; gain: number; maxDwell: number; random: Random },
): Demonstration {
  const { steps, actionNoise, gain, maxDwell, random } = options;
  const out = new Float64Array(steps * 4);
  let t = 0;
  let state: Vec2 = maze.randomPoint(random);
  const record = (action: Vec2) => {
    const a: Vec2 = [clip(action[0]), clip(action[1])];
    out.set([state[0], state[1], a[0], a[1]], 4 * t++);
    state = maze.step(state, a);
  };
  const noisy = (a: Vec2, scale: number): Vec2 => [
    a[0] + scale * random.normal(),
    a[1] + scale * random.normal(),
  ];
  while (t < steps) {
    const goal = maze.randomTask(random).goal;
    const waypoints = pathWaypoints(maze, state, goal);
    // A waypoint counts as passed within 0.25 cells (a dt-sized step), the goal within 0.1.
    for (let w = 0, budget = 0; w < waypoints.length && t < steps && budget < 400; budget++) {
      const [wx, wy] = waypoints[w];
      const last = w === waypoints.length - 1;
      if (Math.hypot(wx - state[0], wy - state[1]) < (last ? 0.1 : 0.25)) {
        w++;
        continue;
      }
      record(noisy([gain * (wx - state[0]), gain * (wy - state[1])], actionNoise));
    }
    const dwell = random.int(maxDwell + 1);
    for (let k = 0; k < dwell && t < steps; k++) record(noisy([0, 0], actionNoise / 2));
  }
  return { steps: out, length: steps };
}

/** Range normaliser of each channel over the data: mean = (max + min)/2, std = (max − min)/2. */
export function rangeNormalization(demo: Demonstration): SeriesNormalization {
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < 4; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let t = 0; t < demo.length; t++) {
      lo = Math.min(lo, demo.steps[4 * t + c]);
      hi = Math.max(hi, demo.steps[4 * t + c]);
    }
    mean.push((hi + lo) / 2);
    std.push(hi > lo ? (hi - lo) / 2 : 1);
  }
  return { columns: [...MAZE_CHANNELS], mean, std };
}

/** Normalised windows [N, 4, H] of a demonstration, starting every `stride` steps. */
export function trajectoryWindows(
  demo: Demonstration,
  horizon: number,
  stride: number,
  normalization: SeriesNormalization,
): Float32Array {
  if (demo.length < horizon) {
    throw new ShapeError(`a demonstration of ${demo.length} steps is shorter than the horizon ${horizon}`);
  }
  const count = Math.floor((demo.length - horizon) / stride) + 1;
  const out = new Float32Array(count * 4 * horizon);
  for (let n = 0; n < count; n++)
    for (let c = 0; c < 4; c++)
      for (let i = 0; i < horizon; i++) {
        const value = demo.steps[4 * (n * stride + i) + c];
        out[(n * 4 + c) * horizon + i] = (value - normalization.mean[c]) / normalization.std[c];
      }
  return out;
}

/** The dataset `maze2d-<maze>`: windows [4, H] of one seeded demonstration, with its normaliser. */
export function mazeTrajectoryDataset(
  mazeName: MazeName,
  options: MazeTrajectoryOptions | Record<string, unknown> = {},
): TimeSeriesDataset {
  const parsed = parseOptions(`maze2d-${mazeName}`, mazeTrajectoryOptions, options);
  const maze = mazeByName(mazeName);
  const demo = demonstration(maze, { ...parsed, random: new Random(parsed.seed) });
  const normalization = rangeNormalization(demo);
  const data = trajectoryWindows(demo, parsed.horizon, parsed.stride, normalization);
  const count = data.length / (4 * parsed.horizon);
  return new TimeSeriesDataset({
    name: `maze2d-${mazeName}`,
    shape: [4, parsed.horizon],
    data,
    description:
      `${count} windows of ${parsed.horizon} steps of [x, y, a_x, a_y] from waypoint-controller ` +
      `demonstrations in the ${mazeName} maze, each channel scaled to [-1, 1]`,
    normalization,
    windowStarts: Int32Array.from({ length: count }, (_, n) => n * parsed.stride),
  });
}
