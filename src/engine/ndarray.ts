/**
 * Helpers for the reference interpreter's concrete arrays (`NDArray`: float64 numbers for every dtype):
 * construction, strides, numpy broadcasting of shapes and of flat indices, and dtype rounding. Op files
 * use these in their reference kernels so each kernel stays a few lines.
 *
 * This module must not know any op or any runtime; it is plain array arithmetic.
 */
import type { DType, NDArray, Shape } from './graph.js';
import { shapeSize } from './graph.js';
import { ShapeError } from '../util/errors.js';

/** An NDArray over `data` (copied into a Float64Array, rounded to the dtype's values). */
export function ndarray(shape: Shape, dtype: DType, data?: ArrayLike<number>): NDArray {
  const size = shapeSize(shape);
  const values = new Float64Array(size);
  if (data !== undefined) {
    if (data.length !== size) {
      throw new RangeError(`ndarray: ${data.length} values for shape [${shape.join(', ')}]`);
    }
    for (let i = 0; i < size; i++) values[i] = roundToDType(data[i], dtype);
  }
  return { shape: [...shape], dtype, data: values };
}

/** Integers truncate toward zero and booleans become 0/1, as ONNX Cast does; float32 stays float64 here. */
export function roundToDType(value: number, dtype: DType): number {
  if (dtype === 'int64') return Math.trunc(value);
  if (dtype === 'bool') return value !== 0 ? 1 : 0;
  return value;
}

/** Row-major strides, in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  return strides;
}

/** Numpy broadcasting of several shapes; null when they do not broadcast. */
export function broadcastShapes(...shapes: Shape[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    const offset = rank - shape.length;
    for (let i = 0; i < shape.length; i++) {
      const d = shape[i];
      const o = out[offset + i];
      if (d === o || d === 1) continue;
      if (o === 1) out[offset + i] = d;
      else return null;
    }
  }
  return out;
}

/**
 * For every flat index of an array of shape `to`, the flat index of the element of an array of shape
 * `from` that broadcasting maps there (`from` must broadcast to `to`).
 */
export function broadcastIndex(from: Shape, to: Shape): Int32Array {
  const size = shapeSize(to);
  const map = new Int32Array(size);
  const offset = to.length - from.length;
  const fromStrides = stridesOf(from);
  // Effective stride of each output axis in the input: 0 where the input is broadcast along it.
  const strides = to.map((_, axis) => {
    const a = axis - offset;
    return a < 0 || from[a] === 1 ? 0 : fromStrides[a];
  });
  const index = new Array<number>(to.length).fill(0);
  let source = 0;
  for (let flat = 0; flat < size; flat++) {
    map[flat] = source;
    for (let axis = to.length - 1; axis >= 0; axis--) {
      index[axis]++;
      source += strides[axis];
      if (index[axis] < to[axis]) break;
      source -= strides[axis] * to[axis];
      index[axis] = 0;
    }
  }
  return map;
}

/** Multi-index of a flat row-major index. */
export function unravel(flat: number, shape: Shape): number[] {
  const index = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    index[axis] = flat % shape[axis];
    flat = Math.floor(flat / shape[axis]);
  }
  return index;
}

/** Resolves a possibly negative axis against a rank; ShapeError naming the op when out of range. */
export function normalizeAxis(axis: number, rank: number, op = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(`op '${op}': axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

/** Sorted, de-duplicated, non-negative axes; all axes when `axes` is undefined. */
export function normalizeAxes(axes: readonly number[] | undefined, rank: number, op = 'axes'): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const out = [...new Set(axes.map((a) => normalizeAxis(a, rank, op)))].sort((a, b) => a - b);
  if (out.length !== axes.length)
    throw new ShapeError(`op '${op}': axes [${axes.join(', ')}] repeat an axis`);
  return out;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}
