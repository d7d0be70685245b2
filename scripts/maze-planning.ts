/**
 * Success rate of Diffuser-style planning in a 2-D maze against two baselines, for docs/planning.md:
 * `node --import tsx scripts/maze-planning.ts --model runs/maze2d-umaze [--tasks 50] [--seed 1]
 * [--out docs/planning-umaze.png]`. Draws `tasks` random start/goal pairs in two different free cells
 * (seeded), runs each policy for T = 64 steps, and prints a Markdown table: the random-action baseline,
 * the straight-line controller (full speed at the goal, walls ignored), and the planner open loop (one
 * plan; its actions, or steering to its states) and closed loop (re-plan every k steps, steer to the next
 * planned state), with and without reward guidance. All tasks are planned in one batch per re-planning
 * point. A second success column counts only the tasks the straight line fails (a wall in the way).
 * The PNG shows the first four tasks under the open-loop planner steered to its states.
 */
import { parseArgs } from 'node:util';
import { mazeByName, randomPolicy, runEpisode, straightLinePolicy } from '../src/envs/maze2d.js';
import { pictureRow } from '../src/io/maze-plot.js';
import { writePng } from '../src/io/png.js';
import { loadPlanner, episodePicture } from '../src/cli/commands/plan.js';
import {
  executePlans,
  type ConditioningMode,
  type ExecutionMode,
  type PlannedEpisode,
} from '../src/pipelines/plan.js';
import { Random } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/maze2d-umaze' },
    maze: { type: 'string', default: 'umaze' },
    tasks: { type: 'string', default: '50' },
    seed: { type: 'string', default: '1' },
    steps: { type: 'string', default: '20' },
    'episode-steps': { type: 'string', default: '64' },
    'reward-scale': { type: 'string', default: '0.1' },
    'replan-every': { type: 'string', default: '8' },
    out: { type: 'string' },
  },
});
const maze = mazeByName(values.maze!);
const count = Number(values.tasks);
const T = Number(values['episode-steps']);
const random = new Random(Number(values.seed));
const tasks = Array.from({ length: count }, () => maze.randomTask(random));

interface Row {
  method: string;
  success: number;
  /** Success on the tasks the straight line fails (a wall in the way). */
  blockedSuccess: number;
  meanSteps: number;
  seconds: number;
}
const rows: Row[] = [];
/** Tasks the straight-line controller fails: set by its row, which comes before the planners'. */
let blocked: boolean[] = [];
const row = (method: string, outcomes: { success: boolean; steps: number }[], seconds: number): void => {
  const won = outcomes.filter((o) => o.success);
  const wonBlocked = outcomes.filter((o, i) => blocked[i] && o.success).length;
  rows.push({
    method,
    success: won.length / outcomes.length,
    blockedSuccess: wonBlocked / Math.max(1, blocked.filter(Boolean).length),
    meanSteps: won.reduce((s, o) => s + o.steps, 0) / Math.max(1, won.length),
    seconds,
  });
  process.stderr.write(`${method}: ${won.length}/${outcomes.length}\n`);
};

const timed = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
  const start = performance.now();
  const value = await fn();
  return [value, (performance.now() - start) / 1000];
};

const policyRuns = (make: () => ReturnType<typeof straightLinePolicy>) =>
  tasks.map((task) => runEpisode(maze, task.start, task.goal, make(), T));
const actions = new Random(Number(values.seed) + 1000);
const straight = await timed(() => policyRuns(() => straightLinePolicy(maze)));
blocked = straight[0].map((e) => !e.success);
row('random actions', ...(await timed(() => policyRuns(() => randomPolicy(actions)))));
row('straight line (ignores walls)', ...straight);

type Variant = {
  method: string;
  replanEvery: number;
  execute: ExecutionMode;
  rewardScale: number;
  conditioning: ConditioningMode;
};
const k = Number(values['replan-every']);
const scale = Number(values['reward-scale']);
const OPEN = 1_000_000;
const variants: Variant[] = [
  {
    method: `Diffuser, clean conditioning, closed loop (k = ${k})`,
    replanEvery: k,
    execute: 'states',
    rewardScale: 0,
    conditioning: 'clean',
  },
  {
    method: 'Diffuser, open loop, planned actions',
    replanEvery: OPEN,
    execute: 'actions',
    rewardScale: 0,
    conditioning: 'repaint',
  },
  {
    method: 'Diffuser, open loop, steer to planned states',
    replanEvery: OPEN,
    execute: 'states',
    rewardScale: 0,
    conditioning: 'repaint',
  },
  {
    method: `Diffuser, closed loop (re-plan every k = ${k} steps)`,
    replanEvery: k,
    execute: 'states',
    rewardScale: 0,
    conditioning: 'repaint',
  },
  {
    method: `Diffuser, closed loop + reward guidance (s = ${scale})`,
    replanEvery: k,
    execute: 'states',
    rewardScale: scale,
    conditioning: 'repaint',
  },
];
let pictured: PlannedEpisode[] = [];
for (const variant of variants) {
  const planner = loadPlanner(values.model!, count, Number(values.steps), Number(values.seed));
  const [episodes, seconds] = await timed(() =>
    executePlans(planner.sampler, {
      maze,
      tasks,
      sampleShape: planner.sampleShape,
      normalization: planner.normalization,
      episodeSteps: T,
      ...variant,
    }),
  );
  await planner.dispose();
  row(variant.method, episodes, seconds);
  if (variant.replanEvery === OPEN && variant.execute === 'states') pictured = episodes;
}

const percent = (v: number) => `${(100 * v).toFixed(0)} %`;
const walled = blocked.filter(Boolean).length;
process.stdout.write(
  `| method (${count} tasks, T = ${T}) | success | success, wall in the way (${walled} tasks) | mean steps to the goal | wall time (s) |\n` +
    '|---|---|---|---|---|\n',
);
for (const r of rows) {
  const cells = [
    r.method,
    percent(r.success),
    percent(r.blockedSuccess),
    r.meanSteps.toFixed(1),
    r.seconds.toFixed(1),
  ];
  process.stdout.write(`| ${cells.join(' | ')} |\n`);
}
if (values.out) {
  const pictures = pictured.slice(0, 4).map((e, i) => episodePicture(maze, e, tasks[i].goal, 48));
  writePng(values.out, pictureRow(pictures));
  process.stdout.write(`wrote ${values.out}\n`);
}
