/**
 * safetensors files on disk: reading one (a missing file is a NotFoundError, bad content a FormatError
 * naming the path) and writing one atomically. The format itself — header validation, dtype conversion,
 * the reference writer's layout — is safetensors-bytes.ts, re-exported here.
 *
 * This module must not parse or lay out tensors itself.
 */
import { readFileSync } from 'node:fs';
import { FormatError, NotFoundError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import {
  parseSafetensors,
  serializeSafetensors,
  type SafetensorsFile,
  type SafetensorsWriteOptions,
  type TensorsToWrite,
} from './safetensors-bytes.js';

export * from './safetensors-bytes.js';

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

/** Writes a safetensors file atomically. */
export function writeSafetensorsFile(
  path: string,
  tensors: TensorsToWrite,
  metadata: Record<string, string> = {},
  options: SafetensorsWriteOptions = {},
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, options));
}
