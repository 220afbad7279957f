"""Operations under Pulumi mocks: the alarm topic, every alarm, the dashboard, tracing; batch resources passed in."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from components import MnistPredictor, MnistPredictorArgs
from components.operations import BatchResources, Operations
from conftest import REGION, deploy

TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:demo-alarms-2f3a"
FUNCTION, API, BATCH_FUNCTION = "demo-fn-0d1e", "a1b2c3d4e5", "demo-batch-fn-0d1e"
QUEUE, DLQ = "demo-queue", "demo-dlq"


def up(function_dir: Path, **settings: object):
    """Deploy one MnistPredictor named 'demo' under mocks (the fixture model is digits, so opt in)."""
    settings.setdefault("allow_digits_model", True)
    settings.setdefault("batch", False)  # the API side alone; the batch side has tests of its own below

    def program() -> dict:
        predictor = MnistPredictor("demo", MnistPredictorArgs(function_dir=str(function_dir), **settings))
        return {"dashboard_url": predictor.dashboard_url, "function_name": predictor.function_name}

    return deploy(program)


def with_batch(**settings: object):
    """Operations alone, watching an API function, an API and a batch path made here (as the batch branch will)."""

    def program() -> dict:
        parent = pulumi.ComponentResource("mnist:index:MnistPredictor", "demo")
        child = pulumi.ResourceOptions(parent=parent)
        function = aws.lambda_.Function("demo-fn", package_type="Image", image_uri="x", role="r", timeout=15,
                                        opts=child)
        api = aws.apigatewayv2.Api("demo-api", protocol_type="HTTP", opts=child)
        batch = BatchResources(
            function=aws.lambda_.Function("demo-batch-fn", package_type="Image", image_uri="x", role="r",
                                          timeout=300, opts=child),
            queue=aws.sqs.Queue("demo-queue", opts=child), dead_letter_queue=aws.sqs.Queue("demo-dlq", opts=child))
        ops = Operations("demo", MnistPredictorArgs(**settings), parent, function, api, batch)
        return {"dashboard_url": ops.dashboard_url}

    return deploy(program)


def named(deployment, name: str) -> dict:
    """Inputs of the one resource with this name."""
    (inputs,) = [r["inputs"] for r in deployment.mocks.resources if r["name"] == name]
    return inputs


def alarms(deployment) -> dict[str, dict]:
    """Every alarm's inputs by resource name."""
    return {r["name"]: r["inputs"] for r in deployment.mocks.resources
            if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"}


def assert_alarm(alarm: dict, namespace: str, metric: str, dimensions: dict, statistic: str, threshold: float,
                 period: int = 300) -> None:
    """One alarm watches exactly this metric of this stack's resource and notifies the topic."""
    assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == (namespace, metric, dimensions)
    assert alarm.get("statistic", alarm.get("extendedStatistic")) == statistic
    assert alarm["threshold"] == threshold and alarm["period"] == period
    assert alarm["alarmActions"] == [TOPIC_ARN] and alarm["okActions"] == [TOPIC_ARN]
    assert alarm["treatMissingData"] == "notBreaching" and "First check" in alarm["alarmDescription"]


@pytest.fixture(scope="module")
def default(function_dir: Path):
    """The component with default settings."""
    return up(function_dir)


def test_default_alarms_watch_this_stacks_function_and_api(default) -> None:
    found = alarms(default)
    assert set(found) == {"demo-fn-errors", "demo-fn-throttles", "demo-fn-duration", "demo-api-5xx"}
    fn = {"FunctionName": FUNCTION}
    assert_alarm(found["demo-fn-errors"], "AWS/Lambda", "Errors", fn, "Sum", 1)
    assert_alarm(found["demo-fn-throttles"], "AWS/Lambda", "Throttles", fn, "Sum", 1)
    assert_alarm(found["demo-api-5xx"], "AWS/ApiGateway", "5xx", {"ApiId": API}, "Sum", 5)
    # p99 above 80% of the default 15 s timeout, in 2 of 3 five-minute periods
    duration = found["demo-fn-duration"]
    assert_alarm(duration, "AWS/Lambda", "Duration", fn, "p99", 12_000)
    assert (duration["evaluationPeriods"], duration["datapointsToAlarm"]) == (3, 2)
    assert duration["comparisonOperator"] == "GreaterThanThreshold"


def test_the_topic_has_no_subscriber_unless_an_email_is_set(default, function_dir: Path) -> None:
    assert len(default.mocks.of_type("aws:sns/topic:Topic")) == 1
    assert default.mocks.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    subscribed = up(function_dir, alarm_email="ops@example.com")
    subscription = subscribed.mocks.one("aws:sns/topicSubscription:TopicSubscription")
    assert subscription == {**subscription, "protocol": "email", "endpoint": "ops@example.com", "topic": TOPIC_ARN}


def test_thresholds_are_configurable(function_dir: Path) -> None:
    deployment = up(function_dir, timeout=20, alarm_errors_threshold=3, alarm_throttles_threshold=4,
                    alarm_api_5xx_threshold=10, alarm_duration_percent=50)
    found = alarms(deployment)
    assert [found[f"demo-{role}"]["threshold"] for role in ("fn-errors", "fn-throttles", "api-5xx", "fn-duration")] \
        == [3, 4, 10, 10_000]


def test_alarms_off_creates_no_topic_and_no_alarm_but_keeps_the_dashboard(function_dir: Path) -> None:
    deployment = up(function_dir, alarms=False, alarm_email="ops@example.com")
    assert alarms(deployment) == {} and deployment.mocks.of_type("aws:sns/topic:Topic") == []
    assert deployment.mocks.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    assert len(deployment.mocks.of_type("aws:cloudwatch/dashboard:Dashboard")) == 1


def test_batch_alarms_watch_the_batch_function_queue_and_dead_letters() -> None:
    found = alarms(with_batch(alarm_queue_age_seconds=600))
    assert set(found) == {"demo-fn-errors", "demo-fn-throttles", "demo-fn-duration", "demo-api-5xx",
                          "demo-batch-errors", "demo-batch-throttles", "demo-batch-duration", "demo-dead-letters",
                          "demo-queue-age"}
    batch_fn = {"FunctionName": BATCH_FUNCTION}
    assert_alarm(found["demo-batch-errors"], "AWS/Lambda", "Errors", batch_fn, "Sum", 1)
    assert_alarm(found["demo-batch-throttles"], "AWS/Lambda", "Throttles", batch_fn, "Sum", 1)
    assert_alarm(found["demo-batch-duration"], "AWS/Lambda", "Duration", batch_fn, "p99", 240_000)  # 80% of 300 s
    assert_alarm(found["demo-dead-letters"], "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": DLQ},
                 "Maximum", 1)
    assert found["demo-dead-letters"]["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert_alarm(found["demo-queue-age"], "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": QUEUE},
                 "Maximum", 600)


def test_the_components_own_batch_path_is_watched_and_traced(function_dir: Path) -> None:
    # given the component with batch scoring on (its default) and tracing on
    deployment = up(function_dir, batch=True, tracing=True)
    found = alarms(deployment)
    # then the real batch function and queues get their alarms, naming this stack's resources
    batch_fn = {"FunctionName": "demo-batch-fn-0d1e"}
    assert_alarm(found["demo-batch-errors"], "AWS/Lambda", "Errors", batch_fn, "Sum", 1)
    assert_alarm(found["demo-dead-letters"], "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                 {"QueueName": "demo-batch-dlq"}, "Maximum", 1)
    assert_alarm(found["demo-queue-age"], "AWS/SQS", "ApproximateAgeOfOldestMessage",
                 {"QueueName": "demo-batch-queue"}, "Maximum", 900)
    # and the batch function writes metrics and traces like the API function, with the X-Ray grant on its own role
    batch = deployment.mocks.named("demo-batch-fn")
    assert batch["environment"]["variables"]["METRICS_NAMESPACE"] == "MnistPredictor"
    assert batch["tracingConfig"] == {"mode": "Active"}
    xray = json.loads(deployment.mocks.named("demo-batch-send-traces")["policy"])["Statement"]
    assert xray == [{"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                     "Resource": "*"}]


def widgets_of(deployment) -> tuple[str, list[dict]]:
    """(dashboard name, widgets) of the one dashboard."""
    board = deployment.mocks.one("aws:cloudwatch/dashboard:Dashboard")
    return board["dashboardName"], json.loads(board["dashboardBody"])["widgets"]


def plotted(widgets: list[dict]) -> list[list]:
    """Every metric line of every widget (math expressions, a one-element array holding an object, left out)."""
    lines = [m for w in widgets for m in w["properties"].get("metrics", [])]
    assert all(isinstance(m, list) for m in lines), "each metrics entry is an array"
    return [m for m in lines if isinstance(m[0], str)]


def metric_names(widgets: list[dict]) -> set[tuple[str, str]]:
    """(namespace, metric) of every plotted metric."""
    return {(m[0], m[1]) for m in plotted(widgets)}


def test_dashboard_shows_api_function_and_code_metrics_of_this_stack(default) -> None:
    name, widgets = widgets_of(default)
    assert name == FUNCTION
    assert default.outputs["dashboard_url"] == (f"https://{REGION}.console.aws.amazon.com/cloudwatch/home"
                                                f"?region={REGION}#dashboards:name={FUNCTION}")
    for widget in widgets:
        text = json.dumps(widget)
        assert FUNCTION in text or API in text, widget
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == REGION
    assert {("AWS/ApiGateway", m) for m in ("Count", "4xx", "5xx", "Latency")} <= metric_names(widgets)
    assert {("AWS/Lambda", m) for m in ("ConcurrentExecutions", "Throttles", "Duration")} <= metric_names(widgets)
    assert {("MnistPredictor", m) for m in ("RowsPredicted", "Requests", "PredictionLatency", "ColdStart",
                                            "InitDuration", "ClientErrors", "ServerErrors")} <= metric_names(widgets)
    for line in plotted(widgets):  # namespace, metric name, dimension name/value pairs, then the options
        *strings, options = line
        assert len(strings) % 2 == 0 and all(isinstance(x, str) and x for x in strings) and "stat" in options
    stats = {(m[1], m[-1]["stat"]) for m in plotted(widgets)}
    assert {("Latency", "p50"), ("Latency", "p99")} <= stats
    rate = next(w for w in widgets if "rows predicted per second" in w["properties"].get("title", ""))
    (expression,), rows = rate["properties"]["metrics"]
    assert expression["expression"] == "rows / PERIOD(rows)" and rows[-1] == {"stat": "Sum", "label": "rows",
                                                                               "id": "rows", "visible": False}


def test_dashboard_with_batch_shows_queue_depth_age_dead_letters_and_batch_metrics() -> None:
    name, widgets = widgets_of(with_batch())
    for widget in widgets:
        text = json.dumps(widget)
        assert any(part in text for part in (FUNCTION, API, BATCH_FUNCTION, QUEUE, DLQ)), widget
    lines = {tuple(m[:4]) for m in plotted(widgets)}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", QUEUE) in lines
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", QUEUE) in lines
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", DLQ) in lines
    for metric in ("ObjectsScored", "RowsScored", "ObjectsFailed", "Lag"):
        assert ("MnistPredictor", metric, "FunctionName", BATCH_FUNCTION) in lines
    assert ("AWS/Lambda", "Duration", "FunctionName", BATCH_FUNCTION) in lines


def test_metrics_off_drops_the_variable_and_the_code_widgets(function_dir: Path) -> None:
    deployment = up(function_dir, metrics_namespace="")
    fn = deployment.mocks.one("aws:lambda/function:Function")
    assert "METRICS_NAMESPACE" not in fn["environment"]["variables"]
    assert not any(ns == "MnistPredictor" for ns, _ in metric_names(widgets_of(deployment)[1]))


def test_tracing_off_by_default_adds_no_xray_anything(default) -> None:
    assert "tracingConfig" not in default.mocks.one("aws:lambda/function:Function")
    assert all("xray" not in p["policy"] for p in default.mocks.of_type("aws:iam/rolePolicy:RolePolicy"))


def test_tracing_on_makes_the_function_active_with_only_the_xray_write_actions(function_dir: Path) -> None:
    deployment = up(function_dir, tracing=True)
    assert deployment.mocks.one("aws:lambda/function:Function")["tracingConfig"] == {"mode": "Active"}
    (statement,) = json.loads(named(deployment, "demo-send-traces")["policy"])["Statement"]
    assert statement == {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                         "Resource": "*"}


def test_the_dashboard_plots_exactly_the_metrics_and_sources_the_code_writes(default) -> None:
    import metrics  # function/metrics.py: the component cannot import it, function/ is the image's task root
    from components import dashboard

    assert dashboard.SOURCES == metrics.SOURCES
    code_metrics = {name for ns, name in metric_names(widgets_of(with_batch())[1]) if ns == "MnistPredictor"}
    assert code_metrics == set(metrics.UNITS)
