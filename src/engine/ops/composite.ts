/**
 * Composite ops built only from primitives (no OpDef of their own, so their gradients come for free):
 * activations (silu, gelu; relu is a primitive, re-exported here), the mean-squared error and the
 * affine `linear` layer in PyTorch's weight layout.
 *
 * This module must not define OpDefs; an op that needs its own lowering for speed belongs in its own file.
 */
import type { Tensor } from '../graph.js';
import { shapeError } from '../graph.js';
import { add, erf, mul, sigmoid, sub, tanh } from './elementwise.js';
import { matmul } from './matmul.js';
import { mean } from './reduce.js';
import { transpose } from './shape.js';

export { relu } from './elementwise.js';

/** SiLU / swish: x·σ(x). */
export const silu = (x: Tensor): Tensor => mul(x, sigmoid(x));

/**
 * GELU. `'none'` (default, PyTorch's and diffusers' default) is exact: x·Φ(x) = ½x(1 + erf(x/√2)).
 * `'tanh'` is the approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))) of Hendrycks & Gimpel (2016).
 */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

/** Mean of squared differences over every element. */
export function mse(prediction: Tensor, target: Tensor): Tensor {
  const diff = sub(prediction, target);
  return mean(mul(diff, diff));
}

/** y = x·Wᵀ + b with W of shape [out, in] (PyTorch's nn.Linear layout) and optional b of shape [out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  if (weight.rank !== 2 || x.shape[x.rank - 1] !== weight.shape[1]) {
    throw shapeError('linear', 'weight must be [out, in] with in = last axis of x', x, weight);
  }
  const y = matmul(x, transpose(weight, [1, 0]));
  return bias ? add(y, bias) : y;
}
