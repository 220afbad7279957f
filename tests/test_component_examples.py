"""The examples in other languages use only what the committed schema offers: its type, its inputs, its outputs.

They cannot run here (no Pulumi CLI, Node.js or Go); what would break them after an API change is a name or a type
that the schema no longer has, and that is what these tests read out of each program and check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components.schema import SCHEMA_FILE
from conftest import ROOT

EXAMPLES = ROOT / "examples"
TOKEN = "mnist:index:MnistPredictor"
RESOURCE = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["resources"][TOKEN]
INPUTS, OUTPUTS = RESOURCE["inputProperties"], RESOURCE["properties"]
# How each language writes a literal of each schema type.
TS_TYPES = {"integer": r"-?\d+", "number": r"-?\d+(\.\d+)?", "boolean": r"true|false", "string": r"[\"'`].*|path\.\S+"}
GO_TYPES = {"integer": "pulumi.IntRef", "number": "pulumi.Float64Ref", "boolean": "pulumi.BoolRef",
            "string": "pulumi.StringRef"}


def lower_first(name: str) -> str:
    """Go's exported name back to the schema's: MemorySize -> memorySize, Url -> url."""
    return name[:1].lower() + name[1:]


def project(language: str) -> dict:
    """The example's Pulumi.yaml."""
    return yaml.safe_load((EXAMPLES / language / "Pulumi.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("language", ["yaml", "typescript", "go"])
def test_each_example_takes_the_package_from_this_repositorys_plugin_folder(language: str) -> None:
    source = (EXAMPLES / language / project(language)["packages"]["mnist"]).resolve()
    assert source == ROOT / "components" and (source / "PulumiPlugin.yaml").is_file()


def test_yaml_example_uses_the_schemas_type_inputs_and_outputs() -> None:
    # given the YAML program
    program = project("yaml")
    (name, resource), = program["resources"].items()
    # then its one resource is the package's, every property is an input of the schema's type
    assert resource["type"] == TOKEN
    python_types = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
    for key, value in resource["properties"].items():
        assert key in INPUTS, f"examples/yaml: {key} is not an input of {TOKEN}"
        assert isinstance(value, python_types[INPUTS[key]["type"]]), f"examples/yaml: {key} has the wrong type"
    # and its outputs read outputs the schema has, exporting url
    used = re.findall(rf"\$\{{{name}\.(\w+)\}}", json.dumps(program["outputs"]))
    assert "url" in program["outputs"] and used and set(used) <= set(OUTPUTS)
    assert resource["properties"]["modelDir"] == "${pulumi.cwd}/model"


def test_typescript_example_uses_the_schemas_type_inputs_and_outputs() -> None:
    # given the TypeScript program and its package.json
    source = (EXAMPLES / "typescript" / "index.ts").read_text(encoding="utf-8")
    package = json.loads((EXAMPLES / "typescript" / "package.json").read_text(encoding="utf-8"))
    assert package["dependencies"]["@pulumi/mnist"] == "file:sdks/mnist"
    # then it builds one MnistPredictor, the class the SDK generates from the token
    calls = re.findall(r"new mnist\.(\w+)\(\s*\"[\w-]+\",\s*\{(.*?)\}\);", source, re.DOTALL)
    assert len(calls) == 1 and calls[0][0] == TOKEN.rsplit(":", 1)[1]
    # with inputs the schema has, each given a literal of the input's type
    properties = re.findall(r"^\s*(\w+):\s*(.+?),?\s*(?://.*)?$", calls[0][1], re.MULTILINE)
    assert properties
    for key, value in properties:
        assert key in INPUTS, f"examples/typescript: {key} is not an input of {TOKEN}"
        assert re.fullmatch(TS_TYPES[INPUTS[key]["type"]], value), f"examples/typescript: {key} = {value}"
    # and exports url from an output the schema has
    exports = dict(re.findall(r"^export const (\w+) = predictor\.(\w+);", source, re.MULTILINE))
    assert "url" in exports and set(exports.values()) <= set(OUTPUTS)


def test_go_example_uses_the_schemas_type_inputs_and_outputs() -> None:
    # given the Go program and its go.mod
    source = (EXAMPLES / "go" / "main.go").read_text(encoding="utf-8")
    gomod = (EXAMPLES / "go" / "go.mod").read_text(encoding="utf-8")
    (import_path,) = re.findall(r"\"([\w./-]+/mnist)\"", source)
    assert re.search(rf"^replace {re.escape(import_path)} => ./sdks/mnist$", gomod, re.MULTILINE)
    # then it builds one MnistPredictor with the generated constructor and args struct
    calls = re.findall(r"mnist\.New(\w+)\(ctx, \"[\w-]+\", &mnist\.(\w+)Args\{(.*?)\}\)", source, re.DOTALL)
    assert len(calls) == 1 and calls[0][0] == calls[0][1] == TOKEN.rsplit(":", 1)[1]
    # with inputs the schema has, each wrapped by the helper for the input's type
    fields = re.findall(r"^\s*(\w+):\s*(pulumi\.\w+)\(", calls[0][2], re.MULTILINE)
    assert fields
    for field, helper in fields:
        key = lower_first(field)
        assert key in INPUTS, f"examples/go: {field} is not an input of {TOKEN}"
        assert helper == GO_TYPES[INPUTS[key]["type"]], f"examples/go: {field} needs {GO_TYPES[INPUTS[key]['type']]}"
    # and exports url from an output the schema has
    exports = dict(re.findall(r"ctx\.Export\(\"(\w+)\", predictor\.(\w+)\)", source))
    assert "url" in exports and {lower_first(v) for v in exports.values()} <= set(OUTPUTS)


@pytest.mark.parametrize("path", ["yaml/Pulumi.yaml", "typescript/index.ts", "go/main.go"])
def test_each_example_brings_its_own_model_through_model_dir(path: str) -> None:
    # a consumer of the package has no trained model in the package's function folder; modelDir is how theirs gets in
    text = (EXAMPLES / path).read_text(encoding="utf-8")
    assert re.search(r"\bmodelDir\b|\bModelDir\b", text) and "python -m training --out" in text
