"""Construct over gRPC, as a TypeScript, Go or YAML program reaches the package: camelCase inputs, numbers as floats.

The plugin runs as the engine runs it; a fake engine and resource monitor in this process record every resource it
registers, so the same wiring the Python mock tests assert is asserted here, through the package path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from conftest import ROOT
from fake_engine import FakeEngine, FakeMonitor, serve, start_plugin, stderr, stop, struct

TOKEN = "mnist:index:MnistPredictor"
PROJECT, STACK = "consumer", "dev"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"


class Package:
    """The running plugin with its fake engine and monitor."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.engine, self.monitor = FakeEngine(), FakeMonitor(PROJECT, STACK)
        self.server, engine_address, self.monitor_address = serve(self.engine, self.monitor)
        # The plugin runs in the consumer program's folder, where the staged build context (model_dir) goes.
        self.process, port = start_plugin(ROOT / "components", engine_address, cwd=tmp)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def construct(self, name: str, inputs: dict, preview: bool = False) -> provider_pb2.ConstructResponse:
        """One Construct call, as the engine makes it for `new mnist.MnistPredictor(name, inputs)`."""
        inputs = {"allowDigitsModel": True, **inputs}  # the fixture model is digits
        request = provider_pb2.ConstructRequest(
            project=PROJECT, stack=STACK, organization="org", dryRun=preview, parallel=4,
            monitorEndpoint=self.monitor_address, type=TOKEN, name=name, parent=STACK_URN, inputs=struct(inputs),
            config={"aws:region": "eu-west-1"})
        return self.stub.Construct(request, timeout=60)

    def close(self) -> None:
        """Stop the plugin and the fake services."""
        self.channel.close()
        stop(self.process)
        self.server.stop(None)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Package]:
    """One plugin process for the module, as one engine run keeps one plugin for every Construct."""
    running = Package(tmp_path_factory.mktemp("consumer"))
    yield running
    running.close()


# What a TypeScript program sends for
#   new mnist.MnistPredictor("digits", {architecture: "arm64", memorySize: 1024, timeout: 20, ...})
# camelCase names, and every number a float on the wire.
TS_INPUTS = {"architecture": "arm64", "memorySize": 1024.0, "timeout": 20.0, "auth": "iam",
             "throttlingBurstLimit": 50.0, "throttlingRateLimit": 25.5, "logRetentionDays": 30.0,
             "reservedConcurrency": 3.0, "imageKeepCount": 3.0, "inputPrefix": "in/", "tags": {"team": "ml"}}


@pytest.fixture(scope="module")
def digits(package: Package, model_dir: Path) -> tuple[provider_pb2.ConstructResponse, FakeMonitor]:
    """`digits`, built with the consumer's model folder (modelDir), as a consumer without a trained repo would."""
    response = package.construct("digits", {**TS_INPUTS, "modelDir": str(model_dir)})
    return response, package.monitor


def resources(monitor: FakeMonitor, component: str) -> list[dict]:
    """Every resource registered under the named component (its own name prefix), the component first."""
    return [r for r in monitor.mocks.resources if r["name"] == component or r["name"].startswith(f"{component}-")]


def one(monitor: FakeMonitor, component: str, typ: str) -> dict:
    """Inputs of the single resource of this type under the named component."""
    (inputs,) = [r["inputs"] for r in resources(monitor, component) if r["type"] == typ]
    return inputs


def named(monitor: FakeMonitor, name: str) -> dict:
    """Inputs of the resource with this logical name."""
    (inputs,) = [r["inputs"] for r in monitor.mocks.resources if r["name"] == name]
    return inputs


def test_construct_returns_the_component_urn_and_every_output(digits) -> None:
    response, monitor = digits
    state = json.loads(json.dumps(dict(response.state)))
    assert response.urn == f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack${TOKEN}::digits"
    assert state["url"] == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/predict"
    assert set(state) == {"url", "bucketName", "functionName", "repositoryUrl", "imageUri", "apiId",
                          "logGroupName", "sampleKey", "dashboardUrl", "incomingPrefix", "queueUrl"}
    assert "@sha256:" in state["imageUri"] and state["sampleKey"] == "in/samples/test_features.npy"
    registered = monitor.registered_outputs[response.urn]
    assert registered["url"] == state["url"]


def test_float_numbers_arrive_as_the_ints_python_would_pass(digits) -> None:
    _, monitor = digits
    fn = named(monitor, "digits-fn")
    assert (fn["architectures"], fn["memorySize"], fn["timeout"], fn["reservedConcurrentExecutions"]) == (
        ["arm64"], 1024, 20, 3)
    assert one(monitor, "digits", "aws:apigatewayv2/stage:Stage")["defaultRouteSettings"] == {
        "throttlingBurstLimit": 50, "throttlingRateLimit": 25.5}
    assert {g["retentionInDays"] for g in [r["inputs"] for r in resources(monitor, "digits")
                                           if r["type"] == "aws:cloudwatch/logGroup:LogGroup"]} == {30}
    policy = json.loads(one(monitor, "digits", "aws:ecr/lifecyclePolicy:LifecyclePolicy")["policy"])
    assert policy["rules"][0]["selection"]["countNumber"] == 3


def test_image_platform_matches_the_architecture_and_builds_with_the_consumers_model(
        digits, package: Package, model_dir: Path) -> None:
    _, monitor = digits
    image = one(monitor, "digits", "docker-build:index:Image")
    assert image["platforms"] == ["linux/arm64"]
    # relative to the consumer program's folder (the plugin's working directory here)
    context = package.tmp / image["context"]["location"]
    assert (context / "model" / "model.npz").read_bytes() == (model_dir / "model.npz").read_bytes()
    assert (context / "Dockerfile").is_file() and (context / "app.py").is_file() and not (context / "local").exists()


def test_route_is_post_predict_with_iam_auth(digits) -> None:
    _, monitor = digits
    route = one(monitor, "digits", "aws:apigatewayv2/route:Route")
    assert route["routeKey"] == "POST /predict" and route["authorizationType"] == "AWS_IAM"
    reads = [s for s in json.loads(named(monitor, "digits-read-inputs")["policy"])["Statement"]
             if s["Action"] == "s3:GetObject"]
    assert reads[0]["Resource"].endswith("/in/*")


def test_every_child_is_parented_to_the_component(digits) -> None:
    response, monitor = digits
    (component, *children) = resources(monitor, "digits")
    assert component["type"] == TOKEN and monitor.parents["digits"] == STACK_URN
    assert len(children) >= 18
    assert all(monitor.parents[child["name"]] == response.urn for child in children)
    tagged = [child["inputs"]["tags"] for child in children if isinstance(child["inputs"].get("tags"), dict)]
    assert len(tagged) >= 8 and all(tags.get("team") == "ml" for tags in tagged)


def test_public_auth_is_an_opt_in_warned_about_through_the_engine(package: Package, model_dir: Path) -> None:
    package.construct("open", {"auth": "none", "modelDir": str(model_dir)})
    assert named(package.monitor, "open-route")["authorizationType"] == "NONE"
    assert named(package.monitor, "open-page-route")["routeKey"] == "GET /"  # the drawing page, public APIs only
    assert any("public" in message for _, message in package.engine.logs)


def test_no_inputs_gives_pythons_defaults(package: Package, model_dir: Path) -> None:
    # given only the model folder (what `new mnist.MnistPredictor("plain", {modelDir})` sends)
    package.construct("plain", {"modelDir": str(model_dir)})
    fn = named(package.monitor, "plain-fn")
    # then the defaults are MnistPredictorArgs' defaults
    assert (fn["architectures"], fn["memorySize"], fn["timeout"], fn["reservedConcurrentExecutions"]) == (
        ["x86_64"], 256, 15, -1)  # -1: unreserved
    assert one(package.monitor, "plain", "aws:apigatewayv2/route:Route")["authorizationType"] == "AWS_IAM"
    assert one(package.monitor, "plain", "docker-build:index:Image")["platforms"] == ["linux/amd64"]


@pytest.mark.parametrize(
    "inputs, message",
    [({"memorySize": 256.5}, "memory_size must be a whole number between 128 and 10240, got 256.5"),
     ({"architecture": "arm"}, "architecture must be 'x86_64' or 'arm64', got 'arm'"),
     ({"timeout": 30.0}, "timeout must be a whole number between 1 and 29, got 30"),
     ({"modelDir": "/nowhere/model"}, "model_dir (modelDir) '/nowhere/model': no trained model in /nowhere/model")],
    ids=["fractional int", "architecture", "timeout", "missing model"],
)
def test_bad_inputs_fail_the_preview_with_the_same_message_as_python(package: Package, model_dir: Path, inputs: dict,
                                                         message: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        package.construct("bad", {"modelDir": str(model_dir), **inputs}, preview=True)
    assert message in error.value.details(), stderr(package.process)[-2000:]
