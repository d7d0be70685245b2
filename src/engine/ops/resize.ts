/**
 * Upsampling of NCW / NCHW tensors by integer factors, as PyTorch's F.interpolate with
 * `scale_factor=f`: mode 'nearest' (y[i] = x[⌊i/f⌋]) and mode 'linear' (linear on one spatial axis,
 * bilinear on two) with align_corners=false, i.e. source coordinate max(0, (i + ½)/f − ½) and the two
 * neighbouring samples weighted by distance, the last one repeated at the far edge.
 *
 * Both modes are separable linear maps y = A_h · x · A_wᵀ with a per-axis interpolation matrix A of
 * shape [S·f, S]. The VJP applies the transposes: for 'nearest' that is the sum over each f×f block,
 * an average pool times f²; for 'linear' two MatMuls with constant matrices Aᵀ. Both are ops, so the
 * VJP is differentiable again.
 *
 * Lowerings, measured (onnxruntime-node 1.30, 2 threads, ×2, ms):
 *                                      32×64×7×7   32×64×14×14   8×128×32×32   8×64×48×48   8×64×64×64
 *   linear: Resize (pytorch_half_pixel)    1.3         2.4–4.5        6.3–7.2       6.4–6.9      11–23
 *   linear: two MatMuls with A           1.0–1.1       1.7–3.3        3.8–4.3       5.2–5.6      24–43
 *   nearest: Resize (asymmetric, floor)    0.9         1.3–1.4        2.9–3.5
 *   nearest: two MatMuls with A          0.7–1.0       1.4–1.5        3.7–3.8
 * so 'linear' lowers to MatMuls while every input side is ≤ 48 (their cost grows with the side, a
 * Resize's does not) and to Resize beyond; 'nearest' always lowers to Resize. VJPs at 32×64×28×28 →
 * 14×14: block sum as AveragePool·4 0.9–1.5 ms, as Reshape + ReduceSum 1.3–1.9 ms, as a depthwise
 * Conv 1.2–1.7 ms; linear VJP as two MatMuls 1.5 ms (they grow with the side like the forward
 * MatMuls do, so images much larger than 64×64 pay for it in training).
 *
 * This module must not know any runtime; the kernel is a plain float64 loop meant for tiny test shapes.
 */
import type { NDArray, OnnxBuilder, OpDef, Shape, TensorType } from '../graph.js';
import { Tensor, shapeError, shapeSize } from '../graph.js';
import { UsageError, unknownChoice } from '../../util/errors.js';
import { constant } from './constant.js';
import { matmul } from './matmul.js';
import { mul } from './elementwise.js';
import { avgPool } from './pool.js';

export type UpsampleMode = 'nearest' | 'linear';
const MODES: readonly UpsampleMode[] = ['nearest', 'linear'];

export interface UpsampleAttrs {
  readonly mode: UpsampleMode;
  /** Integer factor per spatial axis. */
  readonly scales: readonly number[];
}

/** A [size·f, size] row-major matrix: row i holds the weights of output i over the input samples. */
export function interpolationMatrix(size: number, factor: number, mode: UpsampleMode): Float64Array {
  const out = size * factor;
  const a = new Float64Array(out * size);
  for (let i = 0; i < out; i++) {
    if (mode === 'nearest') {
      a[i * size + Math.floor(i / factor)] = 1;
      continue;
    }
    // PyTorch's area_pixel_compute_source_index with align_corners=false; clamped at 0 for upsampling.
    const source = Math.max(0, (i + 0.5) / factor - 0.5);
    const i0 = Math.min(Math.floor(source), size - 1);
    const i1 = Math.min(i0 + 1, size - 1);
    const lambda = source - i0;
    a[i * size + i0] += 1 - lambda;
    a[i * size + i1] += lambda;
  }
  return a;
}

/** Applies the matrix `a` [out, in] along `axis` of x. */
function applyAlongAxis(x: NDArray, axis: number, a: Float64Array, out: number): NDArray {
  const shape = [...x.shape];
  const size = shape[axis];
  shape[axis] = out;
  const inner = shapeSize(x.shape.slice(axis + 1));
  const outer = shapeSize(x.shape.slice(0, axis));
  const data = new Float64Array(shapeSize(shape));
  for (let p = 0; p < outer; p++) {
    for (let i = 0; i < out; i++) {
      for (let s = 0; s < size; s++) {
        const weight = a[i * size + s];
        if (weight === 0) continue;
        const src = (p * size + s) * inner;
        const dst = (p * out + i) * inner;
        for (let q = 0; q < inner; q++) data[dst + q] += weight * x.data[src + q];
      }
    }
  }
  return { shape, dtype: x.dtype, data };
}

function upsampleKernel(x: NDArray, attrs: UpsampleAttrs): NDArray {
  let y = x;
  attrs.scales.forEach((f, i) => {
    const size = x.shape[i + 2];
    y = applyAlongAxis(y, i + 2, interpolationMatrix(size, f, attrs.mode), size * f);
  });
  return y;
}

/** The transpose of a row-major [rows, cols] matrix. */
function transposed(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/** gx = Aᵀ-products of the cotangent g, axis by axis (last spatial axis first). */
function upsampleVjp(g: Tensor, inShape: Shape, attrs: UpsampleAttrs): Tensor {
  const inSize = inShape.slice(2);
  if (attrs.mode === 'nearest') {
    // Each input element feeds an f×f block of outputs: sum the blocks (their mean times f²).
    return mul(avgPool(g, attrs.scales), shapeSize(attrs.scales));
  }
  const r = inSize.length;
  const last = inSize[r - 1];
  const fl = attrs.scales[r - 1];
  // Last axis: [.., S·f] · A [S·f, S].
  let gx = matmul(g, constant(g.graph, interpolationMatrix(last, fl, 'linear'), [last * fl, last]));
  if (r === 2) {
    // Leading axis: Aᵀ [S, S·f] · [.., S·f, W].
    const [h, fh] = [inSize[0], attrs.scales[0]];
    const aT = transposed(interpolationMatrix(h, fh, 'linear'), h * fh, h);
    gx = matmul(constant(g.graph, aT, [h, h * fh]), gx);
  }
  return gx;
}

/** Largest input side for which 'linear' lowers to MatMuls (measured crossover, see the header). */
const MATMUL_MAX_SIDE = 48;

/** y = A_h · x · A_wᵀ (or x · Aᵀ in 1-D) with constant interpolation matrices. */
function lowerLinearAsMatMuls(onnx: OnnxBuilder, x: string, type: TensorType, attrs: UpsampleAttrs): string {
  const inSize = type.shape.slice(2);
  const r = inSize.length;
  const [last, fl] = [inSize[r - 1], attrs.scales[r - 1]];
  const aT = transposed(interpolationMatrix(last, fl, 'linear'), last * fl, last);
  let [y] = onnx.node('MatMul', [x, onnx.constant(aT, [last, last * fl], 'float32')]);
  if (r === 2) {
    const [h, fh] = [inSize[0], attrs.scales[0]];
    [y] = onnx.node('MatMul', [
      onnx.constant(interpolationMatrix(h, fh, 'linear'), [h * fh, h], 'float32'),
      y,
    ]);
  }
  return y;
}

export const upsampleOp: OpDef<UpsampleAttrs> = {
  name: 'upsample',
  infer: ([x], attrs) => {
    const r = attrs.scales.length;
    if (x.dtype !== 'float32') throw shapeError('upsample', 'needs a float32 tensor', x);
    if (x.shape.length !== r + 2) {
      throw shapeError('upsample', `input must be [N, C, ...spatial] with ${r} spatial axes`, x);
    }
    return [
      {
        shape: [x.shape[0], x.shape[1], ...x.shape.slice(2).map((s, i) => s * attrs.scales[i])],
        dtype: 'float32',
      },
    ];
  },
  evaluate: ([x], attrs) => [upsampleKernel(x, attrs)],
  lower: (onnx, [x], attrs, { inputs: [type] }) => {
    if (attrs.mode === 'linear' && type.shape.slice(2).every((s) => s <= MATMUL_MAX_SIDE)) {
      return [lowerLinearAsMatMuls(onnx, x, type, attrs)];
    }
    const scales = onnx.constant([1, 1, ...attrs.scales], [attrs.scales.length + 2], 'float32');
    // 'asymmetric' + 'floor' is ⌊i/f⌋; 'pytorch_half_pixel' is PyTorch's align_corners=false.
    const nearest = attrs.mode === 'nearest';
    return onnx.node('Resize', [x, '', scales], {
      mode: { kind: 'string', value: attrs.mode },
      coordinate_transformation_mode: {
        kind: 'string',
        value: nearest ? 'asymmetric' : 'pytorch_half_pixel',
      },
      ...(nearest ? { nearest_mode: { kind: 'string', value: 'floor' } } : {}),
    });
  },
  vjp: ({ inputs: [x], cotangents: [g], attrs }) => [g ? upsampleVjp(g, x.shape, attrs) : null],
};

/**
 * Upsamples x: [N, C, L] or [N, C, H, W] by an integer `scale` (one number, or one per spatial axis):
 * 'nearest' (default) or 'linear' (bilinear on images), as F.interpolate(align_corners=False).
 */
export function upsample(
  x: Tensor,
  scale: number | readonly number[] = 2,
  mode: UpsampleMode = 'nearest',
): Tensor {
  const r = x.rank - 2;
  if (r !== 1 && r !== 2) throw shapeError('upsample', 'input must be [N, C, L] or [N, C, H, W]', x);
  if (!MODES.includes(mode)) throw unknownChoice('upsample mode', mode, MODES);
  const scales = typeof scale === 'number' ? new Array<number>(r).fill(scale) : [...scale];
  if (scales.length !== r || !scales.every((f) => Number.isSafeInteger(f) && f >= 1)) {
    throw new UsageError(
      `op 'upsample': scale must be one positive integer or ${r} of them, got ${JSON.stringify(scale)}`,
      {
        hint: 'fractional factors are not supported',
      },
    );
  }
  return x.graph.apply(upsampleOp, [x], { mode, scales })[0];
}
