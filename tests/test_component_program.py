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


def run_program(config: dict[str, str]):
    """Run __main__.py as `pulumi up` would, with this stack config."""
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
                                       "api_id", "log_group_name", "sample_key", "incoming_prefix", "queue_url"}


def test_stack_config_maps_onto_the_component(trained_function_dir: None) -> None:
    config = {"architecture": "arm64", "auth": "iam", "memorySize": "1024", "timeout": "20",
              "reservedConcurrency": "3", "provisionedConcurrency": "1", "throttlingBurstLimit": "50",
              "throttlingRateLimit": "25.5", "logRetentionDays": "30", "forceDestroy": "false",
              "uploadSample": "false", "inputPrefix": "in/", "imageKeepCount": "3"}
    mocks = run_program(config).mocks
    fn = mocks.named("mnist-fn")
    assert (fn["architectures"], fn["memorySize"], fn["timeout"], fn["reservedConcurrentExecutions"]) == (
        ["arm64"], 1024, 20, 3)
    assert mocks.one("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")[
        "provisionedConcurrentExecutions"] == 1
    assert mocks.one("docker:index/image:Image")["build"]["platform"] == "linux/arm64"
    assert mocks.one("aws:apigatewayv2/stage:Stage")["defaultRouteSettings"] == {
        "throttlingBurstLimit": 50, "throttlingRateLimit": 25.5}
    assert {g["retentionInDays"] for g in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")} == {30}
    assert mocks.one("aws:s3/bucket:Bucket")["forceDestroy"] is False
    assert not mocks.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert json.loads(mocks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")["policy"])["rules"][0]["selection"][
        "countNumber"] == 3
    reads = [s for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy") if p["role"] == "mnist-role-id"
             for s in json.loads(p["policy"])["Statement"] if s["Action"] == "s3:GetObject"]
    assert reads[0]["Resource"].endswith("/in/*")


def test_reserved_concurrency_none_means_unreserved(trained_function_dir: None) -> None:
    mocks = run_program({"reservedConcurrency": "none"}).mocks
    assert mocks.named("mnist-fn")["reservedConcurrentExecutions"] == -1


@pytest.mark.parametrize(
    "config, message",
    [({"architecture": "arm"}, "mnist:architecture: architecture must be 'x86_64' or 'arm64'"),
     ({"auth": "public"}, "mnist:auth: auth must be 'iam' or 'none'"),
     ({"memorySize": "100"}, "mnist:memorySize: memory_size must be a whole number between 128 and 10240"),
     ({"memorySize": "20000"}, "mnist:memorySize"),
     ({"timeout": "30"}, "mnist:timeout: timeout must be a whole number between 1 and 29"),
     ({"reservedConcurrency": "-2"}, "mnist:reservedConcurrency"),
     ({"provisionedConcurrency": "-1"}, "mnist:provisionedConcurrency"),
     ({"memorySize": "lots"}, "mnist:memorySize")],
    ids=["architecture", "auth", "memory low", "memory high", "timeout", "reserved", "provisioned", "not a number"],
)
def test_bad_config_names_the_key_and_allowed_values(trained_function_dir: None, config: dict, message: str) -> None:
    with pytest.raises(Exception, match=message.replace("(", r"\(")) as error:
        run_program(config)
    assert "Traceback" not in str(error.value)


REUSE_PROGRAM = textwrap.dedent('''
    """A second project that reuses the installed component, run under Pulumi mocks."""
    import pulumi

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            extra = {"aws:apigatewayv2/stage:Stage": {"invokeUrl": "https://abc.execute-api.us-east-1.amazonaws.com/"},
                     "aws:ecr/repository:Repository": {"repositoryUrl": "1.dkr.ecr.us-east-1.amazonaws.com/r"},
                     "docker:index/image:Image": {"repoDigest": "1.dkr.ecr.us-east-1.amazonaws.com/r@sha256:" + "0" * 64}}
            return args.name + "-id", {**args.inputs, **extra.get(args.typ, {})}

        def call(self, args):
            return {"userName": "AWS", "password": "p"}

    pulumi.runtime.set_mocks(Mocks(), preview=False)

    from mnist_predictor import MnistPredictor
    import mnist_predictor

    @pulumi.runtime.test
    def run():
        predictor = MnistPredictor("reuse")
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
