"""`python -m bench.batch_scale`: a million MNIST-shaped rows through local mode's batch path, measured once.

As one object and as N objects: upload time, time from the last upload to the last output, rows per second, and
the batch handler's peak RSS in a fresh process scoring the same objects (local mode's own process also holds the
embedded S3, which keeps whole objects in memory, so its RSS says nothing about the handler). Figures go to
docs/batch.md; CI runs the bounded-memory test (tests/test_function_worker_memory.py) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import mnist_shaped

ROOT = Path(__file__).resolve().parent.parent
SCORE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import worker
started = time.perf_counter()
result = worker.handler(json.loads(sys.argv[2]), None)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) // 1024
print(json.dumps({"result": result, "peak_mb": peak, "seconds": round(time.perf_counter() - started, 1)}))
"""


def repeated_npy(X: np.ndarray, rows: int, path: Path) -> Path:
    """A .npy of `rows` rows, X repeated, written through a memory map (never all in memory)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=(rows, X.shape[1]))
    for start in range(0, rows, len(X)):
        out[start:start + len(X)] = X[: rows - start]
    out.flush()
    return path


def make_rows(rows: int, folder: Path) -> Path:
    """`rows` uint8 rows of 784 pixels (the MNIST-shaped set, repeated) in one .npy."""
    with np.load(mnist_shaped(), allow_pickle=False) as data:
        return repeated_npy(data["X"], rows, folder / "rows.npy")


def split(path: Path, parts: int, folder: Path) -> list[Path]:
    """The rows as `parts` .npy files of equal size."""
    rows = np.load(path, mmap_mode="r")
    step = -(-len(rows) // parts)
    files = []
    for n, start in enumerate(range(0, len(rows), step)):
        files.append(folder / f"part-{n:03d}.npy")
        np.save(files[-1], rows[start:start + step])
    return files


def wait_outputs(s3, bucket: str, keys: list[str], timeout: float) -> None:
    """Poll until predictions/ holds every key's output."""
    pending, deadline = set(keys), time.monotonic() + timeout
    while pending:
        listed = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="predictions/")
        present = {o["Key"] for page in listed for o in page.get("Contents", [])}
        pending -= {k for k in pending if f"predictions/{k[len('incoming/'):]}.json" in present}
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {len(pending)} outputs missing after {timeout:g} s")
        time.sleep(0.5)


def fresh_handler_peak(ready: dict, model_dir: Path, key: str) -> dict:
    """Score one object again in a fresh process; its peak RSS and time."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_function_worker import sqs_event

    env = {**os.environ, "ALLOWED_BUCKETS": ready["bucket"], "AWS_ENDPOINT_URL_S3": ready["s3_endpoint"],
           "MODEL_DIR": str(model_dir), "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", SCORE, str(ROOT / "function"),
                           json.dumps(sqs_event(key, bucket=ready["bucket"]))], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(s3, ready: dict, files: list[Path], label: str, rows: int, timeout: float) -> dict:
    """Upload the files under incoming/<label>/ and time them to their outputs."""
    started = time.perf_counter()
    keys = []
    for file in files:
        keys.append(f"incoming/{label}/{file.name}")
        s3.upload_file(str(file), ready["bucket"], keys[-1])
    uploaded = time.perf_counter()
    wait_outputs(s3, ready["bucket"], keys, timeout)
    finished = time.perf_counter()
    scoring = finished - uploaded
    return {"case": label, "objects": len(files), "rows": rows, "upload_s": round(uploaded - started, 1),
            "scoring_s": round(scoring, 1), "end_to_end_s": round(finished - started, 1),
            "rows_per_s": round(rows / scoring), "keys": keys}


def main(argv: list[str] | None = None) -> int:
    """Start local mode, run both cases, print one JSON line per case."""
    parser = argparse.ArgumentParser(prog="python -m bench.batch_scale", description=__doc__)
    parser.add_argument("--model-dir", type=Path, required=True, help="a model trained on 784-pixel rows")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--objects", type=int, default=100, help="the split case's object count")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    import boto3

    command = [sys.executable, "-m", "function.local", "--port", "0", "--model-dir", str(args.model_dir)]
    local = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(local.stdout.readline())
        s3 = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                   region_name="us-east-1").client("s3", endpoint_url=ready["s3_endpoint"])
        with tempfile.TemporaryDirectory() as tmp:
            one = make_rows(args.rows, Path(tmp))
            parts = split(one, args.objects, Path(tmp))
            for files, label in (([one], "one"), (parts, f"split-{args.objects}")):
                result = run_case(s3, ready, files, label, args.rows, args.timeout)
                result["fresh_handler"] = fresh_handler_peak(ready, args.model_dir.resolve(), result.pop("keys")[0])
                result["load_average"] = os.getloadavg()  # the machine is shared: contention slows every figure
                print(json.dumps(result), flush=True)
    finally:
        local.terminate()
        local.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
