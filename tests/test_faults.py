"""S3 faults: each yields its documented status quickly, and the function keeps serving afterwards."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
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
def proxy(s3, s3_server: str, model_dir: Path) -> Iterator[FaultyS3]:
    """The fault proxy in front of moto, with the held-out batch uploaded and a spare copy to restore it from."""
    s3.put_object(Bucket=DATA_BUCKET, Key=KEY, Body=hostile.npy(np.load(model_dir / "test_features.npy")))
    s3.copy_object(Bucket=DATA_BUCKET, Key="faults/copy.npy", CopySource={"Bucket": DATA_BUCKET, "Key": KEY})

    def delete(path: str) -> None:
        bucket, _, key = unquote(urlsplit(path).path).lstrip("/").partition("/")
        s3.delete_object(Bucket=bucket, Key=key)

    faulty = FaultyS3(s3_server, delete)
    yield faulty
    faulty.close()


def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def failing(proxy: FaultyS3, mode: str) -> Iterator[FaultyS3]:
    """Switch the proxy into a failure mode for the duration of the block."""
    proxy.mode = mode
    try:
        yield proxy
    finally:
        proxy.mode = "pass"


def timed_call(app: ModuleType) -> tuple[int, dict, float]:
    """POST the batch reference; a watchdog turns a hung handler into a failed test instead of a hung suite."""
    pool = ThreadPoolExecutor(1)
    started = time.perf_counter()
    future = pool.submit(call, app, {"bucket": DATA_BUCKET, "key": KEY})
    try:
        status, payload = future.result(timeout=BOUND_S + 5)
    except FutureTimeout:
        status, payload = 0, {"error": f"no answer within {BOUND_S + 5} s"}
    pool.shutdown(wait=False)
    return status, payload, time.perf_counter() - started


def fault(name: str, app: ModuleType, s3, monkeypatch: pytest.MonkeyPatch, endpoint: str, expected: int,
          heal: Callable[[], None]) -> None:
    """Point a fresh S3 client of the function at `endpoint`, expect `expected` in time, then heal and expect 200."""
    # given the function's S3 client pointed at a failing endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setattr(app, "S3", app.S3.__class__(app.MAX_OBJECT_BYTES))
    # when a request names the batch
    status, payload, elapsed = timed_call(app)
    RESULTS[name] = (status, round(elapsed, 2))
    # then the documented status, a JSON error, within the bound
    assert status == expected and isinstance(payload["error"], str), payload
    assert elapsed < BOUND_S
    # and once the fault clears, the same warm function serves the batch again
    heal()
    s3.put_object(Bucket=DATA_BUCKET, Key=KEY,
                  Body=s3.get_object(Bucket=DATA_BUCKET, Key="faults/copy.npy")["Body"].read())
    status, payload = call(app, {"bucket": DATA_BUCKET, "key": KEY})
    assert status == 200 and payload["count"] > 0


def test_s3_endpoint_down(app: ModuleType, s3, s3_server: str, proxy: FaultyS3,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    def heal() -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
        monkeypatch.setattr(app, "S3", app.S3.__class__(app.MAX_OBJECT_BYTES))

    fault("S3 endpoint down (connection refused)", app, s3, monkeypatch, f"http://127.0.0.1:{closed_port()}", 503,
          heal)


def test_s3_slower_than_the_read_timeout(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    with failing(proxy, "slow"):
        fault("S3 slow beyond the read timeout", app, s3, monkeypatch, proxy.url, 503,
              heal=lambda: setattr(proxy, "mode", "pass"))
    assert proxy.seen["slow"] >= 2, proxy.seen  # retried, then a clear 503


def test_s3_trickling_the_body_is_cut_off(app: ModuleType, s3, proxy: FaultyS3,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Every socket read returns within the read timeout, so only a total deadline can bound this one.
    with failing(proxy, "trickle"):
        fault("S3 trickling the body (each read within the timeout)", app, s3, monkeypatch, proxy.url, 503,
              heal=lambda: setattr(proxy, "mode", "pass"))


def test_s3_answering_500s(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    with failing(proxy, "error500"):
        fault("S3 answering 500s", app, s3, monkeypatch, proxy.url, 502, heal=lambda: setattr(proxy, "mode", "pass"))
    assert proxy.seen["error500"] >= 2, proxy.seen  # retried before giving up


def test_object_deleted_mid_request(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    with failing(proxy, "delete"):
        fault("object deleted mid-request", app, s3, monkeypatch, proxy.url, 404,
              heal=lambda: setattr(proxy, "mode", "pass"))


def test_connection_dropped_mid_body(app: ModuleType, s3, proxy: FaultyS3, monkeypatch: pytest.MonkeyPatch) -> None:
    with failing(proxy, "truncate"):
        fault("connection dropped mid-body", app, s3, monkeypatch, proxy.url, 502,
              heal=lambda: setattr(proxy, "mode", "pass"))


def test_credentials_missing(app: ModuleType, s3, s3_server: str, proxy: FaultyS3,
                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    saved = {name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if name in os.environ}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def heal() -> None:
        for name, value in saved.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(app, "S3", app.S3.__class__(app.MAX_OBJECT_BYTES))

    fault("credentials missing", app, s3, monkeypatch, s3_server, 502, heal)


def test_fault_table_is_complete(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Runs last in this file: every fault above recorded its status and time.
    out = tmp_path_factory.mktemp("figures") / "faults.json"
    out.write_text(json.dumps(RESULTS, indent=1))
    print(f"\nfault table ({out}): " + json.dumps(RESULTS))
    assert len(RESULTS) == 7
