"""The handlers' embedded metric format (EMF) lines, checked against the format's rules; and metrics off locally."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from types import ModuleType

import numpy as np
import pytest

import metrics
from conftest import DATA_BUCKET, FUNCTION_DIR, call

NAMESPACE, FUNCTION = "MnistPredictor", "demo-fn-0d1e"
# CloudWatch's units (PutMetricData's StandardUnit), the only ones EMF accepts.
UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}


def check_emf(document: dict) -> dict[str, float]:
    """Assert the EMF specification's rules on one document; returns its metric values by name."""
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and abs(meta["Timestamp"] - time.time() * 1000) < 60_000
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    values, declared_dimensions = {}, set()
    for directive in directives:
        assert directive["Namespace"] == NAMESPACE
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str) and document[name], f"dimension {name} has no value"
                declared_dimensions.add(name)
        assert directive["Metrics"]
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"} and metric["Unit"] in UNITS
            assert metric["Unit"] == metrics.UNITS[metric["Name"]]
            # A number, or (as Powertools writes it) an array of up to 100 numbers.
            value = document[metric["Name"]]
            samples = value if isinstance(value, list) else [value]
            assert 1 <= len(samples) <= 100, metric["Name"]
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in samples), metric["Name"]
            values[metric["Name"]] = samples[0] if len(samples) == 1 else samples
    # No payload data: nothing at the top level but the block, the dimensions and the declared metrics.
    assert set(document) == {"_aws", *declared_dimensions, *values}
    assert document["FunctionName"] == FUNCTION
    return values


def emf_lines(text: str) -> list[dict]:
    """The EMF documents among stdout's lines."""
    documents = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d]


@pytest.fixture
def metered(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The handler with metrics on, as the component configures it in Lambda."""
    monkeypatch.setattr(app, "METRICS", metrics.Emitter(NAMESPACE, FUNCTION))
    return app


def request_metrics(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, float], str, str]:
    """(main metrics, source, raw stdout) of the one request just handled."""
    out = capsys.readouterr().out
    main, by_source = emf_lines(out)
    values = check_emf(main)
    assert check_emf(by_source) == {"Requests": 1}
    assert by_source["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName", "Source"]]
    assert main["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName"]]
    return values, by_source["Source"], out


def test_a_good_request_counts_its_rows_latency_source_and_cold_start(metered: ModuleType, capsys) -> None:
    capsys.readouterr()
    status, body = call(metered, {"instances": [[0] * metered.MODEL.n_features] * 3})
    assert status == 200 and body["count"] == 3
    values, source, _ = request_metrics(capsys)
    assert source == "inline"
    assert values["RowsPredicted"] == 3 and values["ColdStart"] == 1
    assert values["ClientErrors"] == 0 and values["ServerErrors"] == 0 and 0 < values["PredictionLatency"] < 10_000
    # The next request of the same instance is warm.
    call(metered, {"instances": [[0] * metered.MODEL.n_features]})
    assert request_metrics(capsys)[0]["ColdStart"] == 0


def test_images_count_under_the_image_source_however_they_are_sent(metered: ModuleType, model_dir, capsys) -> None:
    import base64

    from digit_images import picture, png

    # given one held-out digit as a PNG, sent in the "images" list
    row = np.load(model_dir / "test_features.npy")[0]
    data = png(picture(row, metered.VALUE_RANGE[1]))
    capsys.readouterr()
    status, _ = call(metered, {"images": [base64.b64encode(data).decode()]})
    # then the request counts as an image request, one of the sources the dashboard plots
    assert status == 200 and request_metrics(capsys)[1] == "image" and "image" in metrics.SOURCES


def test_a_4xx_counts_as_a_client_error_and_leaks_no_request_data(metered: ModuleType, capsys) -> None:
    capsys.readouterr()
    status, _ = call(metered, {"bucket": DATA_BUCKET, "key": "private/secret-name-4242.npy"})
    assert status == 404
    values, source, out = request_metrics(capsys)
    assert source == "s3" and values["ClientErrors"] == 1 and values["ServerErrors"] == 0
    assert values["RowsPredicted"] == 0
    emf_text = json.dumps(emf_lines(out))
    assert "secret-name-4242" not in emf_text and DATA_BUCKET not in emf_text


def test_a_body_that_names_no_input_counts_under_source_none(metered: ModuleType, capsys) -> None:
    capsys.readouterr()
    status, _ = call(metered, "not json")
    assert status == 400
    values, source, _ = request_metrics(capsys)
    assert source == "none" and values["ClientErrors"] == 1


def test_a_5xx_counts_as_a_server_error(metered: ModuleType, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("model exploded")

    monkeypatch.setattr(type(metered.MODEL), "predict", broken)
    capsys.readouterr()
    status, _ = call(metered, {"instances": [[0] * metered.MODEL.n_features]})
    assert status == 500
    values, source, _ = request_metrics(capsys)
    assert values["ServerErrors"] == 1 and values["ClientErrors"] == 0 and values["RowsPredicted"] == 0


def test_writing_metrics_never_opens_a_connection(metered: ModuleType, capsys, monkeypatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("metrics tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    capsys.readouterr()
    status, _ = call(metered, {"instances": [[0] * metered.MODEL.n_features]})
    assert status == 200 and len(emf_lines(capsys.readouterr().out)) == 2


def test_the_cold_request_carries_the_init_duration_and_warm_ones_do_not(capsys) -> None:
    # given an emitter marked ready at the end of init, as app.py does
    emitter = metrics.Emitter(NAMESPACE, FUNCTION)
    emitter.mark_ready()
    emitter.request("s3", 200, 10, 5.0)
    emitter.request("s3", 200, 10, 5.0)
    cold, _, warm, _ = emf_lines(capsys.readouterr().out)
    # then the first request's InitDuration is this process's age at mark_ready: positive, and not in the future
    init_ms = check_emf(cold)["InitDuration"]
    assert 0 < init_ms <= metrics.process_age_ms() and check_emf(cold)["ColdStart"] == 1
    assert "InitDuration" not in check_emf(warm) and check_emf(warm)["ColdStart"] == 0


def test_batch_objects_scored_and_failed_follow_the_format(capsys) -> None:
    # given a batch function's emitter (the batch handler calls these once per object)
    emitter = metrics.Emitter(NAMESPACE, FUNCTION)
    emitter.object_scored(rows=1_000_000, lag_s=12.5)
    emitter.object_failed(lag_s=-0.2)  # clock skew must not publish a negative lag
    scored, failed = (check_emf(d) for d in emf_lines(capsys.readouterr().out))
    assert scored == {"ObjectsScored": 1, "RowsScored": 1_000_000, "ObjectsFailed": 0, "Lag": 12.5, "ColdStart": 1}
    assert failed == {"ObjectsScored": 0, "RowsScored": 0, "ObjectsFailed": 1, "Lag": 0.0, "ColdStart": 0}


def test_without_a_namespace_nothing_is_written(capsys) -> None:
    emitter = metrics.Emitter("", FUNCTION)
    emitter.request("inline", 200, 3, 1.0)
    emitter.object_scored(3, 1.0)
    assert not emitter.enabled and capsys.readouterr().out == ""


def test_local_mode_prints_no_metrics_and_never_imports_powertools(model_dir) -> None:
    # given the handler imported as local mode does it: no METRICS_NAMESPACE in the environment
    script = (
        "import json, sys, app\n"
        "event = {'requestContext': {'http': {'method': 'POST'}}, 'headers': {'content-type': 'application/json'},"
        f" 'body': json.dumps({{'instances': [[0] * app.MODEL.n_features]}})}}\n"
        "reply = app.handler(event, None)\n"
        "print(json.dumps({'status': reply['statusCode'], 'powertools': 'aws_lambda_powertools' in sys.modules}))\n")
    env = {k: v for k, v in os.environ.items() if k != metrics.NAMESPACE_ENV}
    done = subprocess.run([sys.executable, "-c", script], cwd=FUNCTION_DIR, capture_output=True, text=True,
                          env={**env, "MODEL_DIR": str(model_dir), "PYTHONPATH": str(FUNCTION_DIR)}, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    # then the same JSON log line as before, and no EMF document
    assert lines[-1] == {"status": 200, "powertools": False}
    assert [line["message"] for line in lines[:-1]] == ["predict"] and not emf_lines(done.stdout)


def test_a_failing_metrics_write_never_fails_the_request(metered: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    # given an EMF writer that breaks (a bad dimension value, a Powertools bug)
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("EMF writer broke")

    monkeypatch.setattr(metered.METRICS._metrics, "flush_metrics", broken)
    # when a request is handled, then it still gets its answer, and the failure is logged as a warning
    status, body = call(metered, {"instances": [[0] * metered.MODEL.n_features]})
    assert status == 200 and body["count"] == 1
    assert any(r.levelname == "WARNING" and r.getMessage() == "could not write metrics" for r in caplog.records)

