"""Image requests in the benchmark: latency of 1 and 10 images, and the cold start of row vs image requests.

`python -m bench.images [--quick] [--model-dir DIR]`, or `measure()` from `python -m bench`. Each cold start is a
fresh interpreter importing the handler from function/ (Lambda's init), so Pillow's import shows where it lands.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"
PROBE = r"""
import json, sys, time
spawned = float(sys.argv[1])
import app
ready = time.time()
event = json.loads(sys.stdin.read())
first = app.handler(event, None)
done = time.time()
warm = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    app.handler(event, None)
    warm.append(time.perf_counter() - started)
print(json.dumps({"status": first["statusCode"], "init_s": ready - spawned, "cold_s": done - spawned, "warm_s": warm,
                  "pillow_loaded": "PIL" in sys.modules}))
"""


def digit_png(row: np.ndarray, max_value: float, side: int = 280) -> bytes:
    """A held-out row drawn as a person's picture would be: dark ink on white, `side` pixels square."""
    from PIL import Image

    size = int(round(len(row) ** 0.5))
    grid = 255 - (np.asarray(row, np.float32).reshape(size, size) / max_value * 255).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grid, "L").resize((side, side), Image.Resampling.BILINEAR).save(buffer, "PNG")
    return buffer.getvalue()


def _event(body: dict) -> dict:
    return {"requestContext": {"http": {"method": "POST"}}, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}


def _run(model_dir: Path, event: dict, warm: int) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MODEL_DIR": str(model_dir), "LOG_LEVEL": "WARNING",
           "ALLOWED_BUCKETS": "", "AWS_DEFAULT_REGION": "us-east-1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", PROBE, repr(time.time()), str(warm)], input=json.dumps(event),
                          cwd=FUNCTION_DIR, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"image benchmark probe failed: {done.stderr[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != 200:
        raise RuntimeError(f"image benchmark request answered {result['status']}")
    return result


def measure(model_dir: Path, cold: int = 5, warm: int = 30) -> dict[str, float | bool]:
    """Median cold starts (row and image request) and warm latencies (1 and 10 images), in seconds and ms."""
    metadata = json.loads((model_dir / "metadata.json").read_text())
    top = float(metadata.get("normalisation", {}).get("max_value", 255))
    X = np.load(model_dir / "test_features.npy")
    files = [base64.b64encode(digit_png(row, top)).decode() for row in X[:10]]
    row_event, one, ten = (_event({"instances": X[:1].tolist()}), _event({"images": files[:1]}),
                           _event({"images": files}))
    rows = [_run(model_dir, row_event, 0) for _ in range(cold)]
    images = [_run(model_dir, one, warm if n == 0 else 0) for n in range(cold)]
    tens = _run(model_dir, ten, warm)
    return {
        "row request cold start (s, median)": statistics.median(r["cold_s"] for r in rows),
        "image request cold start (s, median)": statistics.median(r["cold_s"] for r in images),
        "1 image (ms, p50)": statistics.median(images[0]["warm_s"]) * 1000,
        "10 images (ms, p50)": statistics.median(tens["warm_s"]) * 1000,
        "Pillow loaded by a row request": any(r["pillow_loaded"] for r in rows),
    }


def markdown(figures: dict[str, float | bool], model: str) -> str:
    """The figures as a small Markdown table."""
    lines = [f"### Image requests ({model})", "", "| figure | value |", "|---|---|"]
    for name, value in figures.items():
        shown = ("yes" if value else "no") if isinstance(value, bool) else f"{value:.3f}" if value < 10 else f"{value:.1f}"
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure one model folder and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.images", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=FUNCTION_DIR / "model", help="a trained model folder")
    parser.add_argument("--quick", action="store_true", help="2 cold starts and 5 warm calls, in seconds")
    args = parser.parse_args(argv)
    if not (args.model_dir / "metadata.json").is_file():
        print(f"error: no model in {args.model_dir}; run python -m training first", file=sys.stderr)
        return 2
    cold, warm = (2, 5) if args.quick else (5, 30)
    print(markdown(measure(args.model_dir, cold, warm), json.loads((args.model_dir / "metadata.json").read_text())
                   ["dataset"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
