"""bench/metrics_cost.py: the cold-start cost of writing metrics, measured in fresh processes."""

from __future__ import annotations

import json

import pytest

from bench import metrics_cost


def test_each_writer_is_timed_in_a_fresh_process_and_metrics_off_costs_least() -> None:
    medians = metrics_cost.measure(runs=1)
    assert set(medians) == set(metrics_cost.WRITERS)
    assert all(0 < ms < 5_000 for ms in medians.values())
    # Off, the module never imports Powertools, so it must be cheaper than Powertools itself.
    assert medians["function/metrics.py, metrics off"] < medians["aws-lambda-powertools Metrics"]


def test_the_cli_prints_one_json_line_and_refuses_zero_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert metrics_cost.main(["--runs", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["runs"] == 1 and set(printed["median_ms"]) == set(metrics_cost.WRITERS)
    with pytest.raises(SystemExit) as exit_info:
        metrics_cost.main(["--runs", "0"])
    assert exit_info.value.code == 2 and "--runs must be 1 or more" in capsys.readouterr().err


def test_the_report_line_names_every_writer_and_the_budget() -> None:
    line = metrics_cost.note({"function/metrics.py (Powertools inside)": 8.7, "aws-lambda-powertools Metrics": 8.3}, 7)
    assert "8.7 ms" in line and "8.3 ms" in line and "median of 7" in line and "40 ms" in line
