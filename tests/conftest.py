"""Shared fixtures. Each part's fixtures live in its own section below."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pulumi
import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"


# ---------------------------------------------------------------- training
@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained once per session on the bundled digits by the real CLI."""
    out = tmp_path_factory.mktemp("model") / "model"
    subprocess.run(
        [sys.executable, "-m", "training", "--dataset", "digits", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


# ---------------------------------------------------------------- function
EVENTS_DIR = Path(__file__).resolve().parent / "events"
DATA_BUCKET = "mnist-test-data"


def load_event(name: str, **changes: object) -> dict:
    """A real API Gateway HTTP API payload 2.0 event from tests/events/, with top-level fields replaced."""
    event = json.loads((EVENTS_DIR / name).read_text())
    event.update(changes)
    return event


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on loopback for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(s3_server: str):
    """A boto3 S3 client on the moto server, with the allowed data bucket created."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=DATA_BUCKET)
    return client


@pytest.fixture(scope="session")
def app(model_dir: Path, s3_server: str, s3) -> ModuleType:
    """The handler module imported from function/ as Lambda's task root, reading the session model and S3."""
    os.environ.update(MODEL_DIR=str(model_dir), ALLOWED_BUCKETS=DATA_BUCKET, AWS_ENDPOINT_URL_S3=s3_server)
    sys.modules.pop("app", None)
    return importlib.import_module("app")


def call(app: ModuleType, body: object, **changes: object) -> tuple[int, dict]:
    """Send a POST /predict event with a JSON (or raw string) body; returns (status, parsed JSON body)."""
    text = body if isinstance(body, str) else json.dumps(body)
    response = app.handler(load_event("predict_inline.json", body=text, **changes), LambdaContext())
    return response["statusCode"], json.loads(response["body"])


class LambdaContext:
    """The attributes of Lambda's context object the handler reads."""

    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_name = "mnist-test"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        """As Lambda reports it: time left before the timeout."""
        return 15_000




# ---------------------------------------------------------------- component (Pulumi mocks)
@pytest.fixture(scope="session")
def function_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A function folder with a trained model, as `python -m training` leaves it (local-only code left out)."""
    import shutil

    folder = tmp_path_factory.mktemp("fn") / "function"
    shutil.copytree(FUNCTION_DIR, folder, ignore=shutil.ignore_patterns("model", "local", "__pycache__"))
    shutil.copytree(model_dir, folder / "model")
    return folder


ACCOUNT, REGION = "123456789012", "eu-west-1"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource's type, name and inputs (camelCase wire names) and fakes AWS's computed outputs."""

    def __init__(self) -> None:
        self.resources: list[dict] = []
        self.calls: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """Return an id and the state AWS or Docker would report for this resource."""
        inputs, name = dict(args.inputs), args.name
        self.resources.append({"type": args.typ, "name": name, "inputs": inputs})
        arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
        log_group = inputs.get("name") or inputs.get("namePrefix", f"{name}-") + "6f7a"  # as AWS auto-names it
        outputs: dict = {
            "aws:s3/bucket:Bucket": lambda: {"bucket": f"{name}-1a2b3c", "arn": f"arn:aws:s3:::{name}-1a2b3c"},
            "aws:ecr/repository:Repository": lambda: {
                "name": f"{name}-4d5e", "registryId": ACCOUNT,
                "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}-4d5e"},
            "docker-build:index:Image": lambda: {
                "digest": "sha256:" + "ab12" * 16, "ref": inputs["tags"][0] + "@sha256:" + "ab12" * 16},
            "aws:cloudwatch/logGroup:LogGroup": lambda: {
                "name": log_group, "arn": arn.format("logs", f"log-group:{log_group}")},
            "aws:iam/role:Role": lambda: {"arn": f"arn:aws:iam::{ACCOUNT}:role/{name}-8b9c"},
            "aws:lambda/function:Function": lambda: {
                "name": f"{name}-0d1e", "arn": arn.format("lambda", f"function:{name}-0d1e"), "version": "1",
                "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/functions/{name}/invocations"},
            "aws:lambda/alias:Alias": lambda: {"invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/alias/invocations"},
            "aws:apigatewayv2/api:Api": lambda: {"executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5",
                                                 "apiEndpoint": f"https://a1b2c3d4e5.execute-api.{REGION}.amazonaws.com"},
            "aws:apigatewayv2/stage:Stage": lambda: {"invokeUrl": f"https://a1b2c3d4e5.execute-api.{REGION}.amazonaws.com/"},
            "aws:sns/topic:Topic": lambda: {"arn": arn.format("sns", f"{name}-2f3a")},
            "aws:sqs/queue:Queue": lambda: {"name": name, "arn": arn.format("sqs", name),
                                            "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"},
        }.get(args.typ, dict)()
        resource_id = "a1b2c3d4e5" if args.typ == "aws:apigatewayv2/api:Api" else f"{name}-id"
        return resource_id, {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        """Fake data sources: the ECR authorization token and the region."""
        self.calls.append(args.token)
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {"userName": "AWS", "password": "ecr-password", "authorizationToken": "dG9rZW4=",
                    "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com", "id": REGION}
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com",
                    "description": "Europe (Ireland)"}
        return {}

    def of_type(self, typ: str) -> list[dict]:
        """Inputs of every recorded resource of one type token."""
        return [r["inputs"] for r in self.resources if r["type"] == typ]

    def named(self, name: str) -> dict:
        """Inputs of the resource with this logical name."""
        (inputs,) = [r["inputs"] for r in self.resources if r["name"] == name]
        return inputs

    def one(self, typ: str) -> dict:
        """Inputs of the single resource of this type."""
        (inputs,) = self.of_type(typ)
        return inputs


class ParentRecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock engine, also recording each resource's parent URN and each component's registered outputs."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.parents: dict[str, str] = {}
        self.urns: dict[str, str] = {}
        self.registered_outputs: dict[str, dict] = {}
        self.dependencies: dict[str, list[str]] = {}

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        """Record the parent, then register as the mock engine does."""
        response = super().RegisterResource(request)
        self.parents[request.name] = request.parent
        self.dependencies[request.name] = list(request.dependencies)
        self.urns[request.name] = response.urn
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
        """Record the outputs a component registers."""
        from google.protobuf import json_format

        self.registered_outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


class Deployment:
    """What a mocked `pulumi up` produced: resources, parents, resolved outputs, warnings and info messages."""

    def __init__(self, mocks: RecordingMocks, monitor: ParentRecordingMonitor, outputs: dict, warnings: list[str],
                 infos: list[str] | None = None):
        self.mocks, self.monitor, self.outputs, self.warnings = mocks, monitor, outputs, warnings
        self.infos = infos or []


def deploy(program: Callable[[], dict[str, pulumi.Output]], config: dict[str, str] | None = None) -> Deployment:
    """Run `program` under fresh Pulumi mocks; returns its resolved outputs and everything recorded."""
    import logging

    mocks = RecordingMocks()
    monitor = ParentRecordingMonitor(mocks)
    warnings: list[str] = []
    infos: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            (warnings if record.levelno >= logging.WARNING else infos).append(record.getMessage())

    logger = logging.getLogger("pulumi-mock-engine")
    logger.setLevel(logging.INFO)
    logger.handlers = [Collect(level=logging.INFO)]
    pulumi.runtime.set_all_config({f"mnist:{k}" if ":" not in k else k: v for k, v in (config or {}).items()})
    pulumi.runtime.set_mocks(mocks, project="mnist", stack="test", preview=False, logger=logger, monitor=monitor)
    resolved: dict = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        outputs = program()
        return pulumi.Output.all(**outputs).apply(resolved.update)

    run()
    return Deployment(mocks, monitor, resolved, warnings, infos)


# ---------------------------------------------------------------- local API
@pytest.fixture(scope="session")
def local_api(model_dir: Path) -> Iterator[dict[str, str]]:
    """`python -m function.local` running on a free port for the session; yields its JSON ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "function.local", "--port", "0", "--model-dir", str(model_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("the local API exited before printing its ready line")
    yield json.loads(line)
    process.terminate()
    process.wait(timeout=20)


def http(url: str, body: bytes | None = None, method: str = "POST",
         headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with urllib; returns (status, lower-cased headers, body) for any status."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
