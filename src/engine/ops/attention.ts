/**
 * Scaled dot-product attention as one op: O = softmax(s·QKᵀ + M)·V over q: [..., Sq, D],
 * k: [..., Sk, D], v: [..., Sk, Dv] (equal leading axes, usually [batch, heads]), with an optional
 * additive mask M broadcastable to [..., Sq, Sk] and an optional causal flag (PyTorch's is_causal:
 * query i sees keys j ≤ i). The op also outputs the probabilities P = softmax(·), which the backward
 * reuses instead of recomputing QKᵀ.
 *
 * Fused backward (S = s·QKᵀ + M, dP = dO·Vᵀ, and rowsum(dP ⊙ P) = rowsum(dO ⊙ O) because O = P·V):
 *   dV = Pᵀ·dO,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ = s·dS·K,  dK = s·dSᵀ·Q,  dM = dS summed to M's shape
 * (plus P ⊙ (g_P − rowsum(g_P ⊙ P)) in dS where P's own cotangent flows). Built from ops, so it is
 * differentiable again.
 *
 * Lowering: Mul(Q, s) → MatMul(·, Kᵀ) → Add(M) → Softmax → MatMul(·, V). Measured against ONNX
 * Attention-23 (onnxruntime-node 1.30 CPU, 2 threads; P requested as an output in both):
 * 32×8×49×8 (the benchmark U-Net's attention) 1.7–1.8 ms composed vs 1.2–2.1 ms Attention-23;
 * 32×1×196×64 and 4×8×256×64: equal within 0.1 ms. No consistent gain, so the composed form stays:
 * it needs only opset 13 and runs on every onnxruntime-web backend.
 *
 * This module must not know any runtime.
 */
import type { NDArray, OnnxBuilder, OpDef, TensorType } from '../graph.js';
import { Tensor, shapeError, shapeSize } from '../graph.js';
import { broadcastIndex, broadcastShapes, ndarray, sameShape } from '../ndarray.js';
import { UsageError } from '../../util/errors.js';
import { add, mul, sub } from './elementwise.js';
import { matmul, matrixTranspose } from './matmul.js';
import { sum } from './reduce.js';
import { sumToShape } from './shape.js';

export interface AttentionAttrs {
  /** Multiplies QKᵀ; PyTorch's default is 1/√D. */
  readonly scale: number;
  /** Mask out keys after the query's own position (j > i). */
  readonly causal: boolean;
}

interface AttentionDims {
  lead: number[];
  Sq: number;
  Sk: number;
  D: number;
  Dv: number;
}

function attentionDims([q, k, v, mask]: readonly TensorType[]): AttentionDims {
  const all = mask ? [q, k, v, mask] : [q, k, v];
  if (all.some((t) => t.dtype !== 'float32')) throw shapeError('attention', 'needs float32 tensors', ...all);
  const r = q.shape.length;
  if (r < 2 || k.shape.length !== r || v.shape.length !== r) {
    throw shapeError('attention', 'q, k, v must be [..., seq, dim] of equal rank', q, k, v);
  }
  const lead = q.shape.slice(0, r - 2);
  if (!sameShape(k.shape.slice(0, r - 2), lead) || !sameShape(v.shape.slice(0, r - 2), lead)) {
    throw shapeError('attention', 'q, k, v must have equal leading (batch, heads) axes', q, k, v);
  }
  const [Sq, D] = q.shape.slice(r - 2);
  const [Sk, Dk] = k.shape.slice(r - 2);
  const [Sv, Dv] = v.shape.slice(r - 2);
  if (Dk !== D || Sv !== Sk) {
    throw shapeError('attention', 'k must be [..., Sk, D] like q and v [..., Sk, Dv]', q, k, v);
  }
  const scores = [...lead, Sq, Sk];
  if (mask && (mask.shape.length > r || !sameShape(broadcastShapes(mask.shape, scores) ?? [], scores))) {
    throw shapeError(
      'attention',
      `mask must broadcast to the scores' shape [${scores.join(', ')}]`,
      q,
      k,
      mask,
    );
  }
  return { lead, Sq, Sk, D, Dv };
}

function attentionKernel([q, k, v, mask]: readonly NDArray[], { scale, causal }: AttentionAttrs): NDArray[] {
  const { lead, Sq, Sk, D, Dv } = attentionDims([q, k, v, mask]);
  const batches = shapeSize(lead);
  const out = ndarray([...lead, Sq, Dv], 'float32');
  const probs = ndarray([...lead, Sq, Sk], 'float32');
  const maskIndex = mask ? broadcastIndex(mask.shape, probs.shape) : null;
  const row = new Float64Array(Sk);
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < Sq; i++) {
      let max = -Infinity;
      for (let j = 0; j < Sk; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += q.data[(b * Sq + i) * D + d] * k.data[(b * Sk + j) * D + d];
        s *= scale;
        if (maskIndex) s += mask.data[maskIndex[(b * Sq + i) * Sk + j]];
        if (causal && j > i) s = -Infinity;
        row[j] = s;
        max = Math.max(max, s);
      }
      let total = 0;
      for (let j = 0; j < Sk; j++) total += row[j] = Math.exp(row[j] - max);
      for (let j = 0; j < Sk; j++) {
        const p = row[j] / total;
        probs.data[(b * Sq + i) * Sk + j] = p;
        for (let d = 0; d < Dv; d++) out.data[(b * Sq + i) * Dv + d] += p * v.data[(b * Sk + j) * Dv + d];
      }
    }
  }
  return [out, probs];
}

/** The causal mask as an additive [Sq, Sk] constant: 0 where j ≤ i, −∞ after. */
function causalMask(Sq: number, Sk: number): Float64Array {
  const m = new Float64Array(Sq * Sk);
  for (let i = 0; i < Sq; i++) for (let j = i + 1; j < Sk; j++) m[i * Sk + j] = -Infinity;
  return m;
}

function lowerAttention(
  onnx: OnnxBuilder,
  inputs: readonly string[],
  attrs: AttentionAttrs,
  types: readonly TensorType[],
): string[] {
  const [q, k, v, mask] = inputs;
  const r = types[0].shape.length;
  const { Sq, Sk } = attentionDims(types);
  const perm = [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
  const [kT] = onnx.node('Transpose', [k], { perm: { kind: 'ints', value: perm } });
  // Scaling Q (Sq·D products) instead of the scores (Sq·Sk) is the cheaper place for s.
  const [qScaled] = onnx.node('Mul', [q, onnx.constant([attrs.scale], [], 'float32')]);
  let [scores] = onnx.node('MatMul', [qScaled, kT]);
  if (mask) [scores] = onnx.node('Add', [scores, mask]);
  if (attrs.causal)
    [scores] = onnx.node('Add', [scores, onnx.constant(causalMask(Sq, Sk), [Sq, Sk], 'float32')]);
  const [probs] = onnx.node('Softmax', [scores], { axis: { kind: 'int', value: -1 } });
  return [onnx.node('MatMul', [probs, v])[0], probs];
}

export const attentionOp: OpDef<AttentionAttrs> = {
  name: 'attention',
  infer: (inputs) => {
    const { lead, Sq, Sk, Dv } = attentionDims(inputs);
    return [
      { shape: [...lead, Sq, Dv], dtype: 'float32' },
      { shape: [...lead, Sq, Sk], dtype: 'float32' },
    ];
  },
  evaluate: attentionKernel,
  lower: (onnx, inputs, attrs, { inputs: types }) => lowerAttention(onnx, inputs, attrs, types),
  vjp: ({ inputs: [q, k, v, mask], outputs: [o, p], cotangents: [gO, gP], attrs: { scale } }) => {
    const last = q.rank - 1;
    let dS: Tensor | null = null;
    let gv: Tensor | null = null;
    if (gO) {
      gv = matmul(matrixTranspose(p), gO);
      const dP = matmul(gO, matrixTranspose(v));
      dS = mul(p, sub(dP, sum(mul(gO, o), [last], true)));
    }
    if (gP) {
      const direct = mul(p, sub(gP, sum(mul(gP, p), [last], true)));
      dS = dS ? add(dS, direct) : direct;
    }
    if (!dS) return [null, null, null, ...(mask ? [null] : [])];
    const gq = mul(matmul(dS, k), scale);
    const gk = mul(matmul(matrixTranspose(dS), q), scale);
    return mask ? [gq, gk, gv, sumToShape(dS, mask.shape)] : [gq, gk, gv];
  },
};

export interface AttentionOptions {
  /** Additive mask broadcastable to [..., Sq, Sk] (−∞ or a large negative number hides a key). */
  readonly mask?: Tensor | null;
  /** Each query attends only to keys at or before its own position. Default false. */
  readonly causal?: boolean;
  /** Multiplies QKᵀ. Default 1/√D. */
  readonly scale?: number;
}

/** softmax(QKᵀ·scale + mask)·V for q: [..., Sq, D], k: [..., Sk, D], v: [..., Sk, Dv]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const scale = options.scale ?? 1 / Math.sqrt(q.shape[q.rank - 1]);
  if (!Number.isFinite(scale))
    throw new UsageError(`op 'attention': scale must be a finite number, got ${scale}`);
  const inputs = options.mask ? [q, k, v, options.mask] : [q, k, v];
  return q.graph.apply(attentionOp, inputs, { scale, causal: options.causal ?? false })[0];
}
