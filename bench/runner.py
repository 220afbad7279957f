"""Runs both handlers as Lambda would: fresh processes, payload 2.0 events, S3 on a loopback moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.data import ROOT, Prepared, project_batch, reference_batch
from function.local.adapter import to_event

BUCKET = "bench-batches"
WORKER = Path(__file__).resolve().parent / "worker.py"
CORE = Path(__file__).resolve().parent / "core.py"
THREADS = (1, 2)  # BLAS threads per side: 1 is what the image ships (function/Dockerfile ENV); 2 shows scaling


def with_threads(env: dict[str, str], threads: int) -> dict[str, str]:
    """The environment with the BLAS thread count set, as the image's ENV sets it."""
    return {**env, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}


@dataclass
class Side:
    """One implementation under test and what was measured for it."""

    name: str
    task_root: Path
    env: dict[str, str]
    batch_key: str
    single_key: str | None
    cold_s: list[float] = field(default_factory=list)
    init_s: list[float] = field(default_factory=list)
    batch_s: list[float] = field(default_factory=list)
    batch_by_threads: dict[int, list[float]] = field(default_factory=dict)
    core_by_threads: dict[int, list[float]] = field(default_factory=dict)
    single_s: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    largest_rss_mb: float = 0.0
    predictions: list[int] = field(default_factory=list)


def _event(body: dict) -> dict:
    return to_event("POST", "/predict", {"content-type": "application/json"}, json.dumps(body).encode(), "127.0.0.1")


def start_s3(prepared: Prepared) -> tuple[object, str]:
    """Start moto on loopback and upload each side's batches in its own format."""
    from function.local.s3 import start_embedded_s3

    server, endpoint, s3 = start_embedded_s3(BUCKET)
    X = prepared.X_test
    s3.put_object(Bucket=BUCKET, Key="reference/batch.joblib", Body=reference_batch(X))
    s3.put_object(Bucket=BUCKET, Key="reference/one-row.joblib", Body=reference_batch(X[:1]))
    s3.put_object(Bucket=BUCKET, Key="project/batch.npy", Body=project_batch(X))
    for key, body in largest_requests(X).items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return server, endpoint


def largest_requests(X: np.ndarray, max_rows: int = 10_000, max_csv_bytes: int = 16 * 1024 * 1024,
                     max_json_bytes: int = 6 * 1024 * 1024) -> dict:
    """The biggest objects the function accepts by default (MAX_ROWS, MAX_CSV_BYTES, MAX_JSON_BYTES), to size memory."""
    # Floats cost most; clipped to the data's own top, since the function refuses values outside the trained range.
    rows = np.resize(np.clip(X.astype(np.float64) + 0.25, 0, X.max()), (max_rows, X.shape[1]))
    json_sizes = np.cumsum([len(json.dumps(row)) + 2 for row in rows.tolist()])
    csv_lines = [",".join(f"{v:g}" for v in row) for row in rows]
    csv_sizes = np.cumsum([len(line) + 1 for line in csv_lines])
    json_rows = int(np.searchsorted(json_sizes, max_json_bytes - 2, side="right"))
    csv_rows = int(np.searchsorted(csv_sizes, max_csv_bytes, side="right"))
    return {"project/largest.npy": project_batch(rows),
            "project/largest.json": json.dumps(rows[:json_rows].tolist()).encode(),
            "project/largest.csv": "\n".join(csv_lines[:csv_rows]).encode()}


def sides(prepared: Prepared, endpoint: str) -> list[Side]:
    """The reference and the project, each configured as its deployment would be."""
    common = {"AWS_ENDPOINT_URL_S3": endpoint, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
              "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
              "HOME": tempfile.gettempdir()}
    # One thread each by default, as the image ships and like a Lambda below 1,769 MB (one vCPU or less).
    common = with_threads(common, THREADS[0])
    return [
        Side("reference", ROOT / "bench" / "reference",
             {**common, "REFERENCE_MODEL": str(prepared.reference_model / "model.joblib")},
             "reference/batch.joblib", "reference/one-row.joblib"),
        Side("project", ROOT / "function",
             {**common, "MODEL_DIR": str(prepared.project_model), "ALLOWED_BUCKETS": BUCKET},
             "project/batch.npy", None),
    ]


def run_worker(side: Side, prepared: Prepared, warm_batch: int, warm_single: int) -> None:
    """One fresh process: cold start, then optional warm calls; results are appended to `side`."""
    single = ({"bucket": BUCKET, "key": side.single_key} if side.single_key
              else {"instances": prepared.X_test[:1].tolist()})
    config = {"task_root": str(side.task_root), "module": "app", "warm_batch": warm_batch, "warm_single": warm_single,
              "batch_event": _event({"bucket": BUCKET, "key": side.batch_key}), "single_event": _event(single)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    try:
        spawned = time.time()
        done = subprocess.run([sys.executable, "-s", str(WORKER), handle.name, repr(spawned)],
                              env=side.env, capture_output=True, text=True, timeout=600)
    finally:
        Path(handle.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(f"{side.name} worker failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    side.cold_s.append(result["cold_s"])
    side.init_s.append(result["init_s"])
    side.batch_s += result["batch_s"]
    side.single_s += result["single_s"]
    side.peak_rss_mb = max(side.peak_rss_mb, result["peak_rss_mb"])
    side.predictions = result["predictions"]


def measure(prepared: Prepared, cold_runs: int, warm_batch: int, warm_single: int, log) -> list[Side]:
    """Alternate fresh processes of the two sides, then one warm run each."""
    server, endpoint = start_s3(prepared)
    try:
        both = sides(prepared, endpoint)
        for run in range(cold_runs):
            for side in both if run % 2 == 0 else both[::-1]:
                run_worker(side, prepared, 0, 0)
            log(f"cold starts: {run + 1}/{cold_runs}")
        for side in both:
            run_worker(side, prepared, warm_batch, warm_single)
            side.batch_by_threads[THREADS[0]] = list(side.batch_s)
            log(f"warm calls done: {side.name}")
        for threads in THREADS[1:]:
            for side in both:
                twin = Side(side.name, side.task_root, with_threads(side.env, threads), side.batch_key, None)
                run_worker(twin, prepared, warm_batch, 0)
                side.batch_by_threads[threads] = twin.batch_s
            log(f"warm batches at {threads} threads done")
        for threads in THREADS:
            measure_core(both, prepared, threads, max(3, warm_batch // 3))
            log(f"prediction cores at {threads} thread(s) done")
        for key in ("project/largest.npy", "project/largest.json", "project/largest.csv"):
            probe = Side("project", both[1].task_root, both[1].env, key, None)
            run_worker(probe, prepared, 0, 0)
            both[1].largest_rss_mb = max(both[1].largest_rss_mb, probe.peak_rss_mb)
        log(f"largest accepted requests: peak RSS {both[1].largest_rss_mb:.0f} MB")
        return both
    finally:
        server.stop()


def measure_core(both: list[Side], prepared: Prepared, threads: int, repeats: int) -> None:
    """Time both prediction cores alone (no S3, no parsing) in a fresh process at `threads` BLAS threads."""
    config = {"task_root": str(both[1].task_root), "project_model": str(prepared.project_model),
              "reference_model": str(prepared.reference_model / "model.joblib"),
              "batch": str(prepared.project_model / "test_features.npy"), "repeats": repeats}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    try:
        done = subprocess.run([sys.executable, "-s", str(CORE), handle.name], env=with_threads(both[0].env, threads),
                              capture_output=True, text=True, timeout=900)
    finally:
        Path(handle.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(f"core timing failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["blas_threads"] and set(result["blas_threads"]) != {threads}:
        raise RuntimeError(f"asked for {threads} BLAS threads, the worker ran {result['blas_threads']}")
    for side in both:
        side.core_by_threads[threads] = result[side.name]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of the values (NaN when none were measured)."""
    return float(np.percentile(values, q)) if values else float("nan")
