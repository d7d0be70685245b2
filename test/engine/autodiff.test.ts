// Autodiff: fan-out accumulation, parameter trees, pullbacks of tree outputs, second derivatives,
// a Hutchinson trace estimator built from VJPs only, and the errors of the transformations.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NDArray, OpDef, Tensor } from '../../src/engine/graph.js';
import { Graph, apply1 } from '../../src/engine/graph.js';
import { backward, grad, valueAndGrad, valueAndGradWithAux, vjp } from '../../src/engine/autodiff.js';
import { add, cast, exp, mul, sin, tanh } from '../../src/engine/ops/elementwise.js';
import { argmax, mean, sum } from '../../src/engine/ops/reduce.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { constant } from '../../src/engine/ops/constant.js';
import { linear } from '../../src/engine/ops/composite.js';
import { broadcastTo, transpose } from '../../src/engine/ops/shape.js';
import { interpret } from '../../src/engine/runtime/interpret.js';
import { trace } from '../../src/engine/trace.js';
import { ndarray } from '../../src/engine/ndarray.js';
import { Random } from '../../src/util/random.js';
import { ShapeError } from '../../src/util/errors.js';
import { checkVjp, randomArray } from './check.js';

type T = Record<string, Tensor>;

describe('reverse sweep', () => {
  it('accumulates cotangents over fan-out: d/dx (x·x + x) = 2x + 1', () => {
    const x = ndarray([3], 'float32', [1, -2, 0.5]);
    const graph = new Graph();
    const tx = graph.input('x', x);
    const [g] = backward([sum(add(mul(tx, tx), tx))], [constant(graph, 1)], [tx]);
    assert.deepEqual([...interpret([g!], { x })[0].data], [3, -3, 2]);
  });

  it('differentiates a parameter tree and leaves unconnected and integer inputs alone', () => {
    const types = {
      params: {
        layer: {
          w: { shape: [2, 3], dtype: 'float32' as const },
          b: { shape: [2], dtype: 'float32' as const },
        },
        unused: { shape: [4], dtype: 'float32' as const },
      },
      x: { shape: [5, 3], dtype: 'float32' as const },
    };
    const traced = trace(({ params, x }) => {
      const loss = (p: typeof params) => mean(tanh(linear(x, p.layer.w, p.layer.b)));
      return valueAndGrad(loss)(params);
    }, types);
    const out = traced.outputs as unknown as {
      value: Tensor;
      grad: { layer: { w: Tensor; b: Tensor }; unused: Tensor };
    };
    assert.deepEqual(out.grad.layer.w.shape, [2, 3]);
    assert.deepEqual(out.grad.unused.shape, [4]);
    const values = {
      'params.layer.w': randomArray([2, 3], 1),
      'params.layer.b': randomArray([2], 2),
      'params.unused': randomArray([4], 3),
      x: randomArray([5, 3], 4),
    };
    const [unused] = interpret([out.grad.unused], values);
    assert.deepEqual([...unused.data], [0, 0, 0, 0]);
    assert.deepEqual(
      traced.outputList.map((o) => o.name),
      ['value', 'grad.layer.w', 'grad.layer.b', 'grad.unused'],
    );
  });

  it('matches finite differences through a small network', async () => {
    const inputs = { x: randomArray([4, 3], 1), w1: randomArray([5, 3], 2), w2: randomArray([2, 5], 3) };
    await checkVjp(
      (t) => sum(mul(linear(tanh(linear(t.x, t.w1)), t.w2), exp(mul(sum(t.x, [1], true), 0.1))), [1]),
      inputs,
      1e-6,
      { onnxTol: 1e-5 },
    );
  });

  it('takes second derivatives (the VJPs are themselves differentiable)', async () => {
    // d/dx [d/dx Σ x³ sin x] = 6x sin x + 6x² cos x − x³ sin x... checked against finite differences of the gradient.
    const f = (x: Tensor) => sum(mul(mul(mul(x, x), x), sin(x)));
    await checkVjp((t) => grad(f)(t.x), { x: randomArray([6], 5) });
    await checkVjp(
      (t) => grad((p: Tensor) => sum(tanh(matmul(t.a, p))))(t.b),
      { a: randomArray([3, 4], 6), b: randomArray([4, 2], 7) },
      1e-6,
      { wrt: ['a', 'b'] },
    );
  });

  it('pulls back tree-valued outputs with null cotangents', () => {
    const x = randomArray([3], 8);
    const graph = new Graph();
    const tx = graph.input('x', x);
    const { outputs, pullback } = vjp((v: Tensor) => ({ a: exp(v), b: { c: mul(v, 3) } }), tx);
    assert.deepEqual(outputs.a.shape, [3]);
    const gx = pullback({ a: null, b: { c: constant(graph, [1, 2, 3], [3]) } });
    assert.deepEqual([...interpret([gx], { x })[0].data], [3, 6, 9]);
  });
});

describe('Hutchinson trace estimator from VJPs only', () => {
  // f(x) = tanh(W x + b): J = diag(1 − f²) W, tr J = Σ_i (1 − f_i²) W_ii.
  const n = 5;
  const w = randomArray([n, n], 11);
  const b = randomArray([n], 12);
  const x = randomArray([n], 13);
  const y = x.data.map((_, i) =>
    Math.tanh(b.data[i] + x.data.reduce((s, xj, j) => s + w.data[i * n + j] * xj, 0)),
  );
  const exact = y.reduce((s, yi, i) => s + (1 - yi * yi) * w.data[i * n + i], 0);

  /** Mean over probe rows ε of εᵀ J ε, with εᵀJ from the pullback of f at each row of x. */
  function estimate(probes: NDArray): number {
    const k = probes.shape[0];
    const traced = trace(
      ({ x, w, b, e }: T) => {
        const xs = broadcastTo(x, [k, n]);
        const { pullback } = vjp((v: Tensor) => tanh(add(matmul(v, transpose(w)), b)), xs);
        return mean(sum(mul(pullback(e), e), [1]));
      },
      { x: x, w, b, e: probes },
    );
    return interpret([traced.outputs], { x, w, b, e: probes })[0].data[0];
  }

  it('is exact with the basis vectors as probes (times n)', () => {
    const eye = ndarray(
      [n, n],
      'float32',
      Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)),
    );
    assert.ok(Math.abs(estimate(eye) * n - exact) < 1e-12);
  });

  it('is unbiased with Rademacher probes (within 4 standard errors)', () => {
    const rng = new Random(3);
    const k = 4000;
    const probes = ndarray(
      [k, n],
      'float32',
      Array.from({ length: k * n }, () => (rng.uniform() < 0.5 ? -1 : 1)),
    );
    // Var εᵀJε = 2 Σ_{i≠j} ((J_ij + J_ji)/2)² for Rademacher ε.
    const J = (i: number, j: number) => (1 - y[i] ** 2) * w.data[i * n + j];
    let variance = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) if (i !== j) variance += 2 * ((J(i, j) + J(j, i)) / 2) ** 2;
    assert.ok(Math.abs(estimate(probes) - exact) < 4 * Math.sqrt(variance / k));
  });
});

describe('autodiff errors and helpers', () => {
  it('grad needs a scalar float function', () => {
    const graph = new Graph();
    const x = graph.input('x', { shape: [3], dtype: 'float32' });
    assert.throws(
      () => grad((v: Tensor) => exp(v))(x),
      (e: unknown) => e instanceof ShapeError && /one float32 scalar/.test(e.message),
    );
  });

  it('an op without a VJP on the gradient path is named', () => {
    const opaque: OpDef<null> = {
      name: 'opaque',
      infer: ([t]) => [t],
      evaluate: ([t]) => [t],
      lower: (onnx, [t]) => onnx.node('Identity', [t]),
    };
    const graph = new Graph();
    const x = graph.input('x', { shape: [3], dtype: 'float32' });
    assert.throws(
      () => grad((v: Tensor) => sum(apply1(opaque, [v], null)))(x),
      /op 'opaque' is not differentiable/,
    );
  });

  it('integer paths carry no gradient; aux outputs pass through', () => {
    const x = randomArray([2, 3], 9);
    const graph = new Graph();
    const tx = graph.input('x', x);
    const {
      value,
      grad: g,
      aux,
    } = valueAndGradWithAux((v: Tensor) => {
      const label = cast(argmax(v, 1), 'float32');
      return [sum(mul(v, 2)), { label }] as const;
    })(tx);
    const [vg, va] = interpret([g, aux.label], { x });
    assert.deepEqual([...vg.data], [2, 2, 2, 2, 2, 2]);
    assert.equal(va.shape[0], 2);
    assert.equal(value.rank, 0);
  });
});
