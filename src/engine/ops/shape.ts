/**
 * Shape primitives: reshape, transpose, broadcastTo (ONNX Expand), concat, slice (numpy/ONNX
 * semantics, any step), pad (constant mode) and gather; squeeze, unsqueeze, flip, full and sumToShape
 * are composites of them. `sumToShape` undoes broadcasting and is what every broadcasting VJP ends with.
 *
 * This module must not do arithmetic on values beyond moving them (that is elementwise.ts / reduce.ts).
 */
import type { DType, NDArray, OpDef, Shape, TensorType } from '../graph.js';
import { Tensor, apply1, shapeError, shapeSize } from '../graph.js';
import {
  broadcastIndex,
  broadcastShapes,
  normalizeAxes,
  normalizeAxis,
  sameShape,
  stridesOf,
} from '../ndarray.js';
import { constant } from './constant.js';
import { add, cast, equal, less, where } from './elementwise.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';

// ---------------------------------------------------------------------------------------------------
// reshape

export const reshapeOp: OpDef<{ shape: Shape }> = {
  name: 'reshape',
  infer: ([x], { shape }) => [{ shape, dtype: x.dtype }],
  evaluate: ([x], { shape }) => [{ shape, dtype: x.dtype, data: x.data }],
  lower: (onnx, [x], { shape }) => {
    // allowzero=1 keeps a literal 0 a 0 (ONNX otherwise copies the input's dim there).
    const attrs = shape.includes(0) ? { allowzero: { kind: 'int' as const, value: 1 } } : undefined;
    return onnx.node('Reshape', [x, onnx.constant(shape, [shape.length], 'int64')], attrs);
  },
  vjp: ({ inputs: [x], cotangents: [g] }) => [g && reshape(g, x.shape)],
};

/** Same data, new shape; one entry may be −1 (inferred). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1);
  const missing = shape.length - known.length;
  const knownSize = shapeSize(known);
  let resolved = [...shape];
  if (missing > 1 || known.some((d) => !Number.isInteger(d) || d < 0)) {
    throw shapeError('reshape', `target shape [${shape.join(', ')}] is invalid (at most one −1)`, x);
  }
  if (missing === 1) {
    if (knownSize === 0 || x.size % knownSize !== 0) {
      throw shapeError('reshape', `cannot infer −1 in [${shape.join(', ')}]`, x);
    }
    resolved = shape.map((d) => (d === -1 ? x.size / knownSize : d));
  }
  if (shapeSize(resolved) !== x.size) {
    throw shapeError('reshape', `target shape [${resolved.join(', ')}] has a different size`, x);
  }
  return sameShape(resolved, x.shape) ? x : apply1(reshapeOp, [x], { shape: resolved });
}

export function squeeze(x: Tensor, axes?: readonly number[]): Tensor {
  const drop = axes
    ? normalizeAxes(axes, x.rank, 'squeeze')
    : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of drop)
    if (x.shape[a] !== 1) throw shapeError('squeeze', `axis ${a} has size ${x.shape[a]}, not 1`, x);
  return reshape(
    x,
    x.shape.filter((_, i) => !drop.includes(i)),
  );
}

/** Inserts size-1 axes; `axes` index the output (ONNX semantics). */
export function unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.rank + axes.length;
  const insert = normalizeAxes(axes, rank, 'unsqueeze');
  const shape: number[] = [];
  let source = 0;
  for (let i = 0; i < rank; i++) shape.push(insert.includes(i) ? 1 : x.shape[source++]);
  return reshape(x, shape);
}

// ---------------------------------------------------------------------------------------------------
// transpose

function transposeKernel(x: NDArray, perm: readonly number[]): NDArray {
  const shape = perm.map((p) => x.shape[p]);
  const inStrides = stridesOf(x.shape);
  const strides = perm.map((p) => inStrides[p]);
  const data = new Float64Array(x.data.length);
  const index = new Array<number>(shape.length).fill(0);
  let source = 0;
  for (let flat = 0; flat < data.length; flat++) {
    data[flat] = x.data[source];
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      index[axis]++;
      source += strides[axis];
      if (index[axis] < shape[axis]) break;
      source -= strides[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return { shape, dtype: x.dtype, data };
}

export const transposeOp: OpDef<{ perm: readonly number[] }> = {
  name: 'transpose',
  infer: ([x], { perm }) => [{ shape: perm.map((p) => x.shape[p]), dtype: x.dtype }],
  evaluate: ([x], { perm }) => [transposeKernel(x, perm)],
  lower: (onnx, [x], { perm }) => onnx.node('Transpose', [x], { perm: { kind: 'ints', value: perm } }),
  vjp: ({ cotangents: [g], attrs: { perm } }) => {
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [g && transpose(g, inverse)];
  },
};

/** Permutes axes (output axis i is input axis perm[i]); reverses them by default. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  const valid = p.length === x.rank && [...p].sort((a, b) => a - b).every((v, i) => v === i);
  if (!valid) throw shapeError('transpose', `perm [${p.join(', ')}] is not a permutation of the axes`, x);
  return p.every((v, i) => v === i) ? x : apply1(transposeOp, [x], { perm: p });
}

// ---------------------------------------------------------------------------------------------------
// broadcastTo, full, sumToShape

export const broadcastToOp: OpDef<{ shape: Shape }> = {
  name: 'broadcastTo',
  infer: ([x], { shape }) => [{ shape, dtype: x.dtype }],
  evaluate: ([x], { shape }) => {
    const map = broadcastIndex(x.shape, shape);
    return [{ shape, dtype: x.dtype, data: Float64Array.from(map, (i) => x.data[i]) }];
  },
  lower: (onnx, [x], { shape }) => onnx.node('Expand', [x, onnx.constant(shape, [shape.length], 'int64')]),
  vjp: ({ inputs: [x], cotangents: [g] }) => [g && sumToShape(g, x.shape)],
};

/** Numpy broadcasting of `x` to exactly `shape`. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const out = broadcastShapes(x.shape, shape);
  if (!out || !sameShape(out, shape)) {
    throw shapeError('broadcastTo', `cannot broadcast to [${shape.join(', ')}]`, x);
  }
  return sameShape(x.shape, shape) ? x : apply1(broadcastToOp, [x], { shape: [...shape] });
}

/** A tensor of `shape` filled with `value` (a broadcast scalar constant: no big initializer). */
export function full(like: Tensor, shape: Shape, value: number, dtype: DType = like.dtype): Tensor {
  return broadcastTo(constant(like.graph, value, [], dtype), shape);
}

export const zerosLike = (x: Tensor): Tensor => full(x, x.shape, 0);
export const onesLike = (x: Tensor): Tensor => full(x, x.shape, 1);

/** Sums `x` over the axes that broadcasting from `shape` added or stretched: the adjoint of broadcastTo. */
export function sumToShape(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const lead = x.rank - shape.length;
  const out = broadcastShapes(shape, x.shape);
  if (lead < 0 || !out || !sameShape(out, x.shape)) {
    throw shapeError('sumToShape', `cannot sum back to [${shape.join(', ')}]`, x);
  }
  const axes = x.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
  return reshape(sum(x, axes, true), shape);
}

// ---------------------------------------------------------------------------------------------------
// concat

export const concatOp: OpDef<{ axis: number }> = {
  name: 'concat',
  infer: (xs, { axis }) => {
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((n, x) => n + x.shape[axis], 0);
    return [{ shape, dtype: xs[0].dtype }];
  },
  evaluate: (xs, { axis }) => {
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((n, x) => n + x.shape[axis], 0);
    const outer = shapeSize(shape.slice(0, axis));
    const data = new Float64Array(shapeSize(shape));
    let offset = 0;
    for (let o = 0; o < outer; o++) {
      for (const x of xs) {
        const block = shapeSize(x.shape.slice(axis));
        data.set(x.data.subarray(o * block, (o + 1) * block), offset);
        offset += block;
      }
    }
    return [{ shape, dtype: xs[0].dtype, data }];
  },
  lower: (onnx, xs, { axis }) => onnx.node('Concat', xs, { axis: { kind: 'int', value: axis } }),
  vjp: ({ inputs, cotangents: [g], attrs: { axis } }) => {
    let start = 0;
    return inputs.map((x) => {
      const end = start + x.shape[axis];
      const part = g && slice(g, [start], [end], [axis]);
      start = end;
      return part;
    });
  },
};

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw shapeError('concat', 'needs at least one tensor');
  const a = normalizeAxis(axis, xs[0].rank, 'concat');
  const fits = (x: TensorType) =>
    x.dtype === xs[0].dtype &&
    x.shape.length === xs[0].rank &&
    x.shape.every((d, i) => i === a || d === xs[0].shape[i]);
  if (!xs.every(fits)) throw shapeError('concat', `shapes differ outside axis ${a}`, ...xs);
  return xs.length === 1 ? xs[0] : xs[0].graph.apply(concatOp, xs, { axis: a })[0];
}

// ---------------------------------------------------------------------------------------------------
// slice

/** A resolved slice: along every axis, element i of the output is element start + i·step of the input. */
export interface SliceAttrs {
  readonly starts: readonly number[];
  readonly steps: readonly number[];
  readonly sizes: readonly number[];
}

function sliceKernel(x: NDArray, { starts, steps, sizes }: SliceAttrs): NDArray {
  const strides = stridesOf(x.shape);
  const data = new Float64Array(shapeSize(sizes));
  const index = new Array<number>(sizes.length).fill(0);
  let source = starts.reduce((s, start, axis) => s + start * strides[axis], 0);
  for (let flat = 0; flat < data.length; flat++) {
    data[flat] = x.data[source];
    for (let axis = sizes.length - 1; axis >= 0; axis--) {
      index[axis]++;
      source += steps[axis] * strides[axis];
      if (index[axis] < sizes[axis]) break;
      source -= steps[axis] * strides[axis] * sizes[axis];
      index[axis] = 0;
    }
  }
  return { shape: [...sizes], dtype: x.dtype, data };
}

/** Axes a slice actually changes: ONNX Slice gets only those. */
function slicedAxes(x: TensorType, { starts, steps, sizes }: SliceAttrs): number[] {
  return x.shape.flatMap((d, a) => (starts[a] === 0 && steps[a] === 1 && sizes[a] === d ? [] : [a]));
}

export const sliceOp: OpDef<SliceAttrs> = {
  name: 'slice',
  infer: ([x], { sizes }) => [{ shape: sizes, dtype: x.dtype }],
  evaluate: ([x], attrs) => [sliceKernel(x, attrs)],
  lower: (onnx, [x], attrs, { inputs: [type] }) => {
    const axes = slicedAxes(type, attrs);
    const starts = axes.map((a) => attrs.starts[a]);
    const steps = axes.map((a) => attrs.steps[a]);
    // The exclusive end; below zero for a reversed slice that reaches index 0, which ONNX reads as "before 0"
    // only for values below −dim, hence the large sentinel.
    const ends = axes.map((a) => {
      const end = attrs.starts[a] + attrs.sizes[a] * attrs.steps[a];
      return end < 0 ? -(2 ** 53) : end;
    });
    const c = (v: number[]) => onnx.constant(v, [v.length], 'int64');
    return onnx.node('Slice', [x, c(starts), c(ends), c(axes), c(steps)]);
  },
  vjp: ({ inputs: [x], cotangents: [g], attrs }) => [g && sliceAdjoint(g, x.shape, attrs)],
};

/** Puts a slice's cotangent back where the slice read it, zeros elsewhere (pad, interleave, flip). */
function sliceAdjoint(g: Tensor, shape: Shape, attrs: SliceAttrs): Tensor {
  let t = g;
  for (const axis of slicedAxes({ shape, dtype: g.dtype }, attrs)) {
    let start = attrs.starts[axis];
    let step = attrs.steps[axis];
    const count = attrs.sizes[axis];
    if (count === 0) return full(g, shape, 0);
    if (step < 0) {
      t = flip(t, [axis]);
      start += (count - 1) * step;
      step = -step;
    }
    let length = count;
    if (step > 1) {
      // Interleave step−1 zeros after every element: [.., count, ..] → [.., count, step, ..] → [.., count·step, ..].
      const pads = new Array<number>(2 * (t.rank + 1)).fill(0);
      pads[t.rank + 1 + axis + 1] = step - 1;
      const widened = pad(unsqueeze(t, [axis + 1]), pads, 0);
      const merged = [...t.shape];
      merged[axis] = count * step;
      t = reshape(widened, merged);
      length = count * step;
    }
    const after = shape[axis] - start - length;
    if (after < 0) {
      t = slice(t, [0], [length + after], [axis]);
      length += after;
    }
    const pads = new Array<number>(2 * t.rank).fill(0);
    pads[axis] = start;
    pads[t.rank + axis] = shape[axis] - start - length;
    t = pad(t, pads, 0);
  }
  return t;
}

/**
 * Numpy/ONNX slicing: along each of `axes` (all leading axes by default) take start, start+step, ...
 * up to (excluding) end; negative indices count from the end and out-of-range ones are clamped.
 */
export function slice(
  x: Tensor,
  starts: readonly number[],
  ends: readonly number[],
  axes?: readonly number[],
  steps?: readonly number[],
): Tensor {
  const ax = axes ?? starts.map((_, i) => i);
  if (
    ends.length !== starts.length ||
    ax.length !== starts.length ||
    (steps && steps.length !== starts.length)
  ) {
    throw shapeError('slice', 'starts, ends, axes and steps must have equal lengths', x);
  }
  const attrs = { starts: x.shape.map(() => 0), steps: x.shape.map(() => 1), sizes: [...x.shape] };
  normalizeAxes(ax, x.rank, 'slice'); // rejects repeated axes
  ax.forEach((axis, k) => {
    const a = normalizeAxis(axis, x.rank, 'slice');
    const dim = x.shape[a];
    const step = steps ? steps[k] : 1;
    if (!Number.isInteger(step) || step === 0)
      throw shapeError('slice', `step ${step} must be a nonzero integer`, x);
    const resolve = (i: number) => (i < 0 ? i + dim : i);
    // Clamping as ONNX Slice: starts into [0, dim] (step > 0) or [0, dim − 1]; ends into [0, dim] or [−1, dim − 1].
    const start = Math.min(Math.max(resolve(starts[k]), 0), step > 0 ? dim : dim - 1);
    const end = Math.min(Math.max(resolve(ends[k]), step > 0 ? 0 : -1), step > 0 ? dim : dim - 1);
    const count = Math.max(0, Math.ceil((end - start) / step));
    attrs.starts[a] = count === 0 ? 0 : start;
    attrs.steps[a] = step;
    attrs.sizes[a] = count;
  });
  return slicedAxes(x, attrs).length === 0 ? x : apply1(sliceOp, [x], attrs);
}

/** Reverses the order of elements along `axes`. */
export function flip(x: Tensor, axes: readonly number[]): Tensor {
  const a = normalizeAxes(axes, x.rank, 'flip');
  return slice(
    x,
    a.map((i) => x.shape[i] - 1),
    a.map(() => -Infinity),
    a,
    a.map(() => -1),
  );
}

// ---------------------------------------------------------------------------------------------------
// pad

export interface PadAttrs {
  /** ONNX order: the begin pads of every axis, then the end pads. */
  readonly pads: readonly number[];
  readonly value: number;
}

export const padOp: OpDef<PadAttrs> = {
  name: 'pad',
  infer: ([x], { pads }) => [
    { shape: x.shape.map((d, a) => d + pads[a] + pads[x.shape.length + a]), dtype: x.dtype },
  ],
  evaluate: ([x], { pads, value }) => {
    const rank = x.shape.length;
    const shape = x.shape.map((d, a) => d + pads[a] + pads[rank + a]);
    const out = new Float64Array(shapeSize(shape)).fill(value);
    const outStrides = stridesOf(shape);
    const offset = pads.slice(0, rank).reduce((s, p, a) => s + p * outStrides[a], 0);
    const index = new Array<number>(rank).fill(0);
    for (let flat = 0; flat < x.data.length; flat++) {
      let target = offset;
      for (let a = 0; a < rank; a++) target += index[a] * outStrides[a];
      out[target] = x.data[flat];
      for (let a = rank - 1; a >= 0; a--) {
        if (++index[a] < x.shape[a]) break;
        index[a] = 0;
      }
    }
    return [{ shape, dtype: x.dtype, data: out }];
  },
  lower: (onnx, [x], { pads, value }, { inputs: [type] }) =>
    onnx.node(
      'Pad',
      [x, onnx.constant(pads, [pads.length], 'int64'), onnx.constant([value], [], type.dtype)],
      {
        mode: { kind: 'string', value: 'constant' },
      },
    ),
  vjp: ({ inputs: [x], cotangents: [g], attrs: { pads } }) => [
    g &&
      slice(
        g,
        x.shape.map((_, a) => pads[a]),
        x.shape.map((d, a) => pads[a] + d),
        x.shape.map((_, a) => a),
      ),
  ],
};

/**
 * Constant padding. `pads` is either ONNX order (`[b0, b1, …, e0, e1, …]`: begin pads of every axis, then
 * end pads) or one `[begin, end]` pair per axis; all non-negative.
 */
export function pad(
  x: Tensor,
  pads: readonly number[] | readonly (readonly [number, number])[],
  value = 0,
): Tensor {
  const flat: number[] =
    pads.length > 0 && Array.isArray(pads[0])
      ? [...(pads as [number, number][]).map((p) => p[0]), ...(pads as [number, number][]).map((p) => p[1])]
      : [...(pads as number[])];
  if (flat.length !== 2 * x.rank || !flat.every((p) => Number.isInteger(p) && p >= 0)) {
    throw shapeError('pad', `pads [${flat.join(', ')}] must be ${2 * x.rank} non-negative integers`, x);
  }
  return flat.every((p) => p === 0) ? x : apply1(padOp, [x], { pads: flat, value });
}

// ---------------------------------------------------------------------------------------------------
// gather

export const gatherOp: OpDef<{ axis: number }> = {
  name: 'gather',
  infer: ([x, indices], { axis }) => [
    { shape: [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], dtype: x.dtype },
  ],
  evaluate: ([x, indices], { axis }) => {
    const n = x.shape[axis];
    const outer = shapeSize(x.shape.slice(0, axis));
    const inner = shapeSize(x.shape.slice(axis + 1));
    const k = indices.data.length;
    const data = new Float64Array(outer * k * inner);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const i = indices.data[j] < 0 ? indices.data[j] + n : indices.data[j];
        if (!(i >= 0 && i < n))
          throw new RangeError(`gather: index ${indices.data[j]} out of range for size ${n}`);
        data.set(x.data.subarray((o * n + i) * inner, (o * n + i + 1) * inner), (o * k + j) * inner);
      }
    }
    const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    return [{ shape, dtype: x.dtype, data }];
  },
  lower: (onnx, inputs, { axis }) => onnx.node('Gather', inputs, { axis: { kind: 'int', value: axis } }),
  vjp: ({ inputs: [x, indices], cotangents: [g], attrs: { axis } }) => [
    g && gatherAdjoint(g, x, indices, axis),
    null,
  ],
};

/** Scatter-add of the cotangent to the gathered rows, as a one-hot matmul (exact; fine for embedding sizes). */
function gatherAdjoint(g: Tensor, x: Tensor, indices: Tensor, axis: number): Tensor {
  const n = x.shape[axis];
  const flat = reshape(indices, [indices.size, 1]);
  const positive = where(less(flat, 0), add(flat, n), flat);
  const range = constant(
    x.graph,
    Array.from({ length: n }, (_, i) => i),
    [1, n],
    'int64',
  );
  const oneHotT = transpose(cast(equal(positive, range), x.dtype)); // [n, k]
  const outer = shapeSize(x.shape.slice(0, axis));
  const inner = shapeSize(x.shape.slice(axis + 1));
  return reshape(matmul(oneHotT, reshape(g, [outer, indices.size, inner])), x.shape);
}

/** Takes entries along `axis` at int64 `indices` (negative ones count from the end), as numpy.take. */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  if (indices.dtype !== 'int64') throw shapeError('gather', 'indices must be int64', x, indices);
  return x.graph.apply(gatherOp, [x, indices], { axis: normalizeAxis(axis, x.rank, 'gather') })[0];
}
