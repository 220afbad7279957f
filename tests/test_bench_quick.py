"""`python -m bench --quick` proves the harness end to end; goals are judged in the full run, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FIGURES = {"cold start (s, median)", "warm batch (ms, median)", "warm batch (ms, p99)", "single row (ms, p50)",
           "single row (ms, p99)", "peak RSS (MB)", "smallest Lambda memory that fits (MB)", "model artifact (bytes)",
           "runtime dependencies (bytes)", "accuracy", "cost per 1M single-row predictions ($)", "cost per batch ($)",
           "warm batch, 2 BLAS threads (ms, median)", "prediction core, 1 BLAS thread (ms, median)",
           "prediction core, 2 BLAS threads (ms, median)", "prediction core (rows/s per thread, 1 thread)"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One quick benchmark run into a temporary folder."""
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def test_writes_table_json_and_chart(results) -> None:
    out, stdout = results
    table = (out / "latest.md").read_text()
    assert table.strip() in stdout
    assert "| figure | reference | project | project/reference | goal | result |" in table
    assert all(f"| {figure} |" in table for figure in FIGURES)
    assert (out / "ratios.png").read_bytes().startswith(b"\x89PNG")
    assert "Component default memory:" in table and "per GB-second" in table
    assert "Metrics cold-start cost" in table and "aws-lambda-powertools Metrics" in table


def test_image_requests_are_measured_and_rows_never_load_pillow(results) -> None:
    table = (results[0] / "images.md").read_text()
    assert table in results[1]
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()[4:]]
    values = dict(row for row in cells if len(row) == 2)
    assert float(values["1 image (ms, p50)"]) > 0 and float(values["10 images (ms, p50)"]) > 0
    assert float(values["row request cold start (s, median)"]) > 0
    assert values["Pillow loaded by a row request"] == "no"


def test_ratios_are_computed_from_the_measured_values(results) -> None:
    rows = {row["figure"]: row for row in json.loads((results[0] / "latest.json").read_text())["rows"]}
    assert FIGURES <= set(rows)
    for row in rows.values():
        if row["reference"] and row["project"] is not None:
            assert row["ratio"] == pytest.approx(row["project"] / row["reference"])
    # a quick run's data and batch are too small to judge goals: it says so rather than pass or miss them
    assert {row["verdict"] for row in rows.values() if row["goal"]} == {"not judged (quick)"}
    assert 0.9 < rows["accuracy"]["project"] <= 1 and rows["accuracy"]["reference"] > 0.9
    assert rows["model artifact (bytes)"]["project"] < rows["model artifact (bytes)"]["reference"]


def test_both_sides_ran_fresh_processes_with_real_timings(results) -> None:
    rows = {row["figure"]: row for row in json.loads((results[0] / "latest.json").read_text())["rows"]}
    for figure in ("cold start (s, median)", "warm batch (ms, median)", "single row (ms, p50)", "peak RSS (MB)",
                   "warm batch, 2 BLAS threads (ms, median)", "prediction core, 1 BLAS thread (ms, median)",
                   "prediction core, 2 BLAS threads (ms, median)"):
        assert rows[figure]["reference"] > 0 and rows[figure]["project"] > 0
    assert rows["smallest Lambda memory that fits (MB)"]["project"] % 64 == 0


def test_reports_the_components_real_default_memory(results) -> None:
    from components.args import MnistPredictorArgs

    table = (results[0] / "latest.md").read_text()
    assert f"Component default memory: {MnistPredictorArgs().memory_size} MB** (components/args.py)" in table
    assert json.loads((results[0] / "latest.json").read_text())["meta"]["project_memory_mb"] == 256


def test_a_quick_run_never_replaces_the_committed_results() -> None:
    from bench.__main__ import QUICK_RESULTS, RESULTS, parse_args

    assert parse_args(["--quick"]).out == QUICK_RESULTS != RESULTS
    assert parse_args([]).out == RESULTS
    ignored = subprocess.run(["git", "check-ignore", "-q", str(QUICK_RESULTS / "latest.md")], cwd=ROOT)
    assert ignored.returncode == 0, "bench/results/quick/ must be git-ignored"


def test_a_full_run_that_misses_a_goal_exits_non_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import bench.__main__ as cli
    from bench import runner

    # given measurements where the project's warm batch is half the reference's (goal: a tenth)
    side = runner.Side("x", tmp_path, {}, "k", None, batch_s=[0.1], peak_rss_mb=50.0)
    measured = {"warm batch (ms, median)": (100.0, 50.0), "single row (ms, p50)": (10.0, 1.0)}
    monkeypatch.setattr(cli.data, "mnist_shaped", lambda: tmp_path / "x.npz")
    monkeypatch.setattr(cli.data, "prepare", lambda spec, log: type("P", (), {"name": "fake", "X_test": [0], "project_model": tmp_path})())
    monkeypatch.setattr(cli.runner, "measure", lambda *args: [side, side])
    monkeypatch.setattr(cli.deps, "installed_bytes", lambda *args, **kwargs: 1)
    monkeypatch.setattr(cli, "figures", lambda *args: dict(measured))
    monkeypatch.setattr(cli.metrics_cost, "measure", lambda runs: {})
    monkeypatch.setattr(cli.metrics_cost, "note", lambda *args: "- metrics: not measured here")
    monkeypatch.setattr(cli.images, "measure", lambda *args: {})
    monkeypatch.setattr(cli.images, "markdown", lambda *args: "images: not measured here\n")
    # when the full run finishes, then its exit status says so
    assert cli.main(["--out", str(tmp_path / "out")]) == 1
    measured["warm batch (ms, median)"] = (100.0, 5.0)
    assert cli.main(["--out", str(tmp_path / "out")]) == 0
