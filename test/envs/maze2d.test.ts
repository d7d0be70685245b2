// The 2-D maze's physics and helpers: free moves are exactly s + clip(a, −1, 1)·dt, a move into a wall is
// stopped on the blocked axis (sliding on the other), success is the goal radius, the breadth-first cell
// path is the shortest one around the U-maze's inner wall, sampling stays in free cells, and the maps are
// validated with typed errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Maze2D, mazeByName, randomPolicy, runEpisode, straightLinePolicy } from '../../src/envs/maze2d.js';
import { ConfigError, NotFoundError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const umaze = mazeByName('umaze');

describe('maze2d physics', () => {
  it('free moves move exactly by clip(a, −1, 1)·dt', () => {
    assert.deepEqual(umaze.step([1.5, 1.5], [0.5, -0.25]), [1.5 + 0.5 * 0.25, 1.5 - 0.25 * 0.25]);
    assert.deepEqual(umaze.step([2.5, 1.5], [3, -7]), [2.75, 1.25]);
    const maze = new Maze2D(['...', '...', '...'], { dt: 0.1 });
    assert.deepEqual(maze.step([1.5, 1.5], [0.3, 0.7]), [1.5 + 0.3 * 0.1, 1.5 + 0.7 * 0.1]);
  });
  it('a step into a wall is stopped on the blocked axis and slides on the other', () => {
    // Row 2 of the U-maze is wall except column 3; (1.5, 1.9) moving down would enter it.
    assert.deepEqual(umaze.step([1.5, 1.9], [0, 1]), [1.5, 1.9]);
    assert.deepEqual(umaze.step([1.5, 1.9], [1, 1]), [1.75, 1.9]);
    // The outer wall at x < 1.
    assert.deepEqual(umaze.step([1.1, 1.5], [-1, 0.5]), [1.1, 1.625]);
    // Through the gap in column 3 the same downward move goes on.
    assert.deepEqual(umaze.step([3.5, 1.9], [0, 1]), [3.5, 2.15]);
  });
  it('no sequence of actions leaves the free cells', () => {
    const random = new Random(3);
    let state: [number, number] = [1.5, 1.5];
    for (let t = 0; t < 5000; t++) {
      state = umaze.step(state, [4 * random.uniform() - 2, 4 * random.uniform() - 2]);
      assert.ok(umaze.isFree(state), `left the free cells at ${state}`);
    }
  });
  it('success is being within the goal radius', () => {
    assert.equal(umaze.reached([1.5, 1.5], [1.5, 1.99]), true);
    assert.equal(umaze.reached([1.5, 1.5], [1.5, 2.01]), false);
  });
  it('is deterministic: the same actions give the same path', () => {
    const run = () => runEpisode(umaze, [1.2, 3.4], [3.5, 1.5], randomPolicy(new Random(9)), 40).states;
    assert.deepEqual(run(), run());
  });
});

describe('maze2d helpers', () => {
  it('the cell path goes around the inner wall', () => {
    const path = umaze.cellPath([1, 1], [3, 1]);
    assert.deepEqual(path, [
      [1, 1],
      [1, 2],
      [1, 3],
      [2, 3],
      [3, 3],
      [3, 2],
      [3, 1],
    ]);
  });
  it('random tasks lie in two different free cells', () => {
    const random = new Random(1);
    for (let i = 0; i < 200; i++) {
      const { start, goal } = umaze.randomTask(random);
      assert.ok(umaze.isFree(start) && umaze.isFree(goal));
      assert.notDeepEqual(umaze.cellOf(start), umaze.cellOf(goal));
    }
  });
  it('the straight line reaches a visible goal and is stopped by the inner wall', () => {
    const visible = runEpisode(umaze, [1.5, 1.5], [3.5, 1.5], straightLinePolicy(umaze), 20);
    assert.equal(visible.success, true);
    assert.equal(visible.steps, 6); // 2 cells at 0.25 per step: 0.5 left (the radius) after 6 steps
    const blocked = runEpisode(umaze, [1.5, 1.5], [1.5, 3.5], straightLinePolicy(umaze), 200);
    assert.equal(blocked.success, false);
  });
  it('rejects bad maps and names', () => {
    assert.throws(() => new Maze2D(['..', '...']), ConfigError);
    assert.throws(() => new Maze2D(['.x']), ConfigError);
    assert.throws(() => new Maze2D(['##']), ConfigError);
    assert.throws(() => new Maze2D(['#.#']), ConfigError);
    assert.throws(() => new Maze2D(['..'], { dt: 1.5 }), ConfigError);
    assert.throws(() => mazeByName('large'), NotFoundError);
  });
});
