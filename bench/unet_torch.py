"""The benchmark U-Net in PyTorch, hand-written (diffusers is not a dependency here): the same
UNet2DModel architecture and parameter names for the subset of config.json keys bench/unet.ts uses
(DownBlock2D / AttnDownBlock2D / UpBlock2D / AttnUpBlock2D, UNetMidBlock2D with attention,
positional time embedding, 'default' time conditioning, conv down/upsampling). It loads the
safetensors weights bench/unet.ts writes so both sides compute the same function, then times a
no-grad forward and an AdamW train step and prints one JSON object. With MODE `sample` it instead
times drawing a batch by STEPS deterministic DDIM steps (linear β 1e-4..0.02 over 1,000 steps,
'leading' spacing, no grad), with MODE `train` only the train step; each mode reports the process's
peak RSS, so run one mode per process to measure its memory.

usage: python3 bench/unet_torch.py CONFIG WEIGHTS INPUTS OUTPUT BATCH ROUNDS [MODE [STEPS]]
  MODE: all (default: forward, then train step) | sample | train
"""
import json
import math
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(info["shape"]).copy())
    return out


def timestep_embedding(t, dim, flip_sin_to_cos, shift):
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - shift)
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    return torch.cat([emb[:, half:], emb[:, :half]], dim=-1) if flip_sin_to_cos else emb


class TimestepEmbedding(nn.Module):
    def __init__(self, dim_in, dim):
        super().__init__()
        self.linear_1 = nn.Linear(dim_in, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class Resnet(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if self.conv_shortcut is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c, head_dim, groups, eps):
        super().__init__()
        self.heads, self.head_dim = c // head_dim, head_dim
        self.group_norm = nn.GroupNorm(groups, c, eps)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c)])

    def forward(self, x):
        b, c, hh, ww = x.shape
        t = self.group_norm(x).view(b, c, hh * ww).transpose(1, 2)
        split = lambda y: y.view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        q, k, v = split(self.to_q(t)), split(self.to_k(t)), split(self.to_v(t))
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.head_dim), dim=-1)
        o = (p @ v).transpose(1, 2).reshape(b, hh * ww, c)
        return self.to_out[0](o).transpose(1, 2).reshape(b, c, hh, ww) + x


class Resample(nn.Module):
    def __init__(self, c, down, padding=1):
        super().__init__()
        self.down = down
        self.conv = nn.Conv2d(c, c, 3, stride=2 if down else 1, padding=padding if down else 1)

    def forward(self, x):
        return self.conv(x) if self.down else self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Block(nn.Module):
    """A down or up block: resnets (each optionally followed by attention), then a resampler."""

    def __init__(self, resnets, attentions, resampler, name):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        if attentions:
            self.attentions = nn.ModuleList(attentions)
        self.has_attn = bool(attentions)
        self.resampler_name = name if resampler is not None else None
        if resampler is not None:
            setattr(self, name, nn.ModuleList([resampler]))

    @property
    def resampler(self):
        return getattr(self, self.resampler_name)[0] if self.resampler_name else None


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, L, g, eps = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"], cfg["norm_eps"]
        hd, temb = cfg["attention_head_dim"], 4 * ch[0]
        self.cfg = cfg
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        self.down_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg["down_block_types"]):
            cin, cout, attn = ch[max(i - 1, 0)], ch[i], kind.startswith("Attn")
            self.down_blocks.append(Block(
                [Resnet(cin if j == 0 else cout, cout, temb, g, eps) for j in range(L)],
                [Attention(cout, hd, g, eps) for _ in range(L)] if attn else [],
                Resample(cout, True, cfg["downsample_padding"]) if i < len(ch) - 1 else None, "downsamplers"))
        self.mid_block = Block([Resnet(ch[-1], ch[-1], temb, g, eps) for _ in range(2)],
                               [Attention(ch[-1], hd, g, eps)], None, "")
        rev = list(reversed(ch))
        self.up_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg["up_block_types"]):
            prev, cout, cin = rev[max(i - 1, 0)], rev[i], rev[min(i + 1, len(ch) - 1)]
            attn = kind.startswith("Attn")
            self.up_blocks.append(Block(
                [Resnet((prev if j == 0 else cout) + (cin if j == L else cout), cout, temb, g, eps) for j in range(L + 1)],
                [Attention(cout, hd, g, eps) for _ in range(L + 1)] if attn else [],
                Resample(cout, False) if i < len(ch) - 1 else None, "upsamplers"))
        self.conv_norm_out = nn.GroupNorm(g, ch[0], eps)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, x, t):
        emb = self.time_embedding(timestep_embedding(t, self.cfg["block_out_channels"][0],
                                                     self.cfg["flip_sin_to_cos"], self.cfg["freq_shift"]))
        h = self.conv_in(x)
        skips = [h]
        for block in self.down_blocks:
            for j, resnet in enumerate(block.resnets):
                h = resnet(h, emb)
                if block.has_attn:
                    h = block.attentions[j](h)
                skips.append(h)
            if block.resampler is not None:
                h = block.resampler(h)
                skips.append(h)
        m = self.mid_block
        h = m.resnets[1](m.attentions[0](m.resnets[0](h, emb)), emb)
        for block in self.up_blocks:
            for j, resnet in enumerate(block.resnets):
                h = resnet(torch.cat([h, skips.pop()], dim=1), emb)
                if block.has_attn:
                    h = block.attentions[j](h)
            if block.resampler is not None:
                h = block.resampler(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


def best_median(fn, rounds):
    """Fastest of `rounds` per-round medians (≥ 3 runs, ~0.6 s each), after 2 warm-up runs."""
    for _ in range(2):
        fn()
    medians = []
    for _ in range(rounds):
        times, start = [], time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < 0.6:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        medians.append(statistics.median(times))
    return min(medians)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ddim_sample(net, noise, steps):
    """Deterministic DDIM (eta 0) from x_T = noise: x_{t'} = sqrt(a') x0 + sqrt(1 - a') eps."""
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alphas = torch.cumprod(1 - betas, dim=0)
    stride = 1000 // steps
    x = noise.clone()
    for t in range(stride * (steps - 1), -1, -stride):
        a, a_prev = alphas[t].item(), (alphas[t - stride].item() if t - stride >= 0 else 1.0)
        eps = net(x, torch.full((x.shape[0],), float(t)))
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x


def run_mode(mode, net, x, t, target, rounds, steps):
    """Times one mode and returns its JSON fields (MODE sample or train)."""
    if mode == "sample":
        net.eval()
        with torch.no_grad():
            seconds = best_median(lambda: ddim_sample(net, x, steps), rounds)
        return {"sample": seconds, "steps": steps, "rss MiB": peak_rss_mib()}
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(net(x, t), target)
        loss.backward()
        opt.step()
        return loss.item()

    return {"train step": best_median(step, rounds), "rss MiB": peak_rss_mib()}


def main():
    config_path, weights_path, inputs_path, output_path, batch, rounds = sys.argv[1:7]
    mode = sys.argv[7] if len(sys.argv) > 7 else "all"
    steps = int(sys.argv[8]) if len(sys.argv) > 8 else 20
    batch, rounds = int(batch), int(rounds)
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = json.load(open(config_path))
    net = UNet(cfg)
    net.load_state_dict(read_safetensors(weights_path), strict=True)
    inputs = read_safetensors(inputs_path)
    x, t, target = inputs["sample"], inputs["timestep"], inputs["target"]
    if mode in ("sample", "train"):
        result = run_mode(mode, net, x, t, target, rounds, steps)
        result.update(threads=torch.get_num_threads(), version=torch.__version__)
        json.dump(result, sys.stdout)
        return
    net.eval()
    with torch.no_grad():
        output = net(x, t)
        forward = best_median(lambda: net(x, t), rounds)
    rss_forward = peak_rss_mib()
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(net(x, t), target)
        loss.backward()
        opt.step()
        return loss.item()

    train = best_median(step, rounds)
    result = {
        "forward": forward,
        "train step": train,
        "rss forward MiB": rss_forward,
        "rss MiB": peak_rss_mib(),
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    with open(output_path, "wb") as f:
        f.write(output.numpy().astype(np.float32).tobytes())
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
