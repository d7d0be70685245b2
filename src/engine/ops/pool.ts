/**
 * Average pooling over NCW / NCHW tensors (kernel, stride, zero padding), as PyTorch's avg_pool1d /
 * avg_pool2d with ceil_mode=false. Padded positions count in the divisor by default
 * (count_include_pad=true, PyTorch's default); `countIncludePad: false` divides by the number of real
 * elements under each window instead.
 *
 * The VJP spreads each output cotangent evenly over its window. Windows that tile the input (kernel =
 * stride, no padding, PyTorch's default) make that a nearest upsampling of g/K, zero-padded where the
 * windows stopped short; otherwise it is a depthwise transposed convolution with a constant filter
 * (`convTranspose` from conv.ts). Either is built from ops, so it is differentiable again. Measured at
 * 32×64×14×14 → 28×28 (onnxruntime-node 1.30, 2 threads): Resize of g/4 1.3–1.7 ms, depthwise
 * ConvTranspose 2.2–4.2 ms, Unsqueeze + Expand + Reshape 5.8–7.3 ms.
 *
 * This module must not know any runtime; the kernel is a plain float64 loop meant for tiny test shapes.
 */
import type { NDArray, OpDef, Shape } from '../graph.js';
import { Tensor, shapeError, shapeSize } from '../graph.js';
import { ndarray } from '../ndarray.js';
import { UsageError } from '../../util/errors.js';
import { constant } from './constant.js';
import { div, mul } from './elementwise.js';
import { upsample } from './resize.js';
import { pad } from './shape.js';
import type { WindowGeometry } from './conv.js';
import {
  convTranspose,
  geometryFromOptions,
  windowAttributes,
  windowOutputSize,
  windowTable,
} from './conv.js';

/** Window geometry (dilations always 1) plus the kernel and the divisor rule. */
export interface AvgPoolAttrs extends WindowGeometry {
  /** Window size per spatial axis. */
  readonly kernel: readonly number[];
  /** Divide by the full window size (true) or by the number of non-padding elements in it (false). */
  readonly countIncludePad: boolean;
}

function outputSizeOf(x: { shape: Shape }, attrs: AvgPoolAttrs): number[] {
  return windowOutputSize(x.shape.slice(2), attrs.kernel, attrs);
}

/** Divisor of each output position: the window size, or the count of real elements it covers. */
function divisors(inSize: Shape, attrs: AvgPoolAttrs): Float64Array {
  const outSize = windowOutputSize(inSize, attrs.kernel, attrs);
  const K = shapeSize(attrs.kernel);
  const counts = new Float64Array(shapeSize(outSize)).fill(K);
  if (attrs.countIncludePad) return counts;
  const table = windowTable(inSize, outSize, attrs.kernel, attrs);
  for (let o = 0; o < counts.length; o++) {
    let count = 0;
    for (let k = 0; k < K; k++) if (table[o * K + k] >= 0) count++;
    counts[o] = count;
  }
  return counts;
}

function avgPoolKernel(x: NDArray, attrs: AvgPoolAttrs): NDArray {
  const [N, C, ...inSize] = x.shape;
  const outSize = windowOutputSize(inSize, attrs.kernel, attrs);
  const table = windowTable(inSize, outSize, attrs.kernel, attrs);
  const count = divisors(inSize, attrs);
  const [S, O, K] = [shapeSize(inSize), shapeSize(outSize), shapeSize(attrs.kernel)];
  const y = ndarray([N, C, ...outSize], 'float32');
  for (let plane = 0; plane < N * C; plane++) {
    for (let o = 0; o < O; o++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const idx = table[o * K + k];
        if (idx >= 0) acc += x.data[plane * S + idx];
      }
      y.data[plane * O + o] = acc / count[o];
    }
  }
  return y;
}

export const avgPoolOp: OpDef<AvgPoolAttrs> = {
  name: 'avgPool',
  infer: ([x], attrs) => {
    const r = attrs.kernel.length;
    if (x.dtype !== 'float32') throw shapeError('avgPool', 'needs a float32 tensor', x);
    if (x.shape.length !== r + 2) {
      throw shapeError('avgPool', `input must be [N, C, ...spatial] with ${r} spatial axes`, x);
    }
    if (attrs.dilations.some((d) => d !== 1))
      throw shapeError('avgPool', 'dilated windows are not supported', x);
    const outSize = outputSizeOf(x, attrs);
    if (outSize.some((d) => d < 1)) {
      throw shapeError('avgPool', `kernel [${attrs.kernel.join(', ')}] does not fit the padded input`, x);
    }
    return [{ shape: [x.shape[0], x.shape[1], ...outSize], dtype: 'float32' }];
  },
  evaluate: ([x], attrs) => [avgPoolKernel(x, attrs)],
  lower: (onnx, [x], attrs) =>
    onnx.node('AveragePool', [x], {
      ...windowAttributes(attrs.kernel, attrs),
      count_include_pad: { kind: 'int', value: attrs.countIncludePad ? 1 : 0 },
    }),
  vjp: ({ inputs: [x], cotangents: [g], attrs }) => {
    if (!g) return [null];
    const [, C, ...inSize] = x.shape;
    const outSize = g.shape.slice(2);
    const K = shapeSize(attrs.kernel);
    if (attrs.kernel.every((k, i) => k === attrs.strides[i]) && attrs.pads.every((p) => p === 0)) {
      const spread = upsample(mul(g, 1 / K), attrs.kernel, 'nearest');
      const shortfall = inSize.map((s, i) => s - outSize[i] * attrs.kernel[i]);
      return [pad(spread, [0, 0, ...shortfall.map(() => 0), 0, 0, ...shortfall])];
    }
    // gx[table(o, k)] += g[o] / count[o]: divide, then scatter with an all-ones depthwise filter.
    const count = divisors(inSize, attrs);
    const scaled = div(g, constant(g.graph, count, [1, 1, ...outSize]));
    const ones = constant(g.graph, new Float64Array(C * K).fill(1), [C, 1, ...attrs.kernel]);
    const geometry = {
      strides: attrs.strides,
      pads: attrs.pads,
      dilations: attrs.kernel.map(() => 1),
      groups: C,
    };
    return [convTranspose(scaled, ones, { ...geometry, outputSize: inSize })];
  },
};

/** Average pool with explicit attributes: stride = kernel and no padding unless given. */
export function avgPool(
  x: Tensor,
  kernel: readonly number[],
  attrs: Partial<Pick<AvgPoolAttrs, 'strides' | 'pads' | 'countIncludePad'>> = {},
): Tensor {
  const full: AvgPoolAttrs = {
    kernel,
    strides: attrs.strides ?? kernel,
    pads: attrs.pads ?? [...kernel, ...kernel].map(() => 0),
    dilations: kernel.map(() => 1),
    countIncludePad: attrs.countIncludePad ?? true,
  };
  return x.graph.apply(avgPoolOp, [x], full)[0];
}

export interface AvgPoolOptions {
  /** Step between windows: one number or one per axis. Default: the kernel size (PyTorch's default). */
  readonly stride?: number | readonly number[];
  /** Zero padding: one number, one per axis (both sides), or `{ begin, end }` per axis. Default 0. */
  readonly padding?:
    number | readonly number[] | { readonly begin: readonly number[]; readonly end: readonly number[] };
  /** Count padded positions in the divisor (PyTorch's default, true). */
  readonly countIncludePad?: boolean;
}

function avgPoolNd(
  op: string,
  x: Tensor,
  kernel: number | readonly number[],
  options: AvgPoolOptions,
  rank: number,
): Tensor {
  if (x.rank !== rank + 2) throw shapeError(op, `input must be [N, C, ${rank === 1 ? 'L' : 'H, W'}]`, x);
  const size = typeof kernel === 'number' ? new Array<number>(rank).fill(kernel) : [...kernel];
  if (size.length !== rank || !size.every((k) => Number.isSafeInteger(k) && k >= 1)) {
    throw new UsageError(
      `op '${op}': kernel must be one positive integer or ${rank} of them, got ${JSON.stringify(kernel)}`,
    );
  }
  const geometry = geometryFromOptions(op, rank, {
    stride: options.stride ?? size,
    padding: options.padding,
  });
  if (geometry.pads.some((p, i) => p > Math.floor(size[i % rank] / 2))) {
    // PyTorch's rule: a window never covers only padding.
    throw new UsageError(`op '${op}': padding must be at most half the kernel size`);
  }
  return avgPool(x, size, { ...geometry, countIncludePad: options.countIncludePad ?? true });
}

/** Average pooling of x: [N, C, H, W] over kernel×kernel windows (stride defaults to the kernel). */
export function avgPool2d(
  x: Tensor,
  kernel: number | readonly number[],
  options: AvgPoolOptions = {},
): Tensor {
  return avgPoolNd('avgPool2d', x, kernel, options, 2);
}

/** Average pooling of x: [N, C, L] over windows of `kernel` (stride defaults to the kernel). */
export function avgPool1d(
  x: Tensor,
  kernel: number | readonly number[],
  options: AvgPoolOptions = {},
): Tensor {
  return avgPoolNd('avgPool1d', x, kernel, options, 1);
}
