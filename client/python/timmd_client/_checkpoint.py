"""Checkpoint: the tensors of an ``open`` answer, mapped read-only from the daemon's cache."""

import collections
import math
import mmap
import os
import sys
import warnings
from typing import NamedTuple, Tuple

from ._errors import TimmdError

# Element sizes of the safetensors dtypes.
_ITEMSIZE = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}

# Elements are little-endian on every host, so the numpy dtypes name the byte order.
_NUMPY_DTYPE = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}

# Attribute names in the torch module. Older torch releases lack some (unsigned 16 to 64-bit
# before 2.3, float8 before 2.1); torch() then raises TypeError.
_TORCH_DTYPE = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}


class TensorInfo(NamedTuple):
    """Placement of one served tensor: ``offset`` and ``length`` are bytes of the mapping."""

    dtype: str  # safetensors spelling: F32, F16, BF16, I64, ...
    shape: Tuple[int, ...]
    offset: int
    length: int


def _bad_answer(problem):
    return TimmdError(
        "internal",
        f"the daemon's open answer {problem}; the daemon and the client library versions may differ",
    )


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parse_table(table, mapping_size):
    """Check the answer's tensor table against the mapping; return {name: TensorInfo}."""
    if not isinstance(table, list):
        raise _bad_answer("has no tensor table")
    tensors = collections.OrderedDict()
    for entry in table:
        if not isinstance(entry, dict):
            raise _bad_answer(f"has a tensor entry that is not an object: {entry!r}")
        name = entry.get("name")
        dtype = entry.get("dtype")
        shape = entry.get("shape")
        offset = entry.get("offset")
        length = entry.get("length")
        if not isinstance(name, str) or not isinstance(dtype, str):
            raise _bad_answer(f"has a tensor entry without a name or dtype: {entry!r}")
        if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
            raise _bad_answer(f"gives '{name}' the invalid shape {shape!r}")
        if not _is_count(offset) or not _is_count(length) or offset + length > mapping_size:
            raise _bad_answer(
                f"places '{name}' at offset {offset!r}, length {length!r}, outside the "
                f"{mapping_size}-byte served blob"
            )
        itemsize = _ITEMSIZE.get(dtype)
        if itemsize is not None and math.prod(shape) * itemsize != length:
            raise _bad_answer(f"gives '{name}' {length} bytes, which does not fit {dtype} {shape}")
        tensors[name] = TensorInfo(dtype, tuple(shape), offset, length)
    return tensors


def _import_numpy():
    try:
        import numpy
    except ImportError as error:
        raise ImportError("Checkpoint.numpy() needs numpy; install it (python3-numpy)") from error
    return numpy


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("Checkpoint.torch() needs PyTorch; install it (python3-torch)") from error
    return torch


class Checkpoint:
    """The tensors the daemon served for one ``open``, mapped read-only from its cache.

    A Checkpoint owns the mapping and the daemon's lease on the served blob, which keeps the
    cache from removing it. ``close()`` (or leaving a ``with`` block) ends both. Arrays and
    tensors taken from it stay valid after ``close()``: the mapping is unmapped when the last
    of them is freed.
    """

    def __init__(self, client, answer, fd):
        """Map ``fd`` (taking ownership of it) and check ``answer``'s tensor table against it."""
        try:
            size = os.fstat(fd).st_size
            # mmap refuses empty files; a blob without tensor bytes needs no mapping.
            self._mapping = mmap.mmap(fd, 0, prot=mmap.PROT_READ) if size > 0 else None
        finally:
            os.close(fd)  # mmap keeps its own duplicate of the descriptor.
        self._view = memoryview(self._mapping) if self._mapping is not None else memoryview(b"")
        self._client = client
        self.lease = answer.get("lease")
        self.info = {key: value for key, value in answer.items() if key != "tensors"}
        try:
            self._tensors = _parse_table(answer.get("tensors"), size)
        except TimmdError:
            self.close()
            raise

    @property
    def closed(self):
        return self._view is None

    def keys(self):
        """Return the tensor names in the order served (the manifest's order when one was sent)."""
        return list(self._tensors)

    def __len__(self):
        return len(self._tensors)

    def __contains__(self, name):
        return name in self._tensors

    def __iter__(self):
        return iter(self._tensors)

    def tensor_info(self, name):
        """Return the TensorInfo of ``name``; raise KeyError when nothing of that name was served."""
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"no tensor named '{name}' in {self.info.get('name', 'this checkpoint')}") from None

    def _checked_view(self, name):
        if self._view is None:
            raise ValueError(f"cannot read '{name}': the checkpoint is closed")
        return self._view

    def numpy(self, name, raw_bf16=False):
        """Return ``name`` as a read-only numpy array that views the mapping (no copy).

        numpy has no bfloat16 dtype, so a BF16 tensor raises TypeError unless ``raw_bf16`` is
        true, in which case the array contains its bit patterns as uint16.
        """
        info = self.tensor_info(name)
        view = self._checked_view(name)
        numpy = _import_numpy()
        if info.dtype == "BF16" and raw_bf16:
            dtype = numpy.dtype("<u2")
        elif info.dtype in _NUMPY_DTYPE:
            dtype = numpy.dtype(_NUMPY_DTYPE[info.dtype])
        else:
            hint = " (pass raw_bf16=True for the bits as uint16, or use torch())" if info.dtype == "BF16" else ""
            raise TypeError(f"tensor '{name}' has dtype {info.dtype}, which numpy has no type for{hint}")
        count = math.prod(info.shape)
        array = numpy.frombuffer(view, dtype=dtype, count=count, offset=info.offset)
        return array.reshape(info.shape)

    def torch(self, name):
        """Return ``name`` as a torch tensor that views the read-only mapping (no copy).

        Writing into the tensor (in-place operations, ``requires_grad_`` with an optimizer
        step) crashes the process with SIGSEGV, because the pages are mapped read-only: copy
        it with ``.clone()`` first. A tensor whose offset is not a multiple of its element
        size is returned as a writable copy, because torch kernels may assume aligned data.
        """
        info = self.tensor_info(name)
        view = self._checked_view(name)
        torch = _import_torch()
        dtype = getattr(torch, _TORCH_DTYPE.get(info.dtype, ""), None)
        if not isinstance(dtype, torch.dtype):
            raise TypeError(
                f"tensor '{name}' has dtype {info.dtype}, which torch {torch.__version__} has no type for"
            )
        if sys.byteorder != "little":
            raise TypeError(f"cannot view the little-endian tensor '{name}' on this {sys.byteorder}-endian host")

        count = math.prod(info.shape)
        if count == 0:
            return torch.empty(info.shape, dtype=dtype)
        if info.offset % _ITEMSIZE[info.dtype] != 0:
            aligned = bytearray(view[info.offset:info.offset + info.length])
            return torch.frombuffer(aligned, dtype=dtype).reshape(info.shape)
        with warnings.catch_warnings():
            # torch.frombuffer warns that the buffer is not writable. The mapping is read-only
            # on purpose and the docstring states the consequence, so the warning adds nothing.
            warnings.filterwarnings("ignore", message="The given buffer is not writable", category=UserWarning)
            # The tensor holds a reference to the memoryview, whose buffer export keeps
            # mmap.close() from unmapping the pages under it.
            tensor = torch.frombuffer(view, dtype=dtype, count=count, offset=info.offset)
        return tensor.reshape(info.shape)

    def state_dict(self, framework="torch", raw_bf16=False):
        """Return every tensor, in the order served, as an OrderedDict of torch or numpy views."""
        if framework == "torch":
            return collections.OrderedDict((name, self.torch(name)) for name in self._tensors)
        if framework == "numpy":
            return collections.OrderedDict((name, self.numpy(name, raw_bf16)) for name in self._tensors)
        raise ValueError(f"framework must be 'torch' or 'numpy', not {framework!r}")

    def release(self):
        """End the daemon's lease on the served blob; the mapping stays readable.

        Does nothing when the lease was released already or the client is closed, because
        closing a connection ends its leases.
        """
        lease = self.lease
        self.lease = None
        if lease is None or self._client._connection.closed:
            return
        self._client._connection.request("release", {"lease": lease})

    def close(self):
        """Release the lease and unmap the tensors, unless arrays or tensors still view them."""
        try:
            self.release()
        except TimmdError:
            # A connection that failed is closed, and the daemon drops the leases of closed
            # connections, so only an error on a live connection matters here.
            if not self._client._connection.closed:
                raise
        finally:
            self._view = None
            if self._mapping is not None:
                try:
                    self._mapping.close()
                except BufferError:
                    # Arrays or tensors still view the pages; the mapping is unmapped when
                    # the last of them is freed.
                    pass
                self._mapping = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self._tensors)} tensors"
        return f"<Checkpoint {self.info.get('name')!r} @ {self.info.get('commit')}: {state}>"
