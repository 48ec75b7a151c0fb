"""Time the in-process alternatives to a timmd `open` of the same weights.

* torch.load('pytorch_model.bin', map_location='cpu'). The torch.load of torch 1.13 has no mmap
  argument, so every load reads and copies all tensor bytes.
* A direct safetensors read: open the file, mmap it, parse the header and build one
  numpy.frombuffer view per tensor, then read the first byte of the first tensor. That is the
  same work and end point as the timmd client's open.

Each timed iteration starts from a closed file and a warm page cache (after untimed warm-up
iterations). Prints one JSON object with the latency distribution of each.

Run with Debian's /usr/bin/python3 (numpy and torch 1.13):
    /usr/bin/python3 bench/open/python_load.py --safetensors F --bin F [--repeat 500] [--torch-repeat 30]
"""

import argparse
import json
import mmap
import struct
import time

import numpy as np
import torch

# safetensors dtype names and the numpy types they map to.
NUMPY_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """Map `path` and return (mapping, {name: numpy view}) with the tensors in file order."""
    with open(path, "rb") as file:
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    (header_length,) = struct.unpack_from("<Q", mapping, 0)
    header = json.loads(mapping[8:8 + header_length])
    header.pop("__metadata__", None)
    data_start = 8 + header_length
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = np.dtype(NUMPY_DTYPES[entry["dtype"]])
        view = np.frombuffer(mapping, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=data_start + begin)
        tensors[name] = view.reshape(entry["shape"])
    return mapping, tensors


def first_byte(array):
    """Read the first byte of `array`, which faults its page in."""
    return array.reshape(-1)[:1].view(np.uint8)[0]


def time_safetensors(path):
    started = time.perf_counter()
    mapping, tensors = read_safetensors(path)
    first_byte(next(iter(tensors.values())))
    elapsed = time.perf_counter() - started
    del tensors
    mapping.close()
    return elapsed, None


def time_torch_load(path):
    started = time.perf_counter()
    state = torch.load(path, map_location="cpu")
    first = next(iter(state.values()))
    first.reshape(-1)[0].item()
    elapsed = time.perf_counter() - started
    return elapsed, len(state)


def distribution(seconds):
    values = sorted(value * 1000.0 for value in seconds)

    def rank(fraction):
        index = min(len(values), max(1, int(fraction * len(values) + 0.999999)))
        return values[index - 1]

    return {"runs": len(values), "median_ms": rank(0.5), "p90_ms": rank(0.9), "p99_ms": rank(0.99),
            "max_ms": values[-1], "mean_ms": sum(values) / len(values)}


def measure(function, path, warmup, repeat):
    for _ in range(warmup):
        function(path)
    return distribution([function(path)[0] for _ in range(repeat)])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--safetensors", required=True, help="model.safetensors to read directly")
    parser.add_argument("--bin", required=True, help="pytorch_model.bin with the same weights")
    parser.add_argument("--repeat", type=int, default=500, help="timed safetensors reads")
    parser.add_argument("--torch-repeat", type=int, default=30, help="timed torch.load calls")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each before timing")
    args = parser.parse_args()

    _, tensors = read_safetensors(args.safetensors)
    report = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "tensors": len(tensors),
        "safetensors_numpy": measure(time_safetensors, args.safetensors, args.warmup, args.repeat),
        "torch_load": measure(time_torch_load, args.bin, args.warmup, args.torch_repeat),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
