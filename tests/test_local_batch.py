"""The batch path in local mode, end to end: incoming/ -> embedded SQS -> poller -> worker.handler -> predictions/."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import boto3
import numpy as np
import pytest

import hostile
from conftest import ROOT, EVENTS_DIR


def clients(ready: dict[str, str]):
    """S3 and SQS clients on the local API's embedded moto server."""
    endpoint = ready["s3_endpoint"]
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return session.client("s3", endpoint_url=endpoint), session.client("sqs", endpoint_url=endpoint)


def wait_for(s3, bucket: str, key: str, timeout: float = 60) -> dict:
    """Poll until an object exists; return it parsed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    pytest.fail(f"{key} did not appear within {timeout} s")


def test_ready_line_names_the_incoming_prefix(local_api: dict[str, str]) -> None:
    assert local_api["incoming_prefix"] == "incoming/"


def test_an_object_written_under_incoming_is_scored(local_api: dict[str, str], model_dir: Path) -> None:
    # given the local API, and the held-out batch written under incoming/ as a user would
    s3, _ = clients(local_api)
    X, y = np.load(model_dir / "test_features.npy"), np.load(model_dir / "test_labels.npy")
    s3.put_object(Bucket=local_api["bucket"], Key="incoming/local/held out.npy", Body=hostile.npy(X))
    # then predictions/ gets the result, as accurate as the API's
    out = wait_for(s3, local_api["bucket"], "predictions/local/held out.npy.json")
    assert out["count"] == len(y) and np.mean(np.array(out["predictions"]) == y) >= 0.97
    # and a poison object gets its errors/ file with the API's status
    s3.put_object(Bucket=local_api["bucket"], Key="incoming/local/canary.npy", Body=hostile.pickled_canary(Path("x")))
    assert wait_for(s3, local_api["bucket"], "errors/local/canary.npy.json")["status"] == 415


def test_a_message_failing_three_times_reaches_the_dead_letter_queue(local_api: dict[str, str]) -> None:
    # given a notification for an object that never becomes readable: a transient failure on every receive
    s3, sqs = clients(local_api)
    body = json.loads(json.loads((EVENTS_DIR / "sqs_s3_put.json").read_text())["Records"][0]["body"])
    body["Records"][0]["s3"]["bucket"]["name"] = local_api["bucket"]
    body["Records"][0]["s3"]["object"]["key"] = "incoming/dlq/never-written.npy"
    queue = sqs.get_queue_url(QueueName="mnist-local-batch")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="mnist-local-batch-dlq")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))["MessageId"]
    # when the poller has handed it to the handler three times
    deadline, dead = time.monotonic() + 60, []
    while time.monotonic() < deadline and not dead:
        dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]).get(
            "Messages", [])
    # then it sits in the dead-letter queue, and nothing was written for it
    assert [m["MessageId"] for m in dead] == [sent], "the message did not reach the dead-letter queue in 60 s"
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 3
    listed = s3.list_objects_v2(Bucket=local_api["bucket"], Prefix="errors/dlq/").get("KeyCount", 0)
    assert listed == 0


def run_client(*args: str) -> subprocess.CompletedProcess:
    """`python -m client ...` from the repository root."""
    env_keys = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    import os

    return subprocess.run([sys.executable, "-m", "client", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={**os.environ, **env_keys})


def test_client_batch_uploads_waits_and_prints_accuracy(local_api: dict[str, str], model_dir: Path,
                                                        tmp_path: Path) -> None:
    # given the held-out batch split into two files, and its labels
    X, y = np.load(model_dir / "test_features.npy"), np.load(model_dir / "test_labels.npy")
    np.save(tmp_path / "part-1.npy", X[:200])
    np.savetxt(tmp_path / "part-2.csv", X[200:], delimiter=",", fmt="%d")
    np.save(tmp_path / "labels.npy", y)
    # when the client sends them for batch scoring
    result = run_client("batch", str(tmp_path / "part-1.npy"), str(tmp_path / "part-2.csv"), "--bucket",
                        local_api["bucket"], "--labels", str(tmp_path / "labels.npy"), "--prefix", "cli/",
                        "--endpoint-url", local_api["s3_endpoint"], "--timeout", "60")
    # then both outputs are printed, then the accuracy over every row
    assert result.returncode == 0, result.stderr[-2000:]
    *outputs, last = result.stdout.strip().splitlines()
    assert [json.loads(line)["output"] for line in outputs] == ["predictions/cli/part-1.npy.json",
                                                                "predictions/cli/part-2.csv.json"]
    assert last.startswith("accuracy: ") and float(last.split()[1]) >= 0.97 and f"on {len(y)} rows" in last
    assert "scored 2/2" in result.stderr


def test_client_batch_reports_an_unscorable_file_on_one_line(local_api: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "narrow.csv").write_text("1,2,3\n")
    result = run_client("batch", str(tmp_path / "narrow.csv"), "--bucket", local_api["bucket"], "--wait",
                        "--prefix", "cli-bad/", "--endpoint-url", local_api["s3_endpoint"], "--timeout", "60")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "incoming/cli-bad/narrow.csv: HTTP 422" in line and "each row needs" in line


@pytest.mark.parametrize("args, message", [
    (["batch", "missing.npy", "--bucket", "b"], "error: file not found: missing.npy"),
    (["batch", "README.md", "--bucket", "b"], "is not a batch format"),
])
def test_client_batch_refuses_bad_files_before_uploading(args: list[str], message: str) -> None:
    result = run_client(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
