#!/usr/bin/python3
"""Write tests/data/tensors/expected.json: what PyTorch and numpy read from tests/data/real/.

Run once with Debian's interpreter and packages (apt-get install python3-torch python3-numpy):
    /usr/bin/python3 tests/tensors/generate_expected.py
CI compares the C++ readers against the committed JSON and does not need torch.

Each tensor is listed with its safetensors dtype name, shape, strides, contiguity,
requires_grad and the SHA-256 of its elements in row-major little-endian order. The state
dict is found with the rules of daemon/tensors/state_dict.hpp, restated in discover() below.
Safetensors files are read with the json module, because torch 1.13 lacks U16/U32/U64.
"""
import hashlib
import json
import pathlib
import struct
import sys

import numpy
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"
OUT = ROOT / "tests" / "data" / "tensors" / "expected.json"

STATE_DICT_KEYS = ["state_dict", "model_state_dict", "model", "state_dict_ema", "model_ema"]
WRAPPER_PREFIXES = ["module.", "_orig_mod."]

# Files the readers must reject, with the error code they must report.
REJECTED = {
    "format-edge/burn-store/broken.pt": "unsupported_format",
    "format-edge/burn-store/tar_weight_bias.tar": "unsupported_format",
}

TORCH_DTYPES = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
    torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32", torch.float32: "F32",
    torch.float64: "F64", torch.int64: "I64", torch.complex64: "C64",
}
NUMPY_DTYPES = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
    "float16": "F16", "int32": "I32", "uint32": "U32", "float32": "F32", "int64": "I64",
    "uint64": "U64", "float64": "F64", "complex64": "C64",
}


def torch_bytes(tensor):
    tensor = tensor.detach().contiguous()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.view(torch.int16)
    return tensor.numpy().tobytes()


def flatten(mapping, prefix, out):
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif isinstance(value, dict):
            flatten(value, name, out)
    return out


def discover(obj):
    if any(isinstance(v, torch.Tensor) for v in obj.values()):
        return "", flatten(obj, "", {})
    for key in STATE_DICT_KEYS:
        if isinstance(obj.get(key), dict):
            found = flatten(obj[key], "", {})
            if found:
                return key, found
    return "", flatten(obj, "", {})


def prefixes(names):
    found, accumulated = [], ""
    while names:
        for prefix in WRAPPER_PREFIXES:
            if all(n.startswith(accumulated + prefix) for n in names):
                found.append(prefix)
                accumulated += prefix
                break
        else:
            break
    return found


def read_torch(path):
    obj = torch.load(path, map_location="cpu")
    path_key, tensors = discover(obj)
    return {
        "format": "torch_zip" if path.read_bytes()[:2] == b"PK" else "torch_legacy",
        "state_dict_path": path_key,
        "key_prefixes": prefixes(list(tensors)),
        "tensors": [
            {
                "name": name,
                "dtype": TORCH_DTYPES[t.dtype],
                "shape": list(t.shape),
                "strides": list(t.stride()),
                "contiguous": t.is_contiguous(),
                "requires_grad": t.requires_grad,
                "sha256": hashlib.sha256(torch_bytes(t)).hexdigest(),
            }
            for name, t in tensors.items()
        ],
    }


def numpy_entry(name, array):
    data = numpy.ascontiguousarray(array)
    return {
        "name": name,
        "dtype": NUMPY_DTYPES[str(array.dtype)],
        "shape": list(array.shape),
        "contiguous": bool(array.flags.c_contiguous) or array.ndim <= 1,
        "requires_grad": False,
        "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
    }


def read_numpy(path):
    if path.suffix == ".npy":
        return {"format": "numpy_npy", "state_dict_path": "", "key_prefixes": [],
                "tensors": [numpy_entry("array", numpy.load(path, allow_pickle=False))]}
    with numpy.load(path, allow_pickle=False) as archive:
        tensors = [numpy_entry(name, archive[name]) for name in archive.files]
    return {"format": "numpy_npz", "state_dict_path": "", "key_prefixes": [], "tensors": tensors}


def read_safetensors(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    metadata = header.pop("__metadata__", {})
    data = raw[8 + length:]
    tensors = []
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        tensors.append({
            "name": name, "dtype": info["dtype"], "shape": info["shape"],
            "contiguous": True, "requires_grad": False,
            "sha256": hashlib.sha256(data[begin:end]).hexdigest(),
        })
    return {"format": "safetensors", "state_dict_path": "", "key_prefixes": [],
            "metadata": metadata, "tensors": tensors}


def main():
    files = {}
    for path in sorted(REAL.rglob("*")):
        relative = path.relative_to(REAL).as_posix()
        if not path.is_file() or path.name in ("MANIFEST.md", "SHA256SUMS") or relative in REJECTED:
            continue
        if path.suffix == ".safetensors":
            files[relative] = read_safetensors(path)
        elif path.suffix in (".npy", ".npz"):
            files[relative] = read_numpy(path)
        else:
            files[relative] = read_torch(path)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    document = {"generator": f"torch {torch.__version__}, numpy {numpy.__version__}",
                "files": files, "rejected": REJECTED}
    OUT.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(files)} files)", file=sys.stderr)


if __name__ == "__main__":
    main()
