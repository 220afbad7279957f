"""Batch scoring resources under Pulumi mocks: queues, notification, mapping, least privilege, config, opt-out."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from components import MnistPredictor, MnistPredictorArgs
from conftest import ACCOUNT, REGION, deploy
from test_component_program import run_program, trained_function_dir  # noqa: F401 - a fixture

BUCKET_ARN = "arn:aws:s3:::demo-data-1a2b3c"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:demo-batch-queue"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:demo-batch-dlq"
S3_WRITES = ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl", "s3:PutObjectTagging", "s3:RestoreObject")


def up(function_dir: Path, **settings: object):
    """Deploy one MnistPredictor named 'demo'; also reports which batch attributes are resources."""
    settings.setdefault("allow_digits_model", True)  # the fixture model is digits

    def program() -> dict:
        predictor = MnistPredictor("demo", MnistPredictorArgs(function_dir=str(function_dir), **settings))
        exposed = {name: getattr(predictor, name) is not None for name in ("batch_function", "queue", "dead_letter_queue")}
        return {"incoming_prefix": predictor.incoming_prefix, "queue_url": predictor.queue_url,
                "api_fn": predictor.function_name, "exposed": exposed}

    return deploy(program)


@pytest.fixture(scope="module")
def default(function_dir: Path):
    """The component with default settings: batch scoring on."""
    return up(function_dir)


def statements_of(deployment, role: str) -> list[dict]:
    """Every statement of the inline policies of one role."""
    return [s for p in deployment.mocks.of_type("aws:iam/rolePolicy:RolePolicy") if p["role"] == f"{role}-id"
            for s in json.loads(p["policy"])["Statement"]]


def as_list(value: str | list[str]) -> list[str]:
    """An IAM Action or Resource as a list."""
    return [value] if isinstance(value, str) else value


def test_outputs_and_attributes_name_the_prefix_the_queue_and_the_resources(default) -> None:
    assert default.outputs["incoming_prefix"] == "incoming/"
    assert default.outputs["queue_url"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/demo-batch-queue"
    assert default.outputs["exposed"] == {"batch_function": True, "queue": True, "dead_letter_queue": True}


def test_queues_are_encrypted_and_redrive_after_three_receives(default) -> None:
    queue, dlq = default.mocks.named("demo-batch-queue"), default.mocks.named("demo-batch-dlq")
    assert queue["sqsManagedSseEnabled"] is True and dlq["sqsManagedSseEnabled"] is True
    assert json.loads(queue["redrivePolicy"]) == {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 3}
    assert dlq["messageRetentionSeconds"] == 14 * 24 * 3600


def test_visibility_timeout_is_six_times_the_batch_timeout(default, function_dir: Path) -> None:
    assert default.mocks.named("demo-batch-queue")["visibilityTimeoutSeconds"] == 6 * 300
    deployment = up(function_dir, batch_timeout=900)
    assert deployment.mocks.named("demo-batch-queue")["visibilityTimeoutSeconds"] == 5400
    assert deployment.mocks.named("demo-batch-fn")["timeout"] == 900


def test_only_this_bucket_in_this_account_may_send_to_the_queue(default) -> None:
    policy = default.mocks.named("demo-batch-queue-policy")
    assert policy["queueUrl"] == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/demo-batch-queue"
    allow, deny = json.loads(policy["policy"])["Statement"]
    assert allow == {"Sid": "BucketNotifications", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                     "Action": "sqs:SendMessage", "Resource": QUEUE_ARN,
                     "Condition": {"ArnEquals": {"aws:SourceArn": BUCKET_ARN},
                                   "StringEquals": {"aws:SourceAccount": ACCOUNT}}}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_object_created_under_incoming_notifies_the_queue_after_its_policy_exists(default) -> None:
    notification = default.mocks.named("demo-batch-notification")
    assert notification["bucket"] == "demo-data-id"
    assert notification["queues"] == [{"queueArn": QUEUE_ARN, "events": ["s3:ObjectCreated:*"],
                                       "filterPrefix": "incoming/"}]
    monitor = default.monitor
    assert monitor.urns["demo-batch-queue-policy"] in monitor.dependencies["demo-batch-notification"]
    names = [r["name"] for r in default.mocks.resources]
    assert names.index("demo-batch-queue-policy") < names.index("demo-batch-notification")


def test_batch_function_is_the_same_image_with_the_worker_entry_point(default) -> None:
    api, batch = default.mocks.named("demo-fn"), default.mocks.named("demo-batch-fn")
    assert batch["imageUri"] == api["imageUri"] and "@sha256:" in batch["imageUri"]
    assert batch["imageConfig"] == {"commands": ["worker.handler"]} and "imageConfig" not in api
    assert (batch["memorySize"], batch["timeout"], batch["architectures"]) == (1024, 300, ["x86_64"])
    assert batch["environment"]["variables"] == {"ALLOWED_BUCKETS": "demo-data-1a2b3c", "LOG_LEVEL": "INFO",
                                                  "METRICS_NAMESPACE": "MnistPredictor"}
    assert batch["loggingConfig"]["logGroup"] == "demo-batch-logs-6f7a" and batch["role"].endswith("demo-batch-role-8b9c")


def test_mapping_reports_item_failures_and_caps_concurrency_after_its_grants(default) -> None:
    mapping = default.mocks.named("demo-batch-mapping")
    assert mapping["eventSourceArn"] == QUEUE_ARN and mapping["functionName"].endswith("function:demo-batch-fn-0d1e")
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["scalingConfig"] == {"maximumConcurrency": 10} and mapping["batchSize"] == 1
    monitor = default.monitor
    assert monitor.urns["demo-batch-consume-queue"] in monitor.dependencies["demo-batch-mapping"]


def test_batch_role_is_least_privilege(default) -> None:
    by_action = lambda s: str(s["Action"])  # noqa: E731
    assert sorted(statements_of(default, "demo-batch-role"), key=by_action) == sorted([
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:demo-batch-logs-6f7a:*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/incoming/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": [f"{BUCKET_ARN}/predictions/*", f"{BUCKET_ARN}/errors/*"]},
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
         "Resource": QUEUE_ARN},
    ], key=by_action)
    # and the API's role gained nothing
    assert {s["Action"] for s in statements_of(default, "demo-role") if isinstance(s["Action"], str)} == {
        "s3:GetObject", "s3:ListBucket"}


def test_no_role_may_write_under_incoming(default) -> None:
    writes = [(action, resource) for p in default.mocks.of_type("aws:iam/rolePolicy:RolePolicy")
              for s in json.loads(p["policy"])["Statement"] if s["Effect"] == "Allow"
              for action in as_list(s["Action"]) for resource in as_list(s["Resource"])
              if any(fnmatch.fnmatch(write, action) for write in S3_WRITES)]  # the action may be a wildcard
    assert writes, "the batch role writes its outputs"
    assert not [w for w in writes if fnmatch.fnmatch(f"{BUCKET_ARN}/incoming/x.npy", w[1])]


def test_settings_reach_the_function_and_the_mapping(function_dir: Path) -> None:
    deployment = up(function_dir, batch_memory_size=2048, batch_max_concurrency=100, batch_size=5,
                    architecture="arm64", log_retention_days=30)
    batch = deployment.mocks.named("demo-batch-fn")
    assert batch["memorySize"] == 2048 and batch["architectures"] == ["arm64"]
    mapping = deployment.mocks.named("demo-batch-mapping")
    assert mapping["scalingConfig"] == {"maximumConcurrency": 100} and mapping["batchSize"] == 5
    assert deployment.mocks.named("demo-batch-logs")["retentionInDays"] == 30


def test_batch_false_leaves_it_all_out(function_dir: Path) -> None:
    deployment = up(function_dir, batch=False)
    types = {r["type"] for r in deployment.mocks.resources}
    assert not types & {"aws:sqs/queue:Queue", "aws:sqs/queuePolicy:QueuePolicy", "aws:s3/bucketNotification:BucketNotification",
                        "aws:lambda/eventSourceMapping:EventSourceMapping"}
    assert len(deployment.mocks.of_type("aws:lambda/function:Function")) == 1
    assert not any(r["name"].startswith("demo-batch") for r in deployment.mocks.resources)
    assert deployment.outputs["incoming_prefix"] == deployment.outputs["queue_url"] == ""
    assert deployment.outputs["exposed"] == {"batch_function": False, "queue": False, "dead_letter_queue": False}


@pytest.mark.parametrize("settings, message", [
    ({"batch": "yes"}, "batch must be true or false"),
    ({"batch_memory_size": 64}, "batch_memory_size must be a whole number between 128 and 10240"),
    ({"batch_timeout": 901}, "batch_timeout must be a whole number between 1 and 900"),
    ({"batch_max_concurrency": 1}, "batch_max_concurrency must be a whole number between 2 and 1000"),
    ({"batch_max_concurrency": 1001}, "between 2 and 1000"),
    ({"batch_size": 11}, "batch_size must be a whole number between 1 and 10"),
], ids=lambda v: str(v)[:30])
def test_bad_batch_args_fail_fast_naming_the_allowed_values(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MnistPredictorArgs(**settings)


def test_stack_config_keys_map_onto_the_batch_settings(trained_function_dir: None) -> None:
    deployment = run_program({"batchMemorySize": "3008", "batchTimeout": "600", "batchMaxConcurrency": "50",
                              "batchSize": "2"})
    batch, mapping = deployment.mocks.named("mnist-batch-fn"), deployment.mocks.named("mnist-batch-mapping")
    assert (batch["memorySize"], batch["timeout"]) == (3008, 600)
    assert mapping["scalingConfig"] == {"maximumConcurrency": 50} and mapping["batchSize"] == 2
    assert deployment.mocks.named("mnist-batch-queue")["visibilityTimeoutSeconds"] == 3600
    assert deployment.outputs["incoming_prefix"] == "incoming/" and deployment.outputs["queue_url"].endswith("/mnist-batch-queue")


def test_batch_false_in_stack_config_drops_the_resources_and_the_exports(trained_function_dir: None) -> None:
    deployment = run_program({"batch": "false"})
    assert not deployment.mocks.of_type("aws:sqs/queue:Queue")
    assert "incoming_prefix" not in deployment.outputs and "queue_url" not in deployment.outputs


@pytest.mark.parametrize("config, message", [
    ({"batchTimeout": "1000"}, "mnist:batchTimeout: batch_timeout must be a whole number between 1 and 900"),
    ({"batchMaxConcurrency": "1"}, "mnist:batchMaxConcurrency: batch_max_concurrency must be"),
    ({"batchSize": "20"}, "mnist:batchSize: batch_size must be"),
    ({"batchMemorySize": "100"}, "mnist:batchMemorySize: batch_memory_size must be"),
], ids=["timeout", "concurrency", "size", "memory"])
def test_bad_batch_config_names_the_key(trained_function_dir: None, config: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        run_program(config)
