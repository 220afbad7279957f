"""Client and upstream errors, each mapped to its HTTP status here and nowhere else."""

from __future__ import annotations


class RequestError(Exception):
    """Base class: the message is safe to return to the caller and says how to fix the request."""

    status = 500


class BadRequest(RequestError):
    """Malformed JSON, the wrong body shape, or both or neither input."""

    status = 400


class Forbidden(RequestError):
    """The bucket is not in ALLOWED_BUCKETS, or the function's role may not read the object."""

    status = 403


class NotFound(RequestError):
    """The named object or bucket does not exist."""

    status = 404


class MethodNotAllowed(RequestError):
    """Anything but POST."""

    status = 405


class TooLarge(RequestError):
    """Body, object, row count or response over the configured limits."""

    status = 413


class UnsupportedFormat(RequestError):
    """An unknown suffix, a pickle, or an array that would need pickle to load."""

    status = 415


class InvalidRows(RequestError):
    """Rows that parse but cannot be predicted: wrong width, NaN/inf, pixels outside 0-255, empty."""

    status = 422


class UpstreamError(RequestError):
    """S3 failed or answered with an error."""

    status = 502


class UpstreamTimeout(RequestError):
    """S3 could not be reached or did not answer in time."""

    status = 503


def clip(value: object, limit: int = 40) -> str:
    """A request-derived value, quoted and cut to `limit` characters: safe to echo in an error message."""
    # Unbounded echoes turn a 6 MB field name into a 31 MB error (JSON escapes a control byte to six bytes).
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")
