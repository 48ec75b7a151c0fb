#!/usr/bin/python3
"""Write the corpus of malformed and hostile checkpoints under tests/data/tensors/corpus/.

    /usr/bin/python3 tests/tensors/generate_corpus.py

Every file is built byte by byte. Pickles are written as raw opcodes and never produced by
pickling objects, so nothing here runs code or needs torch. manifest.json gives, per file, the
error code and a fragment of the message that the reader for its folder must report.
test_corpus.cpp checks them, and the fuzz targets use the files as seeds.

Layout: safetensors/*.safetensors (read_safetensors), pickle/*.pkl (unpickle),
torch/*.pt (read_torch_zip: hostile pickles wrapped in a torch zip, and broken archives),
npy/*.npy and npz/*.npz (read_npy, read_npz).
"""
import json
import pathlib
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "tensors" / "corpus"
MANIFEST = {}


def emit(kind, name, data, code, contains):
    path = OUT / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    MANIFEST[f"{kind}/{name}"] = {"code": code, "contains": contains}


# ---------------------------------------------------------------- safetensors

def st(header, data=b"", length=None, pad=True):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def f32(name="w", shape=(2,), offsets=(0, 8)):
    return {name: {"dtype": "F32", "shape": list(shape), "data_offsets": list(offsets)}}


def safetensors_corpus():
    bad = "invalid_checkpoint"
    cases = [
        ("header_length_2_40", st(f32(), bytes(8), length=1 << 40), bad, "exceeds the limit"),
        ("header_length_past_end", st(f32(), bytes(8), length=4096), bad, "reaches past the end of the file"),
        ("too_short", b"\x10\x00\x00", bad, "8-byte header length"),
        ("offsets_out_of_range", st(f32(offsets=(0, 8)), bytes(4)), bad, "past the end of the file"),
        ("overlap", st({**f32("a", (2,), (0, 8)), **f32("b", (2,), (4, 12))}, bytes(12)), bad, "overlaps"),
        ("gap", st({**f32("a", (2,), (0, 8)), **f32("b", (2,), (12, 20))}, bytes(20)), bad, "gap in the data buffer"),
        ("first_offset_not_zero", st(f32(offsets=(4, 12)), bytes(12)), bad, "starts at data offset 4"),
        ("duplicate_key", st(b'{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                             b'"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', bytes(2)),
         bad, 'duplicate key "w"'),
        ("duplicate_metadata_key", st(b'{"__metadata__":{"k":"a","k":"b"}}'), bad, 'duplicate key "k"'),
        ("shape_overflow", st(f32(shape=(1 << 32, 1 << 32, 1 << 32)), bytes(8)), bad, "overflows 64 bits"),
        ("dtype_size_mismatch", st(f32(shape=(3,)), bytes(8)), bad, "need 12 bytes but data_offsets"),
        ("trailing_bytes", st(f32(), bytes(9)), bad, "1 trailing bytes"),
        ("non_utf8", st(b'{"w\xff":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)), bad, "not valid UTF-8 (byte 11"),
        ("overlong_utf8", st(b'{"\xc0\xaf":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)), bad, "not valid UTF-8 (byte 10"),
        ("surrogate_utf8", st(b'{"ab\xed\xa0\x80":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)), bad, "not valid UTF-8 (byte 12"),
        ("lfs_pointer", b"version https://git-lfs.github.com/spec/v1\noid sha256:"
                        + b"0" * 64 + b"\nsize 1509296\n", "unsupported_format", "Git LFS pointer"),
        ("not_json", st(b"{abc"), bad, "not valid JSON"),
        ("truncated_json", st(b'{"w":'), bad, "syntax error"),
        ("header_is_array", st(b"[1, 2]"), bad, "does not start with '{'"),
        ("header_length_zero", st(b"", pad=False), bad, "header length is 0"),
        ("unknown_dtype", st({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, bytes(16)), bad, 'unknown dtype "F128"'),
        ("dtype_not_string", st({"w": {"dtype": 5, "shape": [1], "data_offsets": [0, 1]}}, bytes(1)), bad, "unknown dtype 5"),
        ("negative_dimension", st(f32(shape=(-1,)), bytes(8)), bad, '"shape" holds -1'),
        ("fractional_dimension", st(f32(shape=(1.5,)), bytes(8)), bad, '"shape" holds 1.5'),
        ("shape_not_array", st({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}, bytes(8)), bad, '"shape" is not an array'),
        ("offsets_reversed", st(f32(offsets=(8, 0)), bytes(8)), bad, "begin <= end, got [8,0]"),
        ("offsets_three_values", st(f32(offsets=(0, 4, 8)), bytes(8)), bad, "got [0,4,8]"),
        ("missing_dtype", st({"w": {"shape": [1], "data_offsets": [0, 1]}}, bytes(1)), bad, 'has no "dtype"'),
        ("missing_shape", st({"w": {"dtype": "U8", "data_offsets": [0, 1]}}, bytes(1)), bad, 'has no "shape"'),
        ("missing_offsets", st({"w": {"dtype": "U8", "shape": [1]}}, bytes(1)), bad, 'has no "data_offsets"'),
        ("metadata_value_not_string", st({"__metadata__": {"epoch": 3}}), bad, "metadata values must be strings"),
        ("metadata_not_object", st({"__metadata__": "x"}), bad, '"__metadata__" is not a JSON object'),
        ("tensor_not_object", st({"w": 5}), bad, 'tensor "w" is not a JSON object'),
        ("f4_partial_byte", st({"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, bytes(2)), bad, "whole number of bytes"),
        ("f6_partial_byte", st({"w": {"dtype": "F6_E2M3", "shape": [3], "data_offsets": [0, 3]}}, bytes(3)), bad, "F6_E2M3 elements"),
        ("nesting_too_deep", st(f32(shape=([2],)), bytes(8)), bad, "nesting deeper"),
        ("too_many_dimensions", st({"w": {"dtype": "U8", "shape": [1] * 65, "data_offsets": [0, 1]}}, bytes(1)), bad, "65 dimensions"),
        ("data_past_end_second", st({**f32("a", (2,), (0, 8)), **f32("b", (2,), (8, 16))}, bytes(12)), bad, 'tensor "b" ends at data offset 16'),
        ("empty_header_trailing", st({}, bytes(3)), bad, "3 trailing bytes"),
    ]
    for name, data, code, contains in cases:
        emit("safetensors", name + ".safetensors", data, code, contains)


# ---------------------------------------------------------------- pickles

def u(text):  # SHORT_BINUNICODE
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def glob(module, name):  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def storage_pid(key="0", numel=4, cls="FloatStorage"):
    return b"(" + u("storage") + glob("torch", cls) + u(key) + u("cpu") + b"K" + bytes([numel]) + b"tQ"


def tensor(key="0", numel=4, offset=0, shape=(2, 2), strides=(2, 1), cls="FloatStorage"):
    def tup(values):
        return b"(" + b"".join(b"K" + bytes([v]) for v in values) + b"t"
    return (glob("torch._utils", "_rebuild_tensor_v2") + b"(" + storage_pid(key, numel, cls)
            + b"K" + bytes([offset]) + tup(shape) + tup(strides) + b"\x89"
            + glob("collections", "OrderedDict") + b")Rt" + b"R")


def state_dict(*entries):
    body = b"".join(u(k) + v for k, v in entries)
    return b"\x80\x02}(" + body + b"u."


VALID_PICKLE = state_dict(("w", tensor()))


def pickle_corpus():
    bad = "invalid_checkpoint"
    call = lambda module, name, arg=u("id"): glob(module, name) + b"(" + arg + b"tR"
    cases = [
        ("os_system", b"\x80\x02" + call("os", "system", u("echo pwned")) + b".", "GLOBAL at offset 2: global os.system"),
        ("posix_system_stack_global", b"\x80\x04" + u("posix") + u("system") + b"\x93" + u("id") + b"\x85R.", "STACK_GLOBAL at offset 17: global posix.system"),
        ("builtins_eval", b"\x80\x02" + call("builtins", "eval", u("1+1")) + b".", "global builtins.eval"),
        ("builtins_exec", b"\x80\x02" + call("builtins", "exec", u("x=1")) + b".", "global builtins.exec"),
        ("subprocess_popen", b"\x80\x02" + call("subprocess", "Popen", u("ls")) + b".", "global subprocess.Popen"),
        ("getattr_gadget_in_state_dict", state_dict(("w", tensor()), ("x", call("builtins", "getattr"))), "global builtins.getattr"),
        ("nested_reduce_gadget", b"\x80\x02" + glob("collections", "OrderedDict") + b"((" + call("os", "popen", u("ls")) + b"tltR.", "global os.popen"),
        ("copyreg_reconstructor", b"\x80\x02" + glob("copyreg", "_reconstructor") + b".", "global copyreg._reconstructor"),
        ("torch_load_from_bytes", b"\x80\x02" + call("torch.storage", "_load_from_bytes", b"C\x01x") + b".", "global torch.storage._load_from_bytes"),
        ("numpy_reconstruct", b"\x80\x02" + glob("numpy.core.multiarray", "_reconstruct") + b".", "global numpy.core.multiarray._reconstruct"),
        ("reduce_on_storage_class", b"\x80\x02" + glob("torch", "FloatStorage") + b")R.", "calling torch.FloatStorage is not allowed"),
        ("reduce_on_string", b"\x80\x02" + u("os.system") + b")R.", "calling str is not allowed"),
        ("inst", b"(" + b"ios\nsystem\n.", "INST at offset 1: creates an instance"),
        ("obj", b"\x80\x02(" + glob("collections", "OrderedDict") + b"o.", "OBJ at offset 28: creates an instance"),
        ("build_on_list", b"\x80\x02]}b.", "BUILD on a list is not allowed"),
        ("build_on_global", b"\x80\x02" + glob("torch", "FloatStorage") + b"}b.", "BUILD on a global is not allowed"),
        ("newobj_torch_size", b"\x80\x02" + glob("torch", "Size") + b")\x81.", "NEWOBJ on torch.Size is not allowed"),
        ("huge_long4", b"\x80\x02\x8b\xff\xff\xff\x7f" + b"\x00" * 16 + b".", "LONG4 at offset 2: argument of 2147483647 bytes"),
        ("long4_truncated", b"\x80\x02\x8b\x00\x01\x00\x00" + b"\x01" * 8, "needs 256 bytes but the pickle ends after 8"),
        ("deep_nesting", b"\x80\x02N" + b"\x85" * 300 + b".", "nested deeper than 256"),
        ("mark_bomb", b"\x80\x02" + b"(" * 300 + b"N.", "more than 256 nested MARKs"),
        ("memo_index_missing", b"\x80\x02h\x05.", "memo index 5 was never stored"),
        ("memo_index_out_of_range", b"\x80\x02N\x94j\xff\xff\xff\xff.", "memo index 4294967295 was never stored"),
        ("memo_put_empty_stack", b"\x80\x02q\x00N.", "memoizes from an empty stack"),
        ("persistent_id_not_storage", b"\x80\x02(" + u("module") + u("os") + b"tQ.", "persistent id is not a storage reference"),
        ("persistent_id_text", b"P0\n.", "text persistent ids"),
        ("extension_code", b"\x80\x02\x82\x01.", "EXT1 at offset 2: extension registry codes"),
        ("newobj_ex", b"\x80\x04" + glob("argparse", "Namespace") + b")}\x92.", "NEWOBJ_EX at offset"),
        ("out_of_band_buffer", b"\x80\x05\x97.", "NEXT_BUFFER at offset 2: out-of-band"),
        ("unknown_opcode", b"\x80\x02\xff.", "unknown opcode 0xff"),
        ("stack_underflow", b"\x80\x02R.", "REDUCE at offset 2: stack underflow"),
        ("no_stop", b"\x80\x02}", "without a STOP opcode"),
        ("protocol_6", b"\x80\x06N.", "protocol 6 is newer than 5"),
        ("frame_too_long", b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N.", "frame of 1099511627776 bytes"),
        ("rebuild_with_string_storage", b"\x80\x02" + glob("torch._utils", "_rebuild_tensor_v2") + b"(" + u("x") + b"K\x00)))\x89}tR.", "argument 0 is a str, expected a storage"),
        ("storage_type_not_dtype", b"\x80\x02(" + u("storage") + glob("torch", "QInt8Storage") + u("0") + u("cpu") + b"K\x01tQ.", "global torch.QInt8Storage is not allowed"),
        ("invalid_utf8_string", b"\x80\x02\x8c\x02\xff\xfe.", "not valid UTF-8"),
        ("odd_setitems", b"\x80\x02}(N" + b"u.", "odd number of items"),
    ]
    for name, data, contains in cases:
        emit("pickle", name + ".pkl", data, bad, contains)
        # Offsets inside the archive differ, so the wrapped copy matches the text after them.
        wrapped = contains.split(": ", 1)[1] if " at offset " in contains else contains
        emit("torch", "pickle_" + name + ".pt", torch_zip(data), bad, wrapped)


# ---------------------------------------------------------------- zip archives

def zip_archive(entries, tail=b"", patch=None):
    """entries: (name, data, method) tuples. `patch(entries_info, central)` may alter fields."""
    body, central, info = b"", [], []
    for name, data, method in entries:
        raw = name.encode()
        stored = zlib.compress(data)[2:-4] if method == 8 else data
        offset = len(body)
        crc = zlib.crc32(data)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(stored), len(data), len(raw), 0) + raw + stored
        info.append({"name": raw, "method": method, "crc": crc, "csize": len(stored), "usize": len(data), "offset": offset})
    if patch:
        patch(info)
    for e in info:
        # Sizes past 32 bits go to a zip64 extended-information extra field (id 1).
        extra, usize = b"", e["usize"]
        if usize >= 0xFFFFFFFF:
            extra, usize = struct.pack("<HHQ", 1, 8, usize), 0xFFFFFFFF
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, e["method"], 0, 0, e["crc"],
                                   e["csize"], usize, len(e["name"]), len(extra), 0, 0, 0, 0, e["offset"])
                       + e["name"] + extra)
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(info), len(info), len(directory), len(body), 0)
    return body + directory + end + tail


def torch_zip(pickle, storages=(("0", bytes(16)),), prefix="archive"):
    entries = [(f"{prefix}/data.pkl", pickle, 0)]
    entries += [(f"{prefix}/data/{key}", data, 0) for key, data in storages]
    entries.append((f"{prefix}/version", b"3\n", 0))
    return zip_archive(entries)


def torch_corpus():
    bad = "invalid_checkpoint"
    valid = [("archive/data.pkl", VALID_PICKLE, 0), ("archive/data/0", bytes(16), 0), ("archive/version", b"3\n", 0)]

    def grow_first(info):
        info[0]["csize"] = info[0]["usize"] = info[0]["csize"] + 40

    def far_offset(info):
        info[1]["offset"] = 1 << 30

    zip64_end = (struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1 << 40, 1 << 40, 46, 0)
                 + struct.pack("<IIQI", 0x07064B50, 0, 0, 1))
    zip64 = zip64_end + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)

    cases = [
        ("compressed_storage", zip_archive([valid[0], ("archive/data/0", bytes(16), 8), valid[2]]), "is compressed (method 8)"),
        ("path_traversal", zip_archive(valid + [("archive/../../etc/passwd", b"x", 0)]), "is absolute or contains"),
        ("absolute_path", zip_archive(valid + [("/archive/x", b"x", 0)]), 'zip entry name "/archive/x"'),
        ("overlapping_entries", zip_archive(valid, patch=grow_first), "overlap"),
        ("entry_offset_out_of_range", zip_archive(valid, patch=far_offset), "is outside the archive data"),
        ("zip64_too_many_entries", zip64, "entries, more than the limit"),
        ("trailing_bytes_after_end", zip_archive(valid, tail=b"garbage"), "no zip end-of-central-directory record"),
        ("missing_storage_record", torch_zip(VALID_PICKLE, storages=()), 'has no record "archive/data/0"'),
        ("storage_smaller_than_declared", torch_zip(VALID_PICKLE, storages=(("0", bytes(8)),)), "declares 4 float32 elements"),
        ("tensor_outside_storage", torch_zip(state_dict(("w", tensor(offset=3)))), "reaches byte 28 of storage data/0"),
        ("two_archive_folders", zip_archive(valid + [("other/data.pkl", VALID_PICKLE, 0)]), "2 data.pkl records in different folders"),
        ("version_too_new", zip_archive(valid[:2] + [("archive/version", b"99\n", 0)]), "format version 99"),
        ("big_endian", zip_archive(valid + [("archive/byteorder", b"big", 0)]), 'byteorder record is "big"'),
        ("no_tensors", torch_zip(b"\x80\x02}(" + u("epoch") + b"K\x03u.", storages=()), "no tensors found"),
        ("top_level_list", torch_zip(b"\x80\x02].", storages=()), "top-level object is a list"),
    ]
    for name, data, contains in cases:
        code = "unsupported_format" if name in ("version_too_new", "big_endian") else bad
        emit("torch", name + ".pt", data, code, contains)


# ---------------------------------------------------------------- numpy

def npy(header, data=b"", version=(1, 0)):
    text = header.encode()
    length_size = 2 if version[0] == 1 else 4
    pad = -(6 + 2 + length_size + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    fmt = "<H" if version[0] == 1 else "<I"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(text)) + text + data


def numpy_corpus():
    bad = "invalid_checkpoint"
    ok_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    cases = [
        ("object_dtype", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", bytes(8)), "unsupported_format", "dtype '|O'"),
        ("big_endian", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", bytes(8)), "unsupported_format", "big-endian"),
        ("structured", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", bytes(8)), "unsupported_format", "structured arrays"),
        ("size_mismatch", npy(ok_header, bytes(4)), bad, "dtype and shape need 8"),
        ("missing_key", npy("{'descr': '<f4', 'shape': (2,), }", bytes(8)), bad, "lacks 'descr', 'fortran_order' or 'shape'"),
        ("duplicate_key", npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", bytes(8)), bad, "repeats the key 'descr'"),
        ("extra_key", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", bytes(8)), bad, "unexpected key 'x'"),
        ("negative_dimension", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", bytes(8)), bad, "non-negative integers"),
        ("version_4", npy(ok_header, bytes(8), version=(4, 0)), "unsupported_format", "format version 4"),
        ("header_too_long", b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30) + b"{", bad, "exceeds the limit of 65536"),
        ("shape_overflow", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), bad, "shape overflows"),
    ]
    for name, data, code, contains in cases:
        emit("npy", name + ".npy", data, code, contains)

    good = npy(ok_header, bytes(8))
    # 2**34 float64 elements are 128 GiB, twice ReadLimits::max_inflated_bytes. The member only
    # declares that size, and its deflate stream contains the header alone.
    bomb_header = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (17179869184,), }")

    def declare_bomb(info):
        info[0]["usize"] = len(bomb_header) + (8 << 34)

    npz_cases = [
        ("not_npy_member", zip_archive([("a.npy", good, 0), ("evil.pkl", b"\x80\x02N.", 0)]), bad, 'member "evil.pkl" is not an .npy array'),
        ("deflate_bomb_declared", zip_archive([("a.npy", bomb_header, 8)], patch=declare_bomb), bad, "more than the limit of"),
        ("corrupt_deflate", zip_archive([("a.npy", good, 8)], patch=lambda info: info[0].update(csize=3)), bad, "deflate"),
        ("member_size_mismatch", zip_archive([("a.npy", good + b"xx", 0)]), bad, "bytes but its header and data need"),
    ]
    for name, data, code, contains in npz_cases:
        emit("npz", name + ".npz", data, code, contains)


def emit_valid(name, data):
    path = OUT.parent / "valid" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def f32_bytes(*values):
    return struct.pack(f"<{len(values)}f", *values)


def valid_files():
    """Accepted files for test_torch.cpp and test_npy.cpp; each test states what it expects."""
    emit_valid("minimal.pt", torch_zip(VALID_PICKLE, storages=(("0", f32_bytes(1, 2, 3, 4)),)))
    emit_valid("view_offset.pt", torch_zip(state_dict(("v", tensor(offset=1, shape=(2,), strides=(1,)))),
                                           storages=(("0", f32_bytes(1, 2, 3, 4)),)))
    emit_valid("transposed.pt", torch_zip(state_dict(("t", tensor(shape=(2, 2), strides=(1, 2)))),
                                          storages=(("0", f32_bytes(1, 2, 3, 4)),)))
    emit_valid("shared.pt", torch_zip(state_dict(("a", tensor()), ("b", tensor(offset=2, shape=(2,), strides=(1,)))),
                                      storages=(("0", f32_bytes(1, 2, 3, 4)),), prefix="resnet"))
    # A timm-style training checkpoint: args as argparse.Namespace, a numpy float64 metric,
    # an EMA state dict and wrapper prefixes on every key.
    namespace = glob("argparse", "Namespace") + b")\x81}(" + u("lr") + b"G" + struct.pack(">d", 0.1) + b"ub"
    numpy_dtype = glob("numpy", "dtype") + b"(" + u("f8") + b"\x89\x88tR(K\x03" + u("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    metric = glob("numpy.core.multiarray", "scalar") + b"(" + numpy_dtype + b"C\x08" + struct.pack("<d", 81.5) + b"tR"
    inner = glob("collections", "OrderedDict") + b")R(" + u("module._orig_mod.w") + tensor() + b"u" + b"}(" + u("_metadata") + b"}ub"
    training = (b"\x80\x02}(" + u("epoch") + b"K\x07" + u("args") + namespace + u("metric") + metric
                + u("arch") + u("resnet18") + u("shape") + glob("torch", "Size") + b"(K\x02K\x02t\x85R"
                + u("tags") + glob("builtins", "set") + b"(" + u("a") + b"l\x85R"
                + u("blob") + glob("_codecs", "encode") + b"(" + u("\u00e9x") + u("latin1") + b"tR"
                + u("model_ema") + inner + b"u.")
    emit_valid("training.pt", torch_zip(training, storages=(("0", f32_bytes(1, 2, 3, 4)),)))

    # Legacy torch.save layout with a storage view: the tensor views elements 1..2 of "root".
    magic = b"\x80\x02\x8a\x0a" + bytes([0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]) + b"."
    sys_info = (b"\x80\x02}(" + u("protocol_version") + b"M\xe9\x03" + u("little_endian") + b"\x88"
                + u("type_sizes") + b"}(" + u("short") + b"K\x02" + u("int") + b"K\x04" + u("long") + b"K\x04uu.")
    view_pid = (b"(" + u("storage") + glob("torch", "FloatStorage") + u("root") + u("cuda:0") + b"K\x04"
                + b"(" + u("view") + b"K\x01K\x02t" + b"tQ")
    rebuild = glob("torch._utils", "_rebuild_tensor") + b"(" + view_pid + b"K\x00(K\x02t(K\x01ttR"
    emit_valid("legacy_view.pt", magic + b"\x80\x02M\xe9\x03." + sys_info + state_dict(("v", rebuild))
               + b"\x80\x02](" + u("root") + b"e." + struct.pack("<q", 4) + f32_bytes(1, 2, 3, 4))

    header = "{'descr': '<i4', 'fortran_order': %s, 'shape': (2, 3), }"
    values = struct.pack("<6i", 0, 1, 2, 3, 4, 5)
    emit_valid("v1.npy", npy(header % "False", values))
    emit_valid("v2.npy", npy(header % "False", values, version=(2, 0)))
    emit_valid("v3.npy", npy(header % "False", values, version=(3, 0)))
    emit_valid("fortran.npy", npy(header % "True", values))
    emit_valid("scalar.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", struct.pack("<d", 2.5)))
    emit_valid("stored.npz", zip_archive([("x.npy", npy(header % "False", values), 0),
                                          ("y.npy", npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", b"\x01\x00"), 0)]))
    emit_valid("deflated.npz", zip_archive([("x.npy", npy(header % "False", values), 8),
                                            ("f.npy", npy(header % "True", values), 8)]))


def pickle_seeds():
    """data.pkl of every real torch zip and of the valid files: seeds for the pickle fuzzer."""
    import zipfile
    out = OUT.parent / "seeds" / "pickle"
    out.mkdir(parents=True, exist_ok=True)
    sources = sorted((ROOT / "tests" / "data" / "real").rglob("*.pt*")) + sorted((OUT.parent / "valid").glob("*.pt"))
    for path in sources:
        if not zipfile.is_zipfile(path):
            continue
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("/data.pkl"):
                    (out / (path.stem + ".pkl")).write_bytes(archive.read(name))


def main():
    valid_files()
    pickle_seeds()
    safetensors_corpus()
    pickle_corpus()
    torch_corpus()
    numpy_corpus()
    (OUT / "manifest.json").write_text(json.dumps(MANIFEST, indent=1, sort_keys=True) + "\n")
    counts = {}
    for key in MANIFEST:
        counts[key.split("/")[0]] = counts.get(key.split("/")[0], 0) + 1
    print(counts)


if __name__ == "__main__":
    main()
