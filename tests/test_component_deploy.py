"""A first `pulumi up` on a fresh account, from any checkout: portable inputs, log names, the deployer policy."""

from __future__ import annotations

import json
import re
import shutil
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

import components.predictor as predictor
from conftest import ROOT
from test_component_resources import up

COMPONENT = "mnist:index:MnistPredictor"
POLICY = json.loads((ROOT / "docs" / "deployer-policy.json").read_text())

ECR_PUSH = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage"]
API = ["apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"]
# What the AWS provider calls to create, read, update and delete each resource type the stack records.
REQUIRED_ACTIONS: dict[str, list[str]] = {
    "aws:s3/bucket:Bucket": ["s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketTagging",
                             "s3:PutBucketTagging", "s3:GetBucketPolicy", "s3:ListBucketVersions",
                             "s3:DeleteObjectVersion"],  # the last two: force_destroy empties the bucket
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["s3:PutBucketPublicAccessBlock",
                                                               "s3:GetBucketPublicAccessBlock"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": [
        "s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"],
    "aws:s3/bucketPolicy:BucketPolicy": ["s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"],
    "aws:s3/bucketObjectv2:BucketObjectv2": ["s3:PutObject", "s3:GetObject", "s3:GetObjectTagging",
                                             "s3:DeleteObject"],
    "aws:ecr/repository:Repository": ["ecr:CreateRepository", "ecr:DescribeRepositories", "ecr:DeleteRepository",
                                      "ecr:PutImageScanningConfiguration", "ecr:ListTagsForResource",
                                      "ecr:TagResource", "ecr:ListImages", "ecr:BatchDeleteImage"],
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ["ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy",
                                                "ecr:DeleteLifecyclePolicy"],
    "docker-build:index:Image": ECR_PUSH,
    "aws:cloudwatch/logGroup:LogGroup": ["logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:DeleteLogGroup",
                                         "logs:PutRetentionPolicy", "logs:ListTagsForResource", "logs:TagResource"],
    "aws:iam/role:Role": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:TagRole", "iam:ListRolePolicies",
                          "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"],
    "aws:iam/rolePolicy:RolePolicy": ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"],
    # Lambda grants itself pulls from a same-account repository with the deployer's ECR policy rights.
    "aws:lambda/function:Function": ["lambda:CreateFunction", "lambda:GetFunction", "lambda:DeleteFunction",
                                     "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                                     "lambda:ListVersionsByFunction", "lambda:GetFunctionCodeSigningConfig",
                                     "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
                                     "lambda:PublishVersion", "lambda:TagResource", "iam:PassRole",
                                     "ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy", "ecr:BatchGetImage",
                                     "ecr:GetDownloadUrlForLayer"],
    "aws:lambda/alias:Alias": ["lambda:CreateAlias", "lambda:GetAlias", "lambda:UpdateAlias", "lambda:DeleteAlias"],
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": [
        "lambda:PutProvisionedConcurrencyConfig", "lambda:GetProvisionedConcurrencyConfig",
        "lambda:DeleteProvisionedConcurrencyConfig"],
    "aws:lambda/permission:Permission": ["lambda:AddPermission", "lambda:GetPolicy", "lambda:RemovePermission"],
    "aws:apigatewayv2/api:Api": API,
    "aws:apigatewayv2/integration:Integration": API,
    "aws:apigatewayv2/route:Route": API,
    # HTTP API access logging: API Gateway registers a log delivery and edits the logs resource policy.
    "aws:apigatewayv2/stage:Stage": [*API, "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                                     "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                                     "logs:DescribeResourcePolicies"],
    # Announced by the batch-scoring and operations work, granted ahead so their stacks deploy too.
    "aws:sqs/queue:Queue": ["sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
                            "sqs:DeleteQueue", "sqs:TagQueue", "sqs:ListQueueTags"],
    "aws:sqs/queuePolicy:QueuePolicy": ["sqs:SetQueueAttributes", "sqs:GetQueueAttributes"],
    "aws:lambda/eventSourceMapping:EventSourceMapping": ["lambda:CreateEventSourceMapping",
                                                         "lambda:GetEventSourceMapping",
                                                         "lambda:UpdateEventSourceMapping",
                                                         "lambda:DeleteEventSourceMapping"],
    "aws:s3/bucketNotification:BucketNotification": ["s3:PutBucketNotification", "s3:GetBucketNotification"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                                               "cloudwatch:DeleteAlarms", "cloudwatch:ListTagsForResource"],
    "aws:cloudwatch/dashboard:Dashboard": ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard",
                                           "cloudwatch:DeleteDashboards"],
    "aws:sns/topic:Topic": ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                            "sns:DeleteTopic", "sns:TagResource", "sns:ListTagsForResource"],
    "aws:sns/topicSubscription:TopicSubscription": ["sns:Subscribe", "sns:Unsubscribe",
                                                    "sns:GetSubscriptionAttributes",
                                                    "sns:SetSubscriptionAttributes"],
}
REQUIRED_FOR_CALLS = {"aws:ecr/getAuthorizationToken:getAuthorizationToken": ["ecr:GetAuthorizationToken"],
                      # the provider answers from its own configuration: no AWS call, no permission
                      "aws:index/getRegion:getRegion": []}
PROVIDER_START = ["sts:GetCallerIdentity"]  # the AWS provider checks its credentials first
AFTER_DEPLOY = ["execute-api:Invoke", "s3:PutObject"]  # docs/deploy.md's next steps: call the API, upload a batch


def granted(action: str) -> list[dict]:
    """The Allow statements of the deployer policy whose action patterns match `action` (IAM: case-insensitive)."""
    return [s for s in POLICY["Statement"] if s["Effect"] == "Allow"
            and any(fnmatchcase(action.lower(), pattern.lower()) for pattern in s["Action"])]


@pytest.fixture(scope="module")
def every_variant(function_dir: Path):
    """Deployments that together create every resource type: defaults, warm instances, public auth."""
    return [up(function_dir), up(function_dir, reserved_concurrency=2, provisioned_concurrency=1),
            up(function_dir, auth="none")]


def test_deployer_policy_grants_every_action_the_stack_needs(every_variant) -> None:
    types = {r["type"] for d in every_variant for r in d.mocks.resources if r["type"] != COMPONENT}
    calls = {c for d in every_variant for c in d.mocks.calls}
    unknown = sorted(types - REQUIRED_ACTIONS.keys())
    assert not unknown, f"add the IAM actions of {unknown} to REQUIRED_ACTIONS and docs/deployer-policy.json"
    needed = {a for t in types for a in REQUIRED_ACTIONS[t]} | {a for c in calls for a in REQUIRED_FOR_CALLS[c]}
    needed |= {*PROVIDER_START, *AFTER_DEPLOY}
    missing = sorted(a for a in needed if not granted(a))
    assert not missing, f"docs/deployer-policy.json does not grant {missing}"


def test_deployer_policy_is_one_managed_policy_without_wildcard_services() -> None:
    text = (ROOT / "docs" / "deployer-policy.json").read_text()
    assert POLICY["Version"] == "2012-10-17"
    assert len(re.sub(r"\s", "", text)) <= 6144  # IAM's size limit for a customer managed policy
    actions = [a for s in POLICY["Statement"] for a in s["Action"]]
    assert not [a for a in actions if a == "*" or a.endswith(":*")]
    # the role it creates can be handed to Lambda and nothing else
    (pass_role,) = granted("iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}


def stored_inputs(deployment) -> str:
    """Every recorded resource input as JSON, assets by the path Pulumi stores."""
    def encode(value: object) -> object:
        return {"asset": value.path} if hasattr(value, "path") else repr(value)

    resources = sorted((r["type"], r["name"], r["inputs"]) for r in deployment.mocks.resources)  # any order
    return json.dumps(resources, default=encode, sort_keys=True)


@pytest.mark.parametrize("layout", ["checkout", "installed"])
def test_stored_inputs_hold_no_absolute_path_and_match_from_two_checkouts(
        function_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    # given the same project in two places, with the function folder in the repository or pip-installed in .venv
    seen = []
    for place in ("laptop/src/mnist", "ci-runner/work/mnist"):
        project = tmp_path / place
        folder = project / ("function" if layout == "checkout" else
                            ".venv/lib/python3.12/site-packages/mnist_predictor/function")
        shutil.copytree(function_dir, folder)
        monkeypatch.chdir(project)  # Pulumi runs the program (and its providers) from the project folder
        # when each runs `pulumi up`, the folder given as an absolute path or found beside the installed package
        if layout == "checkout":
            deployment = up(folder)
        else:
            monkeypatch.setattr(predictor, "default_function_dir", lambda folder=folder: folder)
            deployment = up(None)
        inputs = stored_inputs(deployment)
        # then no input names where the project sits, and the build context still resolves to the real folder
        assert str(tmp_path) not in inputs and not re.search(r'"/(tmp|home|Users|work)/', inputs)
        image = deployment.mocks.one("docker-build:index:Image")
        assert (project / image["context"]["location"] / "Dockerfile").is_file()
        assert image["dockerfile"]["location"] == image["context"]["location"] + "/Dockerfile"
        seen.append(inputs)
    # and both checkouts store identical inputs, so neither rebuilds nor pushes for the other
    assert seen[0] == seen[1]


def test_access_log_groups_live_under_vendedlogs_named_per_project_stack_and_component(function_dir: Path) -> None:
    groups = {g["tags"]["purpose"]: g for g in up(function_dir).mocks.of_type("aws:cloudwatch/logGroup:LogGroup")}
    # the API's group is covered by the service's /aws/vendedlogs/* wildcard, so the account policy never grows
    assert groups["api-access"]["namePrefix"] == "/aws/vendedlogs/apigateway/mnist-test-demo-"
    assert "name" not in groups["api-access"]  # AWS appends a unique suffix: no clash across stacks or replacements
    assert "namePrefix" not in groups["function"]  # Lambda writes with its role, not through that policy


def test_a_reservation_says_what_account_quota_it_needs(function_dir: Path) -> None:
    assert not [m for m in up(function_dir).infos if "concurrency quota" in m]
    infos = up(function_dir, reserved_concurrency=5).infos
    assert any("holding 5 concurrent executions needs an account concurrency quota of at least 105" in m
               for m in infos)


def retrained(function_dir: Path, tmp_path: Path, metadata_text: str | None = None, **changes: object) -> Path:
    """A copy of the function folder whose metadata.json says something else."""
    folder = tmp_path / "function"
    shutil.copytree(function_dir, folder)
    metadata = folder / "model" / "metadata.json"
    metadata.write_text(metadata_text if metadata_text is not None
                        else json.dumps({**json.loads(metadata.read_text()), **changes}))
    return folder


def test_an_mnist_model_deploys_without_opting_in_and_the_preview_names_it(
        function_dir: Path, tmp_path: Path) -> None:
    folder = retrained(function_dir, tmp_path, dataset="mnist", n_features=784, n_train=16000, test_accuracy=0.966)
    deployment = up(folder, allow_digits_model=False)
    assert deployment.outputs["url"].endswith("/predict")
    assert ("demo: the image serves a model trained on the 'mnist' dataset (784 pixels a row, 16000 training rows, "
            "held-out accuracy 0.9660)") in deployment.infos


def test_a_digits_model_is_refused_by_the_component_naming_the_opt_in(function_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"^demo: the baked model was trained on the 8x8 'digits' dataset") as error:
        up(function_dir, allow_digits_model=False)
    assert "mnist:allowDigitsModel" in str(error.value) and "allow_digits_model=True" in str(error.value)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"], ids=["not json", "not an object"])
def test_unreadable_model_metadata_fails_the_preview_saying_to_retrain(
        function_dir: Path, tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match=r"metadata.json is (unreadable|not a JSON object).*run `python -m training`"):
        up(retrained(function_dir, tmp_path, metadata_text=text))
