// Elementwise ops: known values, ONNX lowering vs the reference interpreter over several shapes
// (broadcasting included), every VJP against finite differences, and the shape/dtype errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NDArray, Tensor } from '../../src/engine/graph.js';
import { Graph } from '../../src/engine/graph.js';
import * as E from '../../src/engine/ops/elementwise.js';
import { constant } from '../../src/engine/ops/constant.js';
import { interpret } from '../../src/engine/runtime/interpret.js';
import { ndarray } from '../../src/engine/ndarray.js';
import { ShapeError } from '../../src/util/errors.js';
import { checkOpOnnx, checkVjp, randomArray, uniformArray } from './check.js';

type T = Record<string, Tensor>;
const shapes: [number[], number[]][] = [
  [
    [2, 3],
    [2, 3],
  ],
  [
    [4, 1, 3],
    [5, 1],
  ],
  [[3], []],
  [
    [2, 1, 4],
    [1, 3, 1],
  ],
];

const unary: [string, (x: Tensor) => Tensor, 'any' | 'positive'][] = [
  ['neg', E.neg, 'any'],
  ['exp', E.exp, 'any'],
  ['log', E.log, 'positive'],
  ['sqrt', E.sqrt, 'positive'],
  ['tanh', E.tanh, 'any'],
  ['sigmoid', E.sigmoid, 'any'],
  ['sin', E.sin, 'any'],
  ['cos', E.cos, 'any'],
  ['abs', E.abs, 'any'],
  ['erf', E.erf, 'any'],
  ['relu', E.relu, 'any'],
];

const binary: [string, (a: Tensor, b: Tensor) => Tensor][] = [
  ['add', E.add],
  ['sub', E.sub],
  ['mul', E.mul],
  ['div', E.div],
  ['maximum', E.maximum],
  ['minimum', E.minimum],
];

const input = (shape: number[], seed: number, domain: 'any' | 'positive' = 'any'): NDArray =>
  domain === 'positive' ? uniformArray(shape, seed, 0.2, 3) : randomArray(shape, seed);

function evaluate(values: Record<string, NDArray>, build: (t: T) => Tensor): NDArray {
  const graph = new Graph();
  const t = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, graph.input(k, v)]));
  return interpret([build(t)], values)[0];
}

describe('elementwise reference kernels', () => {
  it('compute known values', () => {
    const x = ndarray([4], 'float32', [-1, 0, 0.5, 2]);
    const close = (build: (t: T) => Tensor, expected: number[]) => {
      const y = evaluate({ x }, build).data;
      expected.forEach((e, i) => assert.ok(Math.abs(y[i] - e) < 1e-15, `${y[i]} vs ${e}`));
    };
    close((t) => E.erf(t.x), [-0.8427007929497149, 0, 0.5204998778130465, 0.9953222650189527]);
    close((t) => E.sigmoid(t.x), [1 / (1 + Math.E), 0.5, 1 / (1 + Math.exp(-0.5)), 1 / (1 + Math.exp(-2))]);
    close((t) => E.pow(t.x, 2), [1, 0, 0.25, 4]);
    close((t) => E.cast(E.greater(t.x, 0), 'float32'), [0, 0, 1, 1]);
    close((t) => E.where(E.less(t.x, 0.5), t.x, 10), [-1, 0, 10, 10]);
    close((t) => E.cast(E.cast(t.x, 'int64'), 'float32'), [-1, 0, 0, 2]);
  });

  it('erf is accurate far into the tails', () => {
    const x = ndarray([3], 'float32', [3, -4.5, 7]);
    const y = evaluate({ x }, (t) => E.erf(t.x)).data;
    assert.ok(Math.abs(y[0] - 0.9999779095030014) < 1e-15);
    assert.ok(Math.abs(y[1] + 0.9999999998033839) < 1e-15);
    assert.equal(y[2], 1);
  });
});

describe('elementwise ONNX lowering matches the reference', () => {
  for (const [name, fn, domain] of unary) {
    it(name, async () => {
      for (const [i, [shape]] of shapes.entries())
        await checkOpOnnx((t) => fn(t.x), { x: input(shape, i, domain) });
    });
  }
  for (const [name, fn] of binary) {
    it(`${name} with broadcasting`, async () => {
      for (const [i, [a, b]] of shapes.entries()) {
        await checkOpOnnx((t) => fn(t.a, t.b), {
          a: input(a, i),
          b: input(b, 10 + i, name === 'div' ? 'positive' : 'any'),
        });
      }
    });
  }
  it('pow, comparisons, where, cast, scalar operands', async () => {
    const a = uniformArray([4, 1, 3], 1, 0.5, 2);
    const b = randomArray([5, 1], 2);
    await checkOpOnnx((t) => E.pow(t.a, t.b), { a, b });
    for (const cmp of [E.equal, E.less, E.greater, E.lessEqual, E.greaterEqual]) {
      await checkOpOnnx((t) => cmp(t.a, t.b), { a, b });
    }
    await checkOpOnnx((t) => E.equal(t.a, t.a), { a });
    await checkOpOnnx((t) => E.where(E.greater(t.a, 1), t.a, t.b), { a, b });
    await checkOpOnnx((t) => [E.cast(E.mul(t.b, 3), 'int64'), E.cast(E.less(t.b, 0), 'float32')], { b });
    await checkOpOnnx((t) => E.add(E.mul(2, t.a), E.div(t.a, 4)), { a });
    await checkOpOnnx((t) => E.stopGradient(E.sub(1, t.a)), { a });
  });
});

describe('elementwise VJPs match finite differences', () => {
  for (const [name, fn, domain] of unary) {
    it(name, async () => {
      for (const [i, [shape]] of shapes.entries())
        await checkVjp((t) => fn(t.x), { x: input(shape, i, domain) });
    });
  }
  for (const [name, fn] of binary) {
    it(`${name} with broadcasting`, async () => {
      for (const [i, [a, b]] of shapes.entries()) {
        await checkVjp((t) => fn(t.a, t.b), {
          a: input(a, i),
          b: input(b, 10 + i, name === 'div' ? 'positive' : 'any'),
        });
      }
    });
  }
  it('pow in both operands, where, cast, and gradients through scalar constants', async () => {
    const a = uniformArray([4, 1, 3], 1, 0.5, 2);
    const b = randomArray([5, 1], 2);
    await checkVjp((t) => E.pow(t.a, t.b), { a, b });
    await checkVjp((t) => E.pow(t.a, 3), { a });
    await checkVjp((t) => E.where(E.greater(t.a, 1), E.mul(t.a, t.b), E.exp(t.b)), { a, b });
    await checkVjp((t) => E.cast(E.mul(t.a, 2), 'float32'), { a });
  });
  it('maximum splits the gradient on ties as PyTorch does', async () => {
    const a = ndarray([3], 'float32', [1, 2, 3]);
    const b = ndarray([3], 'float32', [0, 2, 5]);
    const graph = new Graph();
    const ta = graph.input('a', a);
    const tb = graph.input('b', b);
    const { backward } = await import('../../src/engine/autodiff.js');
    const [ga, gb] = backward([E.maximum(ta, tb)], [constant(graph, [1, 1, 1], [3])], [ta, tb]);
    const [va, vb] = interpret([ga!, gb!], { a, b });
    assert.deepEqual([...va.data], [1, 0.5, 0]);
    assert.deepEqual([...vb.data], [0, 0.5, 1]);
  });
  it('stopGradient blocks the gradient', async () => {
    const a = randomArray([3], 3);
    const error = await checkVjp(
      (t) => E.add(E.mul(t.a, t.a), E.stopGradient(E.exp(t.a))),
      { a },
      1e-6,
      {},
    ).catch((e) => e);
    assert.ok(error instanceof Error, 'a stopped gradient must differ from finite differences');
  });
});

describe('elementwise errors', () => {
  it('names both shapes when they do not broadcast', () => {
    const graph = new Graph();
    const a = graph.input('a', { shape: [2, 3], dtype: 'float32' });
    const b = graph.input('b', { shape: [4], dtype: 'float32' });
    assert.throws(
      () => E.add(a, b),
      (e: unknown) => e instanceof ShapeError && /'add'.*float32\[2, 3\] and float32\[4\]/.test(e.message),
    );
  });
  it('rejects mixed dtypes and non-float transcendental inputs', () => {
    const graph = new Graph();
    const a = graph.input('a', { shape: [2], dtype: 'float32' });
    const i = graph.input('i', { shape: [2], dtype: 'int64' });
    assert.throws(() => E.mul(a, i), /different dtypes/);
    assert.throws(() => E.exp(i), /float32/);
    assert.throws(() => E.where(a, a, a), /condition must be bool/);
    assert.throws(() => E.add(1 as never, 2 as never), /needs at least one tensor/);
  });
});
