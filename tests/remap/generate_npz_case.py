#!/usr/bin/python3
"""Writes the JAX .npz test case of the ViT rule file into tests/data/remap/npz/.

A small timm-layout ViT state dict (depth 2, dim 8, 2 heads, patch 4, image 16, class token,
5 classes) with seeded random values is written as expected.safetensors. The same weights are
then laid out as the original JAX checkpoints store them, by inverting what timm's
vision_transformer._load_weights does on load:

- augreg.npz: the AugReg layout (Transformer/encoderblock_N/..., MultiHeadDotProductAttention_1,
  MlpBlock_3, LayerNorm_0/LayerNorm_2), stored uncompressed;
- big_vision.npz: the big_vision layout under params/img/ with the blocks scan-stacked along a
  leading depth axis (MultiHeadDotProductAttention_0, MlpBlock_0, LayerNorm_0/LayerNorm_1),
  compressed.

expected_img24.safetensors is the state dict at image size 24: the position grid resized from
4x4 to 6x6 as timm's npz loader does it (bilinear, no antialias, torch.nn.functional.interpolate).

Run with Debian's /usr/bin/python3 (python3-numpy, python3-torch). Output is deterministic.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "remap", "npz")
DEPTH, DIM, HEADS, PATCH, GRID, CLASSES = 2, 8, 2, 4, 4, 5
HEAD_DIM = DIM // HEADS


def write_safetensors(path, tensors):
    header = {}
    offset = 0
    blobs = []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for data in blobs:
            out.write(data)


def timm_state_dict(rng):
    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    sd = {
        "cls_token": randn(1, 1, DIM),
        "pos_embed": randn(1, 1 + GRID * GRID, DIM),
        "patch_embed.proj.weight": randn(DIM, 3, PATCH, PATCH),
        "patch_embed.proj.bias": randn(DIM),
    }
    for i in range(DEPTH):
        p = f"blocks.{i}."
        sd[p + "norm1.weight"] = randn(DIM)
        sd[p + "norm1.bias"] = randn(DIM)
        sd[p + "attn.qkv.weight"] = randn(3 * DIM, DIM)
        sd[p + "attn.qkv.bias"] = randn(3 * DIM)
        sd[p + "attn.proj.weight"] = randn(DIM, DIM)
        sd[p + "attn.proj.bias"] = randn(DIM)
        sd[p + "norm2.weight"] = randn(DIM)
        sd[p + "norm2.bias"] = randn(DIM)
        sd[p + "mlp.fc1.weight"] = randn(4 * DIM, DIM)
        sd[p + "mlp.fc1.bias"] = randn(4 * DIM)
        sd[p + "mlp.fc2.weight"] = randn(DIM, 4 * DIM)
        sd[p + "mlp.fc2.bias"] = randn(DIM)
    sd["norm.weight"] = randn(DIM)
    sd["norm.bias"] = randn(DIM)
    sd["head.weight"] = randn(CLASSES, DIM)
    sd["head.bias"] = randn(CLASSES)
    return sd


def block_arrays(sd, i, mha, mlp, ln2):
    """The JAX arrays of block i, named relative to the block."""
    p = f"blocks.{i}."
    qkv_w = sd[p + "attn.qkv.weight"]
    qkv_b = sd[p + "attn.qkv.bias"]
    out = {
        "LayerNorm_0/scale": sd[p + "norm1.weight"],
        "LayerNorm_0/bias": sd[p + "norm1.bias"],
        f"LayerNorm_{ln2}/scale": sd[p + "norm2.weight"],
        f"LayerNorm_{ln2}/bias": sd[p + "norm2.bias"],
        f"MlpBlock_{mlp}/Dense_0/kernel": sd[p + "mlp.fc1.weight"].T,
        f"MlpBlock_{mlp}/Dense_0/bias": sd[p + "mlp.fc1.bias"],
        f"MlpBlock_{mlp}/Dense_1/kernel": sd[p + "mlp.fc2.weight"].T,
        f"MlpBlock_{mlp}/Dense_1/bias": sd[p + "mlp.fc2.bias"],
        # timm: proj.weight = out_kernel.transpose(2, 0, 1).reshape(D, D)
        f"MultiHeadDotProductAttention_{mha}/out/kernel":
            sd[p + "attn.proj.weight"].reshape(DIM, HEADS, HEAD_DIM).transpose(1, 2, 0),
        f"MultiHeadDotProductAttention_{mha}/out/bias": sd[p + "attn.proj.bias"],
    }
    for n, part in enumerate(("query", "key", "value")):
        rows = slice(n * DIM, (n + 1) * DIM)
        # timm: qkv part = kernel.reshape(D, D).T, bias.reshape(-1)
        out[f"MultiHeadDotProductAttention_{mha}/{part}/kernel"] = qkv_w[rows].T.reshape(DIM, HEADS, HEAD_DIM)
        out[f"MultiHeadDotProductAttention_{mha}/{part}/bias"] = qkv_b[rows].reshape(HEADS, HEAD_DIM)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def top_arrays(sd, pos_key):
    return {
        "embedding/kernel": np.ascontiguousarray(sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0)),
        "embedding/bias": sd["patch_embed.proj.bias"],
        "cls": sd["cls_token"],
        pos_key: sd["pos_embed"],
        "Transformer/encoder_norm/scale": sd["norm.weight"],
        "Transformer/encoder_norm/bias": sd["norm.bias"],
        "head/kernel": np.ascontiguousarray(sd["head.weight"].T),
        "head/bias": sd["head.bias"],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = timm_state_dict(np.random.default_rng(20261204))
    write_safetensors(os.path.join(OUT, "expected.safetensors"), sd)

    augreg = top_arrays(sd, "Transformer/posembed_input/pos_embedding")
    for i in range(DEPTH):
        for name, array in block_arrays(sd, i, mha=1, mlp=3, ln2=2).items():
            augreg[f"Transformer/encoderblock_{i}/{name}"] = array
    np.savez(os.path.join(OUT, "augreg.npz"), **augreg)

    big_vision = {"params/img/" + k: v for k, v in top_arrays(sd, "pos_embedding").items()}
    blocks = [block_arrays(sd, i, mha=0, mlp=0, ln2=1) for i in range(DEPTH)]
    for name in blocks[0]:
        big_vision[f"params/img/Transformer/encoderblock/{name}"] = np.stack([b[name] for b in blocks])
    big_vision["params/txt/token_embedding"] = np.zeros((3, 2), dtype=np.float32)
    np.savez_compressed(os.path.join(OUT, "big_vision.npz"), **big_vision)

    resized = dict(sd)
    pos = torch.from_numpy(sd["pos_embed"])
    grid = pos[:, 1:].reshape(1, GRID, GRID, DIM).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(6, 6), mode="bilinear", align_corners=False, antialias=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, 36, DIM)
    resized["pos_embed"] = torch.cat([pos[:, :1], grid], dim=1).numpy()
    write_safetensors(os.path.join(OUT, "expected_img24.safetensors"), resized)


if __name__ == "__main__":
    main()
