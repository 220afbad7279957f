"""Streaming: a .npy far larger than the batch handler's memory budget scores with bounded peak RSS (fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.batch_scale import repeated_npy
from conftest import DATA_BUCKET, FUNCTION_DIR, ROOT
from test_function_worker import sqs_event

OBJECT_MB = 128
# What the handler may add to its imported baseline (numpy, boto3, Powertools, the model) while scoring: two chunks,
# their float32 copies, the distance blocks and the predictions, far below the object's size.
GROWTH_BUDGET_MB = 64  # measured: about 25 MB

SCORE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import worker

def status(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":")) // 1024

baseline = status("VmRSS")
result = worker.handler(json.loads(sys.argv[2]), None)
print(json.dumps({"result": result, "baseline_mb": baseline, "peak_mb": status("VmHWM")}))
"""


def test_a_npy_far_larger_than_the_budget_scores_in_bounded_memory(s3, s3_server: str, model_dir: Path,
                                                                   tmp_path: Path) -> None:
    # given a 200 MB .npy under incoming/ (float64 rows of the held-out batch, repeated), written without loading it
    X = np.load(model_dir / "test_features.npy").astype(np.float64)
    rows = OBJECT_MB * 1024 * 1024 // (X.shape[1] * 8)
    path = repeated_npy(X, rows, tmp_path / "big.npy")
    s3.upload_file(str(path), DATA_BUCKET, "incoming/memory/big.npy")
    # when a fresh handler process scores it
    env = {**os.environ, "ALLOWED_BUCKETS": DATA_BUCKET, "AWS_ENDPOINT_URL_S3": s3_server, "MODEL_DIR": str(model_dir)}
    done = subprocess.run([sys.executable, "-c", SCORE, str(FUNCTION_DIR), json.dumps(sqs_event("incoming/memory/big.npy"))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # then every row is scored, and the peak stayed far below the object's size
    assert report["result"] == {"batchItemFailures": []}
    out = json.loads(s3.get_object(Bucket=DATA_BUCKET, Key="predictions/memory/big.npy.json")["Body"].read())
    assert out["count"] == rows and out["predictions"][: len(X)] == out["predictions"][len(X): 2 * len(X)]
    growth = report["peak_mb"] - report["baseline_mb"]
    assert growth < GROWTH_BUDGET_MB < OBJECT_MB, report
