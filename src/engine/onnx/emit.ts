/**
 * Lowers a traced graph to an ONNX ModelProto (bytes). Only the nodes the outputs depend on are lowered
 * (dead-code elimination) and identical constants become one initializer (CSE). Weights are graph
 * INPUTS, never initializers, so a model of any size stays far below protobuf's 2 GB limit; constants
 * (scalars, index tables) are the only initializers and their total size is capped.
 *
 * This module must not run models or know any particular op: each op's `lower` does its own part.
 */
import type { DType, OnnxAttribute, OnnxBuilder, Shape, TensorType } from '../graph.js';
import type { NamedTensor } from '../trace.js';
import { ShapeError, UsageError } from '../../util/errors.js';
import { inputsFor, nodesFor } from '../runtime/interpret.js';
import { ModelProto, ONNX_DTYPE } from './proto.js';

export const DEFAULT_OPSET = 17;
/** Constants above this total size belong in graph inputs (weights never are constants). */
const MAX_CONSTANT_BYTES = 256 * 2 ** 20;
/** Frozen inputs must leave room under protobuf's 2 GB message limit. */
export const MAX_FROZEN_BYTES = 1.9e9;

/**
 * Whether weight trees (records of host tensors) fit together into one ONNX model as frozen
 * initializers; larger weights (an SD-sized U-Net) must stay graph inputs fed on every run.
 */
export function fitsFrozen(
  ...trees: readonly Readonly<Record<string, { readonly data: ArrayBufferView }>>[]
): boolean {
  let total = 0;
  for (const tree of trees) for (const value of Object.values(tree)) total += value.data.byteLength;
  return total <= MAX_FROZEN_BYTES;
}

/** A value that becomes an initializer instead of a graph input. */
export interface FrozenValue {
  readonly data: Float32Array | BigInt64Array | Uint8Array;
  readonly dtype: DType;
}

export interface EmitOptions {
  /** ONNX opset of the default domain (17–23, all supported by onnxruntime 1.30); 17 by default. */
  readonly opset?: number;
  readonly graphName?: string;
  /** Inputs (by name) stored in the model as initializers, with their values; the rest stay graph inputs. */
  readonly frozen?: ReadonlyMap<string, FrozenValue>;
}

export interface EmittedModel {
  readonly bytes: Uint8Array;
  readonly opset: number;
  /** Graph inputs the outputs depend on, in the order given; unused inputs are left out of the model. */
  readonly inputs: readonly NamedTensor[];
  /** ONNX value name of each output, keyed by the output's own name (renamed only on a clash with an input). */
  readonly outputNames: Readonly<Record<string, string>>;
}

interface ProtoNode {
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  name: string;
  attribute: object[];
}

/** IR version that goes with an opset (onnx/docs/Versioning.md). */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

function rawBytes(data: ArrayLike<number>, dtype: DType): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(Float32Array.from(data).buffer);
  if (dtype === 'int64')
    return new Uint8Array(BigInt64Array.from(Array.from(data, (v) => BigInt(Math.trunc(v)))).buffer);
  return Uint8Array.from(data, (v) => (v ? 1 : 0));
}

/** FNV-1a over bytes: the constant-dedup key (equal keys are compared byte by byte). */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

function attributeProto(name: string, attr: OnnxAttribute): object {
  switch (attr.kind) {
    case 'int':
      return { name, type: 2, i: attr.value };
    case 'ints':
      return { name, type: 7, ints: [...attr.value] };
    case 'float':
      return { name, type: 1, f: attr.value };
    case 'floats':
      return { name, type: 6, floats: [...attr.value] };
    case 'string':
      return { name, type: 3, s: new TextEncoder().encode(attr.value) };
  }
}

function valueInfo(name: string, type: TensorType): object {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[type.dtype],
        shape: { dim: type.shape.map((d) => ({ dimValue: d })) },
      },
    },
  };
}

class ModelBuilder implements OnnxBuilder {
  readonly nodes: ProtoNode[] = [];
  readonly initializers: object[] = [];
  private readonly constants = new Map<string, { bytes: Uint8Array; name: string }[]>();
  private constantBytes = 0;
  private counter = 0;
  /** Operator-set domains besides the default one that nodes use (each imported at version 1). */
  readonly domains = new Set<string>();

  constructor(readonly opset: number) {}

  fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  node(
    opType: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, OnnxAttribute>> = {},
    outputCount = 1,
    domain = '',
  ): string[] {
    const output = Array.from({ length: outputCount }, () => this.fresh('_v'));
    const attribute = Object.entries(attributes).map(([name, a]) => attributeProto(name, a));
    if (domain !== '') this.domains.add(domain);
    this.nodes.push({
      opType,
      input: [...inputs],
      output,
      name: this.fresh(`${opType}_`),
      attribute,
      domain,
    });
    return output;
  }

  constant(data: ArrayLike<number>, shape: Shape, dtype: DType): string {
    const bytes = rawBytes(data, dtype);
    const key = `${dtype}[${shape.join(',')}]#${fnv1a(bytes)}`;
    const bucket = this.constants.get(key) ?? [];
    const hit = bucket.find((c) => sameBytes(c.bytes, bytes));
    if (hit) return hit.name;
    this.constantBytes += bytes.length;
    if (this.constantBytes > MAX_CONSTANT_BYTES) {
      throw new ShapeError(`graph constants exceed ${MAX_CONSTANT_BYTES / 2 ** 20} MiB`, {
        hint: 'pass large arrays (weights, tables) as graph inputs instead of constants',
      });
    }
    const name = this.fresh('_c');
    bucket.push({ bytes, name });
    this.constants.set(key, bucket);
    this.initializers.push({ name, dims: [...shape], dataType: ONNX_DTYPE[dtype], rawData: bytes });
    return name;
  }
}

/** Frozen inputs as initializers under their input names. */
function addFrozen(builder: ModelBuilder, values: [string, FrozenValue, TensorType][]): void {
  let total = 0;
  for (const [name, value, type] of values) {
    const bytes = new Uint8Array(value.data.buffer, value.data.byteOffset, value.data.byteLength);
    total += bytes.length;
    if (total > MAX_FROZEN_BYTES) {
      throw new ShapeError(
        `frozen inputs exceed ${MAX_FROZEN_BYTES / 1e9} GB, too big for one ONNX protobuf`,
        {
          hint: 'freeze fewer inputs; the rest stay graph inputs',
        },
      );
    }
    builder.initializers.push({
      name,
      dims: [...type.shape],
      dataType: ONNX_DTYPE[value.dtype],
      rawData: bytes,
    });
  }
}

/** ONNX ModelProto bytes computing `outputs` from `inputs` (a traced function's inputList / outputList). */
export function emitOnnx(
  inputs: readonly NamedTensor[],
  outputs: readonly NamedTensor[],
  options: EmitOptions = {},
): EmittedModel {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < 17 || opset > 23) {
    throw new UsageError(`ONNX opset ${opset} is not supported`, { hint: 'use an opset from 17 to 23' });
  }
  const builder = new ModelBuilder(opset);
  const tensors = outputs.map((o) => o.tensor);
  const used = new Set(inputsFor(tensors).map((t) => t.id));
  const reachable = inputs.filter((i) => used.has(i.tensor.id));
  if (reachable.length !== used.size)
    throw new ShapeError('the outputs depend on a graph input that is not listed');
  const frozen = options.frozen ?? new Map<string, FrozenValue>();
  const usedInputs = reachable.filter((i) => !frozen.has(i.name));
  addFrozen(
    builder,
    reachable.filter((i) => frozen.has(i.name)).map((i) => [i.name, frozen.get(i.name)!, i.tensor]),
  );
  const names = new Map<number, string>(reachable.map((i) => [i.tensor.id, i.name]));

  for (const node of nodesFor(tensors)) {
    const inputNames = node.inputs.map((t) => names.get(t.id)!);
    const types = { inputs: node.inputs, outputs: node.outputs };
    const results = node.op.lower(builder, inputNames, node.attrs, types);
    if (results.length !== node.outputs.length) {
      throw new ShapeError(
        `op '${node.op.name}': lowering returned ${results.length} values for ${node.outputs.length} outputs`,
      );
    }
    node.outputs.forEach((t, i) => names.set(t.id, results[i]));
  }

  // Output names clash with input names in a train step ("params.w" in and out): rename only those.
  const taken = new Set(usedInputs.map((i) => i.name));
  const outputNames: Record<string, string> = {};
  for (const { name, tensor } of outputs) {
    let onnxName = name;
    while (taken.has(onnxName)) onnxName = `${onnxName}:out`;
    taken.add(onnxName);
    outputNames[name] = onnxName;
    builder.nodes.push({
      opType: 'Identity',
      input: [names.get(tensor.id)!],
      output: [onnxName],
      name: builder.fresh('Identity_'),
      attribute: [],
    });
  }

  const graph = {
    name: options.graphName ?? 'diffusion_ts',
    node: builder.nodes,
    initializer: builder.initializers,
    input: usedInputs.map((i) => valueInfo(i.name, i.tensor)),
    output: outputs.map((o) => valueInfo(outputNames[o.name], o.tensor)),
  };
  const model = {
    irVersion: irVersionFor(opset),
    opsetImport: [
      { domain: '', version: opset },
      ...[...builder.domains].map((domain) => ({ domain, version: 1 })),
    ],
    producerName: 'diffusion-ts',
    graph,
  };
  return {
    bytes: ModelProto.encode(ModelProto.fromObject(model)).finish(),
    opset,
    inputs: usedInputs,
    outputNames,
  };
}
