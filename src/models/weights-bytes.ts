/**
 * Network weights in diffusers' layout: `diffusion_pytorch_model.safetensors` with one float tensor
 * per parameter under its dotted name (F32, or F16/BF16/F64 upcast to float32). Loading checks the
 * file against the network's parameter types (every expected name present with its exact shape,
 * nothing unexpected) and maps legacy
 * attention names (query/key/value/proj_attn) to today's; saving writes float32 tensors with the
 * `{"format": "pt"}` metadata diffusers writes, so either side loads the other's files.
 *
 * This module must not build networks or pick file names; callers pass paths and parameter types.
 *
 * This module must not import node: modules, so that weights load in the browser; reading and writing
 * files lives in weights.ts.
 */
import type { TensorType } from '../engine/index.js';
import { shapeSize } from '../engine/index.js';
import type { SafetensorsDType, SafetensorsFile } from '../io/safetensors-bytes.js';
import { parseSafetensors, serializeSafetensors } from '../io/safetensors-bytes.js';
import { modernAttentionName } from '../nn/attention.js';
import { sortedNames } from '../nn/params.js';
import { FormatError } from '../util/errors.js';
import type { Params } from './types.js';

/** What the checks need of a stored tensor: its dtype and shape (data may not be read yet). */
export interface StoredTensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(['F32', 'F16', 'BF16', 'F64']);

/** Stored names keyed by current diffusers names (legacy attention names mapped). */
function modernNames(stored: Iterable<string>, source: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const name of stored) {
    const modern = modernAttentionName(name);
    if (names.has(modern)) {
      throw new FormatError(`${source}: tensor '${name}' duplicates '${modern}' under its legacy name`);
    }
    names.set(modern, name);
  }
  return names;
}

/**
 * The stored tensor name for every parameter of `types`, checked from dtypes and shapes alone (so a
 * file read tensor by tensor is rejected before any data is read): a missing, mis-shaped, non-float or
 * unexpected tensor is a FormatError naming it.
 */
export function matchStoredTensors(
  stored: ReadonlyMap<string, StoredTensorInfo>,
  types: Readonly<Record<string, TensorType>>,
  source = 'weights',
): Map<string, string> {
  const names = modernNames(stored.keys(), source);
  const matched = new Map<string, string>();
  for (const name of sortedNames(types)) {
    const expected = types[name].shape;
    const storedName = names.get(name);
    if (storedName === undefined) {
      throw new FormatError(`${source}: tensor '${name}' [${expected.join(', ')}] is missing`, {
        hint: 'the weights were saved for a different config; load them with the config.json saved beside them',
      });
    }
    const tensor = stored.get(storedName)!;
    if (tensor.shape.length !== expected.length || tensor.shape.some((d, i) => d !== expected[i])) {
      throw new FormatError(
        `${source}: tensor '${name}' has shape [${tensor.shape.join(', ')}], expected [${expected.join(', ')}]`,
        { hint: 'the weights were saved for a different config' },
      );
    }
    if (!FLOAT_DTYPES.has(tensor.dtype)) {
      throw new FormatError(`${source}: tensor '${name}' is not a float tensor`);
    }
    matched.set(name, storedName);
  }
  const unexpected = [...names.keys()].filter((name) => !(name in types));
  if (unexpected.length > 0) {
    throw new FormatError(
      `${source}: ${unexpected.length} unexpected tensor(s): ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', …' : ''}`,
      { hint: 'the weights were saved for a different config' },
    );
  }
  return matched;
}

/**
 * Params for a network with parameter `types` from a parsed safetensors file; a missing, mis-shaped,
 * non-float or unexpected tensor is a FormatError naming it.
 */
export function paramsFromSafetensors(
  file: SafetensorsFile,
  types: Readonly<Record<string, TensorType>>,
  source = 'weights',
): Params {
  const params: Params = {};
  for (const [name, storedName] of matchStoredTensors(file.tensors, types, source)) {
    const data = file.tensors.get(storedName)!.data as Float32Array;
    params[name] = { data, shape: [...types[name].shape], dtype: 'float32' };
  }
  return params;
}

/** Params from safetensors bytes already in memory (e.g. a browser upload), checked as `paramsFromSafetensors`. */
export function weightsFromBytes(bytes: Uint8Array, types: Readonly<Record<string, TensorType>>): Params {
  return paramsFromSafetensors(parseSafetensors(bytes), types);
}

/** diffusers-compatible safetensors bytes of `params` (float32, sorted names, `format: pt`). */
export function weightsToBytes(params: Params): Uint8Array {
  const tensors: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const name of sortedNames(params)) {
    const { data, shape } = params[name];
    if (!(data instanceof Float32Array) || data.length !== shapeSize(shape)) {
      throw new FormatError(`parameter '${name}' is not a float32 tensor of shape [${shape.join(', ')}]`);
    }
    tensors[name] = { shape, data };
  }
  return serializeSafetensors(tensors, { format: 'pt' });
}
