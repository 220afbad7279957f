"""`python -m bench --quick` proves the harness end to end; speed goals are judged in the real run, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FIGURES = {"cold start (s, median)", "warm batch (ms, median)", "warm batch (ms, p99)", "single row (ms, p50)",
           "single row (ms, p99)", "peak RSS (MB)", "smallest Lambda memory that fits (MB)", "model artifact (bytes)",
           "runtime dependencies (bytes)", "accuracy", "cost per 1M single-row predictions ($)", "cost per batch ($)"}


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
    assert rows["runtime dependencies (bytes)"]["verdict"] == "not measured"
    assert 0.9 < rows["accuracy"]["project"] <= 1 and rows["accuracy"]["reference"] > 0.9
    assert rows["model artifact (bytes)"]["project"] < rows["model artifact (bytes)"]["reference"]


def test_both_sides_ran_fresh_processes_with_real_timings(results) -> None:
    rows = {row["figure"]: row for row in json.loads((results[0] / "latest.json").read_text())["rows"]}
    for figure in ("cold start (s, median)", "warm batch (ms, median)", "single row (ms, p50)", "peak RSS (MB)"):
        assert rows[figure]["reference"] > 0 and rows[figure]["project"] > 0
    assert rows["smallest Lambda memory that fits (MB)"]["project"] % 64 == 0
