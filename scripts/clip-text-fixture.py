"""Writes test/fixtures/clip-text-tiny/: a tiny random CLIP text encoder in transformers' layout
(config.json, model.safetensors) and its outputs (io.safetensors) computed by a plain-PyTorch
re-statement of transformers' modeling_clip (CLIPTextEmbeddings, CLIPAttention, CLIPMLP,
CLIPEncoderLayer, CLIPTextTransformer): pre-LN blocks, causal mask plus optional padding mask,
final layer norm, pooled output at the first EOS id. The token embedding is stored as float16 and the
`position_ids` buffer of older checkpoints is included, so the loader's upcast and skip are tested.

Run with the system Python that has torch:  /usr/bin/python3 scripts/clip-text-fixture.py
Needs only torch (no transformers, no safetensors package).
"""

import json
import os
import re
import struct

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "clip-text-tiny")

CONFIG = {
    "architectures": ["CLIPTextModel"],
    "model_type": "clip_text_model",
    "_name_or_path": "tiny-random-clip-text",
    "torch_dtype": "float32",
    "transformers_version": "4.44.0",
    "vocab_size": 40,
    "hidden_size": 32,
    "intermediate_size": 48,
    "projection_dim": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 16,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "attention_dropout": 0.0,
    "dropout": 0.0,
    "initializer_range": 0.02,
    "initializer_factor": 1.0,
    "bos_token_id": 38,
    "eos_token_id": 39,
    "pad_token_id": 39,
}


def random_weights(gen):
    c = CONFIG
    d, f, v, p = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["max_position_embeddings"]
    w = {}

    def normal(*shape, std=0.2):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).float() * std

    # float16 storage: the model computes with the rounded values, as the loader upcasts them.
    w["text_model.embeddings.token_embedding.weight"] = normal(v, d, std=1.0).half()
    w["text_model.embeddings.position_embedding.weight"] = normal(p, d, std=1.0)
    for i in range(c["num_hidden_layers"]):
        pre = f"text_model.encoder.layers.{i}"
        for name in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            w[f"{pre}.self_attn.{name}.weight"] = normal(d, d)
            w[f"{pre}.self_attn.{name}.bias"] = normal(d)
        for name in ["layer_norm1", "layer_norm2"]:
            w[f"{pre}.{name}.weight"] = 1 + normal(d)
            w[f"{pre}.{name}.bias"] = normal(d)
        w[f"{pre}.mlp.fc1.weight"] = normal(f, d)
        w[f"{pre}.mlp.fc1.bias"] = normal(f)
        w[f"{pre}.mlp.fc2.weight"] = normal(d, f)
        w[f"{pre}.mlp.fc2.bias"] = normal(d)
    w["text_model.final_layer_norm.weight"] = 1 + normal(d)
    w["text_model.final_layer_norm.bias"] = normal(d)
    w["text_model.embeddings.position_ids"] = torch.arange(p, dtype=torch.int64).reshape(1, p)
    return w


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def linear(w, name, x):
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def layer_norm(w, name, x):
    return torch.nn.functional.layer_norm(
        x, (x.shape[-1],), w[f"{name}.weight"], w[f"{name}.bias"], CONFIG["layer_norm_eps"]
    )


def attention(w, pre, x, mask):
    b, s, d = x.shape
    h = CONFIG["num_attention_heads"]
    hd = d // h
    scale = hd**-0.5

    def split(t):
        return t.reshape(b, s, h, hd).transpose(1, 2)

    q = split(linear(w, f"{pre}.q_proj", x) * scale)
    k = split(linear(w, f"{pre}.k_proj", x))
    v = split(linear(w, f"{pre}.v_proj", x))
    scores = q @ k.transpose(-1, -2) + mask
    out = torch.softmax(scores, dim=-1) @ v
    return linear(w, f"{pre}.out_proj", out.transpose(1, 2).reshape(b, s, d))


def encode(w, ids, attention_mask=None):
    b, s = ids.shape
    x = w["text_model.embeddings.token_embedding.weight"].float()[ids]
    x = x + w["text_model.embeddings.position_embedding.weight"][:s][None]
    neg = torch.finfo(torch.float32).min
    causal = torch.triu(torch.full((s, s), neg), diagonal=1)[None, None]
    mask = causal
    if attention_mask is not None:
        pad = (1.0 - attention_mask[:, None, None, :].float()) * neg
        mask = (causal + pad).clamp(min=neg)
    hidden_states = [x]
    for i in range(CONFIG["num_hidden_layers"]):
        pre = f"text_model.encoder.layers.{i}"
        r = x
        x = r + attention(w, f"{pre}.self_attn", layer_norm(w, f"{pre}.layer_norm1", x), mask)
        r = x
        h = quick_gelu(linear(w, f"{pre}.mlp.fc1", layer_norm(w, f"{pre}.layer_norm2", x)))
        x = r + linear(w, f"{pre}.mlp.fc2", h)
        hidden_states.append(x)
    last = layer_norm(w, "text_model.final_layer_norm", x)
    eos = (ids == CONFIG["eos_token_id"]).int().argmax(dim=-1)
    pooled = last[torch.arange(b), eos]
    return last, pooled, hidden_states


def write_safetensors(path, tensors):
    dtypes = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    gen = torch.Generator().manual_seed(0)
    w = random_weights(gen)
    ids = torch.tensor(
        [
            [38, 5, 17, 3, 30, 39, 39, 39, 39, 39, 39, 39],
            [38, 1, 2, 33, 7, 9, 21, 11, 4, 0, 6, 39],
        ],
        dtype=torch.int64,
    )
    mask = (torch.arange(12)[None] <= (ids == 39).int().argmax(-1)[:, None]).long()
    with torch.no_grad():
        last, pooled, hidden = encode(w, ids)
        last_masked, _, _ = encode(w, ids, mask)
        skip1 = layer_norm(w, "text_model.final_layer_norm", hidden[-2])
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        # One-element lists on one line and 1e-5 for 1e-05, as the repository's JSON formatter writes them.
        text = json.dumps(CONFIG, indent=2, sort_keys=True)
        text = re.sub(r'\[\s+("[^"]*")\s+\]', r"[\1]", text)
        f.write(re.sub(r"e-0(\d)", r"e-\1", text) + "\n")
    write_safetensors(os.path.join(OUT, "model.safetensors"), w)
    write_safetensors(
        os.path.join(OUT, "io.safetensors"),
        {
            "input_ids": ids,
            "attention_mask": mask,
            "last_hidden_state": last,
            "pooled_output": pooled,
            "clip_skip_1": skip1,
            "last_hidden_state_masked": last_masked,
            "hidden_state_0": hidden[0],
        },
    )
    print("wrote", OUT, "max |last|", float(last.abs().max()), "pooled[0,:3]", pooled[0, :3].tolist())


if __name__ == "__main__":
    main()
