/**
 * Convolutions over NCW / NCHW tensors (PyTorch's layout and weight layout `[out, in/groups, ...kernel]`)
 * with stride, zero padding (asymmetric allowed), dilation, groups and an optional bias, and the two
 * linear maps their gradient needs, each a differentiable op of its own:
 * - `conv`: y[n, m, o] = b[m] + Σ_{c, k} w[m, c, k] · x[n, g(m)·Cg + c, o·s + k·d − p_begin];
 * - `convTranspose`: the adjoint of `conv` in x (the input gradient; also PyTorch's ConvTranspose);
 * - `convFilterGrad`: the adjoint of `conv` in w (the filter gradient), which ONNX has no op for.
 * The three are closed under differentiation (each one's VJP is built from the other two), so
 * second-order gradients work. The sliding-window index table here is shared with pooling.
 *
 * This module must not know any runtime; kernels are plain float64 loops meant for tiny test shapes.
 */
import type { NDArray, OnnxBuilder, OpDef, Shape, TensorType } from '../graph.js';
import { Tensor, shapeError, shapeSize } from '../graph.js';
import { ndarray } from '../ndarray.js';
import { UsageError } from '../../util/errors.js';
import { sum } from './reduce.js';

/** Where a sliding window lands: per spatial axis, one entry each. */
export interface WindowGeometry {
  /** Step between neighbouring windows (PyTorch `stride`). */
  readonly strides: readonly number[];
  /** Zero padding in ONNX order: the begin of every spatial axis, then the end of every axis. */
  readonly pads: readonly number[];
  /** Spacing between kernel taps (PyTorch `dilation`); 1 is a dense kernel. */
  readonly dilations: readonly number[];
}

export interface ConvGeometry extends WindowGeometry {
  /** Channels split into this many independent groups (PyTorch `groups`). */
  readonly groups: number;
}

export interface ConvTransposeAttrs extends ConvGeometry {
  /** Spatial size of the result: the input size of the convolution this op is the adjoint of. */
  readonly outputSize: readonly number[];
}

export interface ConvFilterGradAttrs extends ConvGeometry {
  /** Spatial size of the filter whose gradient this is. */
  readonly kernelSize: readonly number[];
}

// ---------------------------------------------------------------------------------------------------
// Sliding windows

/** out_i = ⌊(S_i + p_begin + p_end − d_i·(K_i − 1) − 1) / s_i⌋ + 1, as ONNX and PyTorch define it. */
export function windowOutputSize(inSize: Shape, kernel: Shape, geometry: WindowGeometry): number[] {
  const r = inSize.length;
  return inSize.map((s, i) => {
    const span = geometry.dilations[i] * (kernel[i] - 1) + 1;
    return Math.floor((s + geometry.pads[i] + geometry.pads[r + i] - span) / geometry.strides[i]) + 1;
  });
}

/**
 * For every (output position o, kernel tap k), the flat spatial index of the input element the tap
 * reads, or −1 where it reads zero padding: entry o·Kcount + k. Every reference kernel here walks it.
 */
export function windowTable(
  inSize: Shape,
  outSize: Shape,
  kernel: Shape,
  geometry: WindowGeometry,
): Int32Array {
  const r = inSize.length;
  const outCount = shapeSize(outSize);
  const kCount = shapeSize(kernel);
  const table = new Int32Array(outCount * kCount);
  const o = new Array<number>(r).fill(0);
  for (let of = 0; of < outCount; of++) {
    let rest = of;
    for (let i = r - 1; i >= 0; i--) {
      o[i] = rest % outSize[i];
      rest = Math.floor(rest / outSize[i]);
    }
    for (let kf = 0; kf < kCount; kf++) {
      let krest = kf;
      let flat = 0;
      let stride = 1;
      for (let i = r - 1; i >= 0 && flat >= 0; i--) {
        const k = krest % kernel[i];
        krest = Math.floor(krest / kernel[i]);
        const pos = o[i] * geometry.strides[i] + k * geometry.dilations[i] - geometry.pads[i];
        flat = pos < 0 || pos >= inSize[i] ? -1 : flat + pos * stride;
        stride *= inSize[i];
      }
      table[of * kCount + kf] = flat;
    }
  }
  return table;
}

/** ONNX attributes of a window geometry (shared by Conv, ConvTranspose and AveragePool). */
export function windowAttributes(kernel: Shape, geometry: WindowGeometry) {
  return {
    kernel_shape: { kind: 'ints', value: [...kernel] },
    strides: { kind: 'ints', value: [...geometry.strides] },
    pads: { kind: 'ints', value: [...geometry.pads] },
  } as const;
}

// ---------------------------------------------------------------------------------------------------
// Shape rules

interface ConvDims {
  batch: number;
  inChannels: number;
  outChannels: number;
  inSize: number[];
  kernel: number[];
  outSize: number[];
}

function checkFloat(op: string, types: readonly TensorType[]): void {
  if (types.some((t) => t.dtype !== 'float32')) throw shapeError(op, 'needs float32 tensors', ...types);
}

function checkBias(
  op: string,
  bias: TensorType | undefined,
  channels: number,
  all: readonly TensorType[],
): void {
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== channels)) {
    throw shapeError(op, `bias must have shape [${channels}]`, ...all);
  }
}

/** Dimensions of conv(x: [N, C, ...S], w: [M, C/groups, ...K]); ShapeError naming the op and the shapes. */
function convDims(op: string, x: TensorType, w: TensorType, geometry: ConvGeometry): ConvDims {
  const r = x.shape.length - 2;
  if (r < 1 || w.shape.length !== r + 2) {
    throw shapeError(
      op,
      'input must be [N, C, ...spatial] and weight [out, in/groups, ...kernel] of equal rank',
      x,
      w,
    );
  }
  if (geometry.strides.length !== r || geometry.dilations.length !== r || geometry.pads.length !== 2 * r) {
    throw shapeError(
      op,
      `strides, dilations (${r} each) and pads (${2 * r}) do not fit the spatial rank`,
      x,
      w,
    );
  }
  const [batch, inChannels] = x.shape;
  const outChannels = w.shape[0];
  const g = geometry.groups;
  if (inChannels % g !== 0 || outChannels % g !== 0 || w.shape[1] * g !== inChannels) {
    throw shapeError(
      op,
      `with ${g} group(s), input channels (${inChannels}) must equal weight.shape[1]·groups and both channel counts must divide by groups`,
      x,
      w,
    );
  }
  const inSize = x.shape.slice(2);
  const kernel = w.shape.slice(2);
  const outSize = windowOutputSize(inSize, kernel, geometry);
  if (outSize.some((d) => d < 1)) {
    throw shapeError(
      op,
      `the dilated kernel does not fit the padded input (output size [${outSize.join(', ')}])`,
      x,
      w,
    );
  }
  return { batch, inChannels, outChannels, inSize, kernel, outSize };
}

// ---------------------------------------------------------------------------------------------------
// Reference kernels (float64)

/** y[n, m, o] = b[m] + Σ_{c, k} w[m, c, k] x[n, g·Cg + c, table(o, k)]. */
function convKernel(x: NDArray, w: NDArray, bias: NDArray | undefined, geometry: ConvGeometry): NDArray {
  const d = convDims('conv', x, w, geometry);
  const table = windowTable(d.inSize, d.outSize, d.kernel, geometry);
  const [S, O, K] = [shapeSize(d.inSize), shapeSize(d.outSize), shapeSize(d.kernel)];
  const [Cg, Mg] = [d.inChannels / geometry.groups, d.outChannels / geometry.groups];
  const y = ndarray([d.batch, d.outChannels, ...d.outSize], 'float32');
  for (let n = 0; n < d.batch; n++) {
    for (let m = 0; m < d.outChannels; m++) {
      const g = Math.floor(m / Mg);
      const yBase = (n * d.outChannels + m) * O;
      for (let o = 0; o < O; o++) {
        let acc = bias ? bias.data[m] : 0;
        for (let c = 0; c < Cg; c++) {
          const xBase = (n * d.inChannels + g * Cg + c) * S;
          const wBase = (m * Cg + c) * K;
          for (let k = 0; k < K; k++) {
            const idx = table[o * K + k];
            if (idx >= 0) acc += x.data[xBase + idx] * w.data[wBase + k];
          }
        }
        y.data[yBase + o] = acc;
      }
    }
  }
  return y;
}

/** The adjoint in x: z[n, g·Cg + c, table(o, k)] += y[n, m, o] w[m, c, k] (plus a per-channel bias). */
function convTransposeKernel(
  y: NDArray,
  w: NDArray,
  bias: NDArray | undefined,
  attrs: ConvTransposeAttrs,
): NDArray {
  const Mg = w.shape[0] / attrs.groups;
  const Cg = w.shape[1];
  const C = Cg * attrs.groups;
  const [N, M] = y.shape;
  const kernel = w.shape.slice(2);
  const outSize = y.shape.slice(2);
  const table = windowTable(attrs.outputSize, outSize, kernel, attrs);
  const [S, O, K] = [shapeSize(attrs.outputSize), shapeSize(outSize), shapeSize(kernel)];
  const z = ndarray([N, C, ...attrs.outputSize], 'float32');
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const yBase = (n * M + m) * O;
      for (let c = 0; c < Cg; c++) {
        const zBase = (n * C + g * Cg + c) * S;
        const wBase = (m * Cg + c) * K;
        for (let o = 0; o < O; o++) {
          const v = y.data[yBase + o];
          for (let k = 0; k < K; k++) {
            const idx = table[o * K + k];
            if (idx >= 0) z.data[zBase + idx] += v * w.data[wBase + k];
          }
        }
      }
    }
  }
  if (bias) {
    for (let i = 0; i < z.data.length; i++) z.data[i] += bias.data[Math.floor(i / S) % C];
  }
  return z;
}

/** The adjoint in w: dw[m, c, k] = Σ_{n, o} gy[n, m, o] x[n, g·Cg + c, table(o, k)]. */
function convFilterGradKernel(x: NDArray, gy: NDArray, attrs: ConvFilterGradAttrs): NDArray {
  const [N, C] = x.shape;
  const M = gy.shape[1];
  const Cg = C / attrs.groups;
  const Mg = M / attrs.groups;
  const inSize = x.shape.slice(2);
  const outSize = gy.shape.slice(2);
  const table = windowTable(inSize, outSize, attrs.kernelSize, attrs);
  const [S, O, K] = [shapeSize(inSize), shapeSize(outSize), shapeSize(attrs.kernelSize)];
  const dw = ndarray([M, Cg, ...attrs.kernelSize], 'float32');
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const gBase = (n * M + m) * O;
      for (let c = 0; c < Cg; c++) {
        const xBase = (n * C + g * Cg + c) * S;
        const wBase = (m * Cg + c) * K;
        for (let o = 0; o < O; o++) {
          const v = gy.data[gBase + o];
          for (let k = 0; k < K; k++) {
            const idx = table[o * K + k];
            if (idx >= 0) dw.data[wBase + k] += v * x.data[xBase + idx];
          }
        }
      }
    }
  }
  return dw;
}

// ---------------------------------------------------------------------------------------------------
// ONNX lowerings

const ints = (onnx: OnnxBuilder, values: readonly number[]): string =>
  onnx.constant(values, [values.length], 'int64');

function convAttributes(kernel: Shape, geometry: ConvGeometry) {
  return {
    ...windowAttributes(kernel, geometry),
    dilations: { kind: 'ints', value: [...geometry.dilations] },
    group: { kind: 'int', value: geometry.groups },
  } as const;
}

/**
 * The input gradient. With unit strides it is a plain convolution of y with the filter flipped in
 * space and with in/out channels swapped per group, padded by d·(K−1) − p on each side. Measured on
 * the benchmark shape (batch 32, 28×28, 64→64, 3×3, padding 1, onnxruntime-node 1.30, 2 threads):
 * ConvTranspose 19.5 ms, flipped Conv 13.2 ms; so unit strides take the Conv path. Strided
 * convolutions (and paddings wider than the dilated kernel) use ConvTranspose, with output_padding
 * recovering the input rows that the strided windows never reached.
 */
function lowerConvTranspose(
  onnx: OnnxBuilder,
  inputs: readonly string[],
  attrs: ConvTransposeAttrs,
  types: readonly TensorType[],
): string[] {
  const [y, w, bias] = inputs;
  const wType = types[1];
  const kernel = wType.shape.slice(2);
  const r = kernel.length;
  const outSize = types[0].shape.slice(2);
  const extent = kernel.map((k, i) => attrs.dilations[i] * (k - 1));
  const flippedPads = [...extent, ...extent].map((e, i) => e - attrs.pads[i]);
  if (attrs.strides.every((s) => s === 1) && flippedPads.every((p) => p >= 0)) {
    const flipped = flippedFilter(onnx, w, wType.shape, attrs.groups);
    const geometry: ConvGeometry = { ...attrs, pads: flippedPads };
    return onnx.node('Conv', bias ? [y, flipped, bias] : [y, flipped], convAttributes(kernel, geometry));
  }
  const reached = outSize.map(
    (o, i) => attrs.strides[i] * (o - 1) + extent[i] + 1 - attrs.pads[i] - attrs.pads[r + i],
  );
  const outputPadding = attrs.outputSize.map((s, i) => s - reached[i]);
  return onnx.node('ConvTranspose', inputs, {
    ...convAttributes(kernel, attrs),
    output_padding: { kind: 'ints', value: outputPadding },
  });
}

/** w: [M, Cg, ...K] → w′: [C, Mg, ...K] with w′[g·Cg + c, m, k] = w[g·Mg + m, c, K − 1 − k]. */
function flippedFilter(onnx: OnnxBuilder, w: string, shape: Shape, groups: number): string {
  const [M, Cg, ...kernel] = shape;
  const r = kernel.length;
  const spatial = kernel.map((_, i) => i + 2);
  let swapped: string;
  if (groups === 1) {
    [swapped] = onnx.node('Transpose', [w], { perm: { kind: 'ints', value: [1, 0, ...spatial] } });
  } else {
    const Mg = M / groups;
    const [split] = onnx.node('Reshape', [w, ints(onnx, [groups, Mg, Cg, ...kernel])]);
    const [perm] = onnx.node('Transpose', [split], {
      perm: { kind: 'ints', value: [0, 2, 1, ...spatial.map((a) => a + 1)] },
    });
    [swapped] = onnx.node('Reshape', [perm, ints(onnx, [groups * Cg, Mg, ...kernel])]);
  }
  const starts = ints(onnx, new Array<number>(r).fill(-1));
  const ends = ints(
    onnx,
    kernel.map((k) => -k - 1),
  );
  const steps = ints(onnx, new Array<number>(r).fill(-1));
  return onnx.node('Slice', [swapped, starts, ends, ints(onnx, spatial), steps])[0];
}

/**
 * The filter gradient, one batched MatMul per kernel tap: for tap k, the strided slice of the padded
 * input X_k: [N, g, Cg, O] times gyᵀ: [N, g, O, Mg], summed over the batch. Measured on the benchmark
 * shape (batch 32, 28×28, 64→64, 3×3, padding 1, onnxruntime-node 1.30, 2 threads), against the same
 * result computed other ways:
 *   Conv with batch and channels swapped (x as [C, N, H, W], gy as the filter)   104 ms
 *   Einsum over an im2col tensor                                                  115 ms
 *   im2col [C·9, N·H·W] (9 slices + Concat) and one Gemm                           64 ms
 *   im2col per batch item, batched MatMul, ReduceSum over the batch                25 ms
 *   one Gemm per tap on [C, N·H·W] slices                                          19 ms
 *   one batched MatMul per tap + ReduceSum over the batch (this)                  15.4 ms
 * The swapped Conv runs onnxruntime's im2col with a 28×28 "kernel" and a 3×3 output (a GEMM with 9
 * columns); the winner keeps every GEMM at [Cg × O] · [O × Mg], never materialises im2col, and is as
 * fast per FLOP as the forward convolution (119 GFLOP/s).
 */
function lowerConvFilterGrad(
  onnx: OnnxBuilder,
  inputs: readonly string[],
  attrs: ConvFilterGradAttrs,
  types: readonly TensorType[],
): string[] {
  const [x, gy] = inputs;
  const [N, C, ...inSize] = types[0].shape;
  const [, M, ...outSize] = types[1].shape;
  const g = attrs.groups;
  const [Cg, Mg] = [C / g, M / g];
  const r = inSize.length;
  const O = shapeSize(outSize);
  const kernel = attrs.kernelSize;
  const spatialAxes = inSize.map((_, i) => i + 2);
  const padded = attrs.pads.some((p) => p !== 0)
    ? onnx.node('Pad', [x, ints(onnx, [0, 0, ...attrs.pads.slice(0, r), 0, 0, ...attrs.pads.slice(r)])])[0]
    : x;
  const [gy4] = onnx.node('Reshape', [gy, ints(onnx, [N, g, Mg, O])]);
  const [gyT] = onnx.node('Transpose', [gy4], { perm: { kind: 'ints', value: [0, 1, 3, 2] } });
  const taps: string[] = [];
  const axesName = ints(onnx, spatialAxes);
  const stepsName = ints(onnx, attrs.strides);
  const batchAxis = ints(onnx, [0]);
  const lastAxis = ints(onnx, [3]);
  for (let kf = 0; kf < shapeSize(kernel); kf++) {
    const tap = unravelTap(kf, kernel);
    const starts = tap.map((k, i) => k * attrs.dilations[i]);
    const ends = starts.map((s, i) => s + attrs.strides[i] * (outSize[i] - 1) + 1);
    const [slice] = onnx.node('Slice', [padded, ints(onnx, starts), ints(onnx, ends), axesName, stepsName]);
    const [slice4] = onnx.node('Reshape', [slice, ints(onnx, [N, g, Cg, O])]);
    const [product] = onnx.node('MatMul', [slice4, gyT]);
    const [summed] = onnx.node('ReduceSum', [product, batchAxis], { keepdims: { kind: 'int', value: 0 } });
    taps.push(onnx.node('Unsqueeze', [summed, lastAxis])[0]);
  }
  const [stacked] = taps.length === 1 ? taps : onnx.node('Concat', taps, { axis: { kind: 'int', value: 3 } });
  const [perm] = onnx.node('Transpose', [stacked], { perm: { kind: 'ints', value: [0, 2, 1, 3] } });
  return onnx.node('Reshape', [perm, ints(onnx, [M, Cg, ...kernel])]);
}

function unravelTap(flat: number, kernel: Shape): number[] {
  const tap = new Array<number>(kernel.length);
  for (let i = kernel.length - 1; i >= 0; i--) {
    tap[i] = flat % kernel[i];
    flat = Math.floor(flat / kernel[i]);
  }
  return tap;
}

// ---------------------------------------------------------------------------------------------------
// OpDefs

/** Sum of a cotangent over every axis but the channel axis: the gradient of a per-channel bias. */
function biasGrad(g: Tensor): Tensor {
  return sum(g, [0, ...g.shape.slice(2).map((_, i) => i + 2)]);
}

export const convOp: OpDef<ConvGeometry> = {
  name: 'conv',
  infer: (inputs, geometry) => {
    const [x, w, bias] = inputs;
    checkFloat('conv', inputs);
    const d = convDims('conv', x, w, geometry);
    checkBias('conv', bias, d.outChannels, inputs);
    return [{ shape: [d.batch, d.outChannels, ...d.outSize], dtype: 'float32' }];
  },
  evaluate: ([x, w, bias], geometry) => [convKernel(x, w, bias, geometry)],
  lower: (onnx, inputs, geometry, { inputs: types }) =>
    onnx.node('Conv', inputs, convAttributes(types[1].shape.slice(2), geometry)),
  vjp: ({ inputs: [x, w, bias], cotangents: [g], attrs }) => {
    if (!g) return [null, null, ...(bias ? [null] : [])];
    const gx = convTranspose(g, w, { ...attrs, outputSize: x.shape.slice(2) });
    const gw = convFilterGrad(x, g, { ...attrs, kernelSize: w.shape.slice(2) });
    return bias ? [gx, gw, biasGrad(g)] : [gx, gw];
  },
};

export const convTransposeOp: OpDef<ConvTransposeAttrs> = {
  name: 'convTranspose',
  infer: (inputs, attrs) => {
    const [y, w, bias] = inputs;
    checkFloat('convTranspose', inputs);
    if (y.shape.length !== attrs.outputSize.length + 2 || y.shape[1] !== w.shape[0]) {
      throw shapeError('convTranspose', 'input must be [N, weight.shape[0], ...spatial]', y, w);
    }
    const x = {
      shape: [y.shape[0], w.shape[1] * attrs.groups, ...attrs.outputSize],
      dtype: 'float32',
    } as const;
    const d = convDims('convTranspose', x, w, attrs);
    if (d.outSize.some((o, i) => o !== y.shape[i + 2])) {
      throw shapeError(
        'convTranspose',
        `a convolution of an input of spatial size [${attrs.outputSize.join(', ')}] gives [${d.outSize.join(', ')}], not the input's spatial size`,
        y,
        w,
      );
    }
    checkBias('convTranspose', bias, d.inChannels, inputs);
    return [x];
  },
  evaluate: ([y, w, bias], attrs) => [convTransposeKernel(y, w, bias, attrs)],
  lower: (onnx, inputs, attrs, { inputs: types }) => lowerConvTranspose(onnx, inputs, attrs, types),
  vjp: ({ inputs: [y, w, bias], cotangents: [g], attrs }) => {
    if (!g) return [null, null, ...(bias ? [null] : [])];
    const geometry = convGeometryOf(attrs);
    const gy = conv(g, w, null, geometry);
    const gw = convFilterGrad(g, y, { ...geometry, kernelSize: w.shape.slice(2) });
    return bias ? [gy, gw, biasGrad(g)] : [gy, gw];
  },
};

export const convFilterGradOp: OpDef<ConvFilterGradAttrs> = {
  name: 'convFilterGrad',
  infer: (inputs, attrs) => {
    const [x, gy] = inputs;
    checkFloat('convFilterGrad', inputs);
    if (
      x.shape.length !== attrs.kernelSize.length + 2 ||
      gy.shape.length !== x.shape.length ||
      gy.shape[0] !== x.shape[0]
    ) {
      throw shapeError(
        'convFilterGrad',
        'input and output gradient must be [N, C, ...spatial] of equal batch',
        x,
        gy,
      );
    }
    const w = {
      shape: [gy.shape[1], x.shape[1] / attrs.groups, ...attrs.kernelSize],
      dtype: 'float32',
    } as const;
    if (!Number.isInteger(w.shape[1])) {
      throw shapeError('convFilterGrad', `input channels do not divide by ${attrs.groups} groups`, x, gy);
    }
    const d = convDims('convFilterGrad', x, w, attrs);
    if (d.outSize.some((o, i) => o !== gy.shape[i + 2])) {
      throw shapeError(
        'convFilterGrad',
        `the output gradient must have spatial size [${d.outSize.join(', ')}]`,
        x,
        gy,
      );
    }
    return [w];
  },
  evaluate: ([x, gy], attrs) => [convFilterGradKernel(x, gy, attrs)],
  lower: (onnx, inputs, attrs, { inputs: types }) => lowerConvFilterGrad(onnx, inputs, attrs, types),
  vjp: ({ inputs: [x, gy], cotangents: [g], attrs }) => {
    if (!g) return [null, null];
    // <F(x, gy), H> = <gy, conv(x, H)> = <x, convTranspose(gy, H)>.
    const geometry = convGeometryOf(attrs);
    const gx = convTranspose(gy, g, { ...geometry, outputSize: x.shape.slice(2) });
    return [gx, conv(x, g, null, geometry)];
  },
};

function convGeometryOf(attrs: ConvGeometry): ConvGeometry {
  return { strides: attrs.strides, pads: attrs.pads, dilations: attrs.dilations, groups: attrs.groups };
}

// ---------------------------------------------------------------------------------------------------
// Functions

/** conv with explicit geometry (any spatial rank); prefer conv1d / conv2d. */
export function conv(x: Tensor, weight: Tensor, bias: Tensor | null, geometry: ConvGeometry): Tensor {
  return x.graph.apply(convOp, bias ? [x, weight, bias] : [x, weight], geometry)[0];
}

/** The adjoint of conv in its input (the input gradient); the result has spatial size `outputSize`. */
export function convTranspose(
  y: Tensor,
  weight: Tensor,
  attrs: ConvTransposeAttrs,
  bias: Tensor | null = null,
): Tensor {
  return y.graph.apply(convTransposeOp, bias ? [y, weight, bias] : [y, weight], attrs)[0];
}

/** The adjoint of conv in its filter (the filter gradient) for input x and output cotangent gy. */
export function convFilterGrad(x: Tensor, gy: Tensor, attrs: ConvFilterGradAttrs): Tensor {
  return x.graph.apply(convFilterGradOp, [x, gy], attrs)[0];
}

export interface ConvOptions {
  /** Step between windows: one number for every spatial axis, or one per axis. Default 1. */
  readonly stride?: number | readonly number[];
  /**
   * Zero padding: one number for every side, one number per axis (both sides of it, as PyTorch), or
   * `{ begin, end }` with one number per axis each for asymmetric padding. Default 0.
   */
  readonly padding?:
    number | readonly number[] | { readonly begin: readonly number[]; readonly end: readonly number[] };
  /** Spacing between kernel taps: one number or one per axis. Default 1. */
  readonly dilation?: number | readonly number[];
  /** Split channels into independent groups (groups = channels is a depthwise convolution). Default 1. */
  readonly groups?: number;
}

function perAxis(
  op: string,
  name: string,
  value: number | readonly number[],
  rank: number,
  min: number,
): number[] {
  const values = typeof value === 'number' ? new Array<number>(rank).fill(value) : [...value];
  if (values.length !== rank || !values.every((v) => Number.isSafeInteger(v) && v >= min)) {
    throw new UsageError(
      `op '${op}': ${name} must be one integer ≥ ${min} or ${rank} of them, got ${JSON.stringify(value)}`,
    );
  }
  return values;
}

/** Validated geometry from PyTorch-style options for a `rank`-dimensional window op. */
export function geometryFromOptions(op: string, rank: number, options: ConvOptions): ConvGeometry {
  const { padding = 0, groups = 1 } = options;
  let pads: number[];
  if (typeof padding === 'number' || Array.isArray(padding)) {
    const perSide = perAxis(op, 'padding', padding as number | number[], rank, 0);
    pads = [...perSide, ...perSide];
  } else {
    const { begin, end } = padding as { begin: readonly number[]; end: readonly number[] };
    pads = [...perAxis(op, 'padding.begin', begin, rank, 0), ...perAxis(op, 'padding.end', end, rank, 0)];
  }
  if (!Number.isSafeInteger(groups) || groups < 1) {
    throw new UsageError(`op '${op}': groups must be a positive integer, got ${groups}`);
  }
  return {
    strides: perAxis(op, 'stride', options.stride ?? 1, rank, 1),
    pads,
    dilations: perAxis(op, 'dilation', options.dilation ?? 1, rank, 1),
    groups,
  };
}

function checkRank(op: string, x: Tensor, rank: number, layout: string): void {
  if (x.rank !== rank + 2) throw shapeError(op, `input must be ${layout}`, x);
}

/** 2-D convolution of x: [N, C, H, W] with weight: [M, C/groups, kH, kW] and optional bias: [M]. */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: ConvOptions = {},
): Tensor {
  checkRank('conv2d', x, 2, '[N, C, H, W]');
  return conv(x, weight, bias, geometryFromOptions('conv2d', 2, options));
}

/** 1-D convolution of x: [N, C, L] with weight: [M, C/groups, k] and optional bias: [M]. */
export function conv1d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: ConvOptions = {},
): Tensor {
  checkRank('conv1d', x, 1, '[N, C, L]');
  return conv(x, weight, bias, geometryFromOptions('conv1d', 1, options));
}

export interface ConvTransposeOptions extends ConvOptions {
  /** Extra rows/columns at the end of the output, to pick among the sizes a stride allows. Default 0. */
  readonly outputPadding?: number | readonly number[];
}

/**
 * PyTorch's ConvTranspose: x: [N, Cin, ...S], weight: [Cin, Cout/groups, ...K], bias: [Cout]; output
 * size (S − 1)·s − p_begin − p_end + d·(K − 1) + outputPadding + 1 per axis.
 */
function convTransposeNd(
  op: string,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  options: ConvTransposeOptions,
  rank: number,
): Tensor {
  const geometry = geometryFromOptions(op, rank, options);
  const extra = perAxis(op, 'outputPadding', options.outputPadding ?? 0, rank, 0);
  if (extra.some((e, i) => e >= geometry.strides[i])) {
    throw new UsageError(`op '${op}': outputPadding [${extra.join(', ')}] must be smaller than the stride`);
  }
  if (weight.rank !== rank + 2)
    throw shapeError(op, 'weight must be [Cin, Cout/groups, ...kernel]', x, weight);
  const outputSize = x.shape.slice(2).map((s, i) => {
    const span = geometry.dilations[i] * (weight.shape[i + 2] - 1);
    return (s - 1) * geometry.strides[i] - geometry.pads[i] - geometry.pads[rank + i] + span + extra[i] + 1;
  });
  if (outputSize.some((s) => s < 1)) {
    throw shapeError(op, `padding leaves no output (size [${outputSize.join(', ')}])`, x, weight);
  }
  return convTranspose(x, weight, { ...geometry, outputSize }, bias);
}

/** 2-D transposed convolution (PyTorch's ConvTranspose2d semantics, weight [Cin, Cout/groups, kH, kW]). */
export function convTranspose2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: ConvTransposeOptions = {},
): Tensor {
  checkRank('convTranspose2d', x, 2, '[N, C, H, W]');
  return convTransposeNd('convTranspose2d', x, weight, bias, options, 2);
}

/** 1-D transposed convolution (PyTorch's ConvTranspose1d semantics, weight [Cin, Cout/groups, k]). */
export function convTranspose1d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: ConvTransposeOptions = {},
): Tensor {
  checkRank('convTranspose1d', x, 1, '[N, C, L]');
  return convTransposeNd('convTranspose1d', x, weight, bias, options, 1);
}
