"""Socket discovery and framing of the timmd wire protocol, version 1 (proto/PROTOCOL.md)."""

import array
import json
import os
import socket
import struct
import threading

from ._errors import TimmdError

PROTOCOL_VERSION = 1
CLIENT_NAME = "timmd-python/0.1.0"
SYSTEM_SOCKET = "/run/timmd/timmd.sock"

# A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
_FRAME_HEADER = struct.Struct(">I")
MAX_FRAME_SIZE = 16 * 1024 * 1024

_READ_SIZE = 64 * 1024
# Only the final frame of an `open` answer carries a descriptor. The kernel drops descriptors
# that do not fit the ancillary buffer, so there is room for extras, which the client closes.
_MAX_FDS_PER_READ = 8
_FD_SIZE = array.array("i").itemsize
_RECV_FLAGS = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


def user_socket_path():
    """Return the per-user daemon's socket, as timmd and timmctl compute it."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    # The XDG Base Directory specification requires relative values to be ignored.
    if runtime_dir.startswith("/"):
        return os.path.join(runtime_dir, "timmd.sock")
    return f"/tmp/timmd-{os.getuid()}/timmd.sock"


def _close_fds(fds):
    for fd in fds:
        os.close(fd)


class Connection:
    """One Unix socket connection to timmd after a successful ``hello``.

    Requests are sent one at a time (a lock serialises threads), and all frames of an answer
    are read before the next request is sent.
    """

    def __init__(self, sock, path):
        self._sock = sock
        self.path = path
        self._buffer = bytearray()
        self._fds = []
        self._next_id = 1
        self._lock = threading.Lock()
        self.daemon_info = None

    @classmethod
    def open(cls, path):
        """Connect to ``path`` and send ``hello``; raise OSError when nothing listens there."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        connection = cls(sock, path)
        try:
            connection.daemon_info = connection.request(
                "hello", {"protocol": PROTOCOL_VERSION, "client": CLIENT_NAME}
            )
        except BaseException:
            connection.close()
            raise
        return connection

    @property
    def closed(self):
        return self._sock is None

    def close(self):
        """Close the socket; the daemon then ends every lease of this connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        _close_fds(self._fds)
        self._fds = []

    def request(self, op, params=None, on_event=None):
        """Send one request and return the ``result`` of its final frame.

        ``on_event`` is called with each event frame (a dict) of the answer. A descriptor
        attached to the answer is closed: use request_with_fds to keep it.
        """
        result, fds = self.request_with_fds(op, params, on_event)
        _close_fds(fds)
        return result

    def request_with_fds(self, op, params=None, on_event=None):
        """Send one request; return its ``result`` and the descriptors the answer carried.

        The caller owns the returned descriptors. On an error answer they are closed and
        TimmdError is raised with the daemon's code.
        """
        with self._lock:
            if self._sock is None:
                raise self._connection_error("the connection is closed")
            request_id = self._next_id
            self._next_id += 1
            message = dict(params or {})
            message["id"] = request_id
            message["op"] = op
            self._send(message)

            try:
                frame = self._read_answer(request_id, on_event)
            except BaseException:
                # An exception from on_event, or an interrupt, leaves the rest of the answer
                # unread, so later frames could not be matched to requests any more.
                self.close()
                raise

            fds, self._fds = self._fds, []
            if frame.get("id") != request_id:
                # An error about the connection itself, sent with a null id. The daemon closes
                # the connection after some of these, and the answer to this request may still
                # follow after others, so the stream is no longer usable either way.
                _close_fds(fds)
                self.close()
                raise TimmdError.from_answer(frame.get("error"))
            if frame.get("ok") is True:
                result = frame.get("result")
                if isinstance(result, dict):
                    return result, fds
                _close_fds(fds)
                raise TimmdError("internal", f"the daemon's {op} answer has no result object")
            _close_fds(fds)
            raise TimmdError.from_answer(frame.get("error"))

    def _read_answer(self, request_id, on_event):
        """Read frames up to the final one of request ``request_id``, passing events on."""
        while True:
            frame = self._read_frame()
            if frame.get("id") != request_id:
                if "error" in frame:
                    return frame
                continue
            if "event" in frame:
                if on_event is not None:
                    on_event(frame)
                continue
            return frame

    def _connection_error(self, problem):
        return TimmdError(
            "upstream_unavailable",
            f"connection to timmd at {self.path} failed: {problem}",
            {"socket": self.path},
        )

    def _fail(self, problem):
        """Close the connection, whose stream can no longer be trusted, and build the error."""
        self.close()
        return self._connection_error(problem)

    def _send(self, message):
        payload = json.dumps(message, ensure_ascii=False).encode("utf-8")
        if len(payload) > MAX_FRAME_SIZE:
            raise TimmdError(
                "invalid_request",
                f"the {message['op']} request is {len(payload)} bytes of JSON, above the "
                f"protocol's frame limit of {MAX_FRAME_SIZE} bytes",
            )
        try:
            # MSG_NOSIGNAL: a daemon that went away must give EPIPE, not SIGPIPE, in programs
            # that embed Python and keep SIGPIPE's default action.
            self._sock.sendall(_FRAME_HEADER.pack(len(payload)) + payload, socket.MSG_NOSIGNAL)
        except OSError as error:
            raise self._fail(f"sending failed: {error.strerror or error}") from error

    def _read_frame(self):
        (length,) = _FRAME_HEADER.unpack(self._read_exact(_FRAME_HEADER.size))
        if length == 0 or length > MAX_FRAME_SIZE:
            raise self._fail(
                f"the daemon sent an invalid frame length of {length} bytes (valid: 1 to {MAX_FRAME_SIZE})"
            )
        payload = self._read_exact(length)
        try:
            frame = json.loads(payload.decode("utf-8"))
        except ValueError as error:
            raise self._fail(f"the daemon sent a frame that is not UTF-8 JSON: {error}") from error
        if not isinstance(frame, dict):
            raise self._fail("the daemon sent a frame that is not a JSON object")
        return frame

    def _read_exact(self, size):
        while len(self._buffer) < size:
            self._receive()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _receive(self):
        # recvmsg rather than recv: the kernel discards SCM_RIGHTS descriptors that arrive
        # with bytes read by a call that takes no ancillary data.
        try:
            data, ancillary, _flags, _address = self._sock.recvmsg(
                _READ_SIZE, socket.CMSG_SPACE(_MAX_FDS_PER_READ * _FD_SIZE), _RECV_FLAGS
            )
        except OSError as error:
            raise self._fail(f"reading failed: {error.strerror or error}") from error
        for level, kind, cmsg_data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                whole = len(cmsg_data) - len(cmsg_data) % _FD_SIZE
                self._fds.extend(array.array("i", cmsg_data[:whole]))
        if not data:
            raise self._fail(
                "the daemon closed the connection before it answered (it stopped or crashed; its log says why)"
            )
        self._buffer += data


def open_connection(socket_path=None):
    """Connect to the daemon: ``socket_path``, else $TIMMD_SOCKET, else the default sockets.

    The defaults are /run/timmd/timmd.sock (the system daemon), then the per-user socket
    ($XDG_RUNTIME_DIR/timmd.sock). Unlike timmctl, this never starts a daemon.
    """
    explicit = socket_path if socket_path is not None else os.environ.get("TIMMD_SOCKET") or None
    if explicit is not None:
        explicit = os.fspath(explicit)
        try:
            return Connection.open(explicit)
        except OSError as error:
            raise TimmdError(
                "upstream_unavailable",
                f"cannot connect to timmd at {explicit}: {error.strerror or error}. Is timmd "
                f"running? Start it with `timmd --socket {explicit}`, check it with "
                "`timmctl status`, or leave the socket and TIMMD_SOCKET unset to use the "
                "default daemon",
                {"sockets": [explicit]},
            ) from error

    tried = []
    for path in (SYSTEM_SOCKET, user_socket_path()):
        try:
            return Connection.open(path)
        except OSError as error:
            tried.append(f"{path} ({error.strerror or error})")
    raise TimmdError(
        "upstream_unavailable",
        f"no timmd answers at {' or '.join(tried)}. Check the daemon with `timmctl status` "
        "(which starts a per-user daemon when none runs), start one with `timmd`, or set "
        "TIMMD_SOCKET to its socket",
        {"sockets": [SYSTEM_SOCKET, user_socket_path()]},
    )
