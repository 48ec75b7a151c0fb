"""Tests of the timmd Python client against the real timmd and timmd-testhub.

Run with Debian's interpreter, which has python3-numpy and python3-torch:

    TIMMD_BUILD_DIR=build/debug PYTHONPATH=client/python \\
        /usr/bin/python3 -m unittest discover -s client/python/tests -v
"""

import collections
import json
import mmap
import os
import socket
import struct
import tempfile
import time
import unittest
from unittest import mock

try:
    import numpy as np
except ImportError:
    np = None
try:
    import torch
except ImportError:
    torch = None

import timmd_client
from timmd_client import TimmdError
from timmd_client._connection import Connection

import daemon_fixture
from daemon_fixture import DEMO_REPO, DEMO_WEIGHTS

_MISSING = [name for name, module in (("numpy", np), ("torch", torch)) if module is None]
requires_frameworks = unittest.skipIf(
    _MISSING,
    f"{' and '.join(_MISSING)} cannot be imported; install python3-numpy and python3-torch "
    "and run the tests with /usr/bin/python3",
)
requires_build = unittest.skipIf(
    daemon_fixture.build_dir() is None,
    "TIMMD_BUILD_DIR is not set; point it at a build directory holding daemon/timmd, "
    "client/timmctl and tests/hubserver/timmd-testhub",
)

# The demo ViT: patch 16, width 64, 160x160 input (a 10x10 grid), one class token.
DEMO_GRID = (10, 10)
DEMO_PREFIX_TOKENS = 1


def read_safetensors(path):
    """Return {name: (dtype, shape, bytes)} of a safetensors file, parsed without the daemon."""
    with open(path, "rb") as file:
        data = file.read()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size])
    header.pop("__metadata__", None)
    start = 8 + header_size
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = (entry["dtype"], tuple(entry["shape"]), data[start + begin:start + end])
    return tensors


def original_float32(name):
    dtype, shape, data = read_safetensors(DEMO_WEIGHTS)[name]
    assert dtype == "F32", f"{name} is {dtype} in the demo weights, not F32"
    return np.frombuffer(data, dtype="<f4").reshape(shape)


def mapping_address(array):
    """Return the address of the mapping that ``array`` views, following its base objects."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview), f"the array's base is {type(base).__name__}, not a memoryview"
    assert isinstance(base.obj, mmap.mmap), f"the memoryview exports {type(base.obj).__name__}, not an mmap"
    return np.frombuffer(base, dtype=np.uint8).ctypes.data


def build_module(shapes, num_prefix_tokens=DEMO_PREFIX_TOKENS, grid_size=DEMO_GRID):
    """Build a torch Module whose state_dict has ``shapes`` ({dotted name: shape}), all zeros.

    Parameter names cannot contain dots, so each dotted prefix becomes a nested Module.
    """
    root = torch.nn.Module()
    for name, shape in shapes.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            children = dict(module.named_children())
            if part not in children:
                module.add_module(part, torch.nn.Module())
                children = dict(module.named_children())
            module = children[part]
        module.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape)))
    if num_prefix_tokens is not None:
        root.num_prefix_tokens = num_prefix_tokens
    if grid_size is not None:
        root.patch_embed.grid_size = grid_size
    return root


class DaemonTestCase(unittest.TestCase):
    """Starts a test Hub and a timmd with an empty cache for the class."""

    @classmethod
    def setUpClass(cls):
        cls.environment = daemon_fixture.Environment()
        cls.daemon = cls.environment.daemon

    @classmethod
    def tearDownClass(cls):
        cls.environment.stop()

    def setUp(self):
        self.client = timmd_client.connect(self.daemon.socket_path)
        self.addCleanup(self.client.close)

    def leases(self):
        return self.daemon.timmctl_status()["leases"]


@requires_frameworks
@requires_build
class FirstOpenTest(DaemonTestCase):
    def test_uncached_open_reports_progress_events(self):
        events = []
        with self.client.open(DEMO_REPO, progress=events.append) as checkpoint:
            self.assertEqual(len(checkpoint), 80)
            self.assertEqual(checkpoint.info["served"]["prepared"], "now")
        # NOTE: a download that finishes within the daemon's 200 ms event interval sends no
        # event, so the demo weights on a loopback Hub may produce none.
        for event in events:
            self.assertEqual(event.get("event"), "progress")
            self.assertEqual(event.get("repo"), DEMO_REPO)
            self.assertIsInstance(event.get("files"), list)

        pulled = self.client.pull(DEMO_REPO, progress=events.append)
        self.assertEqual({f["path"] for f in pulled["files"]}, {"config.json", "model.safetensors"})
        for file in pulled["files"]:
            self.assertTrue(file["cached"], file["path"])


@requires_frameworks
@requires_build
class OpenTest(DaemonTestCase):
    def test_unfiltered_open_matches_file(self):
        expected = read_safetensors(DEMO_WEIGHTS)
        with self.client.open(DEMO_REPO) as checkpoint:
            self.assertEqual(set(checkpoint.keys()), set(expected))
            self.assertTrue(checkpoint.info["strict"])
            self.assertNotIn("tensors", checkpoint.info)
            self.assertEqual(checkpoint.info["repo"], DEMO_REPO)
            for name, (dtype, shape, data) in expected.items():
                info = checkpoint.tensor_info(name)
                self.assertEqual(info.dtype, dtype, name)
                self.assertEqual(info.shape, shape, name)
                self.assertEqual(info.length, len(data), name)
                self.assertEqual(checkpoint.numpy(name).tobytes(), data, name)

    def test_unfiltered_numpy_is_zero_copy(self):
        with self.client.open(DEMO_REPO) as checkpoint:
            self.assertFalse(checkpoint.info["served"]["derived"])
            info = checkpoint.tensor_info("pos_embed")
            array = checkpoint.numpy("pos_embed")
            self.assertFalse(array.flags.writeable)
            self.assertFalse(array.flags.owndata)
            self.assertEqual(array.ctypes.data, mapping_address(array) + info.offset)
            with self.assertRaises(ValueError):
                array.setflags(write=True)
            with self.assertRaises(ValueError):
                array[0, 0, 0] = 1.0

    def test_num_classes_drops_head(self):
        with self.client.open(DEMO_REPO, num_classes=10) as checkpoint:
            self.assertNotIn("head.weight", checkpoint)
            self.assertNotIn("head.bias", checkpoint)
            self.assertIn("norm.weight", checkpoint)
            self.assertFalse(checkpoint.info["strict"])
            self.assertTrue(checkpoint.info["notes"])

    def test_img_size_resizes_pos_embed(self):
        with self.client.open(DEMO_REPO, img_size=224) as checkpoint:
            resized = checkpoint.numpy("pos_embed")
            self.assertEqual(resized.shape, (1, 197, 64))
            # Only the 10x10 grid is resized, so the class token's embedding is unchanged.
            np.testing.assert_array_equal(resized[:, :1], original_float32("pos_embed")[:, :1])
            self.assertTrue(checkpoint.info["served"]["derived"])

    def test_in_chans_one_sums_rgb_kernels(self):
        with self.client.open(DEMO_REPO, in_chans=1) as checkpoint:
            adapted = checkpoint.numpy("patch_embed.proj.weight")
            self.assertEqual(adapted.shape, (64, 1, 16, 16))
            self.assertEqual(adapted.dtype, np.float32)
            expected = original_float32("patch_embed.proj.weight").sum(axis=1, keepdims=True, dtype=np.float32)
            # The protocol does not fix the order of the three additions, so allow rounding.
            np.testing.assert_allclose(adapted, expected, rtol=1e-6, atol=1e-7)

    def test_dtype_f16_casts_float_tensors(self):
        with self.client.open(DEMO_REPO, dtype="f16") as checkpoint:
            for name in checkpoint.keys():
                self.assertEqual(checkpoint.tensor_info(name).dtype, "F16", name)
            served = checkpoint.numpy("blocks.0.attn.qkv.weight")
            self.assertEqual(served.dtype, np.float16)
            expected = original_float32("blocks.0.attn.qkv.weight").astype(np.float16)
            np.testing.assert_array_equal(served, expected)

    def test_dtype_bf16_as_torch_and_raw_bits(self):
        with self.client.open(DEMO_REPO, dtype="bf16") as checkpoint:
            name = "blocks.0.attn.qkv.weight"
            self.assertEqual(checkpoint.tensor_info(name).dtype, "BF16")
            served = checkpoint.torch(name)
            self.assertEqual(served.dtype, torch.bfloat16)
            expected = torch.from_numpy(original_float32(name).copy()).to(torch.bfloat16)
            self.assertTrue(torch.equal(served, expected))

            with self.assertRaisesRegex(TypeError, "raw_bf16"):
                checkpoint.numpy(name)
            bits = checkpoint.numpy(name, raw_bf16=True)
            self.assertEqual(bits.dtype, np.uint16)
            np.testing.assert_array_equal(bits.view(np.int16), served.view(torch.int16).numpy())

    def test_invalid_dtype_raises_invalid_request(self):
        with self.assertRaises(TimmdError) as raised:
            self.client.open(DEMO_REPO, dtype="f64")
        self.assertEqual(raised.exception.code, "invalid_request")

    def test_include_and_exclude_select_tensors(self):
        with self.client.open(DEMO_REPO, include=["blocks.0.*"], exclude=["*.bias"]) as checkpoint:
            self.assertTrue(checkpoint.keys())
            for name in checkpoint.keys():
                self.assertTrue(name.startswith("blocks.0."), name)
                self.assertFalse(name.endswith(".bias"), name)

    def test_unknown_filter_field_raises_type_error(self):
        with self.assertRaisesRegex(TypeError, "num_class"):
            self.client.open(DEMO_REPO, num_class=10)

    def test_torch_tensors_equal_numpy_arrays(self):
        with self.client.open(DEMO_REPO) as checkpoint:
            for name in checkpoint.keys():
                tensor = checkpoint.torch(name)
                array = checkpoint.numpy(name)
                self.assertEqual(tuple(tensor.shape), array.shape, name)
                self.assertTrue(torch.equal(tensor, torch.from_numpy(array.copy())), name)

    def test_state_dict_keeps_served_order(self):
        with self.client.open(DEMO_REPO) as checkpoint:
            for framework in ("torch", "numpy"):
                state_dict = checkpoint.state_dict(framework)
                self.assertIsInstance(state_dict, collections.OrderedDict)
                self.assertEqual(list(state_dict), checkpoint.keys())
            self.assertIsInstance(checkpoint.state_dict()["cls_token"], torch.Tensor)
            self.assertIsInstance(checkpoint.state_dict("numpy")["cls_token"], np.ndarray)
            with self.assertRaises(ValueError):
                checkpoint.state_dict("jax")

    def test_views_outlive_close(self):
        checkpoint = self.client.open(DEMO_REPO)
        tensor = checkpoint.torch("cls_token")
        array = checkpoint.numpy("pos_embed")
        checkpoint.close()
        self.assertTrue(checkpoint.closed)
        self.assertTrue(torch.equal(tensor, torch.from_numpy(original_float32("cls_token").copy())))
        np.testing.assert_array_equal(array, original_float32("pos_embed"))
        with self.assertRaisesRegex(ValueError, "closed"):
            checkpoint.numpy("pos_embed")

    def test_unknown_model_raises_not_found(self):
        for name in ("no_such_architecture.tag", "timm/no-such-repository"):
            with self.subTest(name=name):
                with self.assertRaises(TimmdError) as raised:
                    self.client.open(name)
                self.assertEqual(raised.exception.code, "not_found")
                self.assertTrue(raised.exception.message)
                self.assertIsInstance(raised.exception.details, dict)
        # An error answer leaves the connection usable.
        self.assertEqual(self.client.status()["pid"], self.client.daemon_info["pid"])

    def test_lease_held_until_close(self):
        before = self.leases()
        checkpoint = self.client.open(DEMO_REPO)
        self.assertIsInstance(checkpoint.lease, int)
        self.assertGreaterEqual(self.leases(), 1)
        self.assertEqual(self.leases(), before + 1)
        checkpoint.close()
        self.assertIsNone(checkpoint.lease)
        self.assertEqual(self.leases(), before)

    def test_release_keeps_mapping_readable(self):
        before = self.leases()
        with self.client.open(DEMO_REPO) as checkpoint:
            checkpoint.release()
            self.assertEqual(self.leases(), before)
            np.testing.assert_array_equal(checkpoint.numpy("cls_token"), original_float32("cls_token"))

    def test_closing_client_ends_leases(self):
        before = self.leases()
        client = timmd_client.connect(self.daemon.socket_path)
        checkpoint = client.open(DEMO_REPO)
        self.assertEqual(self.leases(), before + 1)
        client.close()
        # The daemon notices the closed connection asynchronously.
        for _ in range(100):
            if self.leases() == before:
                break
            time.sleep(0.05)
        self.assertEqual(self.leases(), before)
        checkpoint.close()  # Nothing to release on a closed connection.


@requires_frameworks
@requires_build
class LoadPretrainedTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with timmd_client.connect(cls.daemon.socket_path) as client:
            with client.open(DEMO_REPO) as checkpoint:
                cls.shapes = {name: checkpoint.tensor_info(name).shape for name in checkpoint.keys()}
        cls.original = read_safetensors(DEMO_WEIGHTS)

    def model(self, **overrides):
        shapes = dict(self.shapes)
        shapes.update(overrides)
        return build_module(shapes)

    def assert_equals_original(self, model, name):
        _, shape, data = self.original[name]
        expected = torch.from_numpy(np.frombuffer(data, dtype="<f4").reshape(shape).copy())
        self.assertTrue(torch.equal(model.state_dict()[name], expected), name)

    def test_manifest_lists_state_dict(self):
        model = self.model()
        manifest = timmd_client.model_manifest(model)
        self.assertEqual([t["name"] for t in manifest["tensors"]], list(model.state_dict()))
        self.assertEqual(manifest["tensors"][0]["dtype"], "float32")
        self.assertEqual(manifest["num_prefix_tokens"], DEMO_PREFIX_TOKENS)
        self.assertEqual(manifest["grid_size"], list(DEMO_GRID))

        plain = timmd_client.model_manifest(torch.nn.Linear(3, 2))
        self.assertEqual(plain, {"tensors": [
            {"name": "weight", "shape": [2, 3], "dtype": "float32"},
            {"name": "bias", "shape": [2], "dtype": "float32"},
        ]})

    def test_load_pretrained_copies_all_weights(self):
        model = self.model()
        result = timmd_client.load_pretrained(model, DEMO_REPO, client=self.client)
        self.assertTrue(result.strict)
        self.assertEqual(result.load_result.missing_keys, [])
        self.assertEqual(result.load_result.unexpected_keys, [])
        self.assertEqual(result.missing_keys, [])
        self.assertEqual(result.unexpected_keys, [])
        for name in self.original:
            self.assert_equals_original(model, name)

    def test_load_pretrained_connects_through_environment(self):
        model = self.model()
        with mock.patch.dict(os.environ, {"TIMMD_SOCKET": self.daemon.socket_path}):
            result = timmd_client.load_pretrained(model, DEMO_REPO)
        self.assertTrue(result.strict)
        self.assert_equals_original(model, "cls_token")

    def test_load_pretrained_new_head_is_not_strict(self):
        model = self.model(**{"head.weight": (10, 64), "head.bias": (10,)})
        result = timmd_client.load_pretrained(model, DEMO_REPO, client=self.client)
        self.assertFalse(result.strict)
        self.assertEqual(sorted(result.missing_keys), ["head.bias", "head.weight"])
        self.assertEqual(sorted(result.load_result.missing_keys), ["head.bias", "head.weight"])
        self.assertTrue(result.notes)
        self.assertEqual(float(model.head.weight.abs().sum()), 0.0)
        self.assert_equals_original(model, "blocks.5.mlp.fc2.weight")

    def test_load_pretrained_resizes_pos_embed(self):
        shapes = dict(self.shapes)
        shapes["pos_embed"] = (1, 197, 64)
        model = build_module(shapes, grid_size=(14, 14))
        result = timmd_client.load_pretrained(model, DEMO_REPO, client=self.client)
        self.assertTrue(result.strict)
        self.assertEqual(tuple(model.pos_embed.shape), (1, 197, 64))
        self.assertTrue(any("pos_embed" in note for note in result.notes), result.notes)

    def test_load_pretrained_extra_served_key(self):
        shapes = {name: shape for name, shape in self.shapes.items() if name != "norm.bias"}
        # The answer stays strict with a served key the model lacks, so torch rejects it.
        with self.assertRaisesRegex(RuntimeError, "norm.bias"):
            timmd_client.load_pretrained(build_module(shapes), DEMO_REPO, client=self.client)

        model = build_module(shapes)
        result = timmd_client.load_pretrained(model, DEMO_REPO, strict=False, client=self.client)
        self.assertFalse(result.strict)
        self.assertEqual(result.unexpected_keys, ["norm.bias"])
        self.assertEqual(result.load_result.unexpected_keys, ["norm.bias"])
        self.assert_equals_original(model, "norm.weight")

    def test_load_pretrained_shape_mismatch_raises(self):
        model = self.model(**{"blocks.0.mlp.fc1.weight": (100, 64)})
        with self.assertRaises(TimmdError) as raised:
            timmd_client.load_pretrained(model, DEMO_REPO, client=self.client)
        error = raised.exception
        self.assertEqual(error.code, "invalid_request")
        self.assertIn("blocks.0.mlp.fc1.weight", error.message)
        self.assertEqual(
            error.details.get("mismatched"),
            [{"name": "blocks.0.mlp.fc1.weight", "shape": [192, 64], "expected": [100, 64]}],
        )
        self.assertEqual(float(model.get_submodule("blocks.0.mlp.fc1").weight.abs().sum()), 0.0)


@requires_build
class DiscoveryTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.runtime_dir = tempfile.mkdtemp(prefix="timmd-runtime.")
        self.addCleanup(os.rmdir, self.runtime_dir)

    def environment_without_socket(self):
        environment = {k: v for k, v in os.environ.items() if k != "TIMMD_SOCKET"}
        environment["XDG_RUNTIME_DIR"] = self.runtime_dir
        return mock.patch.dict(os.environ, environment, clear=True)

    def test_hello_answer(self):
        self.assertEqual(self.client.daemon_info["protocol"], timmd_client.PROTOCOL_VERSION)
        self.assertEqual(self.client.daemon_info["pid"], self.daemon.process.pid)

    def test_timmd_socket_variable(self):
        with mock.patch.dict(os.environ, {"TIMMD_SOCKET": self.daemon.socket_path}):
            with timmd_client.connect() as client:
                self.assertEqual(client.socket_path, self.daemon.socket_path)

    def test_missing_explicit_socket_names_it(self):
        missing = os.path.join(self.runtime_dir, "missing.sock")
        with self.assertRaises(TimmdError) as raised:
            timmd_client.connect(missing)
        self.assertEqual(raised.exception.code, "upstream_unavailable")
        self.assertIn(missing, raised.exception.message)
        self.assertIn("timmctl status", raised.exception.message)

    @unittest.skipIf(os.path.exists(timmd_client.SYSTEM_SOCKET), "a system timmd socket exists")
    def test_falls_back_to_user_socket(self):
        link = os.path.join(self.runtime_dir, "timmd.sock")
        os.symlink(self.daemon.socket_path, link)
        self.addCleanup(os.unlink, link)
        with self.environment_without_socket():
            self.assertEqual(timmd_client.user_socket_path(), link)
            with timmd_client.connect() as client:
                self.assertEqual(client.socket_path, link)

    @unittest.skipIf(os.path.exists(timmd_client.SYSTEM_SOCKET), "a system timmd socket exists")
    def test_no_daemon_lists_sockets_tried(self):
        with self.environment_without_socket():
            with self.assertRaises(TimmdError) as raised:
                timmd_client.connect()
        error = raised.exception
        self.assertEqual(error.code, "upstream_unavailable")
        self.assertIn(timmd_client.SYSTEM_SOCKET, error.message)
        self.assertIn(os.path.join(self.runtime_dir, "timmd.sock"), error.message)
        self.assertIn("timmctl status", error.message)


def frame(message):
    payload = json.dumps(message).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


class ConnectionFramingTest(unittest.TestCase):
    """Framing cases the daemon does not produce on demand, played over a socketpair."""

    def setUp(self):
        self.connection, self.daemon_end = self.make_pair()

    def make_pair(self):
        client_end, daemon_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        connection = Connection(client_end, "socketpair")
        self.addCleanup(connection.close)
        self.addCleanup(daemon_end.close)
        return connection, daemon_end

    def test_events_reach_callback_before_result(self):
        self.daemon_end.sendall(
            frame({"id": 1, "event": "progress", "files": []})
            + frame({"id": 99, "event": "progress"})
            + frame({"id": 1, "ok": True, "result": {"done": True}})
        )
        events = []
        self.assertEqual(self.connection.request("pull", {"name": "x"}, events.append), {"done": True})
        self.assertEqual(events, [{"id": 1, "event": "progress", "files": []}])

    def test_descriptor_arrives_with_final_frame(self):
        with tempfile.TemporaryFile() as file:
            file.write(b"weights")
            file.flush()
            final = frame({"id": 1, "ok": True, "result": {"lease": 3}})
            self.daemon_end.sendall(frame({"id": 1, "event": "progress"}))
            socket.send_fds(self.daemon_end, [final[:1]], [file.fileno()])
            self.daemon_end.sendall(final[1:])
            result, fds = self.connection.request_with_fds("open", {"name": "x"})
        self.assertEqual(result, {"lease": 3})
        self.assertEqual(len(fds), 1)
        self.assertEqual(os.pread(fds[0], 7, 0), b"weights")
        os.close(fds[0])

    def test_error_answer_keeps_connection(self):
        self.daemon_end.sendall(
            frame({"id": 1, "ok": False, "error": {"code": "not_found", "message": "m", "details": {"a": 1}}})
        )
        with self.assertRaises(TimmdError) as raised:
            self.connection.request("pull", {"name": "x"})
        self.assertEqual(raised.exception.code, "not_found")
        self.assertEqual(raised.exception.details, {"a": 1})
        self.assertFalse(self.connection.closed)

    def test_raising_callback_closes_connection(self):
        self.daemon_end.sendall(frame({"id": 1, "event": "progress"}))

        def interrupt(_event):
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            self.connection.request("pull", {"name": "x"}, interrupt)
        self.assertTrue(self.connection.closed)

    def test_null_id_error_closes_connection(self):
        self.daemon_end.sendall(frame({"id": None, "ok": False, "error": {"code": "invalid_request", "message": "m"}}))
        with self.assertRaises(TimmdError) as raised:
            self.connection.request("pull", {"name": "x"})
        self.assertEqual(raised.exception.code, "invalid_request")
        self.assertTrue(self.connection.closed)

    def test_invalid_frame_length_closes_connection(self):
        for length in (0, 16 * 1024 * 1024 + 1):
            with self.subTest(length=length):
                connection, daemon_end = self.make_pair()
                daemon_end.sendall(struct.pack(">I", length))
                with self.assertRaises(TimmdError) as raised:
                    connection.request("status")
                self.assertEqual(raised.exception.code, "upstream_unavailable")
                self.assertIn(str(length), raised.exception.message)
                self.assertTrue(connection.closed)

    def test_daemon_closing_connection_raises(self):
        self.daemon_end.shutdown(socket.SHUT_WR)
        with self.assertRaisesRegex(TimmdError, "closed the connection"):
            self.connection.request("status")


@requires_frameworks
class CheckpointTableTest(unittest.TestCase):
    """Checkpoint built from a hand-written answer and file, with no daemon."""

    def open_checkpoint(self, data, tensors):
        with tempfile.TemporaryFile() as file:
            file.write(data)
            file.flush()
            return timmd_client.Checkpoint(None, {"name": "local", "lease": None, "tensors": tensors}, os.dup(file.fileno()))

    def test_unaligned_tensor_is_copied_for_torch(self):
        values = np.arange(4, dtype="<f4")
        checkpoint = self.open_checkpoint(
            b"\0\0" + values.tobytes(),
            [{"name": "t", "dtype": "F32", "shape": [2, 2], "offset": 2, "length": 16}],
        )
        with checkpoint:
            np.testing.assert_array_equal(checkpoint.numpy("t"), values.reshape(2, 2))
            tensor = checkpoint.torch("t")
            self.assertTrue(torch.equal(tensor, torch.arange(4, dtype=torch.float32).reshape(2, 2)))
            self.assertEqual(tensor.data_ptr() % 4, 0)

    def test_empty_and_scalar_tensors(self):
        checkpoint = self.open_checkpoint(
            struct.pack("<q", 7),
            [
                {"name": "empty", "dtype": "F32", "shape": [0, 3], "offset": 8, "length": 0},
                {"name": "scalar", "dtype": "I64", "shape": [], "offset": 0, "length": 8},
            ],
        )
        with checkpoint:
            self.assertEqual(tuple(checkpoint.torch("empty").shape), (0, 3))
            self.assertEqual(checkpoint.numpy("empty").shape, (0, 3))
            self.assertEqual(checkpoint.torch("scalar").item(), 7)
            self.assertEqual(int(checkpoint.numpy("scalar")), 7)

    def test_tensor_outside_blob_raises_internal(self):
        with self.assertRaises(TimmdError) as raised:
            self.open_checkpoint(b"\0" * 8, [{"name": "t", "dtype": "F32", "shape": [4], "offset": 0, "length": 16}])
        self.assertEqual(raised.exception.code, "internal")
        self.assertIn("'t'", raised.exception.message)

    def test_length_not_matching_shape_raises_internal(self):
        with self.assertRaises(TimmdError) as raised:
            self.open_checkpoint(b"\0" * 16, [{"name": "t", "dtype": "F32", "shape": [3], "offset": 0, "length": 16}])
        self.assertEqual(raised.exception.code, "internal")

    def test_unknown_name_raises_key_error(self):
        with self.open_checkpoint(b"\0" * 4, []) as checkpoint:
            with self.assertRaises(KeyError):
                checkpoint.numpy("missing")


if __name__ == "__main__":
    unittest.main()
