/**
 * The float64 reference interpreter: evaluates the part of a graph that the requested outputs depend on,
 * calling each op's `evaluate` kernel in graph order. It is the oracle for every ONNX lowering and for
 * finite-difference gradient checks, and runs tiny graphs without onnxruntime.
 *
 * This module must not round to float32 or call any other runtime: it is exact float64 by design.
 */
import type { NDArray, Node, Tensor } from '../graph.js';
import { ShapeError } from '../../util/errors.js';
import { formatShape, sameShape } from '../ndarray.js';

/** Nodes the given tensors depend on, in graph (topological) order. */
export function nodesFor(outputs: readonly Tensor[]): Node[] {
  const needed = new Set<Node>();
  const stack = outputs.map((t) => t.node).filter((n): n is Node => n !== null);
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (needed.has(node)) continue;
    needed.add(node);
    for (const input of node.inputs) if (input.node && !needed.has(input.node)) stack.push(input.node);
  }
  return [...needed].sort((a, b) => a.id - b.id);
}

/** Graph inputs the given tensors depend on. */
export function inputsFor(outputs: readonly Tensor[]): Tensor[] {
  const inputs = new Map<number, Tensor>();
  for (const t of outputs) if (t.node === null) inputs.set(t.id, t);
  for (const node of nodesFor(outputs)) for (const t of node.inputs) if (t.node === null) inputs.set(t.id, t);
  return [...inputs.values()].sort((a, b) => a.id - b.id);
}

/** Values of `outputs` given values of graph inputs keyed by input name. */
export function interpret(outputs: readonly Tensor[], feeds: Readonly<Record<string, NDArray>>): NDArray[] {
  const values = new Map<number, NDArray>();
  for (const input of inputsFor(outputs)) {
    const value = feeds[input.inputName!];
    if (!value) throw new ShapeError(`reference interpreter: no value for graph input '${input.inputName}'`);
    if (!sameShape(value.shape, input.shape) || value.dtype !== input.dtype) {
      throw new ShapeError(
        `graph input '${input.inputName}' expects ${input.dtype}${formatShape(input.shape)}, got ${value.dtype}${formatShape(value.shape)}`,
      );
    }
    values.set(input.id, value);
  }
  for (const node of nodesFor(outputs)) {
    const results = node.op.evaluate(
      node.inputs.map((t) => values.get(t.id)!),
      node.attrs,
    );
    node.outputs.forEach((out, i) => {
      const r = results[i];
      if (!r || !sameShape(r.shape, out.shape) || r.data.length !== out.size) {
        throw new ShapeError(
          `op '${node.op.name}': reference kernel returned ${r ? formatShape(r.shape) : 'nothing'} for output ${i}, shape rule says ${formatShape(out.shape)}`,
        );
      }
      values.set(out.id, r.dtype === out.dtype ? r : { ...r, dtype: out.dtype });
    });
  }
  return outputs.map((t) => values.get(t.id)!);
}
