/**
 * safetensors files on disk: reading one (a missing file is a NotFoundError, bad content a FormatError
 * naming the path) and writing one atomically. Reading goes through the file descriptor: the header
 * first, then each tensor on its own (float16/bfloat16 upcast per tensor), so a multi-gigabyte file
 * (a Stable Diffusion U-Net) never needs a second whole-file buffer, and `openSafetensorsFile` lets a
 * caller check names and shapes before reading any data. The format itself — header validation, dtype
 * conversion, the reference writer's layout — is safetensors-bytes.ts, re-exported here.
 *
 * This module must not parse or lay out tensors itself.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError, NotFoundError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import {
  decodeTensor,
  parseSafetensorsHeader,
  safetensorsHeaderLength,
  serializeSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
  type StoredTensor,
  type SafetensorsWriteOptions,
  type TensorsToWrite,
} from './safetensors-bytes.js';

export * from './safetensors-bytes.js';

/** A safetensors file opened for reading tensor by tensor; `close` releases the descriptor. */
export interface SafetensorsReader {
  readonly path: string;
  /** Every tensor's name, dtype, shape and place, in header order, validated. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
  /** One tensor read from disk now (floats upcast to float32); FormatError naming a missing one. */
  read(name: string): StoredTensor;
  close(): void;
}

/** `length` bytes at `position`, read fully (readSync may return fewer at a time). */
function readBytes(fd: number, position: number, length: number, path: string): Uint8Array {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, bytes, done, length - done, position + done);
    if (n === 0) throw new FormatError(`${path}: file ended ${length - done} bytes early`);
    done += n;
  }
  return bytes;
}

/** The header and metadata of a safetensors file, with tensors read only when asked for. */
export function openSafetensorsFile(path: string): SafetensorsReader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new NotFoundError(`cannot read safetensors file '${path}'`, { cause: error });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new NotFoundError(`cannot read safetensors file '${path}': not a file`);
    const fileLength = stat.size;
    const headerLength = safetensorsHeaderLength(readBytes(fd, 0, Math.min(8, fileLength), path), fileLength);
    const dataStart = 8 + headerLength;
    const header = parseSafetensorsHeader(readBytes(fd, 8, headerLength, path), fileLength - dataStart);
    const entries = new Map(header.entries.map((e) => [e.name, e]));
    const read = (name: string): StoredTensor => {
      const entry = entries.get(name);
      if (!entry) throw new FormatError(`${path}: no tensor '${name}'`);
      const raw = readBytes(fd, dataStart + entry.begin, entry.end - entry.begin, path);
      return { dtype: entry.dtype, shape: [...entry.shape], data: decodeTensor(entry.dtype, raw) };
    };
    return { path, entries, metadata: header.metadata, read, close: () => closeSync(fd) };
  } catch (error) {
    closeSync(fd);
    if (error instanceof FormatError && !error.message.startsWith(path)) {
      throw new FormatError(`${path}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** Every tensor of a safetensors file, read one at a time (no whole-file buffer). */
export function readSafetensorsFile(path: string): SafetensorsFile {
  const reader = openSafetensorsFile(path);
  try {
    const tensors = new Map<string, StoredTensor>();
    for (const name of reader.entries.keys()) tensors.set(name, reader.read(name));
    return { tensors, metadata: reader.metadata };
  } finally {
    reader.close();
  }
}

/** Writes a safetensors file atomically. */
export function writeSafetensorsFile(
  path: string,
  tensors: TensorsToWrite,
  metadata: Record<string, string> = {},
  options: SafetensorsWriteOptions = {},
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, options));
}
