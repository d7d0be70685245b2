import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EIGHT_GAUSSIANS_RADIUS,
  eightGaussiansMixture,
  gaussianMixtureDataset,
  sampleGaussianMixture,
  sampleToy2d,
  toy2dDataset,
  TOY2D_NAMES,
} from '../../src/data/toy2d.js';
import { ConfigError, NotFoundError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const N = 8000;

function column(x: Float32Array, dim: number, d: number): number[] {
  return Array.from({ length: x.length / dim }, (_, i) => x[i * dim + d]);
}

function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

function std(values: number[]): number {
  const m = mean(values);
  return Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / values.length);
}

function counts(labels: Int32Array, classes: number): number[] {
  const out = new Array<number>(classes).fill(0);
  for (const label of labels) out[label]++;
  return out;
}

test('every toy distribution is finite, unit-ish in scale and deterministic for a seed', () => {
  for (const name of TOY2D_NAMES) {
    const a = sampleToy2d(name, N, new Random(5));
    const b = sampleToy2d(name, N, new Random(5));
    assert.equal(a.x.length, 2 * N, name);
    assert.deepEqual(a.x, b.x, `${name} is deterministic`);
    assert.ok(a.x.every(Number.isFinite), name);
    for (let d = 0; d < 2; d++) {
      const values = column(a.x, 2, d);
      const s = std(values);
      assert.ok(s > 0.4 && s < 1.6, `${name} coordinate ${d} std ${s}`);
      assert.ok(Math.abs(mean(values)) < 0.4, `${name} coordinate ${d} mean ${mean(values)}`);
      assert.ok(Math.max(...values.map(Math.abs)) < 4, `${name} stays within [-4, 4]`);
    }
    const c = sampleToy2d(name, 10, new Random(6));
    assert.notDeepEqual(c.x, a.x.subarray(0, 20), `${name} depends on the seed`);
  }
});

test('8 Gaussians: eight equally likely clusters at radius 2 with the given std', () => {
  const { x, labels, numClasses } = sampleToy2d('8gaussians', N, new Random(1), { noise: 0.05 });
  assert.equal(numClasses, 8);
  const perCluster = counts(labels!, 8);
  for (const c of perCluster) assert.ok(Math.abs(c - N / 8) < 4 * Math.sqrt(N / 8), `cluster count ${c}`);
  for (let k = 0; k < 8; k++) {
    const members = [...labels!.keys()].filter((i) => labels![i] === k);
    const cx = mean(members.map((i) => x[2 * i]));
    const cy = mean(members.map((i) => x[2 * i + 1]));
    const angle = (2 * Math.PI * k) / 8;
    assert.ok(Math.abs(Math.hypot(cx, cy) - EIGHT_GAUSSIANS_RADIUS) < 0.01, `cluster ${k} radius`);
    assert.ok(Math.abs(cx - 2 * Math.cos(angle)) < 0.01 && Math.abs(cy - 2 * Math.sin(angle)) < 0.01);
    const spread = std(members.map((i) => x[2 * i]));
    assert.ok(Math.abs(spread - 0.05) < 0.006, `cluster ${k} std ${spread}`);
  }
});

test('moons: two balanced classes, each a half circle of radius 1 about its own centre', () => {
  const { x, labels } = sampleToy2d('moons', N, new Random(2), { noise: 0 });
  assert.deepEqual(counts(labels!, 2), [N / 2, N / 2]);
  for (let i = 0; i < N; i++) {
    // Undo the centring: moon 0 around (0, 0) above the axis, moon 1 around (1, 0.5) below it.
    const px = x[2 * i] + 0.5;
    const py = x[2 * i + 1] + 0.25;
    const [cx, cy] = labels![i] === 0 ? [0, 0] : [1, 0.5];
    assert.ok(Math.abs(Math.hypot(px - cx, py - cy) - 1) < 1e-5);
    assert.ok(labels![i] === 0 ? py >= -1e-6 : py <= 0.5 + 1e-6);
  }
});

test('circles: radii 2 and 1 by class; swiss roll reaches radius about 2', () => {
  const circles = sampleToy2d('circles', 2000, new Random(3), { noise: 0 });
  for (let i = 0; i < 2000; i++) {
    const r = Math.hypot(circles.x[2 * i], circles.x[2 * i + 1]);
    assert.ok(Math.abs(r - (circles.labels![i] === 0 ? 2 : 1)) < 1e-5);
  }
  const roll = sampleToy2d('swiss-roll', 2000, new Random(3), { noise: 0 });
  const radii = column(roll.x, 2, 0).map((v, i) => Math.hypot(v, roll.x[2 * i + 1]));
  assert.ok(Math.min(...radii) > (1.5 * Math.PI) / 7 - 1e-5);
  assert.ok(Math.max(...radii) < (4.5 * Math.PI) / 7 + 1e-5);
  assert.ok(Math.max(...radii) > 1.95);
});

test('checkerboard: only the eight squares with an even column+row sum are filled, evenly', () => {
  const { x } = sampleToy2d('checkerboard', N, new Random(4));
  const cells = new Array<number>(16).fill(0);
  for (let i = 0; i < N; i++) {
    const column = Math.floor(x[2 * i]) + 2;
    const row = Math.floor(x[2 * i + 1]) + 2;
    assert.ok(column >= 0 && column < 4 && row >= 0 && row < 4);
    assert.equal((column + row) % 2, 0);
    cells[row * 4 + column]++;
  }
  for (const c of cells.filter((n) => n > 0)) assert.ok(Math.abs(c - N / 8) < 4 * Math.sqrt(N / 8));
  assert.throws(() => sampleToy2d('checkerboard', 10, new Random(0), { noise: 0.1 }), UsageError);
});

test('pinwheel: five balanced arms whose mean angles are 72 degrees apart', () => {
  const { x, labels, numClasses } = sampleToy2d('pinwheel', N, new Random(5));
  assert.equal(numClasses, 5);
  assert.deepEqual(counts(labels!, 5), new Array(5).fill(N / 5));
  const angles = [0, 1, 2, 3, 4].map((k) => {
    const members = [...labels!.keys()].filter((i) => labels![i] === k);
    return Math.atan2(mean(members.map((i) => x[2 * i + 1])), mean(members.map((i) => x[2 * i])));
  });
  for (let k = 1; k < 5; k++) {
    const gap = (((angles[k] - angles[k - 1]) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
    assert.ok(Math.abs(gap - (2 * Math.PI) / 5) < 0.05, `gap ${gap}`);
  }
});

test('a general Gaussian mixture matches its weights, means and diagonal stds', () => {
  const spec = {
    weights: [1, 3],
    means: [
      [-2, 0, 1],
      [3, 1, -1],
    ],
    stds: [0.5, [0.1, 0.2, 0.3]],
  };
  const { x, labels, dim } = sampleGaussianMixture(N, new Random(6), spec);
  assert.equal(dim, 3);
  const perComponent = counts(labels!, 2);
  assert.ok(Math.abs(perComponent[1] / N - 0.75) < 0.02, `weight ${perComponent[1] / N}`);
  for (let k = 0; k < 2; k++) {
    const members = [...labels!.keys()].filter((i) => labels![i] === k);
    for (let d = 0; d < 3; d++) {
      const values = members.map((i) => x[i * 3 + d]);
      const wantStd =
        typeof spec.stds[k] === 'number' ? (spec.stds[k] as number) : (spec.stds[k] as number[])[d];
      assert.ok(Math.abs(mean(values) - spec.means[k][d]) < 0.03);
      assert.ok(Math.abs(std(values) / wantStd - 1) < 0.06, `component ${k} coordinate ${d}`);
    }
  }
  assert.throws(() => sampleGaussianMixture(5, new Random(0), { ...spec, stds: [0.5] }), ConfigError);
  assert.throws(() => sampleGaussianMixture(5, new Random(0), { ...spec, weights: [1, -1] }), /positive/);
  assert.throws(
    () => sampleGaussianMixture(5, new Random(0), { ...spec, stds: [0.5, [1, 2]] }),
    /one number ≥ 0 or 3 numbers/,
  );
  assert.equal(eightGaussiansMixture(0.2).means.length, 8);
});

test('toy datasets: shape, labels, registry options and errors', () => {
  const moons = toy2dDataset('moons', { size: 100, random: new Random(0) });
  assert.deepEqual(moons.shape, [2]);
  assert.equal(moons.numClasses, 2);
  assert.deepEqual(moons.classNames, ['upper moon', 'lower moon']);
  const roll = toy2dDataset('swiss-roll', { size: 10, random: new Random(0) });
  assert.equal(roll.numClasses, undefined);
  assert.equal(roll.batch([0, 1]).labels, undefined);
  const mixture = gaussianMixtureDataset({
    weights: [1],
    means: [[1, 2, 3, 4]],
    stds: [1],
    size: 50,
    seed: 2,
  });
  assert.deepEqual(mixture.shape, [4]);
  assert.equal(mixture.size, 50);
  assert.throws(() => toy2dDataset('spiral', { size: 10, random: new Random(0) }), NotFoundError);
  assert.throws(() => gaussianMixtureDataset({ weights: [1] }), /option 'means'/);
  assert.throws(() => sampleToy2d('moons', 0, new Random(0)), ConfigError);
});
