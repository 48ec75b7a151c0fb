"""The exception raised for errors the daemon reports and for failed connections."""


class TimmdError(Exception):
    """An error answer of timmd, or a failure to reach it.

    ``code`` is one of the protocol's error codes (``not_found``, ``invalid_request``, ...).
    Connection failures use ``upstream_unavailable``, as timmctl does, and answers this client
    cannot use (for example an ``open`` answer without a descriptor) use ``internal``.
    """

    def __init__(self, code, message, details=None):
        super().__init__(code, message, details)
        self.code = code
        self.message = message
        self.details = details if details is not None else {}

    def __str__(self):
        return f"{self.code}: {self.message}"

    @classmethod
    def from_answer(cls, error):
        """Build the exception from the ``error`` object of a failed answer."""
        if not isinstance(error, dict):
            return cls("internal", f"the daemon sent a malformed error object: {error!r}")
        details = error.get("details")
        return cls(
            str(error.get("code", "internal")),
            str(error.get("message", "")),
            details if isinstance(details, dict) else {},
        )
