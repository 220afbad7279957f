"""S3 faults: each yields its documented status quickly, and the function keeps serving afterwards."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

import hostile
from conftest import DATA_BUCKET, call
from faulty_s3 import FaultyS3

KEY = "faults/batch.npy"
BOUND_S = 10.0  # far below the function's 15 s default timeout, and API Gateway's 30 s
RESULTS: dict[str, tuple[int, float]] = {}


@pytest.fixture(scope="module")
def proxy(s3, s3_server: str, model_dir: Path):
    """The fault proxy in front of moto, with the held-out batch uploaded."""
    s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=hostile.npy(np.load(model_dir / "test_features.npy")))

    def delete(path: str) -> None:
        bucket, _, key = unquote(urlsplit(path).path).lstrip("/").partition("/")
        s3.delete_object(Bucket=bucket, Key=key)

    faulty = FaultyS3(s3_server, delete)
    yield faulty
    faulty.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fault(name: str, app: ModuleType, s3, monkeypatch: pytest.MonkeyPatch, endpoint: str, expected: int) -> None:
    # given the function's S3 client pointed at a failing endpoint
    healthy = app.S3
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setattr(app, "S3", healthy.__class__(app.MAX_OBJECT_BYTES))
    # when a request names the batch
    started = time.perf_counter()
    status, payload = call(app, {"bucket": DATA_BUCKET, "key": KEY})
    elapsed = time.perf_counter() - started
    RESULTS[name] = (status, round(elapsed, 2))
    # then the documented status, a JSON error, within the bound
    assert status == expected and isinstance(payload["error"], str), payload
    assert elapsed < BOUND_S
    # and with S3 healthy again the same function serves the batch
    monkeypatch.setattr(app, "S3", healthy)
    s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=s3.get_object(Bucket=DATA_BUCKET, Key="faults/copy.npy")["Body"].read())
    assert call(app, {"bucket": DATA_BUCKET, "key": KEY})[0] == 200


@pytest.fixture(autouse=True)
def _spare_copy(s3, proxy) -> None:
    if "Contents" not in s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="faults/copy.npy"):
        s3.copy_object(Bucket=DATA_BUCKET, Key="faults/copy.npy", CopySource={"Bucket": DATA_BUCKET, "Key": KEY})


@contextmanager
def failing(proxy: FaultyS3, mode: str) -> Iterator[FaultyS3]:
    """Switch the proxy into a failure mode for the duration of the block."""
    proxy.mode = mode
    try:
        yield proxy
    finally:
        proxy.mode = "pass"


def test_s3_endpoint_down(app: ModuleType, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    _fault("S3 endpoint down", app, s3, monkeypatch, f"http://127.0.0.1:{closed_port()}", 503)


def test_s3_slower_than_the_read_timeout(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    before = proxy.requests
    with failing(proxy, "slow"):
        _fault("S3 slow beyond the read timeout", app, s3, monkeypatch, proxy.url, 503)
    assert proxy.requests - before - 1 == 2  # two attempts, then a clear 503 (the last request is the good one)


def test_s3_answering_500s(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    before = proxy.requests
    with failing(proxy, "error500"):
        _fault("S3 answering 500s", app, s3, monkeypatch, proxy.url, 502)
    assert proxy.requests - before >= 2  # retried once before giving up


def test_object_deleted_mid_request(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    with failing(proxy, "delete"):
        _fault("object deleted mid-request", app, s3, monkeypatch, proxy.url, 404)


def test_connection_dropped_mid_body(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    with failing(proxy, "truncate"):
        _fault("connection dropped mid-body", app, s3, monkeypatch, proxy.url, 502)


def test_credentials_missing(app: ModuleType, s3, s3_server: str, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    healthy = app.S3
    try:
        _fault("credentials missing", app, s3, monkeypatch, s3_server, 502)
    finally:
        monkeypatch.setattr(app, "S3", healthy)


def test_fault_table_is_complete() -> None:
    print("\nfault table: " + json.dumps(RESULTS))
    assert len(RESULTS) == 6
