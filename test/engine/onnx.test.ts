// ONNX emission and the runtimes: model headers (IR/opset, weights as inputs, dead code and duplicate
// constants removed), output names that clash with inputs, every opset 17–23 loading in onnxruntime,
// the same function on ort-node, ort-web and the reference runtime, retracing per input shape, and
// the typed errors at the runtime boundary.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { OpDef, Tensor } from '../../src/engine/graph.js';
import { apply1 } from '../../src/engine/graph.js';
import { add, exp, mul } from '../../src/engine/ops/elementwise.js';
import { max, sum } from '../../src/engine/ops/reduce.js';
import { pad, reshape, slice } from '../../src/engine/ops/shape.js';
import { gelu, linear } from '../../src/engine/ops/composite.js';
import { trace } from '../../src/engine/trace.js';
import { emitOnnx } from '../../src/engine/onnx/emit.js';
import { inspectOnnx } from '../../src/engine/onnx/inspect.js';
import { OrtNodeRuntime } from '../../src/engine/runtime/ort-node.js';
import { OrtWebRuntime } from '../../src/engine/runtime/ort-web.js';
import { ReferenceRuntime } from '../../src/engine/runtime/reference.js';
import type { CompiledFunction, Runtime } from '../../src/engine/runtime/types.js';
import {
  FormatError,
  NotFoundError,
  NumericError,
  ShapeError,
  UnavailableError,
  UsageError,
} from '../../src/util/errors.js';

const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
type T = Record<string, Tensor>;
const opened: CompiledFunction<unknown>[] = [];
after(async () => Promise.all(opened.map((c) => c.dispose())));
function keep<C extends CompiledFunction<unknown>>(c: C): C {
  opened.push(c);
  return c;
}

describe('emitted models', () => {
  const traced = trace(
    ({ w, x, unused }: T) => {
      void mul(unused, 2); // dead code: neither the node nor the input reaches the model
      const dead = exp(x);
      void dead;
      return { y: add(mul(linear(x, w), 0.5), 0.5), z: sum(mul(x, 0.5)) };
    },
    { w: f32([4, 3]), x: f32([2, 3]), unused: f32([7]) },
  );
  const model = emitOnnx(traced.inputList, traced.outputList);
  const summary = inspectOnnx(model.bytes);

  it('have the IR version and opset onnxruntime 1.30 expects', () => {
    assert.equal(summary.irVersion, 8);
    assert.deepEqual(summary.opsets, { '': 17 });
    assert.equal(summary.producer, 'diffusion-ts');
  });
  it('take weights as inputs and drop unused inputs and dead nodes', () => {
    assert.deepEqual(summary.inputs, [
      { name: 'w', dtype: 'float32', shape: [4, 3] },
      { name: 'x', dtype: 'float32', shape: [2, 3] },
    ]);
    assert.deepEqual(
      summary.outputs.map((o) => [o.name, o.shape]),
      [
        ['y', [2, 4]],
        ['z', []],
      ],
    );
    assert.equal(summary.nodeCounts.Exp, undefined);
    assert.equal(summary.nodeCounts.MatMul, 1);
  });
  it('share one initializer per distinct constant', () => {
    // 0.5 (three uses), and the transpose needs none: one float scalar plus nothing else but ReduceSum's axes.
    assert.equal(summary.initializerCount, 2);
    assert.ok(summary.initializerBytes < 64);
  });
  it('rename outputs that clash with inputs, and the runtime maps them back', async () => {
    const step = keep(new OrtNodeRuntime().compile(({ p }: T) => ({ p: mul(p, 2), q: p }), { p: f32([2]) }));
    const out = await step.run({ p: Float32Array.of(1, 2) });
    assert.deepEqual([...out.p.data], [2, 4]);
    assert.deepEqual([...out.q.data], [1, 2]);
    const t = trace(({ p }: T) => ({ p: mul(p, 2) }), { p: f32([2]) });
    assert.deepEqual(emitOnnx(t.inputList, t.outputList).outputNames, { p: 'p:out' });
  });
  it('inspection rejects bytes that are not a model', () => {
    assert.throws(() => inspectOnnx(Uint8Array.of(1, 2, 3, 255)), FormatError);
  });
});

describe('operator-set domains', () => {
  it('a lowering may emit a contrib op; its domain is imported at version 1', async () => {
    const contribGelu: OpDef<null> = {
      name: 'contribGelu',
      infer: ([x]) => [x],
      evaluate: () => {
        throw new Error('not needed here');
      },
      lower: (onnx, [x]) => onnx.node('Gelu', [x], {}, 1, 'com.microsoft'),
    };
    const fn = ({ x }: T) => ({ a: apply1(contribGelu, [x], null), b: gelu(x) });
    const t = trace(fn, { x: f32([4]) });
    assert.deepEqual(inspectOnnx(emitOnnx(t.inputList, t.outputList).bytes).opsets, {
      '': 17,
      'com.microsoft': 1,
    });
    const out = await keep(new OrtNodeRuntime().compile(fn, { x: f32([4]) })).run({
      x: Float32Array.of(-2, -0.5, 0.5, 3),
    });
    out.a.data.forEach((v, i) => assert.ok(Math.abs(Number(v) - Number(out.b.data[i])) < 1e-6));
  });
});

describe('opsets', () => {
  for (const opset of [17, 18, 19, 20, 21, 22, 23]) {
    it(`opset ${opset} loads and runs in onnxruntime`, async () => {
      const fn = ({ x }: T) =>
        max(
          pad(
            slice(reshape(x, [3, 2]), [1], [3], [0]),
            [
              [1, 0],
              [0, 1],
            ],
            -1,
          ),
          [1],
        );
      const c = keep(new OrtNodeRuntime({ opset }).compile(fn, { x: f32([6]) }));
      const out = await c.run({ x: Float32Array.of(0, 1, 2, 3, 4, 5) });
      assert.deepEqual([...out.data], [-1, 3, 5]);
    });
  }
  it('outside 17–23 is a usage error', () => {
    const t = trace(({ x }: T) => exp(x), { x: f32([1]) });
    assert.throws(() => emitOnnx(t.inputList, t.outputList, { opset: 13 }), UsageError);
  });
});

describe('runtimes agree', () => {
  const fn = ({ params, x }: { params: { w: Tensor; b: Tensor }; x: Tensor }) => ({
    y: exp(mul(linear(x, params.w, params.b), 0.1)),
  });
  const types = { params: { w: f32([3, 4]), b: f32([3]) }, x: f32([2, 4]) };
  const inputs = {
    params: {
      w: Float32Array.from({ length: 12 }, (_, i) => i / 12 - 0.4),
      b: Float32Array.of(0.1, -0.2, 0.3),
    },
    x: Float32Array.from({ length: 8 }, (_, i) => Math.sin(i)),
  };
  const runtimes: Runtime[] = [new ReferenceRuntime(), new OrtNodeRuntime(), new OrtWebRuntime()];
  it('ort-node, ort-web and the reference give the same numbers', async () => {
    const results: Float32Array[] = [];
    for (const rt of runtimes)
      results.push((await keep(rt.compile(fn, types)).run(inputs)).y.data as Float32Array);
    for (const r of results.slice(1))
      r.forEach((v, i) => assert.ok(Math.abs(v - results[0][i]) < 1e-6 * Math.abs(results[0][i]) + 1e-7));
  });
  it('flat dotted input names work as well as nested trees', async () => {
    const c = keep(new OrtNodeRuntime().compile(fn, types));
    const flat = { 'params.w': inputs.params.w, 'params.b': inputs.params.b, x: inputs.x };
    assert.deepEqual([...(await c.run(flat)).y.data], [...(await c.run(inputs)).y.data]);
  });
  it('retraces for new input shapes and caches the result', async () => {
    const c = keep(new OrtNodeRuntime().compile(({ x }: T) => sum(x, [1]), { x: f32([2, 3]) }));
    assert.deepEqual([...(await c.run({ x: Float32Array.of(1, 2, 3, 4, 5, 6) })).data], [6, 15]);
    const bigger = await c.run({
      x: { data: Float32Array.of(1, 1, 1, 1, 2, 2, 2, 2), shape: [2, 4], dtype: 'float32' },
    });
    assert.deepEqual([...bigger.data], [4, 8]);
    assert.deepEqual(bigger.shape, [2]);
  });
});

describe('frozen inputs', () => {
  const fn = ({ params, x }: { params: { w: Tensor }; x: Tensor }) => linear(x, params.w);
  const types = { params: { w: f32([2, 3]) }, x: f32([1, 3]) };
  const w = Float32Array.of(1, 2, 3, 4, 5, 6);
  it('become initializers: same numbers as fed weights, and run() no longer takes them', async () => {
    for (const rt of [new OrtNodeRuntime(), new OrtWebRuntime(), new ReferenceRuntime()]) {
      const c = keep(rt.compile(fn, types, { frozen: { params: { w } } }));
      assert.deepEqual(Object.keys(c.inputTypes), ['x']);
      assert.deepEqual([...(await c.run({ x: Float32Array.of(1, 0, -1) })).data], [-2, -2]);
      await assert.rejects(c.run({ x: Float32Array.of(1, 0, -1), params: { w } }), /'params.w' is frozen/);
    }
    const t = trace(fn, types);
    const summary = inspectOnnx(
      emitOnnx(t.inputList, t.outputList, { frozen: new Map([['params.w', { data: w, dtype: 'float32' }]]) })
        .bytes,
    );
    assert.deepEqual(
      summary.inputs.map((i) => i.name),
      ['x'],
    );
    assert.equal(summary.initializerBytes, 24); // the 2×3 float32 weight and nothing else
  });
  it('keep their shape while other inputs retrace', async () => {
    const c = keep(new OrtNodeRuntime().compile(fn, types, { frozen: { params: { w } } }));
    const out = await c.run({
      x: { data: Float32Array.of(1, 0, 0, 0, 1, 0), shape: [2, 3], dtype: 'float32' },
    });
    assert.deepEqual([...out.data], [1, 4, 2, 5]);
    assert.throws(
      () => new OrtNodeRuntime().compile(fn, types, { frozen: { params: { w: Float32Array.of(1) } } }),
      /'params.w': 1 values/,
    );
    assert.throws(
      () => new OrtNodeRuntime().compile(fn, types, { frozen: { nope: w } }),
      /'nope' is not an input/,
    );
  });
});

describe('runtime errors name the tensor', () => {
  const rt = new OrtNodeRuntime();
  const c = keep(
    rt.compile(({ a, i }: T) => ({ out: mul(a, 2), n: i }), {
      a: f32([2]),
      i: { shape: [1], dtype: 'int64' as const },
    }),
  );
  const i = BigInt64Array.of(3n);
  it('missing and unknown inputs', async () => {
    await assert.rejects(
      c.run({ a: Float32Array.of(1, 2) }),
      (e: unknown) => e instanceof UsageError && /missing input 'i'.*int64\[1\]/.test(e.message),
    );
    await assert.rejects(
      c.run({ a: Float32Array.of(1, 2), i, b: Float32Array.of(1) }),
      (e: unknown) => e instanceof UsageError && /unknown input 'b'/.test(e.message),
    );
  });
  it('wrong dtype and wrong size', async () => {
    await assert.rejects(
      c.run({ a: Float64Array.of(1, 2) as never, i }),
      (e: unknown) => e instanceof ShapeError && /'a' must be float32/.test(e.message),
    );
    await assert.rejects(
      c.run({ a: Float32Array.of(1, 2, 3), i }),
      (e: unknown) => e instanceof ShapeError && /'a': 3 values/.test(e.message),
    );
    await assert.rejects(c.run({ a: Float32Array.of(1, 2), i: Float32Array.of(1) }), /'i' must be int64/);
  });
  it('another shape for a traced graph (not a function)', async () => {
    const g = keep(rt.compile(trace(({ a }: T) => mul(a, 2), { a: f32([2]) })));
    await assert.rejects(
      g.run({ a: { data: Float32Array.of(1, 2, 3), shape: [3], dtype: 'float32' } }),
      /input 'a' has shape \[3\].*float32\[2\]/,
    );
  });
  it('NaN outputs when asked to check', async () => {
    const n = keep(rt.compile(({ a }: T) => ({ logits: mul(a, 0) }), { a: f32([2]) }, { checkFinite: true }));
    await assert.rejects(
      n.run({ a: Float32Array.of(1, Infinity) }),
      (e: unknown) => e instanceof NumericError && /output 'logits' holds NaN/.test(e.message),
    );
  });
  it('unknown or absent execution providers', async () => {
    assert.throws(() => new OrtNodeRuntime({ provider: 'tpu' as never }), NotFoundError);
    const cuda = new OrtNodeRuntime({ provider: 'cuda' }).compile(({ a }: T) => mul(a, 2), { a: f32([2]) });
    try {
      await cuda.run({ a: Float32Array.of(1, 2) }); // a machine with CUDA libraries installed runs it
    } catch (error) {
      assert.ok(error instanceof UnavailableError, String(error));
      assert.match(error.message, /'cuda'/);
    } finally {
      await cuda.dispose();
    }
  });
});
