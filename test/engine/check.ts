/**
 * The engine's shared test harness. `checkOpOnnx` runs a function of tensors through its ONNX lowering in
 * onnxruntime-node (float32) and through the float64 reference interpreter and compares every output
 * (norm-wise relative error, default ≤ 1e-5; integer and bool outputs must match exactly).
 * `checkVjp` compares the reference interpreter's VJP of a random cotangent against central finite
 * differences in float64 (default ≤ 1e-6): per element for small inputs, along random directions for
 * big ones. Both return the worst error they saw, so a test can also print or tighten it.
 */
import assert from 'node:assert/strict';
import type { DType, NDArray, Shape, Tensor, TensorType } from '../../src/engine/graph.js';
import { shapeSize } from '../../src/engine/graph.js';
import { ndarray, sameShape } from '../../src/engine/ndarray.js';
import { backward } from '../../src/engine/autodiff.js';
import { interpret } from '../../src/engine/runtime/interpret.js';
import { hostToNDArray, ndarrayToHost } from '../../src/engine/runtime/host.js';
import { OrtNodeRuntime } from '../../src/engine/runtime/ort-node.js';
import type { HostTensor, Runtime } from '../../src/engine/runtime/types.js';
import type { TensorTree, Tree } from '../../src/engine/trace.js';
import { flattenTree, isTensor, trace } from '../../src/engine/trace.js';
import { Random } from '../../src/util/random.js';

export type OpFn = (inputs: Record<string, Tensor>) => TensorTree;

/** Standard-normal values rounded to float32 (so the reference and onnxruntime see the same inputs). */
export function randomArray(
  shape: Shape,
  seed: number | Random,
  dtype: DType = 'float32',
  scale = 1,
): NDArray {
  const rng = typeof seed === 'number' ? new Random(seed) : seed;
  const values = Array.from({ length: shapeSize(shape) }, () => Math.fround(scale * rng.normal()));
  return ndarray(shape, dtype, values);
}

/** Uniform values in [lo, hi), rounded to float32: for ops with a restricted domain (log, sqrt, pow). */
export function uniformArray(shape: Shape, seed: number | Random, lo: number, hi: number): NDArray {
  const rng = typeof seed === 'number' ? new Random(seed) : seed;
  return ndarray(
    shape,
    'float32',
    Array.from({ length: shapeSize(shape) }, () => Math.fround(lo + (hi - lo) * rng.uniform())),
  );
}

/** max|a − b| / max|b| (max|a − b| when b is all zeros). */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(Number(actual[i]) - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  if (Number.isNaN(diff)) return Infinity;
  return scale === 0 ? diff : diff / scale;
}

/** Inputs by name; undefined entries (an optional operand left out) are dropped. */
export type OpInputs = Readonly<Record<string, NDArray | undefined>>;

const defined = (inputs: OpInputs): Record<string, NDArray> =>
  Object.fromEntries(Object.entries(inputs).filter((e): e is [string, NDArray] => e[1] !== undefined));

const typesOf = (inputs: Record<string, NDArray>): Record<string, TensorType> =>
  Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, { shape: v.shape, dtype: v.dtype }]));

let sharedRuntime: Runtime | null = null;

export interface OnnxCheckOptions {
  readonly runtime?: Runtime;
}

/** Worst relative error of the ONNX lowering (float32, onnxruntime) against the reference interpreter. */
export async function checkOpOnnx(
  fn: OpFn,
  given: OpInputs,
  tol = 1e-5,
  options: OnnxCheckOptions = {},
): Promise<number> {
  const inputs = defined(given);
  const runtime = options.runtime ?? (sharedRuntime ??= new OrtNodeRuntime());
  const traced = trace(fn, typesOf(inputs));
  const expected = interpret(
    traced.outputList.map((o) => o.tensor),
    inputs,
  );
  const compiled = runtime.compile(traced);
  try {
    const feeds = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, ndarrayToHost(v)]));
    const results = await compiled.run(feeds);
    const actual = hostLeaves(results);
    let worst = 0;
    traced.outputList.forEach(({ name, tensor }, i) => {
      const got = hostToNDArray(actual[i]);
      assert.ok(
        sameShape(got.shape, tensor.shape),
        `output '${name}': onnx shape [${got.shape}] vs shape rule [${tensor.shape}]`,
      );
      const error = relativeError(got.data, expected[i].data);
      const limit = tensor.dtype === 'float32' ? tol : 0;
      assert.ok(
        error <= limit,
        `output '${name}' (${runtime.name} vs reference): relative error ${error.toExponential(2)} > ${limit}`,
      );
      worst = Math.max(worst, error);
    });
    return worst;
  } finally {
    await compiled.dispose();
  }
}

export interface VjpCheckOptions {
  /** Inputs to differentiate; every float32 input by default. */
  readonly wrt?: readonly string[];
  /** Finite-difference step; 1e-5 by default. */
  readonly step?: number;
  /** Inputs up to this size are checked element by element, bigger ones along 4 random directions. */
  readonly maxElementwise?: number;
  readonly seed?: number;
  /** Also check the gradient graph's ONNX lowering against the reference (float32, this tolerance). */
  readonly onnxTol?: number;
}

/** Worst relative error of the VJP (reference interpreter) against central finite differences in float64. */
export async function checkVjp(
  fn: OpFn,
  given: OpInputs,
  tol = 1e-6,
  options: VjpCheckOptions = {},
): Promise<number> {
  const inputs = defined(given);
  const rng = new Random(options.seed ?? 7);
  const h = options.step ?? 1e-5;
  const wrt = options.wrt ?? Object.keys(inputs).filter((k) => inputs[k].dtype === 'float32');
  const cotangents: Record<string, NDArray> = {};
  let outputs: Tensor[] = [];
  let gradients: (Tensor | null)[] = [];
  const traced = trace((x: Record<string, Tensor>) => {
    outputs = flattenTree(fn(x), isTensor)
      .map(([, t]) => t)
      .filter((t) => t.dtype === 'float32');
    const cts = outputs.map((t, i) => {
      cotangents[`ct${i}`] = randomArray(t.shape, rng);
      return t.graph.input(`ct${i}`, { shape: t.shape, dtype: t.dtype });
    });
    gradients = backward(
      outputs,
      cts,
      wrt.map((k) => x[k]),
    );
    return { outputs, gradients: gradients.map((g, i) => g ?? x[wrt[i]]) };
  }, typesOf(inputs));
  assert.ok(outputs.length > 0, 'checkVjp: the function has no float32 output');
  const feeds = { ...inputs, ...cotangents };
  const objective = (values: Record<string, NDArray>) =>
    interpret(outputs, values).reduce((s, y, i) => s + dot(y.data, cotangents[`ct${i}`].data), 0);
  const analytic = interpret(
    gradients.filter((g): g is Tensor => g !== null),
    feeds,
  );
  let worst = 0;
  let k = 0;
  wrt.forEach((name, w) => {
    const x = inputs[name];
    const g = gradients[w] ? analytic[k++].data : new Float64Array(x.data.length);
    const directions =
      x.data.length <= (options.maxElementwise ?? 64)
        ? unitDirections(x.data.length)
        : randomDirections(x.data.length, 4, rng);
    const numeric: number[] = [];
    const expected: number[] = [];
    for (const d of directions) {
      const shifted = (sign: number) => ({
        ...feeds,
        [name]: { ...x, data: x.data.map((v, i) => v + sign * h * d[i]) },
      });
      numeric.push((objective(shifted(1)) - objective(shifted(-1))) / (2 * h));
      expected.push(dot(g, d));
    }
    const error = relativeError(numeric, expected);
    assert.ok(
      error <= tol,
      `gradient of '${name}': relative error ${error.toExponential(2)} > ${tol} (finite differences vs VJP)`,
    );
    worst = Math.max(worst, error);
  });
  if (options.onnxTol !== undefined) {
    await checkGraphOnnx(traced, feeds, options.onnxTol);
  }
  return worst;
}

async function checkGraphOnnx(
  traced: ReturnType<typeof trace>,
  feeds: Record<string, NDArray>,
  tol: number,
): Promise<number> {
  const runtime = sharedRuntime ?? (sharedRuntime = new OrtNodeRuntime());
  const outs = traced.outputList.map((o) => o.tensor);
  const expected = interpret(outs, feeds);
  // The cotangents are graph inputs declared inside the traced function: list every graph input.
  const inputList = traced.graph.inputs.map((tensor) => ({ name: tensor.inputName!, tensor }));
  const compiled = runtime.compile({ ...traced, inputList });
  try {
    const hostFeeds = Object.fromEntries(inputList.map(({ name }) => [name, ndarrayToHost(feeds[name])]));
    const results = await compiled.run(hostFeeds);
    const flat = hostLeaves(results);
    let worst = 0;
    traced.outputList.forEach(({ name }, i) => {
      const error = relativeError(hostToNDArray(flat[i]).data, expected[i].data);
      assert.ok(
        error <= tol,
        `gradient graph output '${name}' (onnx vs reference): relative error ${error.toExponential(2)} > ${tol}`,
      );
      worst = Math.max(worst, error);
    });
    return worst;
  } finally {
    await compiled.dispose();
  }
}

const isHost = (v: unknown): v is HostTensor => typeof v === 'object' && v !== null && 'data' in v;
const hostLeaves = (results: unknown): HostTensor[] =>
  flattenTree(results as Tree<HostTensor>, isHost).map(([, t]) => t);

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function unitDirections(n: number): Float64Array[] {
  return Array.from({ length: n }, (_, i) => {
    const d = new Float64Array(n);
    d[i] = 1;
    return d;
  });
}

function randomDirections(n: number, count: number, rng: Random): Float64Array[] {
  return Array.from({ length: count }, () => Float64Array.from({ length: n }, () => rng.normal()));
}
