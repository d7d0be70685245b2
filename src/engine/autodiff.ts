/**
 * Reverse-mode automatic differentiation as a transformation of traced functions. `backward` is the
 * whole core: one reverse sweep over the topologically ordered nodes that lie between the wrt tensors and
 * the outputs, accumulating cotangents and calling each op's `vjp`. The gradient graph is appended to
 * the same graph, built from ordinary ops, so it lowers, runs and differentiates again like any other.
 * `vjp`, `grad` and `valueAndGrad` lift this to functions over parameter trees (JAX style).
 *
 * This module must not know any particular op: adding an op never touches it.
 */
import type { Node, Tensor } from './graph.js';
import { Tensor as TensorClass } from './graph.js';
import { ShapeError } from '../util/errors.js';
import { add } from './ops/elementwise.js';
import { constant } from './ops/constant.js';
import { full } from './ops/shape.js';
import { sameShape } from './ndarray.js';
import type { TensorTree, Tree } from './trace.js';
import { flattenTree, isTensor, mapTree } from './trace.js';

/**
 * Cotangents of `wrt` given cotangents of `outputs` (null entries: nothing flows back); null for a wrt
 * tensor no output depends on. Only float32 tensors carry gradients.
 */
export function backward(
  outputs: readonly Tensor[],
  cotangents: readonly (Tensor | null)[],
  wrt: readonly Tensor[],
): (Tensor | null)[] {
  if (outputs.length === 0 || wrt.length === 0) return wrt.map(() => null);
  const nodes = outputs[0].graph.nodes.slice(); // the sweep appends nodes; walk only the primal ones
  const reached = new Set(wrt.filter((t) => t.dtype === 'float32').map((t) => t.id));
  const active: Node[] = [];
  for (const node of nodes) {
    if (!node.inputs.some((t) => reached.has(t.id))) continue;
    active.push(node);
    for (const out of node.outputs) if (out.dtype === 'float32') reached.add(out.id);
  }
  const sums = new Map<number, Tensor>();
  const accumulate = (tensor: Tensor, g: Tensor, from: string) => {
    if (!sameShape(g.shape, tensor.shape) || g.dtype !== tensor.dtype) {
      throw new ShapeError(`gradient from ${from}: cotangent ${g} does not match ${tensor}`);
    }
    const previous = sums.get(tensor.id);
    sums.set(tensor.id, previous ? add(previous, g) : g);
  };
  outputs.forEach((out, i) => {
    const g = cotangents[i];
    if (g && reached.has(out.id)) accumulate(out, g, `the cotangent of output ${i}`);
  });
  for (let k = active.length - 1; k >= 0; k--) {
    const node = active[k];
    const gs = node.outputs.map((out) => sums.get(out.id) ?? null);
    if (gs.every((g) => g === null)) continue;
    if (!node.op.vjp)
      throw new ShapeError(`op '${node.op.name}' is not differentiable, but a gradient flows into it`);
    const grads = node.op.vjp({
      inputs: node.inputs,
      outputs: node.outputs,
      cotangents: gs,
      attrs: node.attrs,
    });
    node.inputs.forEach((input, i) => {
      const g = grads[i];
      if (g && reached.has(input.id)) accumulate(input, g, `op '${node.op.name}' input ${i}`);
    });
  }
  return wrt.map((t) => sums.get(t.id) ?? null);
}

const leaves = (tree: TensorTree) => flattenTree(tree, isTensor).map(([, t]) => t);
const isCotangent = (v: unknown): v is Tensor | null => v === null || v instanceof TensorClass;

/** Replaces the tensors of `tree`, in flatten order, by `values` (zeros where a value is null). */
function rebuild<P extends TensorTree>(tree: P, values: readonly (Tensor | null)[]): P {
  let i = 0;
  return mapTree(tree, isTensor, (t) => values[i++] ?? full(t, t.shape, 0)) as P;
}

export interface VjpResult<P extends TensorTree, O extends TensorTree> {
  readonly outputs: O;
  /** Cotangents of the primals (a tree like them) from cotangents of the outputs (a tree like them). */
  pullback(cotangents: Tree<Tensor | null>): P;
}

/** Evaluates `fn` at `primals` and returns its outputs with the pullback (vector–Jacobian product). */
export function vjp<P extends TensorTree, O extends TensorTree>(
  fn: (primals: P) => O,
  primals: P,
): VjpResult<P, O> {
  const outputs = fn(primals);
  const outs = leaves(outputs);
  return {
    outputs,
    pullback: (cotangents) => {
      const cts = flattenTree(cotangents, isCotangent).map(([, t]) => t);
      if (cts.length !== outs.length) {
        throw new ShapeError(`pullback: ${cts.length} cotangents for ${outs.length} outputs`);
      }
      return rebuild(primals, backward(outs, cts, leaves(primals)));
    },
  };
}

function scalarValue(value: Tensor, where: string): Tensor {
  if (!(value instanceof TensorClass) || value.size !== 1 || value.dtype !== 'float32') {
    throw new ShapeError(`${where}: the function must return one float32 scalar, got ${String(value)}`);
  }
  return value;
}

/** Value and gradient of a scalar-valued function of a parameter tree. */
export function valueAndGrad<P extends TensorTree>(
  fn: (primals: P) => Tensor,
): (primals: P) => { value: Tensor; grad: P } {
  return (primals) => {
    const value = scalarValue(fn(primals), 'valueAndGrad');
    const one = constant(value.graph, 1, value.shape);
    return { value, grad: rebuild(primals, backward([value], [one], leaves(primals))) };
  };
}

/** Like valueAndGrad for a function returning `[loss, aux]`; aux (any tensor tree) is passed through. */
export function valueAndGradWithAux<P extends TensorTree, A>(
  fn: (primals: P) => readonly [Tensor, A],
): (primals: P) => { value: Tensor; grad: P; aux: A } {
  return (primals) => {
    const [loss, aux] = fn(primals);
    const value = scalarValue(loss, 'valueAndGradWithAux');
    const one = constant(value.graph, 1, value.shape);
    return { value, aux, grad: rebuild(primals, backward([value], [one], leaves(primals))) };
  };
}

/** Gradient of a scalar-valued function of a parameter tree: a tree like the primals. */
export function grad<P extends TensorTree>(fn: (primals: P) => Tensor): (primals: P) => P {
  const withValue = valueAndGrad(fn);
  return (primals) => withValue(primals).grad;
}
