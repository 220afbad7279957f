"""The Pulumi program under mocks: stack config -> args, bad config, exported url; and reuse from another project."""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pulumi
import pytest

from conftest import FUNCTION_DIR, ROOT, deploy


@pytest.fixture
def trained_function_dir(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the package's default function folder at a copy holding a trained model."""
    import components.predictor as predictor

    folder = model_dir.parent / "function-copy"
    if not folder.exists():
        shutil.copytree(FUNCTION_DIR, folder, ignore=shutil.ignore_patterns("model", "local", "__pycache__"))
        shutil.copytree(model_dir, folder / "model")
    monkeypatch.setattr(predictor, "default_function_dir", lambda: folder)


def run_program(config: dict[str, str], allow_digits: bool = True):
    """Run __main__.py as `pulumi up` would, with this stack config (the fixture model is digits: opted in)."""
    config = {"allowDigitsModel": "true", **config} if allow_digits else config
    exports: dict[str, pulumi.Output] = {}

    def program() -> dict[str, pulumi.Output]:
        original = pulumi.export
        pulumi.export = lambda name, value: exports.__setitem__(name, value)
        try:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        finally:
            pulumi.export = original
        return exports

    return deploy(program, config)


def test_program_exports_url_and_every_output(trained_function_dir: None) -> None:
    deployment = run_program({"aws:region": "eu-west-1"})
    assert deployment.outputs["url"] == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/predict"
    assert set(deployment.outputs) == {"url", "bucket_name", "function_name", "repository_url", "image_uri",
                                       "api_id", "log_group_name", "sample_key", "dashboard_url"}


def test_stack_config_maps_onto_the_component(trained_function_dir: None) -> None:
    config = {"architecture": "arm64", "auth": "iam", "memorySize": "1024", "timeout": "20",
              "reservedConcurrency": "3", "provisionedConcurrency": "1", "throttlingBurstLimit": "50",
              "throttlingRateLimit": "25.5", "logRetentionDays": "30", "forceDestroy": "false",
              "uploadSample": "false", "inputPrefix": "in/", "imageKeepCount": "3"}
    mocks = run_program(config).mocks
    fn = mocks.one("aws:lambda/function:Function")
    assert (fn["architectures"], fn["memorySize"], fn["timeout"], fn["reservedConcurrentExecutions"]) == (
        ["arm64"], 1024, 20, 3)
    assert mocks.one("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")[
        "provisionedConcurrentExecutions"] == 1
    assert mocks.one("docker-build:index:Image")["platforms"] == ["linux/arm64"]
    assert mocks.one("aws:apigatewayv2/stage:Stage")["defaultRouteSettings"] == {
        "throttlingBurstLimit": 50, "throttlingRateLimit": 25.5}
    assert {g["retentionInDays"] for g in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")} == {30}
    assert mocks.one("aws:s3/bucket:Bucket")["forceDestroy"] is False
    assert not mocks.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert json.loads(mocks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")["policy"])["rules"][0]["selection"][
        "countNumber"] == 3
    reads = [s for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy") for s in json.loads(p["policy"])["Statement"]
             if s["Action"] == "s3:GetObject"]
    assert reads[0]["Resource"].endswith("/in/*")


@pytest.mark.parametrize("config", [{}, {"reservedConcurrency": "none"}, {"reservedConcurrency": "None"}],
                         ids=["default", "none", "None"])
def test_reserved_concurrency_is_unreserved_by_default_and_with_none(trained_function_dir: None, config: dict) -> None:
    # a reservation fails on new accounts (quota 10), so nothing is reserved unless asked for
    mocks = run_program(config).mocks
    assert mocks.one("aws:lambda/function:Function")["reservedConcurrentExecutions"] == -1


def test_dev_stack_file_reserves_nothing() -> None:
    assert "reservedConcurrency" not in (ROOT / "Pulumi.dev.yaml").read_text().split("config:", 1)[1]


def test_a_digits_model_is_refused_unless_the_stack_opts_in(trained_function_dir: None) -> None:
    # given the fixture model, trained on the 8x8 digits fallback
    refusal = "mnist: the baked model was trained on the 8x8 'digits' dataset"
    with pytest.raises(pulumi.RunError, match=refusal) as error:
        run_program({}, allow_digits=False)
    assert "pulumi config set mnist:allowDigitsModel true" in str(error.value)
    # when the stack opts in, the preview says plainly what the image serves
    deployment = run_program({"allowDigitsModel": "true"})
    assert any("mnist: the image serves a model trained on the 'digits' dataset (64 pixels a row" in message
               for message in deployment.infos)


@pytest.mark.parametrize(
    "config, message",
    [({"architecture": "arm"}, "mnist:architecture: architecture must be 'x86_64' or 'arm64'"),
     ({"auth": "public"}, "mnist:auth: auth must be 'iam' or 'none'"),
     ({"memorySize": "100"}, "mnist:memorySize: memory_size must be a whole number between 128 and 10240"),
     ({"memorySize": "20000"}, "mnist:memorySize"),
     ({"timeout": "30"}, "mnist:timeout: timeout must be a whole number between 1 and 29"),
     ({"reservedConcurrency": "-2"}, "mnist:reservedConcurrency"),
     ({"reservedConcurrency": "0"}, "mnist:reservedConcurrency: reserved_concurrency 0 would throttle every call"),
     ({"reservedConcurrency": "2", "provisionedConcurrency": "3"}, "mnist:provisionedConcurrency: .*cannot exceed"),
     ({"provisionedConcurrency": "-1"}, "mnist:provisionedConcurrency"),
     ({"memorySize": "lots"}, "mnist:memorySize")],
    ids=["architecture", "auth", "memory low", "memory high", "timeout", "reserved", "reserved 0",
         "provisioned over reserved", "provisioned", "not a number"],
)
def test_bad_config_names_the_key_and_allowed_values(trained_function_dir: None, config: dict, message: str) -> None:
    with pytest.raises(pulumi.RunError, match=message.replace("(", r"\(")) as error:
        run_program(config)
    assert "Traceback" not in str(error.value)


REUSE_PROGRAM = textwrap.dedent('''
    """A second project that reuses the installed component, run under Pulumi mocks."""
    import pulumi

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            extra = {"aws:apigatewayv2/stage:Stage": {"invokeUrl": "https://abc.execute-api.us-east-1.amazonaws.com/"},
                     "aws:ecr/repository:Repository": {"repositoryUrl": "1.dkr.ecr.us-east-1.amazonaws.com/r"},
                     "docker-build:index:Image": {"digest": "sha256:" + "0" * 64}}
            return args.name + "-id", {**args.inputs, **extra.get(args.typ, {})}

        def call(self, args):
            return {"userName": "AWS", "password": "p"}

    pulumi.runtime.set_mocks(Mocks(), preview=False)

    from mnist_predictor import MnistPredictor, MnistPredictorArgs
    import mnist_predictor

    @pulumi.runtime.test
    def run():
        predictor = MnistPredictor("reuse", MnistPredictorArgs(allow_digits_model=True))  # the test model is digits
        return predictor.url.apply(lambda url: print("URL", url, mnist_predictor.__file__))

    run()
''')


def test_installed_package_is_importable_and_deploys_from_another_project(model_dir: Path, tmp_path: Path) -> None:
    # given the repository, with a trained model, pip-installed into a folder outside it
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "components", source / "components", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(FUNCTION_DIR, source / "function", ignore=shutil.ignore_patterns("model", "__pycache__"))
    shutil.copytree(model_dir, source / "function" / "model")
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    package = target / "mnist_predictor"
    assert (package / "function" / "Dockerfile").is_file() and (package / "function" / "model" / "model.npz").is_file()
    assert not (package / "function" / "local").exists() and not (target / "components").exists()
    # when another project's program imports it, from another working directory, without the repo on sys.path
    project = tmp_path / "other-project"
    project.mkdir()
    (project / "__main__.py").write_text(REUSE_PROGRAM)
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-P", "__main__.py"], cwd=project, env=env, capture_output=True, text=True,
                            timeout=120)
    # then the component deploys with its shipped function folder and exports the url
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("URL "))
    url, origin = line.split()[1:]
    assert url == "https://abc.execute-api.us-east-1.amazonaws.com/predict"
    assert origin.startswith(str(target)) and str(ROOT) not in origin
