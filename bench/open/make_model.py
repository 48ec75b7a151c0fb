"""Write a deterministic ViT checkpoint for the open benchmark.

The state dict has timm's vision_transformer key names and shapes (152 tensors for 12 blocks).
It is written as a Hub repository (model.safetensors and config.json) under
REPOS/ORG/NAME for timmd-testhub, and as pytorch_model.bin (torch.save) next to it for the
torch.load comparison.

Run with Debian's /usr/bin/python3 (numpy and torch 1.13):
    /usr/bin/python3 bench/open/make_model.py --repos DIR --bin-dir DIR --variant small
"""

import argparse
import json
import os
import struct

import numpy as np
import torch

# timm's vit_small_patch16_224 and vit_base_patch16_224 (embed dim, depth, heads); float32
# weights are about 88 MB and 346 MB.
VARIANTS = {
    "small": {"architecture": "vit_small_patch16_224", "embed_dim": 384, "depth": 12, "num_heads": 6},
    "base": {"architecture": "vit_base_patch16_224", "embed_dim": 768, "depth": 12, "num_heads": 12},
}
PATCH_SIZE = 16
IMG_SIZE = 224
NUM_CLASSES = 1000
MLP_RATIO = 4


def vit_state_dict(embed_dim, depth, seed):
    """Return timm's ViT state dict for the given width and depth, filled with seeded noise."""
    rng = np.random.default_rng(seed)

    def tensor(*shape):
        values = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        return torch.from_numpy(values)

    grid = IMG_SIZE // PATCH_SIZE
    hidden = embed_dim * MLP_RATIO
    state = {
        "cls_token": tensor(1, 1, embed_dim),
        "pos_embed": tensor(1, grid * grid + 1, embed_dim),
        "patch_embed.proj.weight": tensor(embed_dim, 3, PATCH_SIZE, PATCH_SIZE),
        "patch_embed.proj.bias": tensor(embed_dim),
    }
    for block in range(depth):
        prefix = f"blocks.{block}."
        state[prefix + "norm1.weight"] = tensor(embed_dim)
        state[prefix + "norm1.bias"] = tensor(embed_dim)
        state[prefix + "attn.qkv.weight"] = tensor(3 * embed_dim, embed_dim)
        state[prefix + "attn.qkv.bias"] = tensor(3 * embed_dim)
        state[prefix + "attn.proj.weight"] = tensor(embed_dim, embed_dim)
        state[prefix + "attn.proj.bias"] = tensor(embed_dim)
        state[prefix + "norm2.weight"] = tensor(embed_dim)
        state[prefix + "norm2.bias"] = tensor(embed_dim)
        state[prefix + "mlp.fc1.weight"] = tensor(hidden, embed_dim)
        state[prefix + "mlp.fc1.bias"] = tensor(hidden)
        state[prefix + "mlp.fc2.weight"] = tensor(embed_dim, hidden)
        state[prefix + "mlp.fc2.bias"] = tensor(embed_dim)
    state["norm.weight"] = tensor(embed_dim)
    state["norm.bias"] = tensor(embed_dim)
    state["head.weight"] = tensor(NUM_CLASSES, embed_dim)
    state["head.bias"] = tensor(NUM_CLASSES)
    return state


def write_safetensors(path, state):
    """Write `state` (float32 tensors) as safetensors: u64 LE header length, JSON header, data."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, value in state.items():
        size = value.numel() * value.element_size()
        header[name] = {"dtype": "F32", "shape": list(value.shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for value in state.values():
            out.write(value.contiguous().numpy().tobytes())


def config_json(variant):
    """Return the repository's config.json, laid out like tests/data/timm/demo-repo's."""
    spec = VARIANTS[variant]
    return {
        "architecture": spec["architecture"],
        "num_classes": NUM_CLASSES,
        "num_features": spec["embed_dim"],
        "global_pool": "token",
        "pretrained_cfg": {
            "tag": "bench",
            "custom_load": False,
            "input_size": [3, IMG_SIZE, IMG_SIZE],
            "fixed_input_size": True,
            "interpolation": "bicubic",
            "crop_pct": 0.9,
            "crop_mode": "center",
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "num_classes": NUM_CLASSES,
            "pool_size": None,
            "first_conv": "patch_embed.proj",
            "classifier": "head",
            "license": "apache-2.0",
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", required=True, help="root of the Hub repositories (ORG/NAME folders)")
    parser.add_argument("--bin-dir", required=True, help="folder for pytorch_model.bin, outside the repository")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="small")
    parser.add_argument("--org", default="bench")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    spec = VARIANTS[args.variant]
    repo = os.path.join(args.repos, args.org, spec["architecture"] + ".bench")
    os.makedirs(repo, exist_ok=True)
    os.makedirs(args.bin_dir, exist_ok=True)

    state = vit_state_dict(spec["embed_dim"], spec["depth"], args.seed)
    write_safetensors(os.path.join(repo, "model.safetensors"), state)
    with open(os.path.join(repo, "config.json"), "w") as out:
        json.dump(config_json(args.variant), out, indent=2)
    torch.save(state, os.path.join(args.bin_dir, "pytorch_model.bin"))

    total = sum(value.numel() * value.element_size() for value in state.values())
    print(json.dumps({"repo": f"{args.org}/{spec['architecture']}.bench", "path": repo, "tensors": len(state),
                      "tensor_bytes": total}))


if __name__ == "__main__":
    main()
