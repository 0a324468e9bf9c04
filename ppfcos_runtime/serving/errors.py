"""Refusals: a status, a short reason (the ``reason`` label of the errors metric) and a
one-line message that says what to fix, sent as ``{"error": message, "reason": reason}``."""
import json

from ppfcos_runtime.errors import one_line  # noqa: F401  (the serving modules' import)
from starlette.responses import Response


class ServeError(Exception):
    """A request the server refuses (4xx) or cannot answer now (503)."""

    def __init__(self, status, reason, message):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def error_body(reason, message):
    """The one-line JSON bytes of a refusal."""
    return json.dumps({"error": message, "reason": reason}).encode()


def error_response(error):
    """The JSON Response of a ServeError."""
    return Response(error_body(error.reason, error.message), status_code=error.status,
                    media_type="application/json")
