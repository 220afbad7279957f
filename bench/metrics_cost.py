"""What writing metrics adds to a cold start: import plus first flush, in a fresh interpreter, per EMF writer.

`python -m bench.metrics_cost [--runs N]` prints one JSON object: median milliseconds per writer. The timing is
in-process (like the README's import figures), after the modules the handler imports anyway, so only the
metrics writer's own cost is counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from bench.data import ROOT

# What app.py has already imported by the time it would import a metrics writer.
PRELUDE = "import base64, hashlib, io, json, logging, os, time, numpy, boto3"
WRITERS = {
    "function/metrics.py (Powertools inside)": (
        "import metrics\n"
        "metrics.Emitter('Bench', 'bench').request('inline', 200, 1, 1.0)\n"),
    "function/metrics.py, metrics off": (
        "import metrics\n"
        "metrics.Emitter('', 'bench').request('inline', 200, 1, 1.0)\n"),
    "aws-lambda-powertools Metrics": (
        "from aws_lambda_powertools import Metrics\n"
        "from aws_lambda_powertools.metrics import MetricUnit\n"
        "m = Metrics(namespace='Bench')\n"
        "m.add_metric(name='RowsPredicted', unit=MetricUnit.Count, value=1)\n"
        "m.flush_metrics()\n"),
}
SCRIPT = """
import os, sys, time
{prelude}
sys.path.insert(0, {task_root!r})
real, sys.stdout = sys.stdout, open(os.devnull, "w")
start = time.perf_counter()
{code}
elapsed = time.perf_counter() - start
sys.stdout = real
print(elapsed)
"""


def once(code: str) -> float:
    """Seconds one fresh interpreter spends importing and flushing this writer."""
    script = SCRIPT.format(prelude=PRELUDE, task_root=str(ROOT / "function"), code=code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"})
    if done.returncode != 0:
        raise RuntimeError(f"metrics writer failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip())


def measure(runs: int = 7) -> dict[str, float]:
    """Median milliseconds per writer over `runs` fresh processes, alternating writers so drift hits both."""
    samples: dict[str, list[float]] = {name: [] for name in WRITERS}
    for _ in range(runs):
        for name, code in WRITERS.items():
            samples[name].append(once(code) * 1000)
    return {name: round(statistics.median(values), 1) for name, values in samples.items()}


def note(medians: dict[str, float], runs: int) -> str:
    """The benchmark report's line on the metrics' cold-start cost."""
    parts = "; ".join(f"{name} {ms:g} ms" for name, ms in medians.items())
    return (f"- Metrics cold-start cost (import + first EMF flush, median of {runs} fresh processes, after the "
            f"handler's own imports; bench/metrics_cost.py): {parts}. Budget: 40 ms.")


def main(argv: list[str] | None = None) -> int:
    """Print the medians as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per writer (default 7)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    print(json.dumps({"runs": args.runs, "median_ms": measure(args.runs)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
