"""One place decides every setting: the Python args object and the package's dict of inputs give the same result."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import typing
from pathlib import Path

import pulumi
import pytest

from components import MnistPredictor, MnistPredictorArgs
from components.args import resolve
from conftest import FUNCTION_DIR, deploy

INT_FIELDS = [f.name for f in dataclasses.fields(MnistPredictorArgs) if int in typing.get_args(f.type)]


def test_no_args_and_an_empty_dict_both_mean_the_defaults() -> None:
    assert resolve(None) == resolve({}) == MnistPredictorArgs()
    assert MnistPredictorArgs().memory_size == 256 and MnistPredictorArgs().reserved_concurrency is None


def test_the_packages_dict_with_float_numbers_equals_the_python_args() -> None:
    # given what the provider hands the component: snake_case keys, every number a float
    wire = {"architecture": "arm64", "memory_size": 1024.0, "timeout": 20.0, "reserved_concurrency": 3.0,
            "provisioned_concurrency": 1.0, "throttling_rate_limit": 25.0, "tags": {"team": "ml"}}
    # when it is resolved
    args = resolve(wire)
    # then it is the object a Python program would build, ints as ints
    assert args == MnistPredictorArgs(architecture="arm64", memory_size=1024, timeout=20, reserved_concurrency=3,
                                      provisioned_concurrency=1, throttling_rate_limit=25.0, tags={"team": "ml"})
    assert type(args.memory_size) is int and type(args.throttling_rate_limit) is float


def test_every_int_setting_is_converted_from_a_whole_float() -> None:
    assert {"memory_size", "timeout", "image_keep_count"} <= set(INT_FIELDS)
    defaults = MnistPredictorArgs()
    for name in INT_FIELDS:
        value = getattr(defaults, name)
        if value is not None:
            assert getattr(resolve({name: float(value)}), name) == value and type(value) is int


@pytest.mark.parametrize("name, value", [("memory_size", 256.5), ("timeout", 14.9), ("image_keep_count", 2.5),
                                         ("throttling_burst_limit", 1e400)])
def test_a_fractional_number_fails_with_the_message_python_gives(name: str, value: float) -> None:
    # given the same bad value through Python and through the package's dict
    with pytest.raises(ValueError) as python:
        MnistPredictorArgs(**{name: value})
    with pytest.raises(ValueError) as package:
        resolve({name: value})
    # then the user reads the same message, naming the setting and the allowed range
    assert str(package.value) == str(python.value) and str(python.value).startswith(f"{name} must be a whole number")


@pytest.mark.parametrize(
    "settings, message",
    [({"force_destroy": "yes"}, "force_destroy must be true or false, got 'yes'"),
     ({"auth": None}, "auth must be a string, got None"),
     ({"tags": {"team": 7}}, "tags must be a map of strings to strings"),
     ({"model_dir": 3}, "model_dir must be a string, got 3"),
     ({"throttling_rate_limit": float("nan")}, "throttling_rate_limit must be a positive number")],
    ids=["bool", "none", "tags", "path", "nan"],
)
def test_wrong_types_are_refused_naming_the_setting(settings: dict, message: str) -> None:
    for attempt in (lambda: MnistPredictorArgs(**settings), lambda: resolve(settings)):
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            attempt()


def test_none_is_accepted_where_it_is_the_default_or_means_something() -> None:
    args = resolve({"function_dir": None, "model_dir": None, "reserved_concurrency": None})
    assert (args.function_dir, args.model_dir, args.reserved_concurrency) == (None, None, None)


def test_unknown_settings_and_outputs_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"unknown setting\(s\) 'memorySize'; allowed: architecture, memory_size"):
        resolve({"memorySize": 512})
    with pytest.raises(ValueError, match="memory_size must be a plain value known at preview time"):
        resolve({"memory_size": pulumi.Output.from_input(512)})
    with pytest.raises(ValueError, match="args must be an MnistPredictorArgs or a mapping"):
        resolve(["arm64"])  # type: ignore[arg-type]


# ---------------------------------------------------------------- model_dir: the consumer's model, any language
def program(**settings: object):  # noqa: ANN201 - the program function deploy() runs
    """One MnistPredictor named 'demo' built from the package's dict, as the provider builds it."""
    settings.setdefault("allow_digits_model", True)  # the fixture model is digits

    def run() -> dict:
        predictor = MnistPredictor("demo", settings)  # type: ignore[arg-type]
        return {"url": predictor.url, "sample_key": predictor.sample_key}
    return run


def test_model_dir_builds_the_image_from_the_function_folder_plus_that_model(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a function folder without a model (a fresh clone) and a model folder made by `python -m training`
    function = tmp_path / "function"
    shutil.copytree(FUNCTION_DIR, function, ignore=shutil.ignore_patterns("model", "__pycache__"))
    monkeypatch.chdir(tmp_path)  # the program's folder: the staged context goes under it
    # when the component is deployed twice with model_dir
    first = deploy(program(function_dir=str(function), model_dir=str(model_dir)))
    second = deploy(program(function_dir=str(function), model_dir=str(model_dir)))
    # then the image builds from one stable context: the function's files and exactly that model
    stored = first.mocks.one("docker-build:index:Image")["context"]["location"]
    assert stored == second.mocks.one("docker-build:index:Image")["context"]["location"] == ".mnist-build/demo"
    context = tmp_path / stored
    assert (context / "model" / "model.npz").read_bytes() == (model_dir / "model.npz").read_bytes()
    assert (context / "Dockerfile").read_bytes() == (function / "Dockerfile").read_bytes()
    assert not (function / "model").exists() and not (context / "model" / "confusion_matrix.png").exists()
    # and the held-out sample comes from that model folder too
    assert first.outputs["sample_key"] == "samples/test_features.npy"


def test_a_missing_model_dir_fails_the_preview_naming_the_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        deploy(program(model_dir=str(tmp_path / "nowhere")))
    message = str(error.value)
    assert message.startswith(f"model_dir (modelDir) '{tmp_path / 'nowhere'}': no trained model")
    assert "missing model.npz, metadata.json" in message and "python -m training --out DIR" in message


def test_without_a_model_the_error_names_model_dir_as_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(FileNotFoundError, match=r"run `python -m training` first, or set model_dir \(modelDir\)"):
        deploy(program(function_dir=str(tmp_path)))


def test_a_field_written_as_x_or_none_is_an_optional_input_converted_like_optional() -> None:
    # given a settings class extended the way other features may write a field: `int | None`, with a default
    import dataclasses as dc

    from pulumi.provider.experimental.analyzer import Analyzer

    from components import args as args_module

    extended = dc.make_dataclass("Extended", [("batch_size", int | None, dc.field(default=4))],
                                 bases=(MnistPredictorArgs,))
    # then the package's float becomes an int, and the schema lists the field as an optional integer
    assert args_module._from_wire("batch_size", args_module._base(int | None), 8.0) == 8
    (prop,) = [p for name, p in Analyzer("t").analyze_type(extended, is_component_output=False)[0].items()
               if name == "batchSize"]
    assert prop.optional and prop.type.value == "integer"
