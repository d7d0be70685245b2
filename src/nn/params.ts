/**
 * Parameter declarations for the functional layers: every layer states its parameters as `ParamSpec`s
 * (shape plus PyTorch's default initialisation scheme) under diffusers' dotted names, a network
 * collects them into one `ParamSpecs` record, and `initParams` draws them in a stable (sorted) name
 * order so that the same seed always gives the same weights whatever order the blocks were built in.
 *
 * This module must not trace graphs or know any network; it only describes and fills host arrays.
 */
import type { HostTensor, Tensor, TensorType } from '../engine/index.js';
import { shapeSize } from '../engine/index.js';
import { FormatError, UsageError } from '../util/errors.js';
import type { Random } from '../util/random.js';

/** Host parameters keyed by diffusers' dotted names, e.g. `down_blocks.0.resnets.1.conv2.weight`. */
export type Params = Record<string, HostTensor>;

/** Traced parameters, keyed like `Params`. */
export type ParamTensors = Record<string, Tensor>;

/** How one parameter starts out (PyTorch's default for the layer that owns it). */
export type ParamInit =
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'constant'; readonly value: number };

export interface ParamSpec {
  readonly shape: readonly number[];
  readonly init: ParamInit;
}

/** Parameter specs keyed by diffusers' dotted names. */
export type ParamSpecs = Readonly<Record<string, ParamSpec>>;

/** `prefix.name`, or `name` alone at the top level. */
export function joinName(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

/** Every spec of several records in one; a repeated name is a programming error in the network. */
export function mergeSpecs(...records: readonly ParamSpecs[]): ParamSpecs {
  const merged: Record<string, ParamSpec> = {};
  for (const record of records) {
    for (const [name, spec] of Object.entries(record)) {
      if (name in merged) throw new UsageError(`parameter '${name}' is declared twice`);
      merged[name] = spec;
    }
  }
  return merged;
}

/** The float32 tensor types of every parameter, in sorted name order. */
export function paramTypesOf(specs: ParamSpecs): Record<string, TensorType> {
  const types: Record<string, TensorType> = {};
  for (const name of sortedNames(specs)) types[name] = { shape: [...specs[name].shape], dtype: 'float32' };
  return types;
}

/** Total number of scalars in the parameters. */
export function countParams(specs: ParamSpecs | Readonly<Record<string, TensorType>>): number {
  return Object.values(specs).reduce((total, spec) => total + shapeSize(spec.shape), 0);
}

/** Names sorted by code unit, so the order never depends on how a network was assembled. */
export function sortedNames(record: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function fillInit(data: Float32Array, init: ParamInit, random: Random): void {
  switch (init.kind) {
    case 'uniform':
      for (let i = 0; i < data.length; i++) data[i] = (2 * random.uniform() - 1) * init.bound;
      return;
    case 'normal':
      for (let i = 0; i < data.length; i++) data[i] = random.normal() * init.std;
      return;
    case 'constant':
      data.fill(init.value);
  }
}

/** Fresh host parameters: each one drawn from its init scheme, in sorted name order. */
export function initParams(specs: ParamSpecs, random: Random): Params {
  const params: Params = {};
  for (const name of sortedNames(specs)) {
    const { shape, init } = specs[name];
    const data = new Float32Array(shapeSize(shape));
    fillInit(data, init, random);
    params[name] = { data, shape: [...shape], dtype: 'float32' } satisfies HostTensor;
  }
  return params;
}

/** The traced parameter `name`; a missing one means the params do not belong to this network. */
export function param(params: ParamTensors, name: string): Tensor {
  const tensor = params[name];
  if (tensor === undefined) {
    throw new FormatError(`parameter '${name}' is missing`, {
      hint: 'pass parameters created by this network (init or loaded weights for the same config)',
    });
  }
  return tensor;
}

/** PyTorch's kaiming_uniform(a=√5) and its bias rule both reduce to U(±1/√fan_in). */
export function fanInUniform(fanIn: number): ParamInit {
  return { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
}
