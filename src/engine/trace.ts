/**
 * Tracing: runs a function of symbolic tensors once to record its graph. Inputs and outputs are
 * parameter TREES — nested records and arrays whose leaves are tensors — so a train step can take
 * `{ params, opt, batch }` and return `{ loss, params }`. Leaves are named by their dotted path
 * (`params.down_blocks.0.resnets.1.conv2.weight`); a record that already uses dotted keys flattens to the
 * same names, so flat and nested parameter records are interchangeable.
 *
 * This module must not differentiate, lower or run graphs.
 */
import type { TensorType } from './graph.js';
import { Graph, Tensor } from './graph.js';
import { ShapeError } from '../util/errors.js';

/** A nested record/array whose leaves are L. */
export type Tree<L> = L | readonly Tree<L>[] | { readonly [key: string]: Tree<L> };
export type TypeTree = Tree<TensorType>;
export type TensorTree = Tree<Tensor>;

/** The tree of tensors that mirrors a tree of tensor types. */
export type TensorsOf<T> = TypeTree extends T
  ? TensorTree
  : T extends TensorType
    ? Tensor
    : T extends readonly unknown[]
      ? { [K in keyof T]: TensorsOf<T[K]> }
      : { [K in keyof T]: TensorsOf<T[K]> };

export interface NamedTensor {
  readonly name: string;
  readonly tensor: Tensor;
}

export interface Traced<O extends TensorTree = TensorTree> {
  readonly graph: Graph;
  readonly inputs: TensorTree;
  readonly outputs: O;
  /** Graph inputs in tree order, named by path. */
  readonly inputList: readonly NamedTensor[];
  /** Outputs in tree order, named by path. */
  readonly outputList: readonly NamedTensor[];
}

/** The name of a tree that is a single leaf. */
export const ROOT_INPUT = 'input';
export const ROOT_OUTPUT = 'output';

/** Anything with a shape array and a dtype string (a TensorType, an NDArray, a host tensor) is a type leaf. */
export function isTensorType(value: unknown): value is TensorType {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<TensorType>;
  return Array.isArray(v.shape) && typeof v.dtype === 'string';
}

export const isTensor = (value: unknown): value is Tensor => value instanceof Tensor;

const join = (prefix: string, key: string | number) => (prefix === '' ? String(key) : `${prefix}.${key}`);

/** Leaves of a tree with their dotted paths, in insertion order; `rootName` names a lone leaf. */
export function flattenTree<L>(
  tree: Tree<L>,
  isLeaf: (value: unknown) => value is L,
  rootName = ROOT_INPUT,
): [string, L][] {
  const out: [string, L][] = [];
  const visit = (node: unknown, path: string) => {
    if (isLeaf(node)) out.push([path === '' ? rootName : path, node]);
    else if (Array.isArray(node)) node.forEach((child, i) => visit(child, join(path, i)));
    else if (typeof node === 'object' && node !== null) {
      for (const [key, child] of Object.entries(node)) visit(child, join(path, key));
    } else throw new ShapeError(`tree leaf '${path || rootName}' is ${String(node)}, not a tensor`);
  };
  visit(tree, '');
  return out;
}

/** The same tree structure with every leaf replaced by `fn(leaf, path)`. */
export function mapTree<A, B>(
  tree: Tree<A>,
  isLeaf: (value: unknown) => value is A,
  fn: (leaf: A, path: string) => B,
  rootName = ROOT_INPUT,
): Tree<B> {
  const visit = (node: unknown, path: string): Tree<B> => {
    if (isLeaf(node)) return fn(node, path === '' ? rootName : path);
    if (Array.isArray(node)) return node.map((child, i) => visit(child, join(path, i)));
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(
        Object.entries(node).map(([key, child]) => [key, visit(child, join(path, key))]),
      );
    }
    throw new ShapeError(`tree leaf '${path || rootName}' is ${String(node)}, not a tensor`);
  };
  return visit(tree, '');
}

/** Records `fn` applied to graph inputs of the given types (a tree); returns the graph and named outputs. */
export function trace<I, O extends TensorTree>(fn: (inputs: TensorsOf<I>) => O, inputTypes: I): Traced<O> {
  const graph = new Graph();
  const inputs = mapTree(inputTypes as TypeTree, isTensorType, (type, name) =>
    graph.input(name, { shape: type.shape, dtype: type.dtype }),
  );
  const outputs = fn(inputs as TensorsOf<I>);
  const outputList = flattenTree(outputs, isTensor, ROOT_OUTPUT).map(([name, tensor]) => {
    if (tensor.graph !== graph)
      throw new ShapeError(`output '${name}' was not computed from this function's inputs`);
    return { name, tensor };
  });
  const inputList = flattenTree(inputs, isTensor).map(([name, tensor]) => ({ name, tensor }));
  return { graph, inputs, outputs, inputList, outputList };
}
