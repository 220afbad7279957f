"""The CloudWatch dashboard body of one MnistPredictor, as a plain function of resource names (easy to test)."""

import json
from dataclasses import dataclass

PERIOD_S = 60
SOURCES = ("inline", "s3", "image", "none")  # the Source dimension values function/metrics.py writes


@dataclass
class Names:
    """Resolved names of what the dashboard shows; the batch fields are '' when the stack has no batch path."""

    region: str
    function: str
    api_id: str
    timeout_s: int
    namespace: str = ""
    batch_function: str = ""
    batch_timeout_s: int = 0
    queue: str = ""
    dead_letter_queue: str = ""
    queue_age_alarm_s: int = 0
    duration_alarm_percent: int = 80


def _metric(namespace: str, name: str, dimensions: dict[str, str], stat: str, label: str, **extra: object) -> list:
    pairs = [part for item in dimensions.items() for part in item]
    return [namespace, name, *pairs, {"stat": stat, "label": label, **extra}]


def _widget(names: Names, title: str, metrics: list, *, width: int = 8, threshold: tuple[str, float] | None = None,
            right_label: str = "") -> dict:
    properties: dict = {"title": title, "region": names.region, "view": "timeSeries", "stacked": False,
                        "period": PERIOD_S, "metrics": metrics}
    if threshold:
        properties["annotations"] = {"horizontal": [{"label": threshold[0], "value": threshold[1]}]}
    if right_label:
        properties["yAxis"] = {"right": {"label": right_label, "showUnits": False}}
    return {"type": "metric", "width": width, "height": 6, "properties": properties}


def _api_row(n: Names) -> list[dict]:
    api = {"ApiId": n.api_id}
    return [
        _widget(n, f"API {n.api_id}: requests", [_metric("AWS/ApiGateway", "Count", api, "Sum", "requests")]),
        _widget(n, f"API {n.api_id}: 4xx and 5xx", [_metric("AWS/ApiGateway", "4xx", api, "Sum", "4xx"),
                                                    _metric("AWS/ApiGateway", "5xx", api, "Sum", "5xx")]),
        _widget(n, f"API {n.api_id}: latency (ms)", [
            _metric("AWS/ApiGateway", "Latency", api, "p50", "p50"),
            _metric("AWS/ApiGateway", "Latency", api, "p99", "p99"),
            _metric("AWS/ApiGateway", "IntegrationLatency", api, "p99", "integration p99")]),
    ]


def _function_row(n: Names, function: str, timeout_s: int) -> list[dict]:
    fn = {"FunctionName": function}
    alarm_ms = timeout_s * 1000 * n.duration_alarm_percent / 100
    return [
        _widget(n, f"{function}: invocations, errors, throttles", [
            _metric("AWS/Lambda", "Invocations", fn, "Sum", "invocations"),
            _metric("AWS/Lambda", "Errors", fn, "Sum", "errors"),
            _metric("AWS/Lambda", "Throttles", fn, "Sum", "throttles")]),
        _widget(n, f"{function}: concurrency and throttles", [
            _metric("AWS/Lambda", "ConcurrentExecutions", fn, "Maximum", "concurrent (max)"),
            _metric("AWS/Lambda", "Throttles", fn, "Sum", "throttles", yAxis="right")], right_label="throttles"),
        _widget(n, f"{function}: duration (ms)", [
            _metric("AWS/Lambda", "Duration", fn, "p50", "p50"), _metric("AWS/Lambda", "Duration", fn, "p99", "p99")],
            threshold=(f"alarm: {n.duration_alarm_percent}% of the {timeout_s} s timeout", alarm_ms)),
    ]


def _code_row(n: Names) -> list[dict]:
    ns, fn = n.namespace, {"FunctionName": n.function}
    # A math expression is a one-element array holding an object, as a metric is an array of strings and options.
    rows_per_s = [[{"expression": "rows / PERIOD(rows)", "label": "rows/s", "id": "rate"}],
                  _metric(ns, "RowsPredicted", fn, "Sum", "rows", id="rows", visible=False)]
    return [
        _widget(n, f"{n.function}: rows predicted per second", rows_per_s, width=6),
        _widget(n, f"{n.function}: requests by source", [
            _metric(ns, "Requests", {**fn, "Source": source}, "Sum", source) for source in SOURCES], width=6),
        _widget(n, f"{n.function}: prediction latency and errors by class", [
            _metric(ns, "PredictionLatency", fn, "p50", "latency p50 (ms)"),
            _metric(ns, "PredictionLatency", fn, "p99", "latency p99 (ms)"),
            _metric(ns, "ClientErrors", fn, "Sum", "4xx", yAxis="right"),
            _metric(ns, "ServerErrors", fn, "Sum", "5xx", yAxis="right")], width=6, right_label="errors"),
        _widget(n, f"{n.function}: cold starts and init duration", [
            _metric(ns, "ColdStart", fn, "Sum", "cold starts", yAxis="right"),
            _metric(ns, "InitDuration", fn, "p50", "init p50 (ms)"),
            _metric(ns, "InitDuration", fn, "Maximum", "init max (ms)")], width=6, right_label="cold starts"),
    ]


def _batch_rows(n: Names) -> list[dict]:
    queue, dlq = {"QueueName": n.queue}, {"QueueName": n.dead_letter_queue}
    widgets = [
        _widget(n, f"Queue {n.queue}: depth", [
            _metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, "Maximum", "waiting"),
            _metric("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", queue, "Maximum", "in flight")]),
        _widget(n, f"Queue {n.queue}: oldest message (s)", [
            _metric("AWS/SQS", "ApproximateAgeOfOldestMessage", queue, "Maximum", "age")],
            threshold=("alarm", n.queue_age_alarm_s) if n.queue_age_alarm_s else None),
        _widget(n, f"Dead letters {n.dead_letter_queue}", [
            _metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq, "Maximum", "dead letters")],
            threshold=("alarm", 1)),
    ]
    widgets += _function_row(n, n.batch_function, n.batch_timeout_s)
    if n.namespace:
        ns, fn = n.namespace, {"FunctionName": n.batch_function}
        widgets += [
            _widget(n, f"{n.batch_function}: objects and rows", [
                _metric(ns, "ObjectsScored", fn, "Sum", "objects scored"),
                _metric(ns, "ObjectsFailed", fn, "Sum", "objects failed"),
                _metric(ns, "RowsScored", fn, "Sum", "rows", yAxis="right")], width=12, right_label="rows"),
            _widget(n, f"{n.batch_function}: lag from upload to predictions (s)", [
                _metric(ns, "Lag", fn, "p50", "p50"), _metric(ns, "Lag", fn, "p99", "p99"),
                _metric(ns, "Lag", fn, "Maximum", "max")], width=12),
        ]
    return widgets


def body(n: Names) -> str:
    """The dashboard body JSON: a header, the API row, the function row, the code's metrics, the batch path."""
    header = (f"## MnistPredictor `{n.function}`\nAPI `{n.api_id}` (HTTP API, `POST /predict`)"
              + (f", batch function `{n.batch_function}` fed by queue `{n.queue}`" if n.batch_function else "")
              + ". Alarms and what to do: docs/operations.md.")
    widgets = [{"type": "text", "width": 24, "height": 2, "properties": {"markdown": header}}]
    widgets += _api_row(n) + _function_row(n, n.function, n.timeout_s)
    if n.namespace:
        widgets += _code_row(n)
    if n.batch_function:
        widgets += _batch_rows(n)
    return json.dumps({"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets})
