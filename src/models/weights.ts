/**
 * Network weights files: `diffusion_pytorch_model.safetensors` read and checked against a network's
 * parameter types, or written atomically. The checks and the byte layout are weights-bytes.ts,
 * re-exported here.
 *
 * This module must not build networks or pick file names; callers pass paths and parameter types.
 */
import type { TensorType } from '../engine/index.js';
import { openSafetensorsFile } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Params } from './types.js';
import { matchStoredTensors, weightsToBytes } from './weights-bytes.js';

export * from './weights-bytes.js';

/**
 * Params read from a diffusers safetensors file and checked against the network's parameter types.
 * The header is checked first; then tensors are read and upcast one at a time, so peak memory is the
 * float32 params plus one tensor (a 1.7 GB float16 SD U-Net never needs its file in memory).
 */
export function loadWeights(path: string, types: Readonly<Record<string, TensorType>>): Params {
  const reader = openSafetensorsFile(path);
  try {
    const params: Params = {};
    for (const [name, stored] of matchStoredTensors(reader.entries, types, path)) {
      params[name] = { data: reader.read(stored).data as Float32Array, shape: [...types[name].shape], dtype: 'float32' };
    }
    return params;
  } finally {
    reader.close();
  }
}

/** Writes `params` as a diffusers safetensors file, atomically. */
export function saveWeights(path: string, params: Params): void {
  writeFileAtomic(path, weightsToBytes(params));
}
