"""Client: the requests of the timmd protocol over one connection."""

import os

from ._checkpoint import Checkpoint
from ._connection import open_connection
from ._errors import TimmdError

FILTER_KEYS = frozenset(
    ("num_classes", "in_chans", "img_size", "window_size", "dtype", "include", "exclude", "manifest")
)


def connect(socket=None):
    """Connect to timmd at ``socket``, else $TIMMD_SOCKET, else the system and per-user sockets.

    Raises TimmdError with code ``upstream_unavailable``, naming every socket tried, when no
    daemon accepts the connection. No daemon is started.
    """
    return Client(open_connection(socket))


class Client:
    """A connection to timmd. Requests from several threads are sent one at a time."""

    def __init__(self, connection):
        self._connection = connection

    @property
    def socket_path(self):
        return self._connection.path

    @property
    def daemon_info(self):
        """The ``hello`` result: ``protocol``, ``daemon`` (name/version) and ``pid``."""
        return self._connection.daemon_info

    @property
    def closed(self):
        return self._connection.closed

    def request(self, op, progress=None, **params):
        """Send the operation ``op`` with ``params`` and return its result (a dict)."""
        return self._connection.request(op, params, progress)

    def status(self):
        """Return the daemon's ``status`` result (``leases``, ``cache_dir``, ``clients``, ...)."""
        return self._connection.request("status")

    def pull(self, name, revision=None, progress=None):
        """Download what the cache lacks of ``name`` and return the ``pull`` result.

        ``progress`` is called with each ``progress`` event (a dict) while files download.
        """
        params = {"name": name}
        if revision is not None:
            params["revision"] = revision
        return self._connection.request("pull", params, progress)

    def open(self, name, revision=None, progress=None, **filter):
        """Pull ``name`` if needed, remap it for ``filter`` and return its Checkpoint.

        ``filter`` takes the protocol's filter fields: num_classes, in_chans, img_size,
        window_size, dtype ("f32", "f16" or "bf16"), include, exclude and manifest. A field
        set to None is left out. The Checkpoint keeps this connection, which holds its lease.
        """
        unknown = sorted(set(filter) - FILTER_KEYS)
        if unknown:
            raise TypeError(
                f"open() got unknown filter fields {unknown}; the fields are {sorted(FILTER_KEYS)}"
            )
        params = {"name": name, "filter": {key: value for key, value in filter.items() if value is not None}}
        if revision is not None:
            params["revision"] = revision

        answer, fds = self._connection.request_with_fds("open", params, progress)
        for extra in fds[1:]:
            os.close(extra)
        if not fds:
            self._release_quietly(answer.get("lease"))
            raise TimmdError(
                "internal",
                "the daemon's open answer came without a file descriptor; the daemon and the "
                "client library versions may differ",
            )
        try:
            return Checkpoint(self, answer, fds[0])
        except OSError as error:
            self._release_quietly(answer.get("lease"))
            raise TimmdError("internal", f"mapping the served blob failed: {error}") from error

    def _release_quietly(self, lease):
        """Release a lease no Checkpoint owns; a failure ends with the connection anyway."""
        if lease is None or self._connection.closed:
            return
        try:
            self._connection.request("release", {"lease": lease})
        except TimmdError:
            pass

    def close(self):
        """Close the connection, which ends the leases of every Checkpoint opened through it."""
        self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return f"<timmd Client {self.socket_path} ({state})>"
