#!/usr/bin/python3
"""Write a torch.save zip with 500 tensors of 128 KiB each (~64 MiB) for bench_tensors_open.

    /usr/bin/python3 bench/tensors/make_torch_zip.py /tmp/bench-500.pt
Needs Debian's python3-torch; the file is not kept in the repository.
"""
import sys

import torch

state = {f"blocks.{i}.attn.qkv.weight": torch.zeros(128, 256) for i in range(500)}
torch.save(state, sys.argv[1])
