/**
 * Constants: tensors whose values are known when the graph is traced (scalars that binary ops promote,
 * small index tables, fills). A constant lowers to an ONNX initializer, which the emitter de-duplicates.
 * Weights are NOT constants: they enter as graph inputs so that big models never become one protobuf.
 *
 * This module must not depend on other op files (they all depend on it).
 */
import type { DType, Graph, NDArray, OpDef, Shape } from '../graph.js';
import { Tensor, shapeSize } from '../graph.js';
import { ndarray } from '../ndarray.js';
import { ShapeError } from '../../util/errors.js';

export interface ConstantAttrs {
  readonly value: NDArray;
}

export const constantOp: OpDef<ConstantAttrs> = {
  name: 'constant',
  infer: (_inputs, { value }) => [{ shape: value.shape, dtype: value.dtype }],
  evaluate: (_inputs, { value }) => [value],
  lower: (onnx, _inputs, { value }) => [onnx.constant(value.data, value.shape, value.dtype)],
  vjp: () => [],
};

/** A constant tensor in `graph`; a single number gives a rank-0 tensor unless `shape` says otherwise. */
export function constant(
  graph: Graph,
  data: number | ArrayLike<number>,
  shape?: Shape,
  dtype: DType = 'float32',
): Tensor {
  const values = typeof data === 'number' ? [data] : data;
  const dims = shape ?? (typeof data === 'number' ? [] : [values.length]);
  if (shapeSize(dims) !== values.length) {
    throw new ShapeError(`op 'constant': ${values.length} values do not fill shape [${dims.join(', ')}]`);
  }
  return graph.apply(constantOp, [], { value: ndarray(dims, dtype, values) })[0];
}

/** A rank-0 constant of `like`'s dtype (or `dtype`) in `like`'s graph. */
export function scalarLike(like: Tensor, value: number, dtype: DType = like.dtype): Tensor {
  return constant(like.graph, value, [], dtype);
}

/** Scalar promotion for binary ops: a number becomes a rank-0 constant of the tensor operand's dtype. */
export function promote(like: Tensor, value: Tensor | number): Tensor {
  return value instanceof Tensor ? value : scalarLike(like, value);
}

/** The graph of the first tensor among `values`; ShapeError when there is none. */
export function graphOf(op: string, values: readonly (Tensor | number)[]): Graph {
  const tensor = values.find((v): v is Tensor => v instanceof Tensor);
  if (!tensor) throw new ShapeError(`op '${op}' needs at least one tensor operand, got only numbers`);
  return tensor.graph;
}
