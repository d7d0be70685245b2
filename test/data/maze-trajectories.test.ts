// The maze demonstrations and their windows: shapes [4, H], every channel scaled into [−1, 1] by the
// stored normaliser (inverting it gives back the raw steps), states always in free cells, consecutive
// steps obeying the maze's dynamics, the recorded actions clipped, and the registry entry.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDataset } from '../../src/data/dataset.js';
import {
  demonstration,
  mazeTrajectoryDataset,
  pathWaypoints,
  rangeNormalization,
  trajectoryWindows,
} from '../../src/data/maze-trajectories.js';
import { mazeByName } from '../../src/envs/maze2d.js';
import { UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const umaze = mazeByName('umaze');
const demo = demonstration(umaze, {
  steps: 3000,
  actionNoise: 0.3,
  gain: 4,
  maxDwell: 16,
  random: new Random(0),
});

describe('maze demonstrations', () => {
  it('follow the dynamics: s_{t+1} = step(s_t, a_t), actions in [−1, 1], states free', () => {
    for (let t = 0; t + 1 < demo.length; t++) {
      const [x, y, ax, ay] = demo.steps.subarray(4 * t, 4 * t + 4);
      assert.ok(umaze.isFree([x, y]));
      assert.ok(Math.abs(ax) <= 1 && Math.abs(ay) <= 1);
      assert.deepEqual(umaze.step([x, y], [ax, ay]), [demo.steps[4 * t + 4], demo.steps[4 * t + 5]]);
    }
  });
  it('move between goals: the agent visits every free cell', () => {
    const seen = new Set<string>();
    for (let t = 0; t < demo.length; t++)
      seen.add(String(umaze.cellOf([demo.steps[4 * t], demo.steps[4 * t + 1]])));
    assert.equal(seen.size, umaze.freeCells.length);
  });
  it('waypoints are the path cell centres, then the goal', () => {
    assert.deepEqual(pathWaypoints(umaze, [1.2, 1.3], [1.7, 3.4]), [
      [2.5, 1.5],
      [3.5, 1.5],
      [3.5, 2.5],
      [3.5, 3.5],
      [2.5, 3.5],
      [1.7, 3.4],
    ]);
  });
});

describe('maze trajectory windows', () => {
  it('are [4, H] windows in [−1, 1] that the normaliser maps back to the raw steps', () => {
    const norm = rangeNormalization(demo);
    const windows = trajectoryWindows(demo, 32, 5, norm);
    const count = Math.floor((demo.length - 32) / 5) + 1;
    assert.equal(windows.length, count * 4 * 32);
    assert.ok(windows.every((v) => v >= -1 - 1e-6 && v <= 1 + 1e-6));
    const n = 17;
    for (let c = 0; c < 4; c++)
      for (let i = 0; i < 32; i++) {
        const raw = demo.steps[4 * (n * 5 + i) + c];
        const back = windows[(n * 4 + c) * 32 + i] * norm.std[c] + norm.mean[c];
        assert.ok(Math.abs(back - raw) < 1e-5);
      }
  });
  it('the dataset carries its normaliser and is reproducible from its seed', async () => {
    const a = mazeTrajectoryDataset('umaze', { steps: 600, horizon: 48, stride: 4, seed: 5 });
    assert.deepEqual(a.shape, [4, 48]);
    assert.equal(a.size, Math.floor((600 - 48) / 4) + 1);
    assert.deepEqual(a.normalization.columns, ['x', 'y', 'action_x', 'action_y']);
    const b = await resolveDataset('maze2d-umaze', { steps: 600, horizon: 48, stride: 4, seed: 5 });
    assert.deepEqual(b.batch([3, 7]).x, a.batch([3, 7]).x);
    await assert.rejects(resolveDataset('maze2d-umaze', { horizn: 48 }), UsageError);
  });
});
