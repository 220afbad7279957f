"""Bounded, allowlisted reads of batch objects from S3 with plain boto3 (so AWS_ENDPOINT_URL_S3 applies)."""

from __future__ import annotations

import os
import threading
import unicodedata

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ConnectTimeoutError, NoCredentialsError
from botocore.exceptions import ReadTimeoutError

from errors import BadRequest, Forbidden, NotFound, TooLarge, UpstreamError, UpstreamTimeout

# Short timeouts and two attempts in all (the first and one retry) bound an S3 outage to a few seconds.
_CONFIG = Config(
    connect_timeout=float(os.environ.get("S3_CONNECT_TIMEOUT", "2")),
    read_timeout=float(os.environ.get("S3_READ_TIMEOUT", "2")),
    retries={"total_max_attempts": 2, "mode": "standard"},
)
_MAX_KEY_BYTES = 1024
# The whole read, first byte to last, is given up by then: well inside the function's 15 s default timeout.
_TOTAL_TIMEOUT_S = float(os.environ.get("S3_TOTAL_TIMEOUT", "6"))


def allowed_buckets() -> frozenset[str]:
    """Buckets named in ALLOWED_BUCKETS (comma-separated); empty means none."""
    return frozenset(b.strip() for b in os.environ.get("ALLOWED_BUCKETS", "").split(",") if b.strip())


class S3Source:
    """Reads one object at a time, refusing anything outside the allowlist or over the size limit."""

    def __init__(self, max_bytes: int, total_timeout: float = _TOTAL_TIMEOUT_S) -> None:
        # A session of its own: credentials and endpoint are read from the environment now, not from a cache.
        self.client = boto3.session.Session().client("s3", config=_CONFIG)
        self.allowed = allowed_buckets()
        self.max_bytes = max_bytes
        self.total_timeout = total_timeout

    def check(self, bucket: object, key: object) -> tuple[str, str]:
        """Validate a bucket and key from a request before any network call."""
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise BadRequest('"bucket" and "key" must be non-empty strings')
        if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
            raise BadRequest(f"the key is longer than S3's {_MAX_KEY_BYTES} bytes")
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in key):
            raise BadRequest("the key contains control characters")
        # S3 keys are flat, but some HTTP layers normalise dot segments: refuse them rather than read another key.
        if any(part in (".", "..") for part in key.split("/")):
            raise BadRequest("the key must not contain '.' or '..' path segments")
        if bucket not in self.allowed:
            raise Forbidden(f"bucket {bucket[:63]!r} is not allowed; this function reads only its data bucket "
                            "(ALLOWED_BUCKETS)")
        return bucket, key

    def read(self, bucket: str, key: str) -> bytes:
        """The object's bytes, or a typed error; never more than max_bytes, never later than total_timeout."""
        # Each socket read has its own timeout, but a body trickled just inside it would never time out. So the
        # fetch runs on a thread of its own and the request waits for it until the deadline only; a fetch left
        # behind ends at its own timeouts and holds nothing the next request needs.
        outcome: dict = {}
        finished = threading.Event()

        def fetch() -> None:
            try:
                outcome["data"] = self._fetch(bucket, key)
            except BaseException as exc:  # handed to the waiting request below
                outcome["error"] = exc
            finally:
                finished.set()

        threading.Thread(target=fetch, name="s3-read", daemon=True).start()
        if not finished.wait(self.total_timeout):
            raise UpstreamTimeout(f"S3 did not deliver the object within {self.total_timeout:g} s; try again")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["data"]

    def _fetch(self, bucket: str, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            length = response.get("ContentLength")
            if length is not None and length > self.max_bytes:
                response["Body"].close()
                raise TooLarge(f"the object is {length} bytes; the limit is {self.max_bytes}")
            data = response["Body"].read(self.max_bytes + 1)
        except ClientError as exc:
            raise _client_error(exc) from None
        except (ConnectTimeoutError, ReadTimeoutError, ConnectionError) as exc:
            raise UpstreamTimeout(f"S3 did not answer in time ({type(exc).__name__}); try again") from None
        except NoCredentialsError:
            raise UpstreamError("the function has no AWS credentials to read S3") from None
        except BotoCoreError as exc:
            raise UpstreamError(f"reading from S3 failed ({type(exc).__name__}); try again") from None
        if len(data) > self.max_bytes:
            raise TooLarge(f"the object is over the limit of {self.max_bytes} bytes")
        if length is not None and len(data) != length:
            raise UpstreamError("the object changed or was truncated while it was read; try again")
        return data


def _client_error(exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("NoSuchKey", "404", "NotFound"):
        return NotFound("no such object in the bucket; upload the batch first (python -m client upload)")
    if code == "NoSuchBucket":
        return NotFound("no such bucket")
    if code in ("AccessDenied", "403"):
        return Forbidden("the function is not allowed to read this object")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return UpstreamError("S3 rejected the function's credentials")
    if code in ("SlowDown", "ServiceUnavailable", "503") or status == 503:
        return UpstreamTimeout("S3 is busy; try again")
    return UpstreamError(f"S3 answered with an error ({code or status}); try again")
