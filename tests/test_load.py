"""A bounded load test against the local API over loopback: every request answered correctly, none lost."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from conftest import http

REQUESTS, CONCURRENCY, DEADLINE_S = 5_000, 16, 120


def test_5000_requests_at_concurrency_16_without_errors(local_api: dict[str, str], model_dir: Path,
                                                        tmp_path: Path) -> None:
    # given a mix: mostly single inline rows, every tenth the held-out batch by S3 reference
    rows = np.load(model_dir / "test_features.npy")
    single = [json.dumps({"instances": [row]}).encode() for row in rows[:50].tolist()]
    batch = json.dumps({"bucket": local_api["bucket"], "key": "batches/test_features.npy"}).encode()
    assert local_api["url"].startswith("http://127.0.0.1:")

    def one(i: int) -> tuple[int, float, int]:
        body = batch if i % 10 == 0 else single[i % len(single)]
        started = time.perf_counter()
        status, _, reply = http(local_api["url"], body, timeout=30)
        count = json.loads(reply).get("count", -1) if status == 200 else -1
        return status, time.perf_counter() - started, count

    # when 16 clients send 5,000 requests between them
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        futures = [pool.submit(one, i) for i in range(REQUESTS)]
        done, pending = wait(futures, timeout=DEADLINE_S)
        for future in pending:
            future.cancel()
    elapsed = time.perf_counter() - started
    # then every request finished, with 200 and the right number of predictions
    assert not pending, f"{len(pending)} requests did not finish within {DEADLINE_S} s"
    results = [f.result() for f in futures]
    errors = [(i, status) for i, (status, _, _) in enumerate(results) if status != 200]
    assert errors == []
    assert all(count == (len(rows) if i % 10 == 0 else 1) for i, (_, _, count) in enumerate(results))
    latencies = np.array([latency for _, latency, _ in results]) * 1000
    figures = {"requests": REQUESTS, "concurrency": CONCURRENCY, "errors": len(errors),
               "p50_ms": round(float(np.percentile(latencies, 50)), 2),
               "p99_ms": round(float(np.percentile(latencies, 99)), 2),
               "throughput_rps": round(REQUESTS / elapsed, 1), "seconds": round(elapsed, 1)}
    (tmp_path / "load.json").write_text(json.dumps(figures))
    print(f"\nload: {figures}")
