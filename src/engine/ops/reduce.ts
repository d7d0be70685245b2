/**
 * Reductions: sum and max primitives over any set of axes (keepDims or not), argmax, and mean / min as
 * composites. The VJP of sum broadcasts the cotangent back; the VJP of max routes it to the positions
 * that attain the maximum (split equally among ties, as PyTorch's amax).
 *
 * This module must not hold normalisations or softmax (those are NN ops built from these).
 */
import type { NDArray, OpDef, Shape, TensorType } from '../graph.js';
import { Tensor, apply1, shapeError, shapeSize } from '../graph.js';
import { broadcastIndex, normalizeAxes } from '../ndarray.js';
import { cast, div, equal, mul, neg } from './elementwise.js';
import { broadcastTo, reshape } from './shape.js';

export interface ReduceAttrs {
  /** Sorted, non-negative, non-empty. */
  readonly axes: readonly number[];
  readonly keepDims: boolean;
}

const keptShape = (shape: Shape, axes: readonly number[]) => shape.map((d, i) => (axes.includes(i) ? 1 : d));
const outShape = (shape: Shape, { axes, keepDims }: ReduceAttrs) =>
  keepDims ? keptShape(shape, axes) : shape.filter((_, i) => !axes.includes(i));

/** Folds every input element into its output slot (found by broadcasting the kept shape back over x). */
function reduceKernel(
  x: NDArray,
  attrs: ReduceAttrs,
  init: number,
  fold: (acc: number, v: number) => number,
): NDArray {
  const kept = keptShape(x.shape, attrs.axes);
  const data = new Float64Array(shapeSize(kept)).fill(init);
  const slot = broadcastIndex(kept, x.shape);
  for (let i = 0; i < x.data.length; i++) data[slot[i]] = fold(data[slot[i]], x.data[i]);
  return { shape: outShape(x.shape, attrs), dtype: x.dtype, data };
}

function inferReduce(op: string, [x]: readonly TensorType[], attrs: ReduceAttrs): TensorType[] {
  if (x.dtype === 'bool') throw shapeError(op, 'cannot reduce bool tensors; cast first', x);
  if (attrs.axes.some((a) => x.shape[a] === 0) && op !== 'sum')
    throw shapeError(op, 'reduces an empty axis', x);
  return [{ shape: outShape(x.shape, attrs), dtype: x.dtype }];
}

const keepdims = (keepDims: boolean) => ({ keepdims: { kind: 'int' as const, value: keepDims ? 1 : 0 } });

export const sumOp: OpDef<ReduceAttrs> = {
  name: 'sum',
  infer: (types, attrs) => inferReduce('sum', types, attrs),
  evaluate: ([x], attrs) => [reduceKernel(x, attrs, 0, (acc, v) => acc + v)],
  lower: (onnx, [x], { axes, keepDims }) =>
    onnx.node('ReduceSum', [x, onnx.constant(axes, [axes.length], 'int64')], keepdims(keepDims)),
  vjp: ({ inputs: [x], cotangents: [g], attrs: { axes } }) => [
    g && broadcastTo(reshape(g, keptShape(x.shape, axes)), x.shape),
  ],
};

export const maxOp: OpDef<ReduceAttrs> = {
  name: 'max',
  infer: (types, attrs) => inferReduce('max', types, attrs),
  evaluate: ([x], attrs) => [reduceKernel(x, attrs, -Infinity, (acc, v) => (v > acc ? v : acc))],
  lower: (onnx, [x], { axes, keepDims }) =>
    onnx.opset >= 18
      ? onnx.node('ReduceMax', [x, onnx.constant(axes, [axes.length], 'int64')], keepdims(keepDims))
      : onnx.node('ReduceMax', [x], { axes: { kind: 'ints', value: axes }, ...keepdims(keepDims) }),
  vjp: ({ inputs: [x], outputs: [y], cotangents: [g], attrs: { axes } }) => {
    if (!g) return [null];
    const kept = keptShape(x.shape, axes);
    const mask = cast(equal(x, reshape(y, kept)), x.dtype);
    const share = div(mask, sum(mask, axes, true)); // ties split the cotangent equally
    return [mul(share, reshape(g, kept))];
  },
};

function reduce(
  op: OpDef<ReduceAttrs>,
  x: Tensor,
  axes: readonly number[] | undefined,
  keepDims: boolean,
): Tensor {
  const resolved = normalizeAxes(axes, x.rank, op.name);
  if (resolved.length === 0) return x;
  return apply1(op, [x], { axes: resolved, keepDims });
}

/** Sum over `axes` (all by default). */
export const sum = (x: Tensor, axes?: readonly number[], keepDims = false): Tensor =>
  reduce(sumOp, x, axes, keepDims);

/** Maximum over `axes` (all by default). */
export const max = (x: Tensor, axes?: readonly number[], keepDims = false): Tensor =>
  reduce(maxOp, x, axes, keepDims);

/** Minimum over `axes`: −max(−x). */
export const min = (x: Tensor, axes?: readonly number[], keepDims = false): Tensor =>
  neg(max(neg(x), axes, keepDims));

/** Arithmetic mean over `axes` (all by default). */
export function mean(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const resolved = normalizeAxes(axes, x.rank, 'mean');
  const count = resolved.reduce((n, a) => n * x.shape[a], 1);
  return mul(sum(x, resolved, keepDims), 1 / count);
}

export const argmaxOp: OpDef<{ axis: number; keepDims: boolean }> = {
  name: 'argmax',
  infer: ([x], { axis, keepDims }) => [
    { shape: outShape(x.shape, { axes: [axis], keepDims }), dtype: 'int64' },
  ],
  evaluate: ([x], { axis, keepDims }) => {
    const inner = shapeSize(x.shape.slice(axis + 1));
    const n = x.shape[axis];
    const outer = shapeSize(x.shape.slice(0, axis));
    const data = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let best = 0;
        for (let k = 1; k < n; k++)
          if (x.data[(o * n + k) * inner + i] > x.data[(o * n + best) * inner + i]) best = k;
        data[o * inner + i] = best;
      }
    }
    return [{ shape: outShape(x.shape, { axes: [axis], keepDims }), dtype: 'int64', data }];
  },
  lower: (onnx, [x], { axis, keepDims }) =>
    onnx.node('ArgMax', [x], { axis: { kind: 'int', value: axis }, ...keepdims(keepDims) }),
  vjp: () => [null],
};

/** Index (int64) of the first maximum along `axis`. */
export function argmax(x: Tensor, axis: number, keepDims = false): Tensor {
  const [a] = normalizeAxes([axis], x.rank, 'argmax');
  if (x.shape[a] === 0) throw shapeError('argmax', 'reduces an empty axis', x);
  return apply1(argmaxOp, [x], { axis: a, keepDims });
}
