/**
 * Reads the header of an ONNX model: IR version, opsets, graph inputs and outputs with their types,
 * initializer count and size, and how many nodes of each op type it holds. Used to validate emitted
 * models and to check a foreign model's interface before running it.
 *
 * This module must not execute or rewrite models.
 */
import type { DType } from '../graph.js';
import { FormatError } from '../../util/errors.js';
import { ModelProto, ONNX_DTYPE } from './proto.js';

export interface OnnxValue {
  readonly name: string;
  /** null for element types the engine does not use. */
  readonly dtype: DType | null;
  /** null entries are symbolic dimensions. */
  readonly shape: readonly (number | null)[];
}

export interface OnnxSummary {
  readonly irVersion: number;
  readonly opsets: Readonly<Record<string, number>>;
  readonly producer: string;
  readonly inputs: readonly OnnxValue[];
  readonly outputs: readonly OnnxValue[];
  readonly initializerCount: number;
  readonly initializerBytes: number;
  readonly nodeCounts: Readonly<Record<string, number>>;
}

interface DecodedValue {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: number | string }[] } } };
}

const DTYPE_OF = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

function value(v: DecodedValue): OnnxValue {
  const t = v.type?.tensorType;
  return {
    name: v.name,
    dtype: DTYPE_OF[t?.elemType ?? -1] ?? null,
    shape: (t?.shape?.dim ?? []).map((d) => (d.dimValue === undefined ? null : Number(d.dimValue))),
  };
}

export function inspectOnnx(bytes: Uint8Array): OnnxSummary {
  let model: Record<string, unknown>;
  try {
    model = ModelProto.toObject(ModelProto.decode(bytes), {
      longs: Number,
      defaults: false,
      bytes: Array,
    }) as Record<string, unknown>;
  } catch (error) {
    throw new FormatError('not an ONNX model: the protobuf does not decode', { cause: error });
  }
  const graph = model.graph as
    | {
        input?: DecodedValue[];
        output?: DecodedValue[];
        initializer?: { rawData?: number[] }[];
        node?: { opType: string }[];
      }
    | undefined;
  if (!graph || model.irVersion === undefined)
    throw new FormatError('not an ONNX model: no graph or IR version');
  const nodeCounts: Record<string, number> = {};
  for (const n of graph.node ?? []) nodeCounts[n.opType] = (nodeCounts[n.opType] ?? 0) + 1;
  const opsets = Object.fromEntries(
    ((model.opsetImport as { domain?: string; version: number }[]) ?? []).map((o) => [
      o.domain ?? '',
      Number(o.version),
    ]),
  );
  return {
    irVersion: Number(model.irVersion),
    opsets,
    producer: String(model.producerName ?? ''),
    inputs: (graph.input ?? []).map(value),
    outputs: (graph.output ?? []).map(value),
    initializerCount: graph.initializer?.length ?? 0,
    initializerBytes: (graph.initializer ?? []).reduce((n, t) => n + (t.rawData?.length ?? 0), 0),
    nodeCounts,
  };
}
