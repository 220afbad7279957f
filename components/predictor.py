"""MnistPredictor: ECR image -> Lambda -> HTTP API `POST /predict`, with a hardened input bucket."""

# No `from __future__ import annotations`: the package's schema is inferred from this module's real annotations.
import os
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from . import artifacts, operations, policies
from .args import MnistPredictorArgs, resolve
from .build_context import staged_build_context
from .batch import INCOMING_PREFIX, BatchScoring

SAMPLE_FILE = "model/test_features.npy"
SAMPLE_KEY = "samples/test_features.npy"


def default_function_dir() -> Path:
    """The function folder shipped beside this package: installed (package data) or in the repository."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "function", here.parent / "function"):
        if (candidate / "Dockerfile").is_file():
            return candidate
    raise FileNotFoundError(f"no function folder with a Dockerfile next to {here}")


class MnistPredictor(pulumi.ComponentResource):
    """The MNIST KNN function behind an HTTPS endpoint, secure by default."""

    url: pulumi.Output[str]
    """Full invoke URL of the predict route, ending in /predict."""
    bucket_name: pulumi.Output[str]
    """Bucket for input batches; the function reads only from here."""
    function_name: pulumi.Output[str]
    """Name of the Lambda function."""
    repository_url: pulumi.Output[str]
    """ECR repository holding the function's images."""
    image_uri: pulumi.Output[str]
    """The deployed image, pinned by digest (repo@sha256:...)."""
    api_id: pulumi.Output[str]
    """ID of the HTTP API."""
    log_group_name: pulumi.Output[str]
    """CloudWatch log group of the function (JSON lines)."""
    sample_key: pulumi.Output[str]
    """Key of the uploaded held-out batch, or '' when upload_sample is off."""
    dashboard_url: pulumi.Output[str]
    """Console URL of the stack's CloudWatch dashboard."""
    incoming_prefix: pulumi.Output[str]
    """Objects written under this prefix of the bucket are batch-scored ('incoming/'; '' when batch is off)."""
    queue_url: pulumi.Output[str]
    """URL of the batch queue fed by the bucket's notifications ('' when batch is off)."""

    # `args` is annotated with the bare class because the package's schema is inferred from it; None (defaults) and
    # the package's dict of inputs are accepted too, and resolve() turns all three into the same validated object.
    def __init__(self, name: str, args: MnistPredictorArgs = None,  # type: ignore[assignment]
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mnist:index:MnistPredictor", name, None, opts)
        self._name = name
        self._args = args = resolve(args)
        self._dir = Path(os.path.abspath(args.function_dir)) if args.function_dir else default_function_dir()
        self._child = pulumi.ResourceOptions(parent=self)
        self._check_model()

        bucket = self._bucket()
        image_uri = self._image()
        log_group = self._log_group("fn", "function")
        role = self._role(bucket, log_group)
        function, target = self._function(image_uri, role, bucket, log_group)
        api, stage = self._api(function, target)
        self._batch(bucket, image_uri)
        self._operations(function, api)

        self.url = stage.invoke_url.apply(lambda base: base.rstrip("/") + "/predict")
        self.bucket_name = bucket.bucket
        self.function_name = function.name
        self.repository_url = self._repository.repository_url
        self.image_uri = image_uri
        self.api_id = api.id
        self.log_group_name = log_group.name
        self.register_outputs({
            "url": self.url, "bucket_name": self.bucket_name, "function_name": self.function_name,
            "repository_url": self.repository_url, "image_uri": self.image_uri, "api_id": self.api_id,
            "log_group_name": self.log_group_name, "sample_key": self.sample_key, "dashboard_url": self.dashboard_url,
            "incoming_prefix": self.incoming_prefix, "queue_url": self.queue_url,
        })

    def _check_model(self) -> None:
        # At preview time, not after a long image build: the image bakes the model in.
        if self._args.model_dir:
            model = Path(os.path.abspath(self._args.model_dir))
            missing = [f for f in artifacts.MODEL_FILES if not (model / Path(f).name).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"model_dir (modelDir) {self._args.model_dir!r}: no trained model in {model} (missing "
                    f"{', '.join(Path(f).name for f in missing)}); point it at a folder made by "
                    "`python -m training --out DIR`")
            # Docker sees only its build context: build from a copy of the function folder holding this model.
            self._dir = staged_build_context(self._dir, model, self._name)
        try:
            summary = artifacts.check_model(self._dir, self._args.allow_digits_model)
        except ValueError as exc:
            raise ValueError(f"{self._name}: {exc}") from None
        pulumi.log.info(f"{self._name}: {summary}", resource=self)

    def _bucket(self) -> aws.s3.Bucket:
        args, n = self._args, self._name
        bucket = aws.s3.Bucket(f"{n}-data", force_destroy=args.force_destroy, tags=args.tags, opts=self._child)
        block = aws.s3.BucketPublicAccessBlock(
            f"{n}-data-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=self._child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{n}-data-encryption", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],  # bucket keys: KMS only
            opts=self._child)
        # After the public access block: S3 rejects some policies while the block is being applied.
        aws.s3.BucketPolicy(f"{n}-data-tls-only", bucket=bucket.id, policy=bucket.arn.apply(policies.tls_only),
                            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]))
        self.sample_key = pulumi.Output.from_input("")
        sample = self._dir / SAMPLE_FILE
        if args.upload_sample and sample.is_file():
            obj = aws.s3.BucketObjectv2(f"{n}-sample", bucket=bucket.id, key=f"{args.input_prefix}{SAMPLE_KEY}",
                                        source=pulumi.FileAsset(artifacts.portable(sample)), opts=self._child)
            self.sample_key = obj.key
        return bucket

    def _image(self) -> pulumi.Output[str]:
        args, n = self._args, self._name
        self._repository = repo = aws.ecr.Repository(
            f"{n}-repo", force_delete=True, image_scanning_configuration={"scan_on_push": True},
            tags=args.tags, opts=self._child)
        aws.ecr.LifecyclePolicy(f"{n}-repo-lifecycle", repository=repo.name,
                                policy=policies.keep_recent_images(args.image_keep_count), opts=self._child)
        token = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
        # BuildKit via buildx for exactly one platform, provenance off (the provider's default): the push is a
        # single-platform manifest, which Lambda needs, on the classic and the containerd image store alike.
        # The classic builder mis-builds foreign platforms on the containerd store (moby#47823; docs/deploy.md).
        context = artifacts.portable(self._dir)  # relative: another checkout or CI runner sees no change
        image = docker_build.Image(
            f"{n}-image", context={"location": context}, dockerfile={"location": f"{context}/Dockerfile"},
            platforms=[args.platform], push=True, tags=[repo.repository_url.apply(lambda url: f"{url}:latest")],
            registries=[{"address": repo.repository_url, "username": token.user_name,
                         "password": pulumi.Output.secret(token.password)}],
            opts=self._child)
        # By digest, never by tag: a new image then redeploys the functions.
        return pulumi.Output.concat(repo.repository_url, "@", image.digest)

    def _log_group(self, role: str, what: str, name_prefix: str | None = None) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(f"{self._name}-{role}-logs", name_prefix=name_prefix,
                                       retention_in_days=self._args.log_retention_days,
                                       tags={**self._args.tags, "purpose": what}, opts=self._child)

    def _role(self, bucket: aws.s3.Bucket, log_group: aws.cloudwatch.LogGroup) -> aws.iam.Role:
        n, prefix = self._name, self._args.input_prefix
        role = aws.iam.Role(f"{n}-role", assume_role_policy=policies.lambda_trust(), tags=self._args.tags,
                            opts=self._child)
        self._policies = [
            aws.iam.RolePolicy(f"{n}-write-logs", role=role.id, policy=log_group.arn.apply(policies.write_logs),
                               opts=self._child),
            aws.iam.RolePolicy(f"{n}-read-inputs", role=role.id,
                               policy=bucket.arn.apply(lambda arn: policies.read_inputs(arn, prefix)), opts=self._child),
        ]
        if self._args.tracing:
            self._policies.append(aws.iam.RolePolicy(f"{n}-send-traces", role=role.id,
                                                     policy=operations.xray_policy(), opts=self._child))
        return role

    def _function(self, image_uri: pulumi.Output[str], role: aws.iam.Role, bucket: aws.s3.Bucket,
                  log_group: aws.cloudwatch.LogGroup) -> tuple[aws.lambda_.Function, pulumi.Output[str] | None]:
        args, n = self._args, self._name
        held = args.reserved_concurrency or args.provisioned_concurrency
        if held:
            # Both come out of the account's pool, which must keep its unreserved floor: a quota of 10 allows neither.
            pulumi.log.info(f"{n}: holding {held} concurrent executions needs an account concurrency quota of at "
                            f"least {held + 100}; new accounts (quota 10) cannot (docs/deploy.md)", resource=self)
        function = aws.lambda_.Function(
            f"{n}-fn", package_type="Image", image_uri=image_uri,
            role=role.arn, architectures=[args.architecture], memory_size=args.memory_size, timeout=args.timeout,
            environment={"variables": {"ALLOWED_BUCKETS": bucket.bucket, "LOG_LEVEL": "INFO",
                                       **operations.function_environment(args)}},
            tracing_config=operations.tracing_config(args),
            logging_config={"log_format": "JSON", "log_group": log_group.name, "application_log_level": "INFO",
                            "system_log_level": "WARN"},
            reserved_concurrent_executions=-1 if args.reserved_concurrency is None else args.reserved_concurrency,
            publish=args.provisioned_concurrency > 0, tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._policies, log_group]))
        if not args.provisioned_concurrency:
            return function, None
        alias = aws.lambda_.Alias(f"{n}-live", name="live", function_name=function.name,
                                  function_version=function.version, opts=self._child)
        aws.lambda_.ProvisionedConcurrencyConfig(
            f"{n}-warm", function_name=function.name, qualifier=alias.name,
            provisioned_concurrent_executions=args.provisioned_concurrency, opts=self._child)
        self._alias = alias
        return function, alias.name

    def _batch(self, bucket: aws.s3.Bucket, image_uri: pulumi.Output[str]) -> None:
        # Resources rather than outputs, for alarms and for callers wiring more consumers (None when batch is off).
        self.batch_function: aws.lambda_.Function | None = None
        self.queue: aws.sqs.Queue | None = None
        self.dead_letter_queue: aws.sqs.Queue | None = None
        self.incoming_prefix = self.queue_url = pulumi.Output.from_input("")
        if not self._args.batch:
            return
        scoring = BatchScoring(self._name, self._args, bucket, image_uri, self)
        self.batch_function, self.queue, self.dead_letter_queue = (scoring.batch_function, scoring.queue,
                                                                   scoring.dead_letter_queue)
        self.incoming_prefix = pulumi.Output.from_input(INCOMING_PREFIX)
        self.queue_url = scoring.queue.url

    def _api(self, function: aws.lambda_.Function,
             qualifier: pulumi.Output[str] | None) -> tuple[aws.apigatewayv2.Api, aws.apigatewayv2.Stage]:
        args, n = self._args, self._name
        target_arn = self._alias.invoke_arn if qualifier is not None else function.invoke_arn
        api = aws.apigatewayv2.Api(f"{n}-api", protocol_type="HTTP", tags=args.tags, opts=self._child)
        integration = aws.apigatewayv2.Integration(
            f"{n}-integration", api_id=api.id, integration_type="AWS_PROXY", integration_method="POST",
            integration_uri=target_arn, payload_format_version="2.0",
            timeout_milliseconds=min(30_000, (args.timeout + 1) * 1000), opts=self._child)
        aws.apigatewayv2.Route(
            f"{n}-route", api_id=api.id, route_key="POST /predict",
            target=integration.id.apply(lambda i: f"integrations/{i}"),
            authorization_type="AWS_IAM" if args.auth == "iam" else "NONE", opts=self._child)
        if args.auth == "none":
            pulumi.log.warn(f"{n}: auth='none' makes POST /predict public; anyone can invoke it", resource=self)
            self._page_route(api, integration, function, qualifier)
        # API Gateway lists every access-log group it writes to in one account-wide resource policy (5,120
        # characters, entries never removed) except under /aws/vendedlogs/, which it covers with one wildcard.
        # Project, stack and a generated suffix keep names apart across stacks and replacements.
        access_logs = self._log_group(
            "api", "api-access",
            name_prefix=f"/aws/vendedlogs/apigateway/{pulumi.get_project()}-{pulumi.get_stack()}-{n}-")
        stage = aws.apigatewayv2.Stage(
            f"{n}-stage", api_id=api.id, name="$default", auto_deploy=True,
            default_route_settings={"throttling_burst_limit": args.throttling_burst_limit,
                                    "throttling_rate_limit": args.throttling_rate_limit},
            access_log_settings={"destination_arn": access_logs.arn, "format": policies.ACCESS_LOG_FORMAT},
            tags=args.tags, opts=self._child)
        aws.lambda_.Permission(
            f"{n}-invoke", action="lambda:InvokeFunction", function=function.name,
            principal="apigateway.amazonaws.com", qualifier=qualifier,
            source_arn=api.execution_arn.apply(lambda arn: f"{arn}/*/POST/predict"), opts=self._child)
        return api, stage

    def _operations(self, function: aws.lambda_.Function, api: aws.apigatewayv2.Api) -> None:
        batch = (operations.BatchResources(self.batch_function, self.queue, self.dead_letter_queue)
                 if self.batch_function is not None else None)
        self._ops = operations.Operations(self._name, self._args, self, function, api, batch)
        self.dashboard_url = self._ops.dashboard_url

    def _page_route(self, api: aws.apigatewayv2.Api, integration: aws.apigatewayv2.Integration,
                    function: aws.lambda_.Function, qualifier: pulumi.Output[str] | None) -> None:
        # The drawing page, served by the same function. Public APIs only: a browser cannot sign SigV4 requests, so
        # under IAM auth the page could not call POST /predict (it stays local: python -m function.local).
        n = self._name
        aws.apigatewayv2.Route(
            f"{n}-page-route", api_id=api.id, route_key="GET /",
            target=integration.id.apply(lambda i: f"integrations/{i}"), authorization_type="NONE", opts=self._child)
        aws.lambda_.Permission(
            f"{n}-invoke-page", action="lambda:InvokeFunction", function=function.name,
            principal="apigateway.amazonaws.com", qualifier=qualifier,
            source_arn=api.execution_arn.apply(lambda arn: f"{arn}/*/GET/"), opts=self._child)
