/**
 * Functional layers with PyTorch's parameter layouts and default initialisation: each constructor
 * returns a small value holding its `specs` (diffusers' names under a prefix, e.g. `conv_in.weight`)
 * and an `apply(params, x)` written with engine ops. Networks build layers once from their config,
 * merge the specs, and call `apply` while tracing.
 *
 * This module must not hold parameter values or state; layers are descriptions plus pure functions.
 */
import type { ConvOptions, Tensor } from '../engine/index.js';
import {
  conv1d as conv1dOp,
  conv2d as conv2dOp,
  gather,
  groupNorm as groupNormOp,
  layerNorm as layerNormOp,
  linear as linearOp,
} from '../engine/index.js';
import type { ParamTensors } from './params.js';
import { ConfigError } from '../util/errors.js';
import type { ParamSpecs } from './params.js';
import { fanInUniform, joinName, param } from './params.js';

/** A layer: its parameter specs and its forward function over traced parameters. */
export interface Layer {
  readonly prefix: string;
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, x: Tensor): Tensor;
}

function optionalBias(params: ParamTensors, prefix: string, bias: boolean): Tensor | null {
  return bias ? param(params, joinName(prefix, 'bias')) : null;
}

/** nn.Linear(inFeatures, outFeatures, bias): weight [out, in] and bias [out], both U(±1/√in). */
export function linear(prefix: string, inFeatures: number, outFeatures: number, bias = true): Layer {
  const init = fanInUniform(inFeatures);
  const specs: ParamSpecs = {
    [joinName(prefix, 'weight')]: { shape: [outFeatures, inFeatures], init },
    ...(bias ? { [joinName(prefix, 'bias')]: { shape: [outFeatures], init } } : {}),
  };
  return {
    prefix,
    specs,
    apply: (params, x) =>
      linearOp(x, param(params, joinName(prefix, 'weight')), optionalBias(params, prefix, bias) ?? undefined),
  };
}

export interface ConvLayerOptions {
  readonly kernelSize: number;
  readonly stride?: number;
  /** Zero padding as the engine's conv ops take it (a number is every side, as PyTorch). Default 0. */
  readonly padding?: ConvOptions['padding'];
  readonly groups?: number;
  readonly bias?: boolean;
}

function convSpecs(
  prefix: string,
  inChannels: number,
  outChannels: number,
  kernel: readonly number[],
  options: ConvLayerOptions,
): ParamSpecs {
  const groups = options.groups ?? 1;
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new ConfigError(
      `layer '${prefix}': ${inChannels} input and ${outChannels} output channels must divide into ${groups} groups`,
    );
  }
  const fanIn = (inChannels / groups) * kernel.reduce((a, b) => a * b, 1);
  const init = fanInUniform(fanIn);
  return {
    [joinName(prefix, 'weight')]: { shape: [outChannels, inChannels / groups, ...kernel], init },
    ...((options.bias ?? true) ? { [joinName(prefix, 'bias')]: { shape: [outChannels], init } } : {}),
  };
}

/** nn.Conv2d(in, out, kernelSize, stride, padding, groups, bias) with a square kernel. */
export function conv2d(
  prefix: string,
  inChannels: number,
  outChannels: number,
  options: ConvLayerOptions,
): Layer {
  const k = options.kernelSize;
  const bias = options.bias ?? true;
  const convOptions = {
    stride: options.stride ?? 1,
    padding: options.padding ?? 0,
    groups: options.groups ?? 1,
  };
  return {
    prefix,
    specs: convSpecs(prefix, inChannels, outChannels, [k, k], options),
    apply: (params, x) =>
      conv2dOp(x, param(params, joinName(prefix, 'weight')), optionalBias(params, prefix, bias), convOptions),
  };
}

/** nn.Conv1d(in, out, kernelSize, stride, padding, groups, bias). */
export function conv1d(
  prefix: string,
  inChannels: number,
  outChannels: number,
  options: ConvLayerOptions,
): Layer {
  const bias = options.bias ?? true;
  const convOptions = {
    stride: options.stride ?? 1,
    padding: options.padding ?? 0,
    groups: options.groups ?? 1,
  };
  return {
    prefix,
    specs: convSpecs(prefix, inChannels, outChannels, [options.kernelSize], options),
    apply: (params, x) =>
      conv1dOp(x, param(params, joinName(prefix, 'weight')), optionalBias(params, prefix, bias), convOptions),
  };
}

/** nn.GroupNorm(groups, channels, eps, affine=True): weight ones, bias zeros. */
export function groupNorm(prefix: string, groups: number, channels: number, eps = 1e-5): Layer {
  if (!Number.isSafeInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new ConfigError(`layer '${prefix}': ${channels} channels do not split into ${groups} groups`, {
      hint: 'choose norm_num_groups dividing every channel count',
    });
  }
  return {
    prefix,
    specs: {
      [joinName(prefix, 'weight')]: { shape: [channels], init: { kind: 'constant', value: 1 } },
      [joinName(prefix, 'bias')]: { shape: [channels], init: { kind: 'constant', value: 0 } },
    },
    apply: (params, x) =>
      groupNormOp(x, groups, {
        eps,
        weight: param(params, joinName(prefix, 'weight')),
        bias: param(params, joinName(prefix, 'bias')),
      }),
  };
}

/** nn.LayerNorm(features, eps, elementwise_affine) over the last axis: weight ones, bias zeros. */
export function layerNorm(prefix: string, features: number, eps = 1e-5, affine = true): Layer {
  return {
    prefix,
    specs: affine
      ? {
          [joinName(prefix, 'weight')]: { shape: [features], init: { kind: 'constant', value: 1 } },
          [joinName(prefix, 'bias')]: { shape: [features], init: { kind: 'constant', value: 0 } },
        }
      : {},
    apply: (params, x) =>
      layerNormOp(
        x,
        affine
          ? {
              eps,
              weight: param(params, joinName(prefix, 'weight')),
              bias: param(params, joinName(prefix, 'bias')),
            }
          : { eps },
      ),
  };
}

/** nn.Embedding(count, dim): weight [count, dim] ~ N(0, 1); apply takes int64 indices of any shape. */
export function embedding(prefix: string, count: number, dim: number): Layer {
  return {
    prefix,
    specs: { [joinName(prefix, 'weight')]: { shape: [count, dim], init: { kind: 'normal', std: 1 } } },
    apply: (params, indices) => gather(param(params, joinName(prefix, 'weight')), indices, 0),
  };
}
