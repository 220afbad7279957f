"""Batch scoring resources: S3 incoming/ -> SQS (+ dead-letter queue) -> a batch function -> predictions/."""

import json

import pulumi
import pulumi_aws as aws

from . import operations, policies
from .args import MnistPredictorArgs

INCOMING_PREFIX = "incoming/"
OUTPUT_PREFIXES = ("predictions/", "errors/")
HANDLER = "worker.handler"
MAX_RECEIVES = 3
# AWS advises a visibility timeout of at least six times the function's timeout for an SQS event source.
VISIBILITY_FACTOR = 6
DLQ_RETENTION_S = 14 * 24 * 3600  # SQS's maximum: two weeks to inspect and redrive what failed


def read_incoming(bucket_arn: str) -> str:
    """Read objects under incoming/ only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/{INCOMING_PREFIX}*"}]})


def write_outputs(bucket_arn: str) -> str:
    """Write predictions/ and errors/ only: no write reaches incoming/, so outputs can never trigger a run."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": [f"{bucket_arn}/{p}*" for p in OUTPUT_PREFIXES]}]})


def consume_queue(queue_arn: str) -> str:
    """The SQS actions Lambda's event source mapping needs, on this queue only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
         "Resource": queue_arn}]})


def bucket_may_send(queue_arn: str, bucket_arn: str) -> str:
    """Only S3, on behalf of this bucket in this account, may send; and only over TLS."""
    account = queue_arn.split(":")[4] if queue_arn else None  # arn:aws:sqs:region:ACCOUNT:name
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "BucketNotifications", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
         "Action": "sqs:SendMessage", "Resource": queue_arn,
         "Condition": {"ArnEquals": {"aws:SourceArn": bucket_arn}, "StringEquals": {"aws:SourceAccount": account}}},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


class BatchScoring:
    """The queue pair, the notification, the batch function and its mapping; children of the given component."""

    def __init__(self, name: str, args: MnistPredictorArgs, bucket: aws.s3.Bucket, image_uri: pulumi.Output[str],
                 parent: pulumi.Resource) -> None:
        self._name, self._args, self._parent = name, args, parent
        self._child = pulumi.ResourceOptions(parent=parent)
        self.dead_letter_queue, self.queue = self._queues()
        self._notification(bucket)
        self.batch_function = self._function(bucket, image_uri)

    def _queues(self) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
        args, n = self._args, self._name
        # SQS-managed keys: S3 can send to them, which it cannot to a queue under the AWS-managed KMS key.
        dlq = aws.sqs.Queue(f"{n}-batch-dlq", sqs_managed_sse_enabled=True, message_retention_seconds=DLQ_RETENTION_S,
                            tags=args.tags, opts=self._child)
        queue = aws.sqs.Queue(
            f"{n}-batch-queue", sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=VISIBILITY_FACTOR * args.batch_timeout,
            redrive_policy=dlq.arn.apply(lambda arn: json.dumps({"deadLetterTargetArn": arn,
                                                                 "maxReceiveCount": MAX_RECEIVES})),
            tags=args.tags, opts=self._child)
        return dlq, queue

    def _notification(self, bucket: aws.s3.Bucket) -> None:
        n = self._name
        queue_policy = aws.sqs.QueuePolicy(
            f"{n}-batch-queue-policy", queue_url=self.queue.url,
            policy=pulumi.Output.all(self.queue.arn, bucket.arn).apply(lambda arns: bucket_may_send(*arns)),
            opts=self._child)
        # S3 checks that it may send when the notification is created: the queue policy must exist first.
        aws.s3.BucketNotification(
            f"{n}-batch-notification", bucket=bucket.id,
            queues=[{"queue_arn": self.queue.arn, "events": ["s3:ObjectCreated:*"], "filter_prefix": INCOMING_PREFIX}],
            opts=pulumi.ResourceOptions(parent=self._parent, depends_on=[queue_policy]))

    def _function(self, bucket: aws.s3.Bucket, image_uri: pulumi.Output[str]) -> aws.lambda_.Function:
        args, n = self._args, self._name
        log_group = aws.cloudwatch.LogGroup(f"{n}-batch-logs", retention_in_days=args.log_retention_days,
                                            tags={**args.tags, "purpose": "batch-function"}, opts=self._child)
        role = aws.iam.Role(f"{n}-batch-role", assume_role_policy=policies.lambda_trust(), tags=args.tags,
                            opts=self._child)
        documents = {"write-logs": log_group.arn.apply(policies.write_logs),
                     "read-incoming": bucket.arn.apply(read_incoming),
                     "write-outputs": bucket.arn.apply(write_outputs),
                     "consume-queue": self.queue.arn.apply(consume_queue)}
        if args.tracing:
            documents["send-traces"] = operations.xray_policy()
        grants = [aws.iam.RolePolicy(f"{n}-batch-{what}", role=role.id, policy=document, opts=self._child)
                  for what, document in documents.items()]
        function = aws.lambda_.Function(
            f"{n}-batch-fn", package_type="Image", image_uri=image_uri,
            image_config={"commands": [HANDLER]},  # the same image as the API, another entry point
            role=role.arn, architectures=[args.architecture], memory_size=args.batch_memory_size,
            timeout=args.batch_timeout,
            environment={"variables": {"ALLOWED_BUCKETS": bucket.bucket, "LOG_LEVEL": "INFO",
                                       **operations.function_environment(args)}},
            tracing_config=operations.tracing_config(args),
            logging_config={"log_format": "JSON", "log_group": log_group.name, "application_log_level": "INFO",
                            "system_log_level": "WARN"},
            tags=args.tags, opts=pulumi.ResourceOptions(parent=self._parent, depends_on=[*grants, log_group]))
        # Lambda checks the role can read the queue when the mapping is created.
        aws.lambda_.EventSourceMapping(
            f"{n}-batch-mapping", event_source_arn=self.queue.arn, function_name=function.arn,
            batch_size=args.batch_size, function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": args.batch_max_concurrency},
            opts=pulumi.ResourceOptions(parent=self._parent, depends_on=grants))
        return function
