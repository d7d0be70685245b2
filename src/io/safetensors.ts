/**
 * safetensors reading: 8-byte little-endian header length, a JSON header mapping tensor names to
 * {dtype, shape, data_offsets}, then raw little-endian data. The header is validated completely
 * (offsets inside the file, sizes consistent with shapes, no overlaps, known dtypes) before any tensor is
 * allocated, so a hostile file cannot make us allocate more than the file holds.
 * F32, F16 and BF16 are converted to Float32Array; integer and bool dtypes are kept as typed arrays.
 */
import { readFileSync } from 'node:fs';
import { FormatError, NotFoundError } from '../util/errors.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface StoredTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** F64/F32/F16/BF16 → Float32Array; I64 → BigInt64Array; I32 → Int32Array; I8/U8/BOOL → (U)Int8Array. */
  data: Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

const BYTES_PER_ELEMENT: Record<SafetensorsDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Largest header we accept (100 MB, as the reference implementation). */
const MAX_HEADER_BYTES = 100_000_000;

export function readSafetensorsFile(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new NotFoundError(`cannot read safetensors file '${path}'`, { cause: error });
  }
  try {
    return parseSafetensors(bytes);
  } catch (error) {
    if (error instanceof FormatError) throw new FormatError(`${path}: ${error.message}`, { cause: error });
    throw error;
  }
}

export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8)
    throw new FormatError(`not a safetensors file: ${bytes.length} bytes, need at least 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    throw new FormatError(`safetensors header claims ${headerLength} bytes but the file has ${bytes.length}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch {
    throw new FormatError('safetensors header is not valid UTF-8 JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new FormatError('safetensors header must be a JSON object');
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const entries = Object.entries(header as Record<string, unknown>).filter(
    ([name]) => name !== '__metadata__',
  );
  const metadata = parseMetadata((header as Record<string, unknown>).__metadata__);
  const spans = entries.map(([name, info]) => validateEntry(name, info, dataLength));
  checkNoOverlap(spans);
  const tensors = new Map<string, StoredTensor>();
  for (const span of spans) {
    const raw = bytes.subarray(dataStart + span.begin, dataStart + span.end);
    tensors.set(span.name, { dtype: span.dtype, shape: span.shape, data: decode(span.dtype, raw) });
  }
  return { tensors, metadata };
}

interface Span {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

function validateEntry(name: string, info: unknown, dataLength: number): Span {
  const bad = (what: string) => new FormatError(`safetensors tensor '${name}': ${what}`);
  if (typeof info !== 'object' || info === null) throw bad('entry is not an object');
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in BYTES_PER_ELEMENT)) {
    throw bad(
      `unsupported dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(BYTES_PER_ELEMENT).join(', ')}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw bad(`data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataLength) throw bad(`data ends at byte ${end} but the data section has ${dataLength} bytes`);
  let elements = 1;
  for (const d of shape as number[]) {
    elements *= d;
    if (elements > dataLength) throw bad(`shape ${JSON.stringify(shape)} is larger than the file`);
  }
  const expected = elements * BYTES_PER_ELEMENT[dtype as SafetensorsDType];
  if (expected !== end - begin) {
    throw bad(
      `shape ${JSON.stringify(shape)} of ${dtype} needs ${expected} bytes, offsets give ${end - begin}`,
    );
  }
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

function checkNoOverlap(spans: Span[]): void {
  const sorted = [...spans].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new FormatError(`safetensors tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
    }
  }
}

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError('safetensors __metadata__ must be an object of strings');
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new FormatError(`safetensors __metadata__ '${key}' must be a string`);
  }
  return value as Record<string, string>;
}

function decode(dtype: SafetensorsDType, raw: Uint8Array): StoredTensor['data'] {
  // Copy into an aligned buffer: views into the file may be misaligned for the element size.
  const buffer = raw.slice().buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer);
    case 'F64':
      return Float32Array.from(new Float64Array(buffer));
    case 'F16':
      return halfToFloat(new Uint16Array(buffer));
    case 'BF16':
      return bfloat16ToFloat(new Uint16Array(buffer));
    case 'I64':
      return new BigInt64Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'I16':
      return new Int16Array(buffer);
    case 'I8':
      return new Int8Array(buffer);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer);
  }
}

export function halfToFloat(half: Uint16Array): Float32Array {
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) {
    const h = half[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) out[i] = fraction ? NaN : sign * Infinity;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

export function bfloat16ToFloat(bf16: Uint16Array): Float32Array {
  const bits = new Uint32Array(bf16.length);
  for (let i = 0; i < bf16.length; i++) bits[i] = bf16[i] << 16;
  return new Float32Array(bits.buffer);
}

/** A float tensor by name, or a FormatError naming what is missing. */
export function getFloatTensor(file: SafetensorsFile, name: string): { shape: number[]; data: Float32Array } {
  const tensor = file.tensors.get(name);
  if (!tensor) throw new FormatError(`safetensors file has no tensor '${name}'`);
  if (!(tensor.data instanceof Float32Array)) {
    throw new FormatError(`safetensors tensor '${name}' is ${tensor.dtype}, expected a float dtype`);
  }
  return { shape: tensor.shape, data: tensor.data };
}
