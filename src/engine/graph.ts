/**
 * The engine's graph IR. Model code calls ops on symbolic `Tensor`s while a `Graph` is being traced;
 * every op application appends a `Node` whose `OpDef` carries the op's four parts in one place:
 * shape rule (`infer`), float64 reference kernel (`evaluate`), ONNX lowering (`lower`) and
 * vector–Jacobian product (`vjp`). The autodiff core, the reference interpreter and the ONNX emitter only
 * walk nodes and call these four parts, so adding an op never touches them.
 *
 * This module must not know any particular op, any runtime, or any model.
 */
import { ShapeError } from '../util/errors.js';

export type DType = 'float32' | 'int64' | 'bool';
export type Shape = readonly number[];

export interface TensorType {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** A concrete array for the reference interpreter: every dtype is held as float64 numbers. */
export interface NDArray {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly data: Float64Array;
}

export type OnnxAttribute =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string };

/** What an op's lowering may do to the ONNX graph being built. */
export interface OnnxBuilder {
  readonly opset: number;
  /**
   * Appends one ONNX node; returns the names of its `outputCount` outputs. `domain` names an operator
   * set other than the default one (e.g. 'com.microsoft' contrib ops, version 1); '' by default.
   */
  node(
    opType: string,
    inputs: readonly string[],
    attributes?: Readonly<Record<string, OnnxAttribute>>,
    outputCount?: number,
    domain?: string,
  ): string[];
  /** Adds a constant tensor (an initializer); returns its value name. */
  constant(data: ArrayLike<number>, shape: Shape, dtype: DType): string;
}

export interface LowerTypes {
  readonly inputs: readonly TensorType[];
  readonly outputs: readonly TensorType[];
}

export interface VjpArgs<A> {
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** Cotangent of each output; null where nothing flows back into that output. */
  readonly cotangents: readonly (Tensor | null)[];
  readonly attrs: A;
}

export interface OpDef<A = unknown> {
  readonly name: string;
  /** Shape rule: output types from input types; throws ShapeError naming the op and the shapes. */
  infer(inputs: readonly TensorType[], attrs: A): TensorType[];
  /** Float64 reference kernel: the oracle for the lowering and for finite-difference gradient checks. */
  evaluate(inputs: readonly NDArray[], attrs: A): NDArray[];
  /** ONNX lowering: emits nodes, returns the value names of the op's outputs. */
  lower(onnx: OnnxBuilder, inputs: readonly string[], attrs: A, types: LowerTypes): string[];
  /**
   * Cotangent of each input, built from ops on tensors of the same graph (null: no gradient, e.g.
   * integer inputs). Absent for ops that are not differentiable at all.
   */
  vjp?(args: VjpArgs<A>): (Tensor | null)[];
}

export interface Node {
  readonly id: number;
  readonly op: OpDef<unknown>;
  readonly inputs: readonly Tensor[];
  readonly attrs: unknown;
  readonly outputs: readonly Tensor[];
}

export class Tensor implements TensorType {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly shape: Shape,
    readonly dtype: DType,
    /** The node that produced this tensor; null for graph inputs. */
    readonly node: Node | null,
    readonly outputIndex: number,
    /** Set for graph inputs. */
    readonly inputName: string | null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return shapeSize(this.shape);
  }

  toString(): string {
    return `${this.inputName ?? `%${this.id}`}: ${this.dtype}[${this.shape.join(', ')}]`;
  }
}

export class Graph {
  readonly inputs: Tensor[] = [];
  readonly nodes: Node[] = [];
  private nextId = 0;

  /** Declares a named graph input. */
  input(name: string, type: TensorType): Tensor {
    if (this.inputs.some((t) => t.inputName === name)) {
      throw new ShapeError(`graph input '${name}' is declared twice`);
    }
    checkShape(type.shape, `graph input '${name}'`);
    const tensor = new Tensor(this, this.nextId++, [...type.shape], type.dtype, null, 0, name);
    this.inputs.push(tensor);
    return tensor;
  }

  /** Records one op application; runs its shape rule first, so errors surface at trace time. */
  apply<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor[] {
    for (const input of inputs) {
      if (input.graph !== this) {
        throw new ShapeError(`op '${op.name}': input ${input} belongs to another graph`, {
          hint: 'tensors from one traced function cannot be used in another; pass them as inputs',
        });
      }
    }
    const types = op.infer(inputs, attrs);
    const id = this.nextId++;
    const outputs: Tensor[] = [];
    const node: Node = { id, op: op as OpDef<unknown>, inputs: [...inputs], attrs, outputs };
    types.forEach((type, index) => {
      checkShape(type.shape, `op '${op.name}' output ${index}`);
      outputs.push(new Tensor(this, this.nextId++, [...type.shape], type.dtype, node, index, null));
    });
    this.nodes.push(node);
    return outputs;
  }
}

export function shapeSize(shape: Shape): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

function checkShape(shape: Shape, where: string): void {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ShapeError(`${where}: shape [${shape.join(', ')}] must hold non-negative integers`);
  }
}

/** "op 'add': shapes [2, 3] and [4] do not broadcast" — the one format of shape errors. */
export function shapeError(op: string, message: string, ...types: TensorType[]): ShapeError {
  const shapes = types.map((t) => `${t.dtype}[${t.shape.join(', ')}]`).join(' and ');
  return new ShapeError(`op '${op}': ${message}${shapes ? ` (got ${shapes})` : ''}`);
}

/** Applies a single-output op. */
export function apply1<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  if (inputs.length === 0) throw new ShapeError(`op '${op.name}' needs at least one tensor input`);
  return inputs[0].graph.apply(op, inputs, attrs)[0];
}
