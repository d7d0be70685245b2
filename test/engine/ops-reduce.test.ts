// Reductions: known values, ONNX lowering vs the reference over several axes sets (opsets 17 and 18
// lower ReduceMax differently), VJPs vs finite differences, and max's routing of ties.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NDArray, Tensor } from '../../src/engine/graph.js';
import { Graph } from '../../src/engine/graph.js';
import { argmax, max, mean, min, sum } from '../../src/engine/ops/reduce.js';
import { backward } from '../../src/engine/autodiff.js';
import { constant } from '../../src/engine/ops/constant.js';
import { interpret } from '../../src/engine/runtime/interpret.js';
import { OrtNodeRuntime } from '../../src/engine/runtime/ort-node.js';
import { ndarray } from '../../src/engine/ndarray.js';
import { checkOpOnnx, checkVjp, randomArray } from './check.js';

type T = Record<string, Tensor>;
const x = randomArray([3, 4, 5], 1);
const axesCases: [number[] | undefined, boolean][] = [
  [undefined, false],
  [[1], false],
  [[0, 2], true],
  [[-1], true],
];

describe('reductions', () => {
  it('compute known values', () => {
    const a = ndarray([2, 3], 'float32', [1, 5, 2, 7, 0, 7]);
    const graph = new Graph();
    const t = graph.input('a', a);
    const [s, m, mn, me, am] = interpret(
      [sum(t, [1]), max(t, [0]), min(t), mean(t, [0], true), argmax(t, 1)],
      { a },
    );
    assert.deepEqual([...s.data], [8, 14]);
    assert.deepEqual([...m.data], [7, 5, 7]);
    assert.deepEqual([...mn.data], [0]);
    assert.deepEqual(me.shape, [1, 3]);
    assert.deepEqual([...me.data], [4, 2.5, 4.5]);
    assert.deepEqual([...am.data], [1, 0]);
    assert.equal(am.dtype, 'int64');
  });

  for (const [axes, keep] of axesCases) {
    it(`sum/max/mean/min over ${axes ? `[${axes}]` : 'all'} keepDims=${keep}: ONNX and VJP`, async () => {
      const fns: ((t: T) => Tensor)[] = [
        (t) => sum(t.x, axes, keep),
        (t) => max(t.x, axes, keep),
        (t) => mean(t.x, axes, keep),
        (t) => min(t.x, axes, keep),
      ];
      for (const fn of fns) {
        await checkOpOnnx(fn, { x });
        await checkVjp(fn, { x }, 1e-6, { maxElementwise: 60 });
      }
    });
  }

  it('lower ReduceMax with axes as an input at opset 18', async () => {
    await checkOpOnnx((t) => max(t.x, [1, 2], false), { x }, 1e-5, {
      runtime: new OrtNodeRuntime({ opset: 18 }),
    });
  });

  it('argmax lowers to ONNX', async () => {
    await checkOpOnnx((t) => [argmax(t.x, 1), argmax(t.x, -1, true)], { x });
  });

  it('max routes the cotangent to the argmax, splitting ties equally', () => {
    const a = ndarray([2, 3], 'float32', [1, 5, 5, 7, 0, 2]);
    const graph = new Graph();
    const t = graph.input('a', a);
    const [g] = backward([max(t, [1])], [constant(graph, [2, 3], [2])], [t]);
    assert.deepEqual([...interpret([g!], { a })[0].data], [0, 1, 1, 3, 0, 0]);
  });
});

export type { NDArray };
