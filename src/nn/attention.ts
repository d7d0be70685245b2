/**
 * diffusers' `Attention` block as UNet2DModel uses it over image features (`AttnProcessor`, built with
 * `_from_deprecated_attn_block=True`): optional group norm, multi-head self-attention over the H·W
 * positions, `to_out.0` projection, residual connection and division by `rescale_output_factor`:
 * y = (x + to_out(softmax(QKᵀ/√d)·V)) / rescale (Vaswani et al. 2017, eq. 1).
 * Old checkpoints name the projections query/key/value/proj_attn; `modernAttentionName` maps them.
 *
 * This module must not read files; weight loading applies the name map.
 */
import type { Tensor } from '../engine/index.js';
import { add, attention, div, reshape, transpose } from '../engine/index.js';
import type { ParamTensors } from './params.js';
import { ConfigError } from '../util/errors.js';
import type { Layer } from './layers.js';
import { groupNorm, linear } from './layers.js';
import { joinName, mergeSpecs } from './params.js';

export interface SpatialAttentionOptions {
  /** Channels of the feature map (diffusers' `query_dim`). */
  readonly channels: number;
  /** Width of one head (`dim_head`); heads = channels / headDim. */
  readonly headDim: number;
  /** Groups of the input GroupNorm, or null for none (the mid block under 'scale_shift'). */
  readonly normGroups: number | null;
  readonly eps?: number;
  /** The output is divided by this (`rescale_output_factor`). Default 1. */
  readonly rescaleOutputFactor?: number;
}

/** The pre-2023 names of the projections, as old diffusers checkpoints store them. */
const LEGACY_ATTENTION_NAMES: Readonly<Record<string, string>> = {
  query: 'to_q',
  key: 'to_k',
  value: 'to_v',
  proj_attn: 'to_out.0',
};

/**
 * The current diffusers name of a parameter stored under a legacy attention name
 * (`mid_block.attentions.0.query.weight` → `mid_block.attentions.0.to_q.weight`), or the name unchanged.
 */
export function modernAttentionName(name: string): string {
  const match = /^(.*\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$/.exec(name);
  return match ? `${match[1]}.${LEGACY_ATTENTION_NAMES[match[2]]}.${match[3]}` : name;
}

/** [B, S, heads·d] → [B, heads, S, d]. */
function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, s, inner] = x.shape;
  return transpose(reshape(x, [b, s, heads, inner / heads]), [0, 2, 1, 3]);
}

/** [B, heads, S, d] → [B, S, heads·d]. */
function mergeHeads(x: Tensor): Tensor {
  const [b, heads, s, d] = x.shape;
  return reshape(transpose(x, [0, 2, 1, 3]), [b, s, heads * d]);
}

/** Self-attention over the positions of x: [B, C, H, W] with diffusers' parameter names under `prefix`. */
export function spatialAttention(prefix: string, options: SpatialAttentionOptions): Layer {
  const { channels, headDim, normGroups, eps = 1e-5, rescaleOutputFactor = 1 } = options;
  if (!Number.isSafeInteger(headDim) || headDim < 1 || channels % headDim !== 0) {
    throw new ConfigError(
      `attention '${prefix}': ${channels} channels do not split into heads of ${headDim}`,
      {
        hint: 'set attention_head_dim to a divisor of the block channels',
      },
    );
  }
  const heads = channels / headDim;
  const norm =
    normGroups === null ? null : groupNorm(joinName(prefix, 'group_norm'), normGroups, channels, eps);
  const toQ = linear(joinName(prefix, 'to_q'), channels, channels);
  const toK = linear(joinName(prefix, 'to_k'), channels, channels);
  const toV = linear(joinName(prefix, 'to_v'), channels, channels);
  const toOut = linear(joinName(prefix, 'to_out.0'), channels, channels);
  const specs = mergeSpecs(norm?.specs ?? {}, toQ.specs, toK.specs, toV.specs, toOut.specs);
  const apply = (params: ParamTensors, x: Tensor): Tensor => {
    const [b, c, h, w] = x.shape;
    const normed = norm ? norm.apply(params, x) : x;
    const tokens = transpose(reshape(normed, [b, c, h * w]), [0, 2, 1]);
    const q = splitHeads(toQ.apply(params, tokens), heads);
    const k = splitHeads(toK.apply(params, tokens), heads);
    const v = splitHeads(toV.apply(params, tokens), heads);
    const attended = toOut.apply(params, mergeHeads(attention(q, k, v, { scale: 1 / Math.sqrt(headDim) })));
    const out = add(reshape(transpose(attended, [0, 2, 1]), [b, c, h, w]), x);
    return rescaleOutputFactor === 1 ? out : div(out, rescaleOutputFactor);
  };
  return { prefix, specs, apply };
}
