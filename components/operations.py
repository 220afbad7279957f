"""Operations of one MnistPredictor: the alarm topic, alarms that say what to do, the dashboard, tracing settings.

Thresholds and periods are explained in docs/operations.md; alarm descriptions name the first thing to check.
"""

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from . import dashboard
from .args import MnistPredictorArgs

FIVE_MINUTES = 300
DOCS = "docs/operations.md"


@dataclass
class BatchResources:
    """The batch path to watch; only `.name` (and the function's `.timeout`) outputs are read."""

    function: Any
    """The batch Lambda function (an aws.lambda_.Function)."""
    queue: Any
    """The SQS queue fed by the bucket's incoming/ events."""
    dead_letter_queue: Any
    """Where a message lands after its last failed receive."""


def function_environment(args: MnistPredictorArgs) -> dict[str, str]:
    """Environment that turns the code's EMF metrics on (function/metrics.py); empty when they are off."""
    return {"METRICS_NAMESPACE": args.metrics_namespace} if args.metrics_namespace else {}


def tracing_config(args: MnistPredictorArgs) -> dict[str, str] | None:
    """X-Ray active tracing for a function, or None (Lambda's default, PassThrough) when tracing is off."""
    return {"mode": "Active"} if args.tracing else None


def xray_policy() -> str:
    """Send trace segments. X-Ray has no resource-level permissions for these actions, so Resource must be "*"."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}]})


class Operations:
    """Children of an MnistPredictor (not a component of its own): topic, alarms and dashboard."""

    def __init__(self, name: str, args: MnistPredictorArgs, parent: pulumi.Resource, function: aws.lambda_.Function,
                 api: aws.apigatewayv2.Api, batch: BatchResources | None = None) -> None:
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=parent)
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        self.topic: aws.sns.Topic | None = None
        if args.alarms:
            self.topic = self._topic()
            self._function_alarms("fn", function, "the API function")
            self._api_alarm(api)
            if batch is not None:
                self._function_alarms("batch", batch.function, "the batch function")
                self._queue_alarms(batch)
        self.dashboard, self.dashboard_url = self._dashboard(function, api, batch, parent)

    def _topic(self) -> aws.sns.Topic:
        n, args = self._name, self._args
        topic = aws.sns.Topic(f"{n}-alarms", tags=args.tags, opts=self._child)
        if args.alarm_email:
            # AWS mails a confirmation link first; nothing is delivered until the address confirms.
            aws.sns.TopicSubscription(f"{n}-alarm-email", topic=topic.arn, protocol="email",
                                      endpoint=args.alarm_email, opts=self._child)
        return topic

    def _alarm(self, role: str, description: str, **settings: Any) -> aws.cloudwatch.MetricAlarm:
        settings.setdefault("period", FIVE_MINUTES)
        settings.setdefault("evaluation_periods", 1)
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{role}", alarm_description=f"{description} See {DOCS}.",
            alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn],
            # No traffic is not a failure: an idle stack stays OK rather than INSUFFICIENT_DATA.
            treat_missing_data="notBreaching", tags=self._args.tags, opts=self._child, **settings)
        self.alarms[role] = alarm
        return alarm

    def _function_alarms(self, role: str, function: aws.lambda_.Function, what: str) -> None:
        args = self._args
        lambda_metric = {"namespace": "AWS/Lambda", "dimensions": {"FunctionName": function.name}}
        self._alarm(f"{role}-errors", f"{what.capitalize()} failed (crash, timeout or out of memory; handled 4xx/5xx "
                    "answers are not errors). First check its log group for the request id and 'Task timed out' or "
                    "'Runtime exited'.", metric_name="Errors", statistic="Sum", threshold=args.alarm_errors_threshold,
                    comparison_operator="GreaterThanOrEqualToThreshold", **lambda_metric)
        self._alarm(f"{role}-throttles", f"Lambda refused invocations of {what}: its reserved concurrency is used "
                    "up. First check the concurrency widget; raise reservedConcurrency or find the burst's caller.",
                    metric_name="Throttles", statistic="Sum", threshold=args.alarm_throttles_threshold,
                    comparison_operator="GreaterThanOrEqualToThreshold", **lambda_metric)
        percent = args.alarm_duration_percent
        # Three 5-minute periods, two breaching: one slow cold batch does not page, a trend towards timeouts does.
        self._alarm(f"{role}-duration", f"p99 duration of {what} is above {percent}% of its timeout: timeouts are "
                    "next. First check rows per request and the memory size (CPU scales with memory).",
                    metric_name="Duration", extended_statistic="p99", evaluation_periods=3, datapoints_to_alarm=2,
                    threshold=function.timeout.apply(lambda t: t * 1000 * percent / 100),
                    comparison_operator="GreaterThanThreshold", **lambda_metric)

    def _api_alarm(self, api: aws.apigatewayv2.Api) -> None:
        self._alarm("api-5xx", "The HTTP API answered 5xx: the function failed, timed out or could not reach S3 "
                    "(502/503). First check the API access log's integrationError and the function's 'unexpected "
                    "error' lines.", namespace="AWS/ApiGateway", metric_name="5xx", dimensions={"ApiId": api.id},
                    statistic="Sum", threshold=self._args.alarm_api_5xx_threshold,
                    comparison_operator="GreaterThanOrEqualToThreshold")

    def _queue_alarms(self, batch: BatchResources) -> None:
        self._alarm("dead-letters", "A batch message failed every retry and sits in the dead-letter queue: its "
                    "object was never scored. First check the message (the S3 key) and the batch function's log.",
                    namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
                    dimensions={"QueueName": batch.dead_letter_queue.name}, statistic="Maximum", threshold=1,
                    comparison_operator="GreaterThanOrEqualToThreshold")
        self._alarm("queue-age", f"The oldest batch message waited over {self._args.alarm_queue_age_seconds} s: "
                    "scoring is stuck or too slow. First check the batch function's errors and throttles.",
                    namespace="AWS/SQS", metric_name="ApproximateAgeOfOldestMessage",
                    dimensions={"QueueName": batch.queue.name}, statistic="Maximum",
                    threshold=self._args.alarm_queue_age_seconds, comparison_operator="GreaterThanThreshold")

    def _dashboard(self, function: aws.lambda_.Function, api: aws.apigatewayv2.Api, batch: BatchResources | None,
                   parent: pulumi.Resource) -> tuple[aws.cloudwatch.Dashboard, pulumi.Output[str]]:
        args = self._args
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=parent)).region
        parts: dict[str, Any] = {"region": region, "function": function.name, "api_id": api.id,
                                 "timeout_s": function.timeout}
        if batch is not None:
            parts.update(batch_function=batch.function.name, batch_timeout_s=batch.function.timeout,
                         queue=batch.queue.name, dead_letter_queue=batch.dead_letter_queue.name)
        names = pulumi.Output.all(**parts).apply(lambda resolved: dashboard.Names(
            **resolved, namespace=args.metrics_namespace, duration_alarm_percent=args.alarm_duration_percent,
            queue_age_alarm_s=args.alarm_queue_age_seconds if args.alarms else 0))
        # Named after the function, which Pulumi already made unique: two stacks in one account never collide.
        board = aws.cloudwatch.Dashboard(f"{self._name}-dashboard", dashboard_name=function.name,
                                         dashboard_body=names.apply(dashboard.body), opts=self._child)
        url = pulumi.Output.all(region, board.dashboard_name).apply(
            lambda p: f"https://{p[0]}.console.aws.amazon.com/cloudwatch/home?region={p[0]}#dashboards:name={p[1]}")
        return board, url
