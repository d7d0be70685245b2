// Shape ops: known layouts, ONNX lowering vs the reference interpreter, VJPs vs finite differences,
// and shape errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NDArray, Tensor } from '../../src/engine/graph.js';
import { Graph } from '../../src/engine/graph.js';
import * as S from '../../src/engine/ops/shape.js';
import { mul } from '../../src/engine/ops/elementwise.js';
import { interpret } from '../../src/engine/runtime/interpret.js';
import { ndarray } from '../../src/engine/ndarray.js';
import { ShapeError } from '../../src/util/errors.js';
import { checkOpOnnx, checkVjp, randomArray } from './check.js';

type T = Record<string, Tensor>;
const iota = (shape: number[]) =>
  ndarray(
    shape,
    'float32',
    Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i),
  );
const ints = (shape: number[], values: number[]) => ndarray(shape, 'int64', values);

function evaluate(values: Record<string, NDArray>, build: (t: T) => Tensor): NDArray {
  const graph = new Graph();
  const t = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, graph.input(k, v)]));
  return interpret([build(t)], values)[0];
}

/** Each case: name, builder, inputs — checked for values-by-ONNX and for gradients. */
const cases: [string, (t: T) => Tensor, Record<string, NDArray>][] = [
  ['reshape with -1', (t) => S.reshape(t.x, [3, -1]), { x: randomArray([2, 3, 2], 1) }],
  ['transpose default', (t) => S.transpose(t.x), { x: randomArray([2, 3, 4], 2) }],
  ['transpose perm', (t) => S.transpose(t.x, [1, 2, 0]), { x: randomArray([2, 3, 4], 3) }],
  ['broadcastTo', (t) => S.broadcastTo(t.x, [2, 4, 3]), { x: randomArray([4, 1], 4) }],
  [
    'concat',
    (t) => S.concat([t.a, t.b, t.a], 1),
    { a: randomArray([2, 1, 3], 5), b: randomArray([2, 4, 3], 6) },
  ],
  ['slice step 1', (t) => S.slice(t.x, [1, 0], [3, -1], [0, 2]), { x: randomArray([4, 3, 5], 7) }],
  [
    'slice step 2 + negative index',
    (t) => S.slice(t.x, [-5], [100], [1], [2]),
    { x: randomArray([2, 6], 8) },
  ],
  ['slice step 3', (t) => S.slice(t.x, [1], [7], [0], [3]), { x: randomArray([8, 2], 8) }],
  ['slice negative step', (t) => S.slice(t.x, [4], [0], [0], [-2]), { x: randomArray([6, 2], 9) }],
  ['flip', (t) => S.flip(t.x, [0, 2]), { x: randomArray([3, 2, 4], 10) }],
  [
    'pad pairs',
    (t) =>
      S.pad(
        t.x,
        [
          [1, 0],
          [2, 3],
        ],
        0.5,
      ),
    { x: randomArray([2, 3], 11) },
  ],
  ['pad onnx order', (t) => S.pad(t.x, [0, 1, 0, 2, 0, 1], 0), { x: randomArray([2, 3, 2], 12) }],
  [
    'gather axis 0',
    (t) => S.gather(t.x, t.i, 0),
    { x: randomArray([5, 3], 13), i: ints([2, 2], [0, 4, -1, 0]) },
  ],
  ['gather axis 1', (t) => S.gather(t.x, t.i, 1), { x: randomArray([2, 4, 3], 14), i: ints([3], [3, 1, 3]) }],
  [
    'squeeze / unsqueeze',
    (t) => S.unsqueeze(S.squeeze(t.x, [1]), [0, -1]),
    { x: randomArray([3, 1, 2], 15) },
  ],
  ['sumToShape', (t) => S.sumToShape(t.x, [3, 1]), { x: randomArray([2, 3, 4], 16) }],
];

describe('shape ops compute the expected layouts', () => {
  it('transpose, slice, pad, gather, concat', () => {
    assert.deepEqual([...evaluate({ x: iota([2, 3]) }, (t) => S.transpose(t.x)).data], [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(
      [...evaluate({ x: iota([7]) }, (t) => S.slice(t.x, [-1], [-8], [0], [-3])).data],
      [6, 3, 0],
    );
    assert.deepEqual(
      [...evaluate({ x: iota([5]) }, (t) => S.slice(t.x, [1], [Infinity], [0], [2])).data],
      [1, 3],
    );
    assert.deepEqual([...evaluate({ x: iota([2]) }, (t) => S.pad(t.x, [[1, 2]], 9)).data], [9, 0, 1, 9, 9]);
    const g = evaluate({ x: iota([3, 2]), i: ints([2], [2, -3]) }, (t) => S.gather(t.x, t.i, 0));
    assert.deepEqual([...g.data], [4, 5, 0, 1]);
    const c = evaluate({ a: iota([2, 1]), b: iota([2, 2]) }, (t) => S.concat([t.a, t.b], 1));
    assert.deepEqual([...c.data], [0, 0, 1, 1, 2, 3]);
    assert.deepEqual([...evaluate({ x: iota([2, 3]) }, (t) => S.sumToShape(t.x, [3])).data], [3, 5, 7]);
  });
  it('an empty slice has size 0 and a zero gradient', async () => {
    const y = evaluate({ x: iota([4]) }, (t) => S.slice(t.x, [3], [1], [0]));
    assert.deepEqual(y.shape, [0]);
  });
});

describe('shape ops: ONNX lowering matches the reference', () => {
  for (const [name, fn, inputs] of cases) it(name, async () => void (await checkOpOnnx(fn, inputs)));
  it('int64 and bool tensors move too', async () => {
    const i = ints([2, 3], [1, 2, 3, 4, 5, 6]);
    await checkOpOnnx(
      (t) =>
        S.transpose(
          S.slice(
            S.pad(
              t.i,
              [
                [1, 0],
                [0, 1],
              ],
              7,
            ),
            [0],
            [2],
            [0],
          ),
        ),
      { i },
    );
  });
});

describe('shape ops: VJPs match finite differences', () => {
  for (const [name, fn, inputs] of cases) {
    it(name, async () => void (await checkVjp((t) => mul(fn(t), 1.5), inputs, 1e-6, { onnxTol: 1e-5 })));
  }
});

describe('shape errors', () => {
  const graph = new Graph();
  const x = graph.input('x', { shape: [2, 3], dtype: 'float32' });
  it('name the op and the shape', () => {
    assert.throws(
      () => S.reshape(x, [4, 2]),
      (e: unknown) => e instanceof ShapeError && /reshape.*\[2, 3\]/.test(e.message),
    );
    assert.throws(() => S.reshape(x, [-1, -1]), /at most one/);
    assert.throws(() => S.transpose(x, [0, 0]), /not a permutation/);
    assert.throws(() => S.broadcastTo(x, [3, 3]), /cannot broadcast/);
    assert.throws(() => S.concat([x, S.transpose(x)], 0), /shapes differ/);
    assert.throws(() => S.squeeze(x, [0]), /not 1/);
    assert.throws(() => S.pad(x, [1, 1], 0), /must be 4/);
    assert.throws(() => S.gather(x, x, 0), /int64/);
    assert.throws(() => S.slice(x, [0], [1], [5]), /out of range/);
  });
});
