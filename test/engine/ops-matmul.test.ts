// Matmul and the composites (linear, activations, mse): known values, ONNX lowering vs the reference
// with batch broadcasting and vector promotion, VJPs vs finite differences.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/graph.js';
import { Graph } from '../../src/engine/graph.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { gelu, linear, mse, relu, silu } from '../../src/engine/ops/composite.js';
import { interpret } from '../../src/engine/runtime/interpret.js';
import { ndarray } from '../../src/engine/ndarray.js';
import { ShapeError } from '../../src/util/errors.js';
import { checkOpOnnx, checkVjp, randomArray } from './check.js';

type T = Record<string, Tensor>;

const matmulCases: [string, number[], number[]][] = [
  ['matrix', [3, 4], [4, 2]],
  ['batched', [2, 3, 4], [2, 4, 5]],
  ['broadcast batch', [2, 1, 3, 4], [5, 4, 2]],
  ['vector · matrix', [4], [3, 4, 2]],
  ['matrix · vector', [2, 3, 4], [4]],
  ['vector · vector', [4], [4]],
];

describe('matmul', () => {
  it('computes a known product', () => {
    const a = ndarray([2, 2], 'float32', [1, 2, 3, 4]);
    const b = ndarray([2, 1], 'float32', [5, 6]);
    const graph = new Graph();
    const [c] = interpret([matmul(graph.input('a', a), graph.input('b', b))], { a, b });
    assert.deepEqual([...c.data], [17, 39]);
  });
  for (const [name, sa, sb] of matmulCases) {
    it(`${name}: ONNX and VJP`, async () => {
      const inputs = { a: randomArray(sa, 1), b: randomArray(sb, 2) };
      await checkOpOnnx((t) => matmul(t.a, t.b), inputs);
      await checkVjp((t) => matmul(t.a, t.b), inputs, 1e-6, { onnxTol: 1e-5 });
    });
  }
  it('names both shapes on a mismatch', () => {
    const graph = new Graph();
    const a = graph.input('a', { shape: [2, 3], dtype: 'float32' });
    assert.throws(
      () => matmul(a, a),
      (e: unknown) => e instanceof ShapeError && /\[2, 3\] and float32\[2, 3\]/.test(e.message),
    );
  });
});

describe('composites', () => {
  const x = randomArray([3, 5], 3, 'float32', 2);
  const fns: [string, (t: T) => Tensor][] = [
    ['relu', (t) => relu(t.x)],
    ['silu', (t) => silu(t.x)],
    ['gelu exact', (t) => gelu(t.x)],
    ['gelu tanh', (t) => gelu(t.x, 'tanh')],
  ];
  for (const [name, fn] of fns) {
    it(`${name}: ONNX and VJP`, async () => {
      await checkOpOnnx(fn, { x });
      await checkVjp(fn, { x });
    });
  }
  it('gelu matches PyTorch values', () => {
    const v = ndarray([3], 'float32', [-1, 0.5, 2]);
    const graph = new Graph();
    const t = graph.input('v', v);
    const [exact, approx] = interpret([gelu(t), gelu(t, 'tanh')], { v });
    // The defining formulas in float64 (Python math.erf / math.tanh), which PyTorch gelu follows.
    [-0.15865525393145707, 0.34573123063700656, 1.9544997361036416].forEach((e, i) =>
      assert.ok(Math.abs(exact.data[i] - e) < 1e-14),
    );
    [-0.15880800939172324, 0.34571400982514394, 1.954597694087775].forEach((e, i) =>
      assert.ok(Math.abs(approx.data[i] - e) < 1e-14),
    );
  });
  it('linear uses the [out, in] weight layout; mse is the mean square', async () => {
    const inputs = {
      x: randomArray([4, 3], 4),
      w: randomArray([2, 3], 5),
      b: randomArray([2], 6),
      y: randomArray([4, 2], 7),
    };
    const fn = (t: T) => mse(linear(t.x, t.w, t.b), t.y);
    await checkOpOnnx(fn, inputs);
    await checkVjp(fn, inputs);
    const graph = new Graph();
    const t = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, graph.input(k, v)]));
    const [loss] = interpret([fn(t)], inputs);
    let expected = 0;
    for (let i = 0; i < 4; i++) {
      for (let o = 0; o < 2; o++) {
        let y = inputs.b.data[o];
        for (let k = 0; k < 3; k++) y += inputs.x.data[i * 3 + k] * inputs.w.data[o * 3 + k];
        expected += (y - inputs.y.data[i * 2 + o]) ** 2 / 8;
      }
    }
    assert.ok(Math.abs(loss.data[0] - expected) < 1e-12);
  });
});
