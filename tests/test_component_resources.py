"""MnistPredictor under Pulumi mocks: every resource input that makes it secure, correct and reusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import MnistPredictor, MnistPredictorArgs
from components.predictor import default_function_dir
from conftest import FUNCTION_DIR, deploy

COMPONENT = "mnist:index:MnistPredictor"
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # pulumi.runtime.rpc._special_sig_key


def up(function_dir: Path | None, **settings: object):
    """Deploy one MnistPredictor named 'demo' under mocks (the fixture model is digits, so it opts in)."""
    settings.setdefault("allow_digits_model", True)

    def program() -> dict:
        folder = str(function_dir) if function_dir else None  # None: the folder shipped with the package
        predictor = MnistPredictor("demo", MnistPredictorArgs(function_dir=folder, **settings))
        return {name: getattr(predictor, name) for name in (
            "url", "bucket_name", "function_name", "repository_url", "image_uri", "api_id", "log_group_name",
            "sample_key", "incoming_prefix", "queue_url")}

    return deploy(program)


@pytest.fixture(scope="module")
def default(function_dir: Path):
    """The component with default settings."""
    return up(function_dir)


def test_outputs_are_registered_and_the_url_ends_in_predict_once(default) -> None:
    assert default.outputs["url"] == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/predict"
    assert default.outputs["image_uri"].endswith("@sha256:" + "ab12" * 16)
    assert default.outputs["bucket_name"] == "demo-data-1a2b3c" and default.outputs["sample_key"] == "samples/test_features.npy"
    assert default.outputs["function_name"] == "demo-fn-0d1e" and default.outputs["api_id"] == "a1b2c3d4e5"
    assert default.outputs["log_group_name"] == "demo-fn-logs-6f7a"
    (registered,) = [v for urn, v in default.monitor.registered_outputs.items() if urn.endswith(f"{COMPONENT}::demo")]
    assert set(registered) == {"url", "bucket_name", "function_name", "repository_url", "image_uri", "api_id",
                               "log_group_name", "sample_key", "dashboard_url", "incoming_prefix", "queue_url"}


def test_every_child_is_parented_to_the_component_and_named_from_it(default) -> None:
    component_urn = default.monitor.urns["demo"]
    assert component_urn.endswith(f"{COMPONENT}::demo")
    children = [r["name"] for r in default.mocks.resources if r["type"] != COMPONENT]
    assert len(children) >= 18
    assert all(default.monitor.parents[name] == component_urn for name in children)
    assert all(name.startswith("demo-") for name in children)


def test_lambda_is_an_image_pinned_by_digest_with_lean_settings(default) -> None:
    fn = default.mocks.named("demo-fn")
    assert fn["packageType"] == "Image" and "@sha256:" in fn["imageUri"]
    assert fn["architectures"] == ["x86_64"] and fn["memorySize"] == 256 and fn["timeout"] <= 29
    assert fn["environment"]["variables"] == {"ALLOWED_BUCKETS": "demo-data-1a2b3c", "LOG_LEVEL": "INFO",
                                              "METRICS_NAMESPACE": "MnistPredictor"}
    assert fn["loggingConfig"]["logFormat"] == "JSON" and fn["loggingConfig"]["logGroup"] == "demo-fn-logs-6f7a"
    assert fn["reservedConcurrentExecutions"] == -1 and not fn.get("publish")  # unreserved: new accounts deploy
    retention = {g["retentionInDays"] for g in default.mocks.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert retention == {14}


@pytest.mark.parametrize("architecture, platform", [("x86_64", "linux/amd64"), ("arm64", "linux/arm64")])
def test_image_platform_matches_the_lambda_architecture(function_dir: Path, architecture: str, platform: str) -> None:
    deployment = up(function_dir, architecture=architecture)
    image = deployment.mocks.one("docker-build:index:Image")
    # one platform, pushed, and no knob that would add attestations: a single-platform manifest for Lambda
    assert image["platforms"] == [platform] and image["push"] is True
    assert not {"exports", "cacheTo", "builder", "exec", "load"} & set(image)
    assert {tuple(f["architectures"]) for f in deployment.mocks.of_type("aws:lambda/function:Function")} == {
        (architecture,)}


def test_image_is_pushed_with_an_ecr_token_kept_secret(default) -> None:
    image = default.mocks.one("docker-build:index:Image")
    assert image["tags"] == ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-repo-4d5e:latest"]
    # The password makes the registry list a secret: on the wire it arrives wrapped in Pulumi's secret signature.
    assert image["registries"].get(SECRET_SIGNATURE) == "1b47061264138c4ac30d75fd1eb44270"
    (registry,) = image["registries"]["value"]
    assert registry["username"] == "AWS" and registry["password"] == "ecr-password"
    assert registry["address"].endswith("demo-repo-4d5e")
    assert "aws:ecr/getAuthorizationToken:getAuthorizationToken" in default.mocks.calls


def test_ecr_repository_deletes_with_images_scans_and_keeps_recent_images(default) -> None:
    repo = default.mocks.one("aws:ecr/repository:Repository")
    assert repo["forceDelete"] is True and repo["imageScanningConfiguration"] == {"scanOnPush": True}
    rule = json.loads(default.mocks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")["policy"])["rules"][0]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10}
    assert rule["action"] == {"type": "expire"}


def test_iam_role_is_least_privilege(default) -> None:
    role = default.mocks.named("demo-role")
    assert json.loads(role["assumeRolePolicy"])["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert not role.get("managedPolicyArns")
    assert not default.mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    statements = sorted((s for p in default.mocks.of_type("aws:iam/rolePolicy:RolePolicy") if p["role"] == "demo-role-id"
                         for s in json.loads(p["policy"])["Statement"]), key=lambda s: str(s["Action"]))
    assert statements == [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "arn:aws:logs:eu-west-1:123456789012:log-group:demo-fn-logs-6f7a:*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::demo-data-1a2b3c/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::demo-data-1a2b3c"},  # 404, not 403
    ]


def test_input_prefix_narrows_the_read_permission(function_dir: Path) -> None:
    deployment = up(function_dir, input_prefix="batches/")
    policies = [json.loads(p["policy"]) for p in deployment.mocks.of_type("aws:iam/rolePolicy:RolePolicy")
                if p["role"] == "demo-role-id"]
    reads = [s for p in policies for s in p["Statement"] if s["Action"] == "s3:GetObject"]
    assert reads == [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::demo-data-1a2b3c/batches/*"}]
    # listing (so a missing key answers 404, not 403) reaches no further than reading
    lists = [s for p in policies for s in p["Statement"] if s["Action"] == "s3:ListBucket"]
    assert lists == [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::demo-data-1a2b3c",
                      "Condition": {"StringLike": {"s3:prefix": "batches/*"}}}]
    assert deployment.outputs["sample_key"] == "batches/samples/test_features.npy"


def test_bucket_is_private_encrypted_and_tls_only(default) -> None:
    assert default.mocks.one("aws:s3/bucket:Bucket")["forceDestroy"] is True
    block = default.mocks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    sse = default.mocks.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    # AES256 alone: an S3 bucket key only applies to SSE-KMS, so setting one here would promise nothing
    assert sse["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    (statement,) = json.loads(default.mocks.one("aws:s3/bucketPolicy:BucketPolicy")["policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == ["arn:aws:s3:::demo-data-1a2b3c", "arn:aws:s3:::demo-data-1a2b3c/*"]
    sample = default.mocks.one("aws:s3/bucketObjectv2:BucketObjectv2")
    assert sample["key"] == "samples/test_features.npy"


def test_force_destroy_and_sample_upload_can_be_turned_off(function_dir: Path) -> None:
    deployment = up(function_dir, force_destroy=False, upload_sample=False)
    assert deployment.mocks.one("aws:s3/bucket:Bucket")["forceDestroy"] is False
    assert not deployment.mocks.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert deployment.outputs["sample_key"] == ""


def test_http_api_proxies_post_predict_with_iam_auth_by_default(default) -> None:
    assert default.mocks.one("aws:apigatewayv2/api:Api")["protocolType"] == "HTTP"
    integration = default.mocks.one("aws:apigatewayv2/integration:Integration")
    assert integration["integrationType"] == "AWS_PROXY" and integration["payloadFormatVersion"] == "2.0"
    assert integration["integrationUri"].endswith("/invocations") and integration["timeoutMilliseconds"] <= 30_000
    route = default.mocks.one("aws:apigatewayv2/route:Route")
    assert route["routeKey"] == "POST /predict" and route["authorizationType"] == "AWS_IAM"
    assert route["target"] == "integrations/demo-integration-id"
    assert not default.warnings


def test_stage_auto_deploys_throttles_and_logs_json(default) -> None:
    stage = default.mocks.one("aws:apigatewayv2/stage:Stage")
    assert stage["name"] == "$default" and stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"] == {"throttlingBurstLimit": 20, "throttlingRateLimit": 10}
    assert stage["accessLogSettings"]["destinationArn"].endswith(
        "log-group:/aws/vendedlogs/apigateway/mnist-test-demo-6f7a")
    assert json.loads(stage["accessLogSettings"]["format"])["requestId"] == "$context.requestId"


def test_invoke_permission_is_scoped_to_this_api_and_route(default) -> None:
    permission = default.mocks.one("aws:lambda/permission:Permission")
    assert permission["action"] == "lambda:InvokeFunction" and permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/POST/predict"
    assert permission["function"] == "demo-fn-0d1e"


def test_public_auth_is_an_explicit_opt_in_with_a_warning(function_dir: Path) -> None:
    deployment = up(function_dir, auth="none")
    routes = {r["routeKey"]: r for r in deployment.mocks.of_type("aws:apigatewayv2/route:Route")}
    assert routes["POST /predict"]["authorizationType"] == "NONE"
    assert any("public" in warning for warning in deployment.warnings)


def test_public_api_also_serves_the_drawing_page_from_the_same_function(function_dir: Path) -> None:
    # given a stack deployed with auth none
    deployment = up(function_dir, auth="none")
    # then GET / is routed to the function's integration, and API Gateway may invoke the function for it
    routes = {r["routeKey"]: r for r in deployment.mocks.of_type("aws:apigatewayv2/route:Route")}
    assert set(routes) == {"POST /predict", "GET /"}
    assert routes["GET /"]["target"] == routes["POST /predict"]["target"] == "integrations/demo-integration-id"
    assert routes["GET /"]["authorizationType"] == "NONE"
    arns = {p["sourceArn"] for p in deployment.mocks.of_type("aws:lambda/permission:Permission")}
    assert arns == {"arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/POST/predict",
                    "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/GET/"}


def test_with_iam_auth_there_is_no_page_route(default) -> None:
    # a browser cannot sign SigV4, so under IAM auth the page is local only: no GET / route, no permission for it
    assert [r["routeKey"] for r in default.mocks.of_type("aws:apigatewayv2/route:Route")] == ["POST /predict"]
    assert len(default.mocks.of_type("aws:lambda/permission:Permission")) == 1


def test_provisioned_concurrency_publishes_and_routes_through_an_alias(function_dir: Path) -> None:
    deployment = up(function_dir, provisioned_concurrency=2, reserved_concurrency=None, throttling_rate_limit=2.5)
    fn = deployment.mocks.named("demo-fn")
    assert fn["publish"] is True and fn["reservedConcurrentExecutions"] == -1
    alias = deployment.mocks.one("aws:lambda/alias:Alias")
    assert alias["name"] == "live" and alias["functionVersion"] == "1"
    warm = deployment.mocks.one("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
    assert warm["provisionedConcurrentExecutions"] == 2 and warm["qualifier"] == "live"
    assert deployment.mocks.one("aws:apigatewayv2/integration:Integration")["integrationUri"].endswith("alias/invocations")
    assert deployment.mocks.one("aws:lambda/permission:Permission")["qualifier"] == "live"


def test_missing_model_fails_at_preview_saying_to_train(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(FileNotFoundError, match="run `python -m training`"):
        up(tmp_path)


def test_function_folder_defaults_to_the_one_beside_the_package() -> None:
    assert default_function_dir() == FUNCTION_DIR


@pytest.mark.parametrize(
    "settings, message",
    [({"architecture": "arm"}, "architecture must be 'x86_64' or 'arm64', got 'arm'"),
     ({"auth": "apikey"}, "auth must be 'iam' or 'none'"),
     ({"memory_size": 64}, "memory_size must be a whole number between 128 and 10240"),
     ({"memory_size": 10241}, "between 128 and 10240"),
     ({"timeout": 30}, "timeout must be a whole number between 1 and 29"),
     ({"reserved_concurrency": -1}, "reserved_concurrency must be a whole number 1 or more"),
     ({"reserved_concurrency": 0}, "reserved_concurrency 0 would throttle every call; use None"),
     ({"allow_digits_model": "yes"}, "allow_digits_model must be true or false"),
     ({"provisioned_concurrency": 5, "reserved_concurrency": 2}, "cannot exceed reserved_concurrency"),
     ({"log_retention_days": 10}, "log_retention_days must be one of"),
     ({"throttling_rate_limit": 0}, "throttling_rate_limit must be a positive number"),
     ({"image_keep_count": 0}, "image_keep_count"),
     ({"input_prefix": "/abs"}, "input_prefix")],
    ids=lambda v: str(v)[:30],
)
def test_bad_args_fail_fast_naming_the_allowed_values(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MnistPredictorArgs(**settings)
