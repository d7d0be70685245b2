/**
 * Host arrays at the runtime boundary: checking a user's input value against the declared type (typed
 * errors naming the tensor), converting between host tensors and the reference interpreter's float64
 * NDArrays, and the finite-value check of outputs.
 *
 * This module must not run graphs.
 */
import type { DType, NDArray, TensorType } from '../graph.js';
import { shapeSize } from '../graph.js';
import { formatShape, roundToDType } from '../ndarray.js';
import { NumericError, ShapeError } from '../../util/errors.js';
import type { HostData, HostTensor, HostValue } from './types.js';

const ARRAY_NAME: Record<DType, string> = {
  float32: 'Float32Array',
  int64: 'BigInt64Array',
  bool: 'Uint8Array',
};

export function isHostData(value: unknown): value is HostData {
  return value instanceof Float32Array || value instanceof BigInt64Array || value instanceof Uint8Array;
}

/** Any typed array is a leaf (a wrong kind is then reported by name rather than walked as a record). */
export function isHostValue(value: unknown): value is HostValue {
  if (typeof value === 'number' || ArrayBuffer.isView(value)) return true;
  return typeof value === 'object' && value !== null && 'data' in value && 'shape' in value;
}

function dtypeOfData(data: unknown): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'bool';
  return null;
}

/** A typed array of `dtype` holding `values`. */
export function hostData(values: ArrayLike<number>, dtype: DType): HostData {
  if (dtype === 'float32') return Float32Array.from(values);
  if (dtype === 'int64') return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
  return Uint8Array.from(values, (v) => (v ? 1 : 0));
}

/** Checks one input value against its declared type; the result may have another shape (a retrace). */
export function toHostTensor(name: string, value: HostValue, declared: TensorType): HostTensor {
  if (typeof value === 'number') {
    if (shapeSize(declared.shape) !== 1) {
      throw new ShapeError(
        `input '${name}' expects ${declared.dtype}${formatShape(declared.shape)}, got the number ${value}`,
      );
    }
    return { data: hostData([value], declared.dtype), shape: declared.shape, dtype: declared.dtype };
  }
  const data = isHostData(value) ? value : value.data;
  const dtype = dtypeOfData(data);
  if (
    dtype !== declared.dtype ||
    (!isHostData(value) && value.dtype !== undefined && value.dtype !== dtype)
  ) {
    throw new ShapeError(
      `input '${name}' must be ${declared.dtype} (${ARRAY_NAME[declared.dtype]}), got ${data?.constructor?.name ?? typeof data}`,
    );
  }
  const shape = isHostData(value) ? declared.shape : [...value.shape];
  if (shapeSize(shape) !== data.length) {
    throw new ShapeError(`input '${name}': ${data.length} values do not fill shape ${formatShape(shape)}`, {
      hint: `declared shape is ${formatShape(declared.shape)}`,
    });
  }
  return { data, shape, dtype };
}

export function hostToNDArray(host: HostTensor): NDArray {
  const data = new Float64Array(host.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Number(host.data[i]);
  return { shape: host.shape, dtype: host.dtype, data };
}

export function ndarrayToHost(array: NDArray): HostTensor {
  const rounded = Array.from(array.data, (v) => roundToDType(v, array.dtype));
  return { data: hostData(rounded, array.dtype), shape: array.shape, dtype: array.dtype };
}

/** NumericError naming the first output that holds NaN or ±Inf. */
export function checkFinite(outputs: ReadonlyMap<string, HostTensor>): void {
  for (const [name, t] of outputs) {
    if (!(t.data instanceof Float32Array)) continue;
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new NumericError(`output '${name}' holds ${t.data[bad]} at flat index ${bad}`, {
        hint: 'lower the learning rate, clip gradients, or check the inputs for NaN',
      });
    }
  }
}
