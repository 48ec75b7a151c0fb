"""Start the test Hub and timmd from $TIMMD_BUILD_DIR in a temporary directory."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DEMO_REPOS = os.path.join(SOURCE_DIR, "tests", "data", "timm", "demo-repo")
DEMO_REPO = "timm/test_vit.r160_in1k"
DEMO_WEIGHTS = os.path.join(DEMO_REPOS, DEMO_REPO, "model.safetensors")
START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 10


def build_dir():
    """Return $TIMMD_BUILD_DIR, or None when it is unset."""
    return os.environ.get("TIMMD_BUILD_DIR") or None


def binary(relative_path):
    path = os.path.join(build_dir(), relative_path)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is missing or not executable; build it, or fix TIMMD_BUILD_DIR")
    return path


def _stop(process):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read_log(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            return log.read()
    except OSError:
        return ""


class TestHub:
    """timmd-testhub serving the demo repository on 127.0.0.1."""

    def __init__(self, work_dir):
        ready_file = os.path.join(work_dir, "hub.json")
        self.log_path = os.path.join(work_dir, "hub.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [binary("tests/hubserver/timmd-testhub"), "--repos", DEMO_REPOS, "--ready-file", ready_file],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"timmd-testhub exited with {self.process.returncode}: {_read_log(self.log_path)}")
            try:
                with open(ready_file, encoding="utf-8") as ready:
                    self.endpoint = json.load(ready)["api"]
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"timmd-testhub wrote no ready file within {START_TIMEOUT_S} s")

    def stop(self):
        _stop(self.process)


class Daemon:
    """timmd with its own cache and socket under ``work_dir``, fetching from ``endpoint``."""

    def __init__(self, work_dir, endpoint):
        self.socket_path = os.path.join(work_dir, "timmd.sock")
        self.cache_dir = os.path.join(work_dir, "cache")
        self.log_path = os.path.join(work_dir, "timmd.log")
        command = [
            binary("daemon/timmd"),
            "--endpoint", endpoint,
            "--cache-dir", self.cache_dir,
            "--socket", self.socket_path,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"timmd exited with {self.process.returncode}: {_read_log(self.log_path)}")
            if self._accepts_connections():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"timmd did not listen on {self.socket_path} within {START_TIMEOUT_S} s")

    def _accepts_connections(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(self.socket_path)
            except OSError:
                return False
        return True

    def timmctl_status(self):
        """Return ``timmctl --json status`` of this daemon, parsed."""
        output = subprocess.run(
            [binary("client/timmctl"), "--socket", self.socket_path, "--json", "status"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        return json.loads(output)

    def log(self):
        return _read_log(self.log_path)

    def stop(self):
        _stop(self.process)


class Environment:
    """A test Hub and one timmd in a fresh temporary directory, removed by stop()."""

    def __init__(self):
        self.work_dir = tempfile.mkdtemp(prefix="timmd-pytest.")
        self.hub = None
        self.daemon = None
        try:
            self.hub = TestHub(self.work_dir)
            self.daemon = Daemon(self.work_dir, self.hub.endpoint)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop()
        if self.hub is not None:
            self.hub.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)
