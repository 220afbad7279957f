"""The local poller plays Lambda's event source mapping: Lambda-shaped records, only successes deleted."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3

from function.local.sqs import start_batch_path

BUCKET = "mnist-test-poller"


def test_poller_hands_lambda_shaped_records_and_deletes_only_successes(s3_server: str) -> None:
    # given a bucket wired to the embedded queue, and a handler that fails each message on its first receive
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    seen: list[dict[str, Any]] = []
    settled = threading.Event()

    def handler(event: dict, context: Any) -> dict:
        seen.extend(event["Records"])
        first = [r["messageId"] for r in event["Records"] if r["attributes"]["ApproximateReceiveCount"] == "1"]
        if any("Records" in r["body"] and r["attributes"]["ApproximateReceiveCount"] == "2" for r in event["Records"]):
            settled.set()
        return {"batchItemFailures": [{"itemIdentifier": m} for m in first]}

    path = start_batch_path(s3_server, BUCKET, handler)
    try:
        # when an object is written under incoming/ (and one elsewhere, which the notification filters out)
        s3.put_object(Bucket=BUCKET, Key="elsewhere/x.npy", Body=b"x")
        s3.put_object(Bucket=BUCKET, Key="incoming/x y.npy", Body=b"x")
        assert settled.wait(30), "the failed message did not come back"
        time.sleep(1.5)  # one more retry window: a deleted message must not come back
    finally:
        path.stop()
    # then the handler saw the same message twice, as Lambda would send it, and never again once it succeeded
    objects = [json.loads(r["body"])["Records"][0]["s3"]["object"]["key"] for r in seen if "Records" in r["body"]]
    assert objects == ["incoming%2Fx+y.npy", "incoming%2Fx+y.npy"] or objects == ["incoming/x+y.npy"] * 2
    record = seen[-1]
    assert {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "eventSource",
            "eventSourceARN", "awsRegion"} <= set(record)
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(":mnist-local-batch")
    assert [r["attributes"]["ApproximateReceiveCount"] for r in seen if "Records" in r["body"]] == ["1", "2"]
    assert path.incoming_prefix == "incoming/"
