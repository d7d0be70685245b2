/**
 * Batched matrix product with numpy broadcasting of the batch axes (ONNX MatMul semantics). The
 * primitive takes rank ≥ 2 operands; `matmul` promotes vectors the numpy way. VJP:
 * dA = G·Bᵀ and dB = Aᵀ·G, each summed back over broadcast batch axes.
 *
 * This module must not hold convolutions or linear layers (conv.ts, composite.ts).
 */
import type { NDArray, OpDef } from '../graph.js';
import { Tensor, apply1, shapeError, shapeSize } from '../graph.js';
import { broadcastIndex, broadcastShapes } from '../ndarray.js';
import { squeeze, sumToShape, transpose, unsqueeze } from './shape.js';

function matmulKernel(a: NDArray, b: NDArray): NDArray {
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2))!;
  const batchA = broadcastIndex(a.shape.slice(0, -2), batch);
  const batchB = broadcastIndex(b.shape.slice(0, -2), batch);
  const data = new Float64Array(shapeSize(batch) * m * n);
  for (let p = 0; p < batchA.length; p++) {
    const oa = batchA[p] * m * k;
    const ob = batchB[p] * k * n;
    const oc = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let l = 0; l < k; l++) acc += a.data[oa + i * k + l] * b.data[ob + l * n + j];
        data[oc + i * n + j] = acc;
      }
    }
  }
  return { shape: [...batch, m, n], dtype: a.dtype, data };
}

/** Swaps the last two axes. */
export function matrixTranspose(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

export const matmulOp: OpDef<null> = {
  name: 'matmul',
  infer: ([a, b]) => {
    if (a.dtype !== b.dtype || a.dtype === 'bool')
      throw shapeError('matmul', 'needs numeric operands of one dtype', a, b);
    if (a.shape.length < 2 || b.shape.length < 2)
      throw shapeError('matmul', 'primitive needs rank ≥ 2', a, b);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    if (!batch || a.shape[a.shape.length - 1] !== b.shape[b.shape.length - 2]) {
      throw shapeError('matmul', 'inner dimensions differ or batch axes do not broadcast', a, b);
    }
    return [{ shape: [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]], dtype: a.dtype }];
  },
  evaluate: ([a, b]) => [matmulKernel(a, b)],
  lower: (onnx, inputs) => onnx.node('MatMul', inputs),
  vjp: ({ inputs: [a, b], cotangents: [g] }) => {
    if (!g) return [null, null];
    return [
      sumToShape(matmul(g, matrixTranspose(b)), a.shape),
      sumToShape(matmul(matrixTranspose(a), g), b.shape),
    ];
  },
};

/** numpy.matmul: vectors are promoted to matrices and the added axis is removed again. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) throw shapeError('matmul', 'operands must have rank ≥ 1', a, b);
  const a2 = a.rank === 1 ? unsqueeze(a, [0]) : a;
  const b2 = b.rank === 1 ? unsqueeze(b, [1]) : b;
  const c = apply1(matmulOp, [a2, b2], null);
  if (a.rank === 1 && b.rank === 1) return squeeze(c, [-2, -1]);
  if (a.rank === 1) return squeeze(c, [-2]);
  if (b.rank === 1) return squeeze(c, [-1]);
  return c;
}
