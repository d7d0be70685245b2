/**
 * The building blocks diffusers' 2-D U-Nets share (UNet2DModel, UNet2DConditionModel, ControlNetModel):
 * ResnetBlock2D with time conditioning, the conv down/up samplers, and a helper that names the block a
 * shape error came from. Parameter names follow diffusers so weights load unchanged.
 *
 * This module must not know about configs, schedules or files: callers pass plain numbers.
 */
import type { Tensor } from '../engine/index.js';
import { add, avgPool2d, div, mul, reshape, silu, slice, upsample } from '../engine/index.js';
import type { Layer } from '../nn/layers.js';
import { conv2d, groupNorm, linear as linearLayer } from '../nn/layers.js';
import type { ParamSpecs } from '../nn/params.js';
import { joinName, mergeSpecs } from '../nn/params.js';
import { ShapeError } from '../util/errors.js';
import type { ParamTensors } from './types.js';

/** A layer conditioned on the time embedding. */
export interface TimeLayer {
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, x: Tensor, temb: Tensor): Tensor;
}

export interface ResnetOptions {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly tembChannels: number;
  readonly groups: number;
  readonly eps: number;
  readonly timeScaleShift: 'default' | 'scale_shift';
  readonly outputScaleFactor?: number;
  /** Resample inside the block (diffusers' `up=True` / `down=True`). */
  readonly resample?: 'up' | 'down';
}

/** Nearest ×2 upsampling or 2×2 average pooling, as the resnet's `up` / `down` flags do. */
export function resampleBy(x: Tensor, resample: 'up' | 'down' | undefined): Tensor {
  if (resample === 'up') return upsample(x, 2, 'nearest');
  if (resample === 'down') return avgPool2d(x, 2);
  return x;
}

/**
 * ResnetBlock2D: h = conv1(act(norm1(x))); add time (or FiLM after norm2:
 * h ← norm2(h)·(1 + scale) + shift); out = (shortcut(x) + conv2(act(h))) / output_scale_factor.
 */
export function resnetBlock(prefix: string, o: ResnetOptions): TimeLayer {
  const scaleShift = o.timeScaleShift === 'scale_shift';
  const norm1 = groupNorm(joinName(prefix, 'norm1'), o.groups, o.inChannels, o.eps);
  const conv1 = conv2d(joinName(prefix, 'conv1'), o.inChannels, o.outChannels, { kernelSize: 3, padding: 1 });
  const timeProj = linearLayer(
    joinName(prefix, 'time_emb_proj'),
    o.tembChannels,
    o.outChannels * (scaleShift ? 2 : 1),
  );
  const norm2 = groupNorm(joinName(prefix, 'norm2'), o.groups, o.outChannels, o.eps);
  const conv2 = conv2d(joinName(prefix, 'conv2'), o.outChannels, o.outChannels, {
    kernelSize: 3,
    padding: 1,
  });
  const shortcut =
    o.inChannels === o.outChannels
      ? null
      : conv2d(joinName(prefix, 'conv_shortcut'), o.inChannels, o.outChannels, { kernelSize: 1 });
  const specs = mergeSpecs(
    norm1.specs,
    conv1.specs,
    timeProj.specs,
    norm2.specs,
    conv2.specs,
    shortcut?.specs ?? {},
  );
  const scale = o.outputScaleFactor ?? 1;
  const apply = (params: ParamTensors, x: Tensor, temb: Tensor): Tensor => {
    let h = resampleBy(silu(norm1.apply(params, x)), o.resample);
    const input = resampleBy(x, o.resample);
    h = conv1.apply(params, h);
    const t = timeProj.apply(params, silu(temb));
    const [b, c] = t.shape;
    if (scaleShift) {
      const half = c / 2;
      const tScale = reshape(slice(t, [0], [half], [1]), [b, half, 1, 1]);
      const tShift = reshape(slice(t, [half], [c], [1]), [b, half, 1, 1]);
      h = add(mul(norm2.apply(params, h), add(tScale, 1)), tShift);
    } else {
      h = norm2.apply(params, add(h, reshape(t, [b, c, 1, 1])));
    }
    h = conv2.apply(params, silu(h));
    const out = add(shortcut ? shortcut.apply(params, input) : input, h);
    return scale === 1 ? out : div(out, scale);
  };
  return { specs, apply };
}

/** Downsample2D with a conv: 3×3 stride 2 (padding 0 pads right/bottom by one first, as diffusers). */
export function downsampleConv(prefix: string, channels: number, padding: number): Layer {
  return conv2d(joinName(prefix, 'conv'), channels, channels, {
    kernelSize: 3,
    stride: 2,
    padding: padding === 0 ? { begin: [0, 0], end: [1, 1] } : padding,
  });
}

/** Upsample2D with a conv: nearest ×2, then a 3×3 conv. */
export function upsampleConv(prefix: string, channels: number): Layer {
  const conv = conv2d(joinName(prefix, 'conv'), channels, channels, { kernelSize: 3, padding: 1 });
  return { prefix, specs: conv.specs, apply: (params, x) => conv.apply(params, upsample(x, 2, 'nearest')) };
}

/** A resampler as a time layer (the conv kinds ignore the embedding). */
export function asTimeLayer(layer: Layer): TimeLayer {
  return { specs: layer.specs, apply: (params, x) => layer.apply(params, x) };
}

/** Runs `fn`, prefixing a ShapeError from inside it with the block's name. */
export function inBlock<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ShapeError && !error.message.startsWith(name)) {
      throw new ShapeError(`${name}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

