"""`python -m bench [--quick] [--dataset mnist-shaped|digits|mnist|PATH.npz]`: writes bench/results/latest.*

A quick run writes to bench/results/quick/ instead (git-ignored), so it never replaces the committed full results,
and judges no goal: its data and batch are too small for that. A full run exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench import data, deps, images, metrics_cost, report, runner

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_RESULTS = RESULTS / "quick"


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def _writable(folder: Path) -> bool:
    """Whether files can be created in `folder`, or in its nearest existing parent (a real probe, not os.access)."""
    while not folder.exists():
        folder = folder.parent
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options: --quick proves the harness in seconds; the default run takes a few minutes."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--dataset", default="mnist-shaped",
                        help="mnist-shaped (default, offline), digits, mnist (needs OpenML) or PATH.npz")
    parser.add_argument("--quick", action="store_true", help="digits, 2 cold starts, few calls, no wheel downloads")
    parser.add_argument("--cold", type=int, default=5, help="fresh processes per side (default 5)")
    parser.add_argument("--warm", type=int, default=30, help="warm batch calls per side (default 30)")
    parser.add_argument("--single", type=int, default=200, help="warm single-row calls per side (default 200)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results folder (default {RESULTS}; with --quick {QUICK_RESULTS})")
    args = parser.parse_args(argv)
    # Checked before minutes of measuring, like every other CLI here: a bad count or --out fails on one line now.
    for name in ("cold", "warm", "single"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.out is None:
        args.out = QUICK_RESULTS if args.quick else RESULTS
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    if not _writable(args.out):
        parser.error(f"--out {args.out} cannot be written (it or its nearest existing parent is not writable)")
    if args.quick:
        args.dataset = "digits" if args.dataset == "mnist-shaped" else args.dataset
        args.cold, args.warm, args.single = 2, 5, 20
    return args


def default_memory_mb() -> int:
    """The component's default Lambda memory, read from MnistPredictorArgs so the report cannot drift from it."""
    from components.args import MnistPredictorArgs

    return next(f.default for f in dataclasses.fields(MnistPredictorArgs) if f.name == "memory_size")


def figures(both: list[runner.Side], prepared: data.Prepared, dependency_bytes: list[int | None]) -> dict:
    """Each figure as (reference, project)."""
    ref, proj = both
    accuracy = [float(np.mean(np.asarray(side.predictions) == prepared.y_test)) for side in both]
    ms = 1000.0
    return {
        "cold start (s, median)": (float(np.median(ref.cold_s)), float(np.median(proj.cold_s))),
        "import + model load (s, median)": (float(np.median(ref.init_s)), float(np.median(proj.init_s))),
        "warm batch (ms, median)": (runner.percentile(ref.batch_s, 50) * ms, runner.percentile(proj.batch_s, 50) * ms),
        "warm batch (ms, p99)": (runner.percentile(ref.batch_s, 99) * ms, runner.percentile(proj.batch_s, 99) * ms),
        **{f"warm batch, {n} BLAS threads (ms, median)": tuple(
            runner.percentile(side.batch_by_threads[n], 50) * ms for side in both) for n in runner.THREADS[1:]},
        **{f"prediction core, {n} BLAS thread{'s' if n > 1 else ''} (ms, median)": tuple(
            runner.percentile(side.core_by_threads[n], 50) * ms for side in both) for n in runner.THREADS},
        "prediction core (rows/s per thread, 1 thread)": tuple(
            len(prepared.X_test) / runner.percentile(side.core_by_threads[1], 50) for side in both),
        "single row (ms, p50)": (runner.percentile(ref.single_s, 50) * ms, runner.percentile(proj.single_s, 50) * ms),
        "single row (ms, p99)": (runner.percentile(ref.single_s, 99) * ms, runner.percentile(proj.single_s, 99) * ms),
        "peak RSS (MB)": (ref.peak_rss_mb, proj.peak_rss_mb),
        "smallest Lambda memory that fits (MB)": (report.fitting_memory_mb(ref.peak_rss_mb),
                                                  report.fitting_memory_mb(proj.peak_rss_mb)),
        "model artifact (bytes)": ((prepared.reference_model / "model.joblib").stat().st_size,
                                   (prepared.project_model / "model.npz").stat().st_size),
        "runtime dependencies (bytes)": tuple(dependency_bytes),
        "accuracy": tuple(accuracy),
    }


def add_costs(values: dict, project_memory: int) -> None:
    """Dollar figures from the measured warm durations at each side's memory size."""
    memories = (report.TUTORIAL_MEMORY_MB, project_memory)
    single = [values["single row (ms, p50)"][i] / 1000 for i in range(2)]
    batch = [values["warm batch (ms, median)"][i] / 1000 for i in range(2)]
    values["cost per 1M single-row predictions ($)"] = tuple(
        1_000_000 * report.invocation_cost(single[i], memories[i]) for i in range(2))
    values["cost per batch ($)"] = tuple(report.invocation_cost(batch[i], memories[i]) for i in range(2))


def main(argv: list[str] | None = None) -> int:
    """Prepare data, measure both sides, write the results; 1 if a full run misses a goal."""
    args = parse_args(argv)
    spec = str(data.mnist_shaped()) if args.dataset == "mnist-shaped" else args.dataset
    prepared = data.prepare(spec, log)
    both = runner.measure(prepared, args.cold, args.warm, args.single, log)
    dependency_bytes = [None, None] if args.quick else [
        deps.installed_bytes(deps.REFERENCE_REQUIREMENTS, log),
        deps.installed_bytes(deps.project_requirements(), log, prune=True)]  # what the image keeps (its Dockerfile)
    values = figures(both, prepared, dependency_bytes)
    default_memory = default_memory_mb()
    # Sized for the largest request the function accepts, not just the benchmark's batch.
    needed_memory = report.fitting_memory_mb(max(both[1].peak_rss_mb, both[1].largest_rss_mb))
    add_costs(values, default_memory)
    rows = report.build_rows(values, judged=not args.quick)
    meta = {
        "date": report.now(), "machine": report.machine(), "dataset": prepared.name, "quick": args.quick,
        "batch_rows": len(prepared.X_test), "project_memory_mb": default_memory, "needed_memory_mb": needed_memory,
        "project_peak_rss_mb": both[1].peak_rss_mb, "project_largest_rss_mb": both[1].largest_rss_mb,
        "method": (f"{args.cold} fresh processes per side, alternating, plus one warm process each; {args.warm} warm "
                   f"batch calls and {args.single} single-row calls per side; S3 is moto on 127.0.0.1; one BLAS "
                   f"thread per side (the image's setting) unless a row names {runner.THREADS[-1]}, set by "
                   "OPENBLAS_NUM_THREADS and OMP_NUM_THREADS in each fresh process; prediction cores timed alone "
                   "in a fresh process per thread count, the two sides alternating"),
        "notes": [
            "- Reference: the tutorial recreated in bench/reference/ (float64 KNN k=4 pickled with joblib, batch as a "
            "joblib-pickled DataFrame in S3). Its single row is a 1-row DataFrame in S3 (it has no inline mode); "
            "the project's is sent inline.",
            "- Cold start runs from process spawn to the first batch response. Image pull time in Lambda grows with the "
            "image, which the dependency row indicates but this run does not include.",
            "- Lambda gives CPU in proportion to memory: durations here are one full core; at "
            f"{default_memory} MB Lambda gives a fraction of a vCPU, so absolute times there will be longer.",
            "- Prediction core: KnnModel.predict on the uint8 batch vs KNeighborsClassifier.predict on the float64 "
            "batch, in memory (no S3, no parsing); rows/s per thread is batch rows / median time / threads.",
            "- Dependency sizes: unpacked wheels for manylinux x86_64, CPython 3.12 (boto3 is in the base image for both); the project's without numpy's test suites, which its Dockerfile removes."
            if not args.quick else "- Quick mode: digits, few runs, dependency sizes not measured, goals not judged.",
        ],
    }
    metrics_runs = 2 if args.quick else 7
    meta["metrics_cold_start_ms"] = metrics_cost.measure(metrics_runs)
    meta["notes"].append(metrics_cost.note(meta["metrics_cold_start_ms"], metrics_runs))
    report.write(rows, meta, args.out)
    print(report.markdown(rows, meta))
    # Images have no counterpart in the tutorial, so they get a table of their own rather than a ratio.
    log("measuring image requests (bench/images.py) ...")
    image_table = images.markdown(images.measure(prepared.project_model, args.cold, args.warm), prepared.name)
    (args.out / "images.md").write_text(image_table)
    print(image_table)
    missed = misses(rows, needed_memory, default_memory)
    if missed and not args.quick:
        log(f"goals missed: {', '.join(missed)}")
        return 1
    return 0


def misses(rows: list[dict], needed_memory: int, default_memory: int) -> list[str]:
    """The goals a run missed, including a default memory too small for the largest accepted request."""
    missed = [row["figure"] for row in rows if row["verdict"] == "MISS"]
    if needed_memory > default_memory:
        missed.append(f"largest accepted request needs {needed_memory} MB, over the default {default_memory} MB")
    return missed


if __name__ == "__main__":
    sys.exit(main())
