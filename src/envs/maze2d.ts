/**
 * A continuous 2-D maze for planning experiments (the maze2d tasks of D4RL that Diffuser, Janner et al.
 * 2022, plans in): a grid of unit wall and free cells written as an ASCII map ('#' wall, '.' free), a
 * point mass at (x, y) — x along the columns, y along the rows, both growing from the map's top-left
 * corner, cell (row r, column c) covering [c, c+1) × [r, r+1) — and the dynamics s' = s + clip(a, −1, 1)·dt.
 * Collision is resolved per axis: the x part of the move is made, and cancelled if it ends in a wall; then
 * the y part likewise. A step into a wall is therefore stopped on the blocked axis while the agent slides
 * along the other, and no move can jump a wall (|Δ| ≤ dt < 1 cell). Everything is a pure function of its
 * inputs; randomness comes only from the `Random` a caller passes (start and goal sampling). An episode
 * succeeds when the agent comes within `goalRadius` of the goal within its step budget. Also here: the
 * breadth-first shortest cell path the demonstration controller follows (data/maze-trajectories.ts).
 *
 * This module must not know about diffusion, datasets or plotting.
 */
import { ConfigError, unknownChoice } from '../util/errors.js';
import type { Random } from '../util/random.js';

/** Built-in maps: D4RL's maze2d U-maze and medium maze ('#' wall, '.' free). */
export const MAZE_MAPS = {
  umaze: ['#####', '#...#', '###.#', '#...#', '#####'],
  medium: ['########', '#..##..#', '#..#...#', '##...###', '#..#...#', '#.#..#.#', '#...#..#', '########'],
} as const satisfies Record<string, readonly string[]>;

export type MazeName = keyof typeof MAZE_MAPS;
export const MAZE_NAMES = Object.keys(MAZE_MAPS) as MazeName[];

/** A position or action (x, y). */
export type Vec2 = readonly [number, number];

/** A grid cell (row, column). */
export type Cell = readonly [number, number];

export interface MazeOptions {
  /** Time step: the largest move per axis and step is dt (default 0.25 cells). */
  dt?: number;
  /** Success radius around the goal, in cells (default 0.5). */
  goalRadius?: number;
}

export class Maze2D {
  readonly name: string;
  readonly rows: number;
  readonly columns: number;
  readonly dt: number;
  readonly goalRadius: number;
  /** Free cells in row-major order. */
  readonly freeCells: readonly Cell[];
  private readonly free: Uint8Array;

  constructor(map: readonly string[], options: MazeOptions = {}, name = 'maze') {
    this.name = name;
    this.free = parseMap(map, name);
    this.rows = map.length;
    this.columns = map[0].length;
    this.dt = options.dt ?? 0.25;
    this.goalRadius = options.goalRadius ?? 0.5;
    if (!(this.dt > 0 && this.dt < 1)) {
      throw new ConfigError(`maze '${name}': dt must lie in (0, 1) cells, got ${this.dt}`, {
        hint: 'a step longer than a cell could jump a wall',
      });
    }
    if (!(this.goalRadius > 0)) throw new ConfigError(`maze '${name}': goalRadius must be > 0`);
    const cells: Cell[] = [];
    for (let r = 0; r < this.rows; r++)
      for (let c = 0; c < this.columns; c++) if (this.free[r * this.columns + c]) cells.push([r, c]);
    this.freeCells = cells;
    if (cells.length < 2) {
      throw new ConfigError(`maze '${name}' has ${cells.length} free cell; tasks need at least two`);
    }
  }

  /** Whether cell (row, column) is free; anything outside the map is wall. */
  isFreeCell(row: number, column: number): boolean {
    if (row < 0 || column < 0 || row >= this.rows || column >= this.columns) return false;
    return this.free[row * this.columns + column] === 1;
  }

  /** Whether the point (x, y) lies in a free cell. */
  isFree([x, y]: Vec2): boolean {
    return this.isFreeCell(Math.floor(y), Math.floor(x));
  }

  /** The cell holding a point. */
  cellOf([x, y]: Vec2): Cell {
    return [Math.floor(y), Math.floor(x)];
  }

  /** s' = s + clip(a, −1, 1)·dt, with the x then y part of the move cancelled where it would enter a wall. */
  step(state: Vec2, action: Vec2): [number, number] {
    const [x, y] = state;
    const movedX = x + clip(action[0]) * this.dt;
    const nextX = this.isFree([movedX, y]) ? movedX : x;
    const movedY = y + clip(action[1]) * this.dt;
    const nextY = this.isFree([nextX, movedY]) ? movedY : y;
    return [nextX, nextY];
  }

  /** Whether `state` is within the success radius of `goal`. */
  reached(state: Vec2, goal: Vec2): boolean {
    return Math.hypot(state[0] - goal[0], state[1] - goal[1]) <= this.goalRadius;
  }

  /** A uniform point in a uniformly chosen free cell, `margin` cells away from its edges. */
  randomPoint(random: Random, margin = 0.1): [number, number] {
    const [r, c] = this.freeCells[random.int(this.freeCells.length)];
    const span = 1 - 2 * margin;
    return [c + margin + span * random.uniform(), r + margin + span * random.uniform()];
  }

  /** A start and a goal in two different free cells. */
  randomTask(random: Random): { start: [number, number]; goal: [number, number] } {
    const start = this.randomPoint(random);
    for (;;) {
      const goal = this.randomPoint(random);
      if (!sameCell(this.cellOf(start), this.cellOf(goal))) return { start, goal };
    }
  }

  /** The shortest 4-connected path of free cells from `from` to `to` (both included), by breadth-first search. */
  cellPath(from: Cell, to: Cell): Cell[] {
    if (!this.isFreeCell(...from) || !this.isFreeCell(...to)) {
      throw new ConfigError(
        `maze '${this.name}': path endpoints must be free cells, got [${from}] → [${to}]`,
      );
    }
    const index = (r: number, c: number) => r * this.columns + c;
    const previous = new Int32Array(this.rows * this.columns).fill(-1);
    const start = index(...from);
    previous[start] = start;
    const queue = [start];
    for (let head = 0; head < queue.length; head++) {
      const at = queue[head];
      const [r, c] = [Math.floor(at / this.columns), at % this.columns];
      for (const [dr, dc] of NEIGHBOURS) {
        const next = index(r + dr, c + dc);
        if (this.isFreeCell(r + dr, c + dc) && previous[next] < 0) {
          previous[next] = at;
          queue.push(next);
        }
      }
    }
    const goal = index(...to);
    if (previous[goal] < 0)
      throw new ConfigError(`maze '${this.name}': cell [${to}] is unreachable from [${from}]`);
    const path: Cell[] = [];
    for (let at = goal; ; at = previous[at]) {
      path.push([Math.floor(at / this.columns), at % this.columns]);
      if (at === start) break;
    }
    return path.reverse();
  }
}

const NEIGHBOURS: readonly Cell[] = [
  [-1, 0],
  [1, 0],
  [0, -1],
  [0, 1],
];

const clip = (v: number): number => Math.min(1, Math.max(-1, v));

const sameCell = (a: Cell, b: Cell): boolean => a[0] === b[0] && a[1] === b[1];

/** The 0/1 free mask of a rectangular map, or a ConfigError naming the bad row or character. */
function parseMap(map: readonly string[], name: string): Uint8Array {
  const width = map[0]?.length ?? 0;
  if (map.length === 0 || width === 0) throw new ConfigError(`maze '${name}': the map is empty`);
  const free = new Uint8Array(map.length * width);
  map.forEach((row, r) => {
    if (row.length !== width) {
      throw new ConfigError(`maze '${name}': row ${r} has ${row.length} cells, row 0 has ${width}`, {
        hint: 'every row of the map must have the same length',
      });
    }
    for (let c = 0; c < width; c++) {
      if (row[c] !== '#' && row[c] !== '.') {
        throw new ConfigError(`maze '${name}': character '${row[c]}' at row ${r}, column ${c}`, {
          hint: "use '#' for walls and '.' for free cells",
        });
      }
      free[r * width + c] = row[c] === '.' ? 1 : 0;
    }
  });
  if (!free.includes(1)) throw new ConfigError(`maze '${name}' has no free cell`);
  return free;
}

/** A built-in maze by name; an unknown name is a NotFoundError listing the valid ones. */
export function mazeByName(name: string, options: MazeOptions = {}): Maze2D {
  if (!Object.hasOwn(MAZE_MAPS, name)) throw unknownChoice('maze', name, MAZE_NAMES);
  return new Maze2D(MAZE_MAPS[name as MazeName], options, name);
}

/** A policy: the action for the agent at `state` aiming at `goal`, at step `t` of the episode. */
export type Policy = (state: Vec2, goal: Vec2, t: number) => Vec2;

/** An executed episode: the visited states (the start first) and whether and when the goal was reached. */
export interface Episode {
  /** States s_0 … s_n as (x, y) pairs, flat; n ≤ steps (the episode stops on success). */
  states: Float64Array;
  success: boolean;
  /** Steps taken until success, or `steps` when the goal was not reached. */
  steps: number;
}

/** Runs `policy` from `start` for at most `steps` steps, stopping as soon as the goal is reached. */
export function runEpisode(maze: Maze2D, start: Vec2, goal: Vec2, policy: Policy, steps: number): Episode {
  const states = [start[0], start[1]];
  let state: Vec2 = start;
  for (let t = 0; t < steps; t++) {
    if (maze.reached(state, goal)) return { states: Float64Array.from(states), success: true, steps: t };
    state = maze.step(state, policy(state, goal, t));
    states.push(state[0], state[1]);
  }
  const success = maze.reached(state, goal);
  return { states: Float64Array.from(states), success, steps };
}

/** The straight-line baseline: full speed towards the goal, ignoring walls, a = clip((g − s)/dt). */
export function straightLinePolicy(maze: Maze2D): Policy {
  return (state, goal) => [(goal[0] - state[0]) / maze.dt, (goal[1] - state[1]) / maze.dt];
}

/** The random baseline: each action component uniform in [−1, 1]. */
export function randomPolicy(random: Random): Policy {
  return () => [2 * random.uniform() - 1, 2 * random.uniform() - 1];
}
