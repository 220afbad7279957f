"""Calls to the predict API and S3, usable from code (the local round trip) and from the CLI."""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

# execute-api hosts carry their region: <api-id>.execute-api.<region>.amazonaws.com
_EXECUTE_API = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


class ClientError(Exception):
    """A failure to report on one line; `code` is the process exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Reply:
    """The API's answer: HTTP status and parsed JSON body."""

    status: int
    body: dict[str, Any]


def region_of(url: str) -> str | None:
    """The AWS region of an execute-api URL, or None for any other host."""
    match = _EXECUTE_API.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def _signed_headers(url: str, data: bytes, region: str) -> dict[str, str]:
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise ClientError("no AWS credentials found to sign the request (configure them, or pass --no-sign)", 2)
    request = AWSRequest(method="POST", url=url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def predict(url: str, body: dict[str, Any], *, sign: bool | None = None, region: str | None = None,
            timeout: float = 35.0) -> Reply:
    """POST a JSON body to the predict URL; signs with SigV4 for execute-api hosts unless told otherwise."""
    check_url(url, "the predict URL")
    data = json.dumps(body).encode()
    region = region or region_of(url)
    sign = bool(region) if sign is None else sign
    if sign and not region:
        raise ClientError("cannot tell the AWS region from the URL; pass --region", 2)
    headers = _signed_headers(url, data, region) if sign else {"content-type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
        payload = json.loads(raw)
        if not isinstance(payload, dict) or "predictions" not in payload:
            raise ValueError("no predictions")
        return Reply(status, payload)
    except ValueError:  # a 200 that is not the API's answer: some other service lives at that URL
        raise ClientError(f"{url} answered HTTP 200 without predictions; "
                          "is it the predict URL (ending in /predict)?") from None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"error": raw.decode("utf-8", "replace")[:300] or exc.reason}
        return Reply(exc.code, payload if isinstance(payload, dict) else {"error": str(payload)})
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ClientError(f"cannot reach {url}: {reason}") from None


def check_url(url: str, what: str) -> str:
    """Refuse, with one line, a URL without an http(s) scheme and host (urllib and boto3 would raise deep inside)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"{what} must start with http:// or https:// and name a host, got {url!r}", 2)
    return url


_S3_HINTS = {
    "NoSuchBucket": "the bucket does not exist; check --bucket (pulumi stack output bucket_name)",
    "AccessDenied": "access denied: these credentials may not write to this bucket and key",
    "InvalidAccessKeyId": "the AWS access key is not known to this endpoint",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
}


def _s3_reason(exc: Exception) -> str:
    # boto3 wraps S3's error in its own exception; S3's error code appears in the message either way.
    text = str(exc)
    code = next((code for code in _S3_HINTS if code in text), None)
    return f"{_S3_HINTS[code]} ({code})" if code else text.split(": ", 1)[-1]


def upload(path: Path, bucket: str, key: str, endpoint_url: str | None = None) -> None:
    """Upload a batch file to S3 with a progress line on stderr."""
    import boto3
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError as BotoClientError

    from client.files import load_rows

    load_rows(path)  # refuse anything the function would refuse, before uploading it
    if endpoint_url is not None:
        check_url(endpoint_url, "--endpoint-url")
    total = path.stat().st_size
    sent = 0

    def progress(chunk: int) -> None:
        """boto3's transfer callback: one updating line."""
        nonlocal sent
        sent += chunk
        print(f"\rsending {path.name}: {sent * 100 // max(total, 1)}% of {total} bytes", end="", file=sys.stderr)

    try:
        boto3.client("s3", endpoint_url=endpoint_url).upload_file(str(path), bucket, key, Callback=progress)
    except (Boto3Error, BotoCoreError, BotoClientError, ValueError) as exc:
        print(file=sys.stderr)  # end the progress line: the bytes went out, but S3 did not keep them
        raise ClientError(f"upload to s3://{bucket}/{key} failed: {_s3_reason(exc)}") from None
    print(file=sys.stderr)


def accuracy(predictions: list[int], labels: np.ndarray) -> float:
    """Share of predictions equal to the labels."""
    if len(predictions) != len(labels):
        raise ClientError(f"{len(predictions)} predictions but {len(labels)} labels", 2)
    return float(np.mean(np.asarray(predictions) == labels))
