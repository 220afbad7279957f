"""The local batch path: an embedded SQS queue and dead-letter queue, S3 notifications for incoming/, and a poller.

The poller plays Lambda's event source mapping: it receives messages, hands them to worker.handler as the same
records (messageId, receiptHandle, body, attributes, eventSource...), deletes only the messages that succeeded,
and leaves the batch item failures on the queue, where the third receive sends them to the dead-letter queue.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INCOMING_PREFIX = "incoming/"
QUEUE, DEAD_LETTER_QUEUE = "mnist-local-batch", "mnist-local-batch-dlq"
MAX_RECEIVES = 3
BATCH_SIZE = 1  # as the component's default: one object per invocation
BATCH_TIMEOUT_S = 300.0
# Lambda leaves a failed message invisible for the rest of its visibility timeout; locally it comes back after a
# second, so a retry (and the dead-letter queue) is seen at once. The long timeout covers a slow object.
RETRY_AFTER_S = 1
VISIBILITY_S = 6 * int(BATCH_TIMEOUT_S)

logger = logging.getLogger("mnist.local.batch")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class BatchPath:
    """A running poller; stop() ends it within about a second."""

    queue_url: str
    dead_letter_queue_url: str
    incoming_prefix: str = INCOMING_PREFIX
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop polling; an object still being scored is abandoned (its message would come back, as on AWS)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a daemon thread: Ctrl-C must not wait for a million rows


def _queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def start_batch_path(endpoint: str, bucket: str, handler: Handler | None = None) -> BatchPath:
    """Create the queues and the bucket notification on the moto server at `endpoint`, and start the poller."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint)
    dlq_url, dlq_arn = _queue(sqs, DEAD_LETTER_QUEUE, {})
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})
    url, arn = _queue(sqs, QUEUE, {"VisibilityTimeout": str(VISIBILITY_S), "RedrivePolicy": redrive})
    boto3.client("s3", endpoint_url=endpoint).put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": INCOMING_PREFIX}]}}}]})
    # worker.py is imported like app.py: function/ is on sys.path as Lambda's task root.
    path = BatchPath(url, dlq_url)
    handler = handler or importlib.import_module("worker").handler
    path._thread = threading.Thread(target=_poll, args=(sqs, url, arn, handler, path._stop), name="batch-poller",
                                    daemon=True)
    path._thread.start()
    return path


def to_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as a record of the event Lambda's event source mapping sends."""
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": message.get("Attributes", {}), "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
            "awsRegion": region}


def _poll(sqs: Any, url: str, arn: str, handler: Handler, stop: threading.Event) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from function.local.adapter import LocalContext

    while not stop.is_set():
        try:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH_SIZE, WaitTimeSeconds=1,
                                           MessageSystemAttributeNames=["All"]).get("Messages", [])
        except (BotoCoreError, ClientError):
            stop.wait(1)  # the embedded server is stopping, or busy: try again
            continue
        if not messages:
            continue
        event = {"Records": [to_record(m, arn, sqs.meta.region_name) for m in messages]}
        context = LocalContext(timeout_s=BATCH_TIMEOUT_S, function_name="mnist-local-batch", memory_limit_in_mb=1024)
        try:
            result = handler(event, context)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:  # as Lambda does when an invocation fails: every message comes back
            logger.exception("the batch handler raised; every message of the batch will be retried")
            failed = {m["MessageId"] for m in messages}
        try:
            done = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
                    if m["MessageId"] not in failed]
            again = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": RETRY_AFTER_S}
                     for n, m in enumerate(messages) if m["MessageId"] in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=url, Entries=done)
            if again:
                sqs.change_message_visibility_batch(QueueUrl=url, Entries=again)
        except (BotoCoreError, ClientError):
            logger.warning("could not settle a batch; its messages come back after the visibility timeout")
