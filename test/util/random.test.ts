import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../src/util/random.js';
import { DiffusionError } from '../../src/util/errors.js';

test('same seed gives the same numbers; different seeds differ', () => {
  const a = new Random(42).normals(1000);
  const b = new Random(42).normals(1000);
  const c = new Random(43).normals(1000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(new Random(2 ** 40).normals(10), new Random(0).normals(10));
});

test('state snapshot resumes the exact sequence, including the spare normal', () => {
  const random = new Random(7);
  random.normal();
  const snapshot = JSON.parse(JSON.stringify(random.state()));
  const expected = [random.normal(), random.normal(), random.uniform()];
  const resumed = Random.fromState(snapshot);
  assert.deepEqual([resumed.normal(), resumed.normal(), resumed.uniform()], expected);
});

test('normal moments: mean 0, variance 1, skewness 0, kurtosis 3', () => {
  const n = 1_000_000;
  const x = new Random(1).fillNormal(new Float64Array(n));
  let m1 = 0,
    m2 = 0,
    m3 = 0,
    m4 = 0;
  for (const v of x) {
    m1 += v;
    m2 += v * v;
    m3 += v * v * v;
    m4 += v * v * v * v;
  }
  m1 /= n;
  m2 /= n;
  m3 /= n;
  m4 /= n;
  // Standard errors at n = 1e6: mean 0.001, var 0.0014, skew 0.0024, kurt 0.005; allow ~5 sigma.
  assert.ok(Math.abs(m1) < 0.005, `mean ${m1}`);
  assert.ok(Math.abs(m2 - 1) < 0.007, `variance ${m2}`);
  assert.ok(Math.abs(m3) < 0.012, `third moment ${m3}`);
  assert.ok(Math.abs(m4 - 3) < 0.025, `fourth moment ${m4}`);
  // Tail mass beyond 2 sigma is 4.55%.
  const tail = x.filter((v) => Math.abs(v) > 2).length / n;
  assert.ok(Math.abs(tail - 0.0455) < 0.001, `tail ${tail}`);
});

test('uniform is flat over ten bins (chi-squared) and ints are unbiased', () => {
  const random = new Random(3);
  const bins = new Array(10).fill(0);
  const n = 200_000;
  for (let i = 0; i < n; i++) bins[Math.floor(random.uniform() * 10)]++;
  const chi2 = bins.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2} (p=0.001 critical value 27.9 for 9 dof)`);
  const counts = new Array(3).fill(0);
  for (let i = 0; i < 30_000; i++) counts[random.int(3)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500);
});

test('streams split from one seed are independent (no correlation) and reproducible', () => {
  const parent = new Random(99);
  const a = parent.split();
  const b = parent.split();
  const n = 100_000;
  const x = a.fillNormal(new Float64Array(n));
  const y = b.fillNormal(new Float64Array(n));
  let xy = 0;
  for (let i = 0; i < n; i++) xy += x[i] * y[i];
  const correlation = xy / n;
  assert.ok(Math.abs(correlation) < 0.02, `correlation ${correlation} (5 sigma = 0.016)`);
  // Lagged correlation with the parent stream as well.
  const z = parent.fillNormal(new Float64Array(n));
  let xz = 0;
  for (let i = 0; i < n; i++) xz += x[i] * z[i];
  assert.ok(Math.abs(xz / n) < 0.02);
  const again = new Random(99).split();
  assert.equal(again.normal(), new Random(99).split().normal());
});

test('permutation is a permutation and is uniform in its first element', () => {
  const random = new Random(5);
  const p = random.permutation(100);
  assert.deepEqual(
    [...p].sort((u, v) => u - v),
    Array.from({ length: 100 }, (_, i) => i),
  );
  const first = new Array(4).fill(0);
  for (let i = 0; i < 8000; i++) first[random.permutation(4)[0]]++;
  for (const c of first) assert.ok(Math.abs(c - 2000) < 200);
});

test('draws millions of normals per second', () => {
  const random = new Random(0);
  const out = new Float32Array(2_000_000);
  const start = performance.now();
  random.fillNormal(out);
  const seconds = (performance.now() - start) / 1000;
  // Generous bound so a loaded machine passes; the point is "millions per second", not a benchmark.
  assert.ok(out.length / seconds > 1e6, `${(out.length / seconds / 1e6).toFixed(1)} M normals/s`);
});

test('bad seeds and states are typed errors', () => {
  assert.throws(() => new Random(1.5), DiffusionError);
  assert.throws(() => Random.fromState({ words: [1, 2] } as never), DiffusionError);
  assert.throws(() => new Random(1).int(0), DiffusionError);
});
