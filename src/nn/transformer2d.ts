/**
 * diffusers' `Transformer2DModel` over image features as the text-conditioned U-Nets use it
 * (continuous input, `norm_type` 'layer_norm', GEGLU feed-forward): GroupNorm (eps 1e-6) → `proj_in`
 * (1×1 conv, or linear with `use_linear_projection`) → `transformer_blocks.{i}` → `proj_out` → plus the
 * input. Each `BasicTransformerBlock` is pre-norm (Vaswani et al. 2017; Rombach et al. 2022, §3.3):
 *   h ← h + attn1(norm1(h))                  self-attention (cross-attention if only_cross_attention)
 *   h ← h + attn2(norm2(h), context)         cross-attention on the encoder hidden states
 *   h ← h + ff(norm3(h)),  ff(x) = W₂ (a ⊙ GELU(g)),  [a, g] = W₁x   (GEGLU, Shazeer 2020, eq. 5)
 * Attention projections `to_q`, `to_k`, `to_v` have no bias, `to_out.0` has one; parameter names are
 * diffusers' exactly, so a U-Net's `attentions.{i}` weights load unchanged. Dropout is not applied.
 *
 * This module must not know U-Net configs or blocks; callers pass plain widths and counts.
 */
import type { Tensor } from '../engine/index.js';
import { add, attention, gelu, mul, reshape, slice, transpose } from '../engine/index.js';
import { ConfigError, ShapeError } from '../util/errors.js';
import type { Layer } from './layers.js';
import { conv2d, groupNorm, layerNorm, linear } from './layers.js';
import type { ParamSpecs, ParamTensors } from './params.js';
import { joinName, mergeSpecs } from './params.js';

export interface Transformer2DOptions {
  /** Channels of the feature map (diffusers' `in_channels`). */
  readonly channels: number;
  /** Attention heads (`num_attention_heads`). */
  readonly heads: number;
  /** Width of one head (`attention_head_dim`); the blocks work at heads · headDim channels. */
  readonly headDim: number;
  /** Transformer blocks in sequence (`num_layers`). Default 1. */
  readonly layers?: number;
  /** Width of the encoder hidden states (`cross_attention_dim`). */
  readonly crossAttentionDim: number;
  /** Groups of the input GroupNorm (`norm_num_groups`). */
  readonly normGroups: number;
  /** Linear instead of 1×1-conv `proj_in` / `proj_out` (`use_linear_projection`). Default false. */
  readonly useLinearProjection?: boolean;
  /** attn1 attends to the encoder hidden states too (`only_cross_attention`). Default false. */
  readonly onlyCrossAttention?: boolean;
}

/** A layer conditioned on a sequence: x [B, C, H, W], context [B, T, crossAttentionDim]. */
export interface ContextLayer {
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, x: Tensor, context: Tensor): Tensor;
}

/** A layer over token sequences with an optional context: x [B, S, dim], context [B, T, ·]. */
interface SequenceLayer {
  readonly specs: ParamSpecs;
  apply(params: ParamTensors, x: Tensor, context: Tensor | null): Tensor;
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

/**
 * diffusers' `Attention` (AttnProcessor): softmax(QKᵀ/√d)·V per head with Q from x and K, V from the
 * context (x itself when contextDim is null); `to_out.0` maps back to `dim`.
 */
export function sequenceAttention(
  prefix: string,
  dim: number,
  heads: number,
  headDim: number,
  contextDim: number | null,
): SequenceLayer {
  const inner = heads * headDim;
  const toQ = linear(joinName(prefix, 'to_q'), dim, inner, false);
  const toK = linear(joinName(prefix, 'to_k'), contextDim ?? dim, inner, false);
  const toV = linear(joinName(prefix, 'to_v'), contextDim ?? dim, inner, false);
  const toOut = linear(joinName(prefix, 'to_out.0'), inner, dim);
  const specs = mergeSpecs(toQ.specs, toK.specs, toV.specs, toOut.specs);
  const apply = (params: ParamTensors, x: Tensor, context: Tensor | null): Tensor => {
    const source = contextDim === null ? x : (context as Tensor);
    const q = splitHeads(toQ.apply(params, x), heads);
    const k = splitHeads(toK.apply(params, source), heads);
    const v = splitHeads(toV.apply(params, source), heads);
    return toOut.apply(params, mergeHeads(attention(q, k, v, { scale: 1 / Math.sqrt(headDim) })));
  };
  return { specs, apply };
}

/** FeedForward with GEGLU: `net.0.proj` dim → 2·inner, value ⊙ GELU(gate), `net.2` inner → dim. */
export function gegluFeedForward(prefix: string, dim: number, mult = 4): Layer {
  const inner = dim * mult;
  const proj = linear(joinName(prefix, 'net.0.proj'), dim, 2 * inner);
  const out = linear(joinName(prefix, 'net.2'), inner, dim);
  return {
    prefix,
    specs: mergeSpecs(proj.specs, out.specs),
    apply: (params, x) => {
      const both = proj.apply(params, x);
      const last = both.rank - 1;
      // diffusers' GEGLU: hidden, gate = proj(x).chunk(2, dim=-1) — the value half comes first.
      const value = slice(both, [0], [inner], [last]);
      const gate = slice(both, [inner], [2 * inner], [last]);
      return out.apply(params, mul(value, gelu(gate)));
    },
  };
}

/** BasicTransformerBlock (norm_type 'layer_norm', eps 1e-5) on tokens [B, S, dim]. */
function basicTransformerBlock(prefix: string, o: Transformer2DOptions, dim: number): SequenceLayer {
  const norm1 = layerNorm(joinName(prefix, 'norm1'), dim);
  const attn1 = sequenceAttention(
    joinName(prefix, 'attn1'),
    dim,
    o.heads,
    o.headDim,
    o.onlyCrossAttention ? o.crossAttentionDim : null,
  );
  const norm2 = layerNorm(joinName(prefix, 'norm2'), dim);
  const attn2 = sequenceAttention(joinName(prefix, 'attn2'), dim, o.heads, o.headDim, o.crossAttentionDim);
  const norm3 = layerNorm(joinName(prefix, 'norm3'), dim);
  const ff = gegluFeedForward(joinName(prefix, 'ff'), dim);
  const specs = mergeSpecs(norm1.specs, attn1.specs, norm2.specs, attn2.specs, norm3.specs, ff.specs);
  const apply = (params: ParamTensors, x: Tensor, context: Tensor | null): Tensor => {
    let h = add(attn1.apply(params, norm1.apply(params, x), context), x);
    h = add(attn2.apply(params, norm2.apply(params, h), context), h);
    return add(ff.apply(params, norm3.apply(params, h)), h);
  };
  return { specs, apply };
}

function checkOptions(prefix: string, o: Transformer2DOptions): void {
  const positive = (v: number) => Number.isSafeInteger(v) && v > 0;
  if (![o.channels, o.heads, o.headDim, o.crossAttentionDim, o.layers ?? 1].every(positive)) {
    throw new ConfigError(
      `transformer '${prefix}': channels, heads, head width, layers and cross_attention_dim must be positive integers`,
    );
  }
}

/** [B, C, H, W] → tokens [B, H·W, C]. */
const toTokens = (x: Tensor): Tensor => {
  const [b, c, h, w] = x.shape;
  return transpose(reshape(x, [b, c, h * w]), [0, 2, 1]);
};

/** tokens [B, H·W, C] → [B, C, H, W]. */
const toImage = (x: Tensor, h: number, w: number): Tensor => {
  const [b, , c] = x.shape;
  return reshape(transpose(x, [0, 2, 1]), [b, c, h, w]);
};

/** Transformer2DModel under `prefix`: x [B, C, H, W] and context [B, T, crossAttentionDim] → [B, C, H, W]. */
export function transformer2d(prefix: string, options: Transformer2DOptions): ContextLayer {
  checkOptions(prefix, options);
  const { channels, useLinearProjection = false } = options;
  const inner = options.heads * options.headDim;
  const norm = groupNorm(joinName(prefix, 'norm'), options.normGroups, channels, 1e-6);
  const projection = (name: string, from: number, to: number): Layer =>
    useLinearProjection
      ? linear(joinName(prefix, name), from, to)
      : conv2d(joinName(prefix, name), from, to, { kernelSize: 1 });
  const projIn = projection('proj_in', channels, inner);
  const projOut = projection('proj_out', inner, channels);
  const blocks = Array.from({ length: options.layers ?? 1 }, (_, i) =>
    basicTransformerBlock(joinName(prefix, `transformer_blocks.${i}`), options, inner),
  );
  const specs = mergeSpecs(norm.specs, projIn.specs, ...blocks.map((b) => b.specs), projOut.specs);
  const apply = (params: ParamTensors, x: Tensor, context: Tensor): Tensor => {
    if (x.rank !== 4 || x.shape[1] !== channels) {
      throw new ShapeError(`${prefix}: input must be [batch, ${channels}, height, width], got [${x.shape}]`);
    }
    const [, , height, width] = x.shape;
    const normed = norm.apply(params, x);
    let tokens = useLinearProjection
      ? projIn.apply(params, toTokens(normed))
      : toTokens(projIn.apply(params, normed));
    for (const block of blocks) tokens = block.apply(params, tokens, context);
    const out = useLinearProjection
      ? toImage(projOut.apply(params, tokens), height, width)
      : projOut.apply(params, toImage(tokens, height, width));
    return add(out, x);
  };
  return { specs, apply };
}
