"""One BLAS thread, as the benchmark measures, in the image and in local mode alike (docs/performance.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import FUNCTION_DIR, ROOT

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def test_the_image_sets_the_thread_count_the_benchmark_measures() -> None:
    from bench import runner

    # given the Dockerfile's ENV instructions (continuation lines joined)
    dockerfile = re.sub(r"\\\n\s*", " ", (FUNCTION_DIR / "Dockerfile").read_text())
    env = " ".join(line for line in dockerfile.splitlines() if line.startswith("ENV "))
    # then both BLAS variables are 1, and 1 is what the benchmark's default run sets for both sides
    assert "OPENBLAS_NUM_THREADS=1" in env.split() and "OMP_NUM_THREADS=1" in env.split()
    assert runner.THREADS[0] == 1
    assert {name: runner.with_threads({}, runner.THREADS[0])[name] for name in BLAS_VARS} == dict.fromkeys(BLAS_VARS, "1")


def _local_mode_threads(extra: dict[str, str]) -> dict:
    """Import local mode's entry point as `python -m function.local` does, then report the BLAS pools and knn."""
    env = {key: value for key, value in os.environ.items() if key not in BLAS_VARS}  # OPENBLAS_CORETYPE is kept
    code = ("import json, function.local.__main__, threadpoolctl, numpy as np; import knn; "
            "print(json.dumps({'blas': [p['num_threads'] for p in threadpoolctl.threadpool_info() "
            "if p['user_api'] == 'blas'], 'knn': knn.allowed_threads()}))")
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, 'function'); {code}"], cwd=ROOT,
                          env={**env, **extra}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_local_mode_runs_the_handler_with_one_blas_thread() -> None:
    # given no BLAS setting in the environment (OpenBLAS alone would start one thread per core)
    seen = _local_mode_threads({})
    # then numpy's BLAS and the prediction core both run one thread, as in the image
    assert seen["blas"] and set(seen["blas"]) == {1}
    assert seen["knn"] == 1


def test_an_explicit_setting_wins_in_local_mode() -> None:
    seen = _local_mode_threads({"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
    assert set(seen["blas"]) == {2} and seen["knn"] == 2
