/**
 * Network weights files: `diffusion_pytorch_model.safetensors` read and checked against a network's
 * parameter types, or written atomically. The checks and the byte layout are weights-bytes.ts,
 * re-exported here.
 *
 * This module must not build networks or pick file names; callers pass paths and parameter types.
 */
import type { TensorType } from '../engine/index.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Params } from './types.js';
import { paramsFromSafetensors, weightsToBytes } from './weights-bytes.js';

export * from './weights-bytes.js';

/** Params read from a diffusers safetensors file and checked against the network's parameter types. */
export function loadWeights(path: string, types: Readonly<Record<string, TensorType>>): Params {
  return paramsFromSafetensors(readSafetensorsFile(path), types, path);
}

/** Writes `params` as a diffusers safetensors file, atomically. */
export function saveWeights(path: string, params: Params): void {
  writeFileAtomic(path, weightsToBytes(params));
}
