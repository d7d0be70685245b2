/**
 * Softmax and log-softmax over one axis, numerically stable (the maximum along the axis is subtracted
 * before exponentiating), each one op with its own VJP:
 *   softmax:     y = e^{x − max} / Σ e^{x − max},   gx = y ⊙ (g − Σ g ⊙ y)
 *   logSoftmax:  y = x − max − log Σ e^{x − max},   gx = g − e^{y} ⊙ Σ g
 * (sums along the axis, kept for broadcasting). They lower to ONNX Softmax / LogSoftmax (opset 13
 * semantics: one axis).
 *
 * This module must not know any runtime.
 */
import type { NDArray, OpDef, TensorType } from '../graph.js';
import { Tensor, shapeError, shapeSize } from '../graph.js';
import { normalizeAxis } from '../ndarray.js';
import { exp, mul, sub } from './elementwise.js';
import { sum } from './reduce.js';

export interface SoftmaxAttrs {
  /** The axis the probabilities sum to one along (non-negative). */
  readonly axis: number;
}

function inferSame(op: string, [x]: readonly TensorType[], { axis }: SoftmaxAttrs): TensorType[] {
  if (x.dtype !== 'float32') throw shapeError(op, 'needs a float32 tensor', x);
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.shape.length) {
    throw shapeError(op, `axis ${axis} is out of range`, x);
  }
  return [{ shape: x.shape, dtype: 'float32' }];
}

/** Applies `f(row) → row` to every line of x along `axis` (a strided view copied in and out). */
function mapAlongAxis(x: NDArray, axis: number, f: (row: Float64Array) => void): NDArray {
  const size = x.shape[axis];
  const inner = shapeSize(x.shape.slice(axis + 1));
  const outer = shapeSize(x.shape.slice(0, axis));
  const data = new Float64Array(x.data.length);
  const row = new Float64Array(size);
  for (let p = 0; p < outer; p++) {
    for (let q = 0; q < inner; q++) {
      const base = p * size * inner + q;
      for (let i = 0; i < size; i++) row[i] = x.data[base + i * inner];
      f(row);
      for (let i = 0; i < size; i++) data[base + i * inner] = row[i];
    }
  }
  return { shape: x.shape, dtype: x.dtype, data };
}

/** log Σ e^{row} computed as max + log Σ e^{row − max}. */
function logSumExp(row: Float64Array): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  if (max === -Infinity) return -Infinity;
  let total = 0;
  for (const v of row) total += Math.exp(v - max);
  return max + Math.log(total);
}

export const softmaxOp: OpDef<SoftmaxAttrs> = {
  name: 'softmax',
  infer: (types, attrs) => inferSame('softmax', types, attrs),
  evaluate: ([x], { axis }) => [
    mapAlongAxis(x, axis, (row) => {
      const lse = logSumExp(row);
      for (let i = 0; i < row.length; i++) row[i] = Math.exp(row[i] - lse);
    }),
  ],
  lower: (onnx, [x], { axis }) => onnx.node('Softmax', [x], { axis: { kind: 'int', value: axis } }),
  vjp: ({ outputs: [y], cotangents: [g], attrs: { axis } }) => {
    if (!g) return [null];
    return [mul(y, sub(g, sum(mul(g, y), [axis], true)))];
  },
};

export const logSoftmaxOp: OpDef<SoftmaxAttrs> = {
  name: 'logSoftmax',
  infer: (types, attrs) => inferSame('logSoftmax', types, attrs),
  evaluate: ([x], { axis }) => [
    mapAlongAxis(x, axis, (row) => {
      const lse = logSumExp(row);
      for (let i = 0; i < row.length; i++) row[i] -= lse;
    }),
  ],
  lower: (onnx, [x], { axis }) => onnx.node('LogSoftmax', [x], { axis: { kind: 'int', value: axis } }),
  vjp: ({ outputs: [y], cotangents: [g], attrs: { axis } }) => {
    if (!g) return [null];
    return [sub(g, mul(exp(y), sum(g, [axis], true)))];
  },
};

/** Softmax of x along `axis` (default: the last axis). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return x.graph.apply(softmaxOp, [x], { axis: normalizeAxis(axis, x.rank, 'softmax') })[0];
}

/** Log-softmax of x along `axis` (default: the last axis); stable where log(softmax(x)) underflows. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return x.graph.apply(logSoftmaxOp, [x], { axis: normalizeAxis(axis, x.rank, 'logSoftmax') })[0];
}
