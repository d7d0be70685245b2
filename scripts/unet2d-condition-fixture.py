"""Writes test/fixtures/unet2d-condition-tiny/: three tiny UNet2DConditionModel configs, random weights
under diffusers' parameter names (stored as F16, so the test also exercises the float16 upcast), inputs
and the outputs of a compact pure-PyTorch re-implementation that follows diffusers' code
(models/unets/unet_2d_condition.py, unet_2d_blocks.py, transformers/transformer_2d.py,
attention.py BasicTransformerBlock/FeedForward/GEGLU, attention_processor.py AttnProcessor,
resnet.py ResnetBlock2D/Downsample2D/Upsample2D, embeddings.py Timesteps/TimestepEmbedding).
diffusers itself is not needed. A development aid: the test reads the committed files.

usage: python3 scripts/unet2d-condition-fixture.py OUTPUT_DIR
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Case "a": conv projections, a class embedding (class- and text-conditional), ControlNet residuals.
CONFIG_A = {
    "_class_name": "UNet2DConditionModel",
    "sample_size": 8,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": [8, 16],
    "layers_per_block": 1,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 8,
    "attention_head_dim": 2,
    "norm_num_groups": 4,
    "num_class_embeds": 3,
}

# Case "b": SD-2-style linear projections, per-block lists, two transformer layers, only_cross_attention.
CONFIG_B = {
    "_class_name": "UNet2DConditionModel",
    "sample_size": 8,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": [8, 8],
    "layers_per_block": [2, 1],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    "cross_attention_dim": 8,
    "attention_head_dim": [2, 4],
    "transformer_layers_per_block": [1, 2],
    "only_cross_attention": [False, True],
    "use_linear_projection": True,
    "upcast_attention": True,
    "norm_num_groups": 4,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "downsample_padding": 0,
    "mid_block_scale_factor": 1.5,
    "center_input_sample": True,
}


def timestep_embedding(t, dim, flip_sin_to_cos, shift):
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - shift)
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    return torch.cat([emb[:, half:], emb[:, :half]], dim=-1) if flip_sin_to_cos else emb

# Case "c": GLIDE-style text conditioning: a float vector (the pooled prompt) through a 'projection'
# class embedding (a TimestepEmbedding MLP) added to the time embedding.
CONFIG_C = {
    "_class_name": "UNet2DConditionModel",
    "sample_size": 8,
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": [8, 16],
    "layers_per_block": 1,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 8,
    "attention_head_dim": 2,
    "norm_num_groups": 4,
    "class_embed_type": "projection",
    "projection_class_embeddings_input_dim": 6,
}


class TimestepEmbedding(nn.Module):
    def __init__(self, dim_in, dim):
        super().__init__()
        self.linear_1 = nn.Linear(dim_in, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps, scale=1.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.scale = scale

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return (x + h) / self.scale


class Downsample2D(nn.Module):
    def __init__(self, c, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Attention(nn.Module):
    """attention_processor.Attention with AttnProcessor: no q/k/v bias, to_out.0 with bias."""

    def __init__(self, query_dim, heads, dim_head, cross_dim=None):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(cross_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(cross_dim or query_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])

    def forward(self, x, context=None):
        context = x if context is None else context
        b, s, _ = x.shape
        split = lambda t: t.reshape(b, t.shape[1], self.heads, -1).permute(0, 2, 1, 3)
        q, k, v = split(self.to_q(x)), split(self.to_k(context)), split(self.to_v(context))
        probs = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        out = (probs @ v).permute(0, 2, 1, 3).reshape(b, s, -1)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, cross_dim, only_cross):
        super().__init__()
        self.only_cross = only_cross
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head, cross_dim if only_cross else None)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, dim_head, cross_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, h, context):
        h = self.attn1(self.norm1(h), context if self.only_cross else None) + h
        h = self.attn2(self.norm2(h), context) + h
        return self.ff(self.norm3(h)) + h


class Transformer2DModel(nn.Module):
    def __init__(self, heads, dim_head, channels, layers, cross_dim, groups, linear, only_cross):
        super().__init__()
        inner = heads * dim_head
        self.linear = linear
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner) if linear else nn.Conv2d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, cross_dim, only_cross) for _ in range(layers)]
        )
        self.proj_out = nn.Linear(inner, channels) if linear else nn.Conv2d(inner, channels, 1)

    def forward(self, x, context):
        b, c, h, w = x.shape
        residual = x
        x = self.norm(x)
        if not self.linear:
            x = self.proj_in(x)
            x = x.permute(0, 2, 3, 1).reshape(b, h * w, -1)
        else:
            x = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context)
        if not self.linear:
            x = x.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()
            x = self.proj_out(x)
        else:
            x = self.proj_out(x)
            x = x.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()
        return x + residual


class DownBlock(nn.Module):
    def __init__(self, cross, cin, cout, temb, layers, add_down, cfg, heads, t_layers, only_cross):
        super().__init__()
        g, eps = cfg["norm_num_groups"], 1e-5
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if i == 0 else cout, cout, temb, g, eps) for i in range(layers)]
        )
        self.attentions = (
            nn.ModuleList(
                [
                    Transformer2DModel(heads, cout // heads, cout, t_layers, cfg["cross_attention_dim"], g,
                                       cfg.get("use_linear_projection", False), only_cross)
                    for _ in range(layers)
                ]
            )
            if cross
            else None
        )
        self.downsamplers = (
            nn.ModuleList([Downsample2D(cout, cfg.get("downsample_padding", 1))]) if add_down else None
        )

    def forward(self, h, temb, context):
        out = ()
        for i, resnet in enumerate(self.resnets):
            h = resnet(h, temb)
            if self.attentions is not None:
                h = self.attentions[i](h, context)
            out += (h,)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            out += (h,)
        return h, out


class UpBlock(nn.Module):
    def __init__(self, cross, cin, cout, prev, temb, layers, add_up, cfg, heads, t_layers, only_cross):
        super().__init__()
        g, eps = cfg["norm_num_groups"], 1e-5
        self.resnets = nn.ModuleList(
            [
                ResnetBlock2D((prev if i == 0 else cout) + (cin if i == layers - 1 else cout), cout, temb, g, eps)
                for i in range(layers)
            ]
        )
        self.attentions = (
            nn.ModuleList(
                [
                    Transformer2DModel(heads, cout // heads, cout, t_layers, cfg["cross_attention_dim"], g,
                                       cfg.get("use_linear_projection", False), only_cross)
                    for _ in range(layers)
                ]
            )
            if cross
            else None
        )
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if add_up else None

    def forward(self, h, res, temb, context):
        for i, resnet in enumerate(self.resnets):
            skip = res[-1]
            res = res[:-1]
            h = resnet(torch.cat([h, skip], dim=1), temb)
            if self.attentions is not None:
                h = self.attentions[i](h, context)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h)
        return h


class MidBlock(nn.Module):
    def __init__(self, c, temb, cfg, heads, t_layers):
        super().__init__()
        g, eps, scale = cfg["norm_num_groups"], 1e-5, cfg.get("mid_block_scale_factor", 1.0)
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, temb, g, eps, scale) for _ in range(2)])
        self.attentions = nn.ModuleList(
            [Transformer2DModel(heads, c // heads, c, t_layers, cfg["cross_attention_dim"], g,
                                cfg.get("use_linear_projection", False), False)]
        )

    def forward(self, h, temb, context):
        h = self.resnets[0](h, temb)
        h = self.attentions[0](h, context)
        return self.resnets[1](h, temb)


def per_block(value, n):
    return list(value) if isinstance(value, list) else [value] * n


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        ch = cfg["block_out_channels"]
        n = len(ch)
        temb = ch[0] * 4
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        if cfg.get("class_embed_type") == "projection":
            self.class_embedding = TimestepEmbedding(cfg["projection_class_embeddings_input_dim"], temb)
        elif cfg.get("num_class_embeds") is not None:
            self.class_embedding = nn.Embedding(cfg["num_class_embeds"], temb)
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        layers = per_block(cfg.get("layers_per_block", 2), n)
        # diffusers: num_attention_heads = num_attention_heads or attention_head_dim
        heads = per_block(cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8), n)
        t_layers = per_block(cfg.get("transformer_layers_per_block", 1), n)
        only_cross = per_block(cfg.get("only_cross_attention", False), n)
        self.down_blocks = nn.ModuleList()
        out = ch[0]
        for i, kind in enumerate(cfg["down_block_types"]):
            cin, out = out, ch[i]
            self.down_blocks.append(
                DownBlock(kind.startswith("CrossAttn"), cin, out, temb, layers[i], i < n - 1, cfg, heads[i],
                          t_layers[i], only_cross[i])
            )
        self.mid_block = MidBlock(ch[-1], temb, cfg, heads[-1], t_layers[-1])
        rch, rlayers, rheads = ch[::-1], layers[::-1], heads[::-1]
        rt_layers, ronly = t_layers[::-1], only_cross[::-1]
        self.up_blocks = nn.ModuleList()
        out = rch[0]
        for i, kind in enumerate(cfg["up_block_types"]):
            prev, out = out, rch[i]
            cin = rch[min(i + 1, n - 1)]
            self.up_blocks.append(
                UpBlock(kind.startswith("CrossAttn"), cin, out, prev, temb, rlayers[i] + 1, i < n - 1, cfg,
                        rheads[i], rt_layers[i], ronly[i])
            )
        self.conv_norm_out = nn.GroupNorm(cfg["norm_num_groups"], ch[0], eps=1e-5)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, sample, t, context, class_labels=None, down_residuals=None, mid_residual=None):
        cfg = self.cfg
        if cfg.get("center_input_sample", False):
            sample = 2 * sample - 1.0
        t_emb = timestep_embedding(t, cfg["block_out_channels"][0], cfg.get("flip_sin_to_cos", True),
                                   cfg.get("freq_shift", 0))
        emb = self.time_embedding(t_emb)
        if class_labels is not None:
            emb = emb + self.class_embedding(class_labels)
        h = self.conv_in(sample)
        res = (h,)
        for block in self.down_blocks:
            h, r = block(h, emb, context)
            res += r
        if down_residuals is not None:
            res = tuple(a + b for a, b in zip(res, down_residuals))
        h = self.mid_block(h, emb, context)
        if mid_residual is not None:
            h = h + mid_residual
        for block in self.up_blocks:
            k = len(block.resnets)
            own, res = res[-k:], res[:-k]
            h = block(h, own, emb, context)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        dtype, array = {
            torch.float16: ("F16", t.numpy().astype("<f2")),
            torch.float32: ("F32", t.numpy().astype("<f4")),
            torch.int64: ("I64", t.numpy().astype("<i8")),
        }[t.dtype]
        raw = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def randomized(model, gen):
    """Default init plus noise on norms and biases (so a swapped weight/bias is caught), rounded to F16."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias") or "embedding.weight" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                bound = 1 / math.sqrt(max(p[0].numel(), 1))
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound * 1.5)
            p.copy_(p.half().float())
    return {name: p.detach().half() for name, p in model.named_parameters()}


def write_case(out_dir, name, cfg, seed, with_extras):
    gen = torch.Generator().manual_seed(seed)
    model = UNet2DConditionModel(cfg).eval()
    weights = randomized(model, gen)
    case_dir = os.path.join(out_dir, name)
    os.makedirs(case_dir, exist_ok=True)
    with open(os.path.join(case_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(case_dir, "diffusion_pytorch_model.safetensors"), weights)
    io = {
        "sample": torch.randn(2, cfg["in_channels"], 8, 8, generator=gen),
        "timesteps": torch.tensor([37.0, 801.0]),
        "encoder_hidden_states": torch.randn(2, 5, cfg["cross_attention_dim"], generator=gen),
    }
    kwargs = {}
    if cfg.get("class_embed_type") == "projection":
        io["class_embeds"] = torch.randn(2, cfg["projection_class_embeddings_input_dim"], generator=gen)
        kwargs["class_labels"] = io["class_embeds"]
    elif cfg.get("num_class_embeds") is not None:
        io["class_labels"] = torch.tensor([2, 0], dtype=torch.int64)
        kwargs["class_labels"] = io["class_labels"]
    with torch.no_grad():
        io["output"] = model(io["sample"], io["timesteps"], io["encoder_hidden_states"], **kwargs)
        if with_extras:
            # ControlNet residuals: shapes from the skips of a plain forward.
            shapes = []
            h = model.conv_in(io["sample"])
            shapes.append(h.shape)
            emb = model.time_embedding(timestep_embedding(io["timesteps"], cfg["block_out_channels"][0], True, 0))
            for block in model.down_blocks:
                h, r = block(h, emb, io["encoder_hidden_states"])
                shapes += [x.shape for x in r]
            down = [0.5 * torch.randn(s, generator=gen) for s in shapes]
            mid = 0.5 * torch.randn(h.shape, generator=gen)
            for i, d in enumerate(down):
                io[f"control_down.{i}"] = d
            io["control_mid"] = mid
            io["output_control"] = model(io["sample"], io["timesteps"], io["encoder_hidden_states"],
                                         down_residuals=down, mid_residual=mid, **kwargs)
    write_safetensors(os.path.join(case_dir, "io.safetensors"), io)
    count = sum(p.numel() for p in model.parameters())
    print(f"{name}: {count} parameters in {len(weights)} tensors")


def main():
    out_dir = sys.argv[1]
    torch.manual_seed(0)
    write_case(out_dir, "a", CONFIG_A, 1, True)
    write_case(out_dir, "b", CONFIG_B, 2, False)
    write_case(out_dir, "c", CONFIG_C, 3, False)
    print(f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
