/**
 * safetensors reading and writing: 8-byte little-endian header length, a JSON header mapping tensor
 * names to {dtype, shape, data_offsets}, then raw little-endian data. The header is validated completely
 * (offsets inside the file, sizes consistent with shapes, no overlaps, known dtypes) before any tensor is
 * allocated, so a hostile file cannot make us allocate more than the file holds.
 * F32, F16 and BF16 are converted to Float32Array; integer and bool dtypes are kept as typed arrays.
 * Writing follows the reference writer: header padded with spaces to a multiple of 8 bytes, tensors laid
 * out by decreasing element size so every tensor starts aligned to its element size. This module
 * moves bytes; what the tensors mean (parameter names, layouts) belongs to the model code.
 *
 * This module must not import node: modules, so that weights load in the browser; reading and writing
 * files lives in safetensors.ts.
 */
import { FormatError, ShapeError, UsageError } from '../util/errors.js';
import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from './float16.js';

export { bfloat16ToFloat, halfToFloat } from './float16.js';

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

export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  const headerLength = safetensorsHeaderLength(bytes, bytes.length);
  const dataStart = 8 + headerLength;
  const { entries, metadata } = parseSafetensorsHeader(
    bytes.subarray(8, dataStart),
    bytes.length - dataStart,
  );
  const tensors = new Map<string, StoredTensor>();
  for (const entry of entries) {
    const raw = bytes.subarray(dataStart + entry.begin, dataStart + entry.end);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data: decodeTensor(entry.dtype, raw) });
  }
  return { tensors, metadata };
}

/**
 * The header length from a file's first 8 bytes, checked against the file's total size, so a reader
 * holding only those bytes (a file read tensor by tensor) validates exactly as a whole-file parse.
 */
export function safetensorsHeaderLength(first: Uint8Array, fileLength: number): number {
  if (fileLength < 8 || first.length < 8)
    throw new FormatError(`not a safetensors file: ${fileLength} bytes, need at least 8`);
  const view = new DataView(first.buffer, first.byteOffset, 8);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > fileLength) {
    throw new FormatError(`safetensors header claims ${headerLength} bytes but the file has ${fileLength}`);
  }
  return headerLength;
}

/** Where one tensor lies in the data section (after the header), and what it holds. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: number[];
  /** Byte offsets into the data section: [begin, end). */
  readonly begin: number;
  readonly end: number;
}

/**
 * The validated header (every entry's dtype, shape and offsets inside a data section of `dataLength`
 * bytes, no overlaps) without touching any tensor data.
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  dataLength: number,
): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw new FormatError('safetensors header is not valid UTF-8 JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new FormatError('safetensors header must be a JSON object');
  }
  const fields = Object.entries(header as Record<string, unknown>).filter(
    ([name]) => name !== '__metadata__',
  );
  const metadata = parseMetadata((header as Record<string, unknown>).__metadata__);
  const entries = fields.map(([name, info]) => validateEntry(name, info, dataLength));
  checkNoOverlap(entries);
  return { entries, metadata };
}

function validateEntry(name: string, info: unknown, dataLength: number): SafetensorsEntry {
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

function checkNoOverlap(spans: readonly SafetensorsEntry[]): void {
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

/** Raw little-endian bytes of one tensor as a typed array (floats upcast to float32). */
export function decodeTensor(dtype: SafetensorsDType, raw: Uint8Array): StoredTensor['data'] {
  // Copy into a buffer of its own: views into the file may be misaligned for the element size, and
  // Buffer#slice (readFileSync returns a Buffer) would share the whole file's memory, not copy.
  const buffer = new Uint8Array(raw).buffer;
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

/** A float tensor by name, or a FormatError naming what is missing. */
export function getFloatTensor(file: SafetensorsFile, name: string): { shape: number[]; data: Float32Array } {
  const tensor = file.tensors.get(name);
  if (!tensor) throw new FormatError(`safetensors file has no tensor '${name}'`);
  if (!(tensor.data instanceof Float32Array)) {
    throw new FormatError(`safetensors tensor '${name}' is ${tensor.dtype}, expected a float dtype`);
  }
  return { shape: tensor.shape, data: tensor.data };
}

/** A tensor to write. `dtype` defaults to the natural dtype of `data` (float data: `floatDType`). */
export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  dtype?: SafetensorsDType;
}

export interface SafetensorsWriteOptions {
  /** Stored dtype of float tensors that name none (default F32; F16/BF16 round to nearest even). */
  floatDType?: 'F64' | 'F32' | 'F16' | 'BF16';
}

export type TensorsToWrite = ReadonlyMap<string, TensorToWrite> | Readonly<Record<string, TensorToWrite>>;

/** The bytes of a safetensors file holding `tensors` and string `metadata`. */
export function serializeSafetensors(
  tensors: TensorsToWrite,
  metadata: Record<string, string> = {},
  options: SafetensorsWriteOptions = {},
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const encoded = entries.map(([name, tensor]) => encodeTensor(name, tensor, options.floatDType ?? 'F32'));
  // Decreasing element size keeps each offset a multiple of its own element size (8 | 4 | 2 | 1).
  encoded.sort(
    (a, b) =>
      BYTES_PER_ELEMENT[b.dtype] - BYTES_PER_ELEMENT[a.dtype] ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  // No prototype: a tensor named "__proto__" must stay an ordinary key.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = checkedMetadata(metadata);
  let offset = 0;
  for (const tensor of encoded) {
    header[tensor.name] = {
      dtype: tensor.dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + tensor.bytes.length],
    };
    offset += tensor.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // space padding, as the reference writer
  let position = 8 + headerLength;
  for (const tensor of encoded) {
    out.set(tensor.bytes, position);
    position += tensor.bytes.length;
  }
  return out;
}

interface EncodedTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

/** Which stored dtypes each kind of array can become; the first is its natural dtype. */
const DTYPES_FOR_ARRAY: ReadonlyArray<[string, new () => unknown, readonly SafetensorsDType[]]> = [
  ['Float32Array', Float32Array, ['F32', 'F16', 'BF16', 'F64']],
  ['Float64Array', Float64Array, ['F64', 'F32', 'F16', 'BF16']],
  ['BigInt64Array', BigInt64Array, ['I64']],
  ['Int32Array', Int32Array, ['I32']],
  ['Int16Array', Int16Array, ['I16']],
  ['Int8Array', Int8Array, ['I8']],
  ['Uint8Array', Uint8Array, ['U8', 'BOOL']],
];

function encodeTensor(name: string, tensor: TensorToWrite, floatDType: SafetensorsDType): EncodedTensor {
  if (name === '' || name === '__metadata__') {
    throw new UsageError(`safetensors tensor name ${JSON.stringify(name)} is reserved or empty`);
  }
  const kind = DTYPES_FOR_ARRAY.find(([, type]) => tensor.data instanceof type);
  if (!kind) {
    throw new ShapeError(`safetensors tensor '${name}': cannot store ${describeValue(tensor.data)}`, {
      hint: `use one of ${DTYPES_FOR_ARRAY.map(([kindName]) => kindName).join(', ')}`,
    });
  }
  const [arrayKind, , allowed] = kind;
  const dtype = tensor.dtype ?? (allowed[0].startsWith('F') ? floatDType : allowed[0]);
  if (!allowed.includes(dtype)) {
    throw new ShapeError(`safetensors tensor '${name}': ${arrayKind} data cannot be stored as ${dtype}`, {
      hint: `${arrayKind} can be stored as ${allowed.join(', ')}`,
    });
  }
  const shape = [...tensor.shape];
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ShapeError(
      `safetensors tensor '${name}': shape must be non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  const elements = shape.reduce((a, b) => a * b, 1);
  if (elements !== tensor.data.length) {
    throw new ShapeError(
      `safetensors tensor '${name}': shape ${JSON.stringify(shape)} has ${elements} elements, data has ${tensor.data.length}`,
    );
  }
  if (dtype === 'BOOL' && (tensor.data as Uint8Array).some((v) => v > 1)) {
    throw new ShapeError(`safetensors tensor '${name}': BOOL data must hold only 0 and 1`);
  }
  return { name, dtype, shape, bytes: encodeData(dtype, tensor.data) };
}

function encodeData(dtype: SafetensorsDType, data: TensorToWrite['data']): Uint8Array {
  const floats = data as Float32Array | Float64Array;
  let typed: ArrayBufferView;
  if (dtype === 'F32') typed = data instanceof Float32Array ? data : Float32Array.from(floats);
  else if (dtype === 'F64') typed = Float64Array.from(floats);
  else if (dtype === 'F16') typed = floatToHalf(floats);
  else if (dtype === 'BF16') typed = floatToBfloat16(floats);
  else typed = data;
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function checkedMetadata(metadata: Record<string, string>): Record<string, string> {
  const sorted: Record<string, string> = Object.create(null);
  for (const key of Object.keys(metadata).sort()) {
    if (typeof metadata[key] !== 'string') {
      throw new UsageError(`safetensors metadata '${key}' must be a string, got ${typeof metadata[key]}`, {
        hint: 'serialise structured values with JSON.stringify',
      });
    }
    sorted[key] = metadata[key];
  }
  return sorted;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `a ${typeof value}`;
}
