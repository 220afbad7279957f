"""components/ as a Pulumi package: started as the engine starts it, it serves the committed schema over gRPC."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

import components
from components import MnistPredictor, MnistPredictorArgs
from components.schema import REGENERATE, SCHEMA_FILE
from conftest import ROOT
from fake_engine import FakeEngine, FakeMonitor, serve, start_plugin, stop

TOKEN = "mnist:index:MnistPredictor"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """`python components <engine-address>` from another folder, as the engine runs it; yields a gRPC client."""
    server, engine_address, _ = serve(FakeEngine(), FakeMonitor("consumer", "dev"))
    process, port = start_plugin(ROOT / "components", engine_address, cwd=tmp_path_factory.mktemp("consumer"))
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield provider_pb2_grpc.ResourceProviderStub(channel)
    channel.close()
    stop(process)
    server.stop(None)


@pytest.fixture(scope="module")
def served(provider: provider_pb2_grpc.ResourceProviderStub) -> dict:
    """The schema the running package serves, from GetSchema."""
    return json.loads(provider.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30).schema)


def test_served_schema_is_the_committed_schema(served: dict) -> None:
    # given the schema the plugin serves over gRPC, and components/schema.json as committed
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    # then they are the same: an API change shows up in review as a schema.json diff
    assert served == committed, f"components/schema.json is out of date: run `{REGENERATE}` and commit it"


def test_package_is_mnist_at_the_package_version(provider: provider_pb2_grpc.ResourceProviderStub, served: dict) -> None:
    # given the version pip builds (pyproject.toml reads __version__) and the one the plugin reports
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mnist_predictor.__version__"}
    info = provider.GetPluginInfo(empty_pb2.Empty(), timeout=30)
    # then the package is `mnist`, with one resource, at the package's real version (not the SDK's 0.0.0)
    assert served["name"] == "mnist" and list(served["resources"]) == [TOKEN]
    assert served["version"] == info.version == components.__version__ != "0.0.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", served["version"])


def test_every_args_field_is_an_optional_described_input(served: dict) -> None:
    # given the resource in the schema
    resource = served["resources"][TOKEN]
    fields = {camel_case(f.name) for f in dataclasses.fields(MnistPredictorArgs)}
    # then its inputs are exactly the args' fields in camelCase, none required, so `new MnistPredictor("x")` works
    assert set(resource["inputProperties"]) == fields, f"run `{REGENERATE}`"
    required = resource.get("requiredInputs", [])
    assert required == [], f"annotate these fields Optional[...] in components/args.py (keep the default): {required}"
    # and each input and output tells the reader what it is
    undescribed = [name for name, spec in {**resource["inputProperties"], **resource["properties"]}.items()
                   if len(spec.get("description", "")) < 10]
    assert not undescribed, f"give these a docstring line under the field in components/args.py: {undescribed}"
    assert len(resource.get("description", "")) >= 10


def test_outputs_are_the_components_outputs_in_camel_case(served: dict) -> None:
    declared = {camel_case(name) for name in MnistPredictor.__annotations__ if not name.startswith("_")}
    resource = served["resources"][TOKEN]
    assert set(resource["properties"]) == declared >= {"url", "bucketName", "functionName", "imageUri"}
    assert all(spec["type"] == "string" for spec in resource["properties"].values())


def test_inputs_carry_the_wire_types_of_the_args(served: dict) -> None:
    inputs = served["resources"][TOKEN]["inputProperties"]
    assert (inputs["memorySize"]["type"], inputs["throttlingRateLimit"]["type"]) == ("integer", "number")
    assert (inputs["architecture"]["type"], inputs["forceDestroy"]["type"]) == ("string", "boolean")
    assert inputs["tags"]["additionalProperties"]["type"] == "string"


def test_schema_check_command_passes_on_the_committed_schema() -> None:
    from components.schema import main

    assert main(["--check"]) == 0, f"run `{REGENERATE}`"


def test_exactly_one_plugin_folder_declares_the_python_runtime() -> None:
    manifests = [p for p in ROOT.rglob("PulumiPlugin.yaml") if ".venv" not in p.parts and "node_modules" not in p.parts]
    assert manifests == [ROOT / "components" / "PulumiPlugin.yaml"]
    assert re.search(r"^runtime: python\s*$", manifests[0].read_text(encoding="utf-8"), re.MULTILINE)


def test_package_requirements_pin_what_the_repository_pins() -> None:
    # given the requirements the engine installs for the plugin, and the repository's Pulumi program pins
    def pins(path):  # noqa: ANN001, ANN202
        return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")}

    # then the package runs on exactly the versions the tests run on
    assert pins(ROOT / "components" / "requirements.txt") == pins(ROOT / "requirements.txt")
