// Planning by trajectory diffusion, without a trained network: the start and goal states are kept
// exactly — in x_t after every denoising step (clean conditioning) or after the last (noised, RePaint),
// and in the returned plan — for any model; the reward
// gradient is the engine's VJP of −Σ‖s_t − g‖² (checked against −2(s − g)) and guidance pulls plans
// toward the goal; executing plans of an "oracle" model (x̂₀ = the straight line between the conditioned
// ends) reaches the goal, closed loop and open loop, and stops at walls in between.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomNoiseSource } from '../../src/diffusion/samplers/common.js';
import type { ModelFn } from '../../src/diffusion/samplers/types.js';
import { Maze2D, mazeByName } from '../../src/envs/maze2d.js';
import type { EditSampler, EditScheduleConfig } from '../../src/pipelines/img2img.js';
import { executePlans, goalDistanceGradient, plan, planHorizon } from '../../src/pipelines/plan.js';
import { ConfigError, NotFoundError, ShapeError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const H = 16;
const SHAPE = [4, H];
const NORM = { mean: [3, 3, 0, 0], std: [3, 3, 1, 1] };
const config = (predictionType: string): EditScheduleConfig => ({
  numTrainTimesteps: 1000,
  betaSchedule: 'squaredcos_cap_v2',
  betaStart: 1e-4,
  betaEnd: 0.02,
  trainedBetas: null,
  predictionType,
  timestepSpacing: 'leading',
  stepsOffset: 0,
  clipSample: true,
  clipSampleRange: 1,
});

const sampler = (model: ModelFn, predictionType = 'sample', seed = 0): EditSampler => ({
  model,
  config: config(predictionType),
  numInferenceSteps: 10,
  eta: 0,
  noiseSource: randomNoiseSource(new Random(seed)),
});

/** A noise-blind "denoiser" that predicts the input itself, scaled: nothing pins the ends but conditioning. */
const wild: ModelFn = async (x) => x.map((v) => 3 * v);

/** ε̂ = 0: x̂₀ = x_t/√ᾱ_t, the noise itself at the start, so any pull toward the goal is guidance's. */
const still: ModelFn = async (x) => new Float32Array(x.length);

/** x̂₀ = the straight line between x_t's (clean, conditioned) first and last positions; actions 0. */
const oracle: ModelFn = async (x) => {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += 4 * H)
    for (let c = 0; c < 2; c++) {
      const [a, b] = [x[base + c * H], x[base + c * H + H - 1]];
      for (let i = 0; i < H; i++) out[base + c * H + i] = a + ((b - a) * i) / (H - 1);
    }
  return out;
};

describe('plan: goal conditioning by inpainting', () => {
  it('keeps the start and goal exactly, after every step and in the plan', async () => {
    const starts: [number, number][] = [
      [1.23456789, 1.5],
      [3.1, 3.9],
    ];
    const goals: [number, number][] = [
      [1.5, 3.3333333],
      [1.05, 1.95],
    ];
    let steps = 0;
    const plans = await plan(sampler(wild), {
      starts,
      goals,
      sampleShape: SHAPE,
      normalization: NORM,
      callback: ({ sample }) => {
        steps++;
        for (let b = 0; b < 2; b++)
          for (let c = 0; c < 2; c++) {
            const norm = (v: number) => Math.fround((v - NORM.mean[c]) / NORM.std[c]);
            assert.equal(sample[(4 * b + c) * H], norm(starts[b][c]));
            assert.equal(sample[(4 * b + c) * H + H - 1], norm(goals[b][c]));
          }
      },
    });
    assert.equal(steps, 10);
    plans.forEach((p, b) => {
      assert.deepEqual([p.states[0], p.states[1]], starts[b]);
      assert.deepEqual([p.states[2 * H - 2], p.states[2 * H - 1]], goals[b]);
      // The model's own (wild) values elsewhere: the plan is not simply copied from the conditions.
      assert.ok(p.states.some((v, i) => i > 1 && i < 2 * H - 2 && Math.abs(v - 3) > 1e-3));
    });
  });
  for (const conditioning of ['noised', 'repaint'] as const) {
    it(`${conditioning}: x at the last step holds the start and goal exactly`, async () => {
      const starts: [number, number][] = [[1.23456789, 1.5]];
      const goals: [number, number][] = [[1.5, 3.3333333]];
      let last: Float32Array | null = null;
      const [p] = await plan(sampler(wild), {
        starts,
        goals,
        sampleShape: SHAPE,
        normalization: NORM,
        conditioning,
        jumpLength: 2,
        resamplings: 2,
        callback: ({ sample, step, numSteps }) => {
          if (step === numSteps - 1) last = sample;
        },
      });
      assert.ok(last !== null);
      const sample = last as Float32Array;
      for (let c = 0; c < 2; c++) {
        const norm = (v: number) => Math.fround((v - NORM.mean[c]) / NORM.std[c]);
        assert.equal(sample[c * H], norm(starts[0][c]));
        assert.equal(sample[c * H + H - 1], norm(goals[0][c]));
      }
      assert.deepEqual([p.states[0], p.states[1]], starts[0]);
      assert.deepEqual([p.states[2 * H - 2], p.states[2 * H - 1]], goals[0]);
    });
  }
  it('checks shapes and options', async () => {
    assert.equal(planHorizon([4, 48]), 48);
    assert.throws(() => planHorizon([2, 48]), ShapeError);
    const base = {
      starts: [[1.5, 1.5] as const],
      goals: [[3.5, 3.5] as const],
      sampleShape: SHAPE,
      normalization: NORM,
    };
    await assert.rejects(plan(sampler(wild), { ...base, goals: [] }), UsageError);
    await assert.rejects(plan(sampler(wild), { ...base, rewardScale: -1 }), ConfigError);
    await assert.rejects(plan(sampler(wild), { ...base, conditioning: 'pinned' as never }), NotFoundError);
    await assert.rejects(
      plan(sampler(wild), { ...base, normalization: { mean: [0], std: [1] } }),
      ConfigError,
    );
  });
});

describe('plan: reward guidance', () => {
  it('the gradient is the VJP of −Σ‖s_t − g‖²: −2(s − g) on positions, 0 on actions', async () => {
    const random = new Random(4);
    const sample = random.normals(2 * 4 * H);
    const conditions = Float64Array.of(0, 0, 0.25, -0.5, 0, 0, -1, 0.75);
    const { logProb, grad } = await goalDistanceGradient(2, H, conditions)(sample, 500, 0);
    let reward = 0;
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 4; c++)
        for (let i = 0; i < H; i++) {
          const k = (4 * b + c) * H + i;
          const offset = c < 2 ? sample[k] - Math.fround(conditions[4 * b + 2 + c]) : 0;
          if (c < 2) reward -= offset * offset;
          assert.ok(Math.abs(grad[k] - -2 * offset) < 1e-5, `gradient at ${b},${c},${i}`);
        }
    assert.ok(Math.abs(logProb[0] - reward) < 1e-3 * Math.abs(reward));
  });
  it('pulls the planned states toward the goal', async () => {
    const task = {
      starts: [[1.5, 1.5] as const],
      goals: [[3.5, 3.5] as const],
      sampleShape: SHAPE,
      normalization: NORM,
    };
    const distance = async (rewardScale: number) => {
      const [p] = await plan(sampler(still, 'epsilon', 7), { ...task, rewardScale });
      let total = 0;
      for (let i = 0; i < H; i++) total += Math.hypot(p.states[2 * i] - 3.5, p.states[2 * i + 1] - 3.5);
      return total / H;
    };
    const [plain, guided] = [await distance(0), await distance(0.5)];
    assert.ok(guided < 0.8 * plain, `mean distance to the goal ${guided} guided vs ${plain} plain`);
  });
});

describe('plan: execution', () => {
  const open = new Maze2D(['......', '......', '......', '......', '......', '......']);
  const tasks = [
    { start: [0.5, 0.5] as const, goal: [4.5, 3.5] as const },
    { start: [5.2, 5.3] as const, goal: [1.5, 2.5] as const },
  ];
  const base = { maze: open, tasks, sampleShape: SHAPE, normalization: NORM, episodeSteps: 40 };
  it('closed loop: re-planning and steering to the next planned state reaches the goals', async () => {
    const episodes = await executePlans(sampler(oracle), { ...base, replanEvery: 4, execute: 'states' });
    for (const [b, e] of episodes.entries()) {
      assert.equal(e.success, true);
      // Each re-plan spreads the rest of the way over H − 1 steps, so the agent slows as it nears the goal.
      assert.ok(e.steps > H / 2 && e.steps < 40, `task ${b} took ${e.steps} steps`);
      assert.deepEqual([e.states[0], e.states[1]], [...tasks[b].start]);
      assert.deepEqual([e.firstPlan.states[0], e.firstPlan.states[1]], [...tasks[b].start]);
    }
  });
  it('a wall between start and goal stops the straight-line oracle', async () => {
    const [e] = await executePlans(sampler(oracle), {
      ...base,
      maze: mazeByName('umaze'),
      tasks: [{ start: [1.5, 1.5], goal: [1.5, 3.5] }],
      replanEvery: 4,
      execute: 'states',
    });
    assert.equal(e.success, false);
    assert.equal(e.steps, 40);
    for (let i = 0; i < e.states.length; i += 2) assert.ok(e.states[i + 1] < 2, 'crossed the wall');
  });
  it('open loop executes the planned actions (zero for the oracle: the agent stays)', async () => {
    const [e] = await executePlans(sampler(oracle), {
      ...base,
      tasks: [tasks[0]],
      replanEvery: 1000,
      execute: 'actions',
    });
    assert.equal(e.success, false);
    assert.ok(e.states.every((v) => v === 0.5));
  });
});
