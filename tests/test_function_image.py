"""Static checks of the image, since no Docker engine is available: lint, Lambda-platform wheels, the entry point."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FUNCTION_DIR, ROOT

DOCKERFILE = (FUNCTION_DIR / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    """Arguments of every `name` instruction, with continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines()
    return [line.split(None, 1)[1] for line in logical if line.split(None, 1)[:1] == [name]]


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(FUNCTION_DIR / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_the_lambda_python_image_3_12_or_newer() -> None:
    (base,) = _instructions("FROM")
    match = re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.(\d+)\S*", base.strip())
    assert match and int(match.group(1)) >= 12


def test_only_the_runtime_requirements_are_installed() -> None:
    (run,) = _instructions("RUN")
    assert "requirements.txt" in run and "--only-binary=:all:" in run
    lines = (FUNCTION_DIR / "requirements.txt").read_text().splitlines()
    requirements = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    # numpy for the model; Powertools for EMF metrics and the batch protocol; Pillow for images and threadpoolctl
    # for more than one BLAS thread, both imported lazily
    assert requirements == ["numpy==2.2.6", "aws-lambda-powertools==3.37.0", "pillow==13.0.0", "threadpoolctl==3.8.0"]


def test_home_and_caches_point_at_tmp() -> None:
    env = " ".join(_instructions("ENV"))
    assert "HOME=/tmp" in env and "PYTHONDONTWRITEBYTECODE=1" in env


def test_cmd_names_a_handler_that_imports_from_the_task_root(model_dir: Path, tmp_path: Path) -> None:
    # given the files the Dockerfile copies, laid out as /var/task
    (cmd,) = _instructions("CMD")
    module, function = ast.literal_eval(cmd)[0].rsplit(".", 1)
    task_root = tmp_path / "task"
    for copy in _instructions("COPY"):
        *sources, dest = copy.split()
        for source in sources:
            target = task_root / (Path(dest.replace("${LAMBDA_TASK_ROOT}", ".").lstrip("/")) / Path(source).name)
            target.parent.mkdir(parents=True, exist_ok=True)
            origin = model_dir / Path(source).name if source.startswith("model/") else FUNCTION_DIR / source
            shutil.copy(origin, target)
    # when Python imports the CMD's module there, with nothing else on the path
    probe = f"import {module}; assert callable({module}.{function}); print('ok')"
    result = subprocess.run([sys.executable, "-s", "-c", probe], cwd=task_root, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "ALLOWED_BUCKETS": "", "AWS_DEFAULT_REGION": "us-east-1"})
    # then it imports and the handler is callable: every module it needs was copied
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout + result.stderr


def test_every_function_module_is_copied_and_local_code_is_not() -> None:
    copied = {name for copy in _instructions("COPY") for name in copy.split()[:-1]}
    modules = {p.name for p in FUNCTION_DIR.glob("*.py") if p.name != "__init__.py"}
    assert modules <= copied
    ignore = (FUNCTION_DIR / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") if "*" in ignore else 0] == "*" and not any("local" in line for line in ignore)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_runtime_requirements_resolve_to_lambda_platform_wheels(arch: str, tmp_path: Path) -> None:
    # Lambda's python3.12 image is Amazon Linux 2023 (glibc 2.34): manylinux2014 and manylinux_2_28 wheels both load.
    python = re.search(r"python:(3\.\d+)", DOCKERFILE).group(1)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--platform",
         f"manylinux2014_{arch}", "--platform", f"manylinux_2_28_{arch}", "--python-version", python,
         "--implementation", "cp", "--abi", f"cp{python.replace('.', '')}",
         "-r", str(FUNCTION_DIR / "requirements.txt"), "-d", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wheels = [p.name for p in tmp_path.glob("*.whl")]
    assert {name.split("-")[0].lower() for name in wheels} >= {"numpy", "pillow"}
    assert all(arch in name for name in wheels if "none-any" not in name)


def test_the_image_drops_exactly_what_the_benchmark_leaves_out_of_its_size() -> None:
    from bench.deps import shipped

    # the Dockerfile removes numpy's test suites after installing, and the benchmark's size leaves out the same files
    (run,) = _instructions("RUN")
    assert 'find "${LAMBDA_TASK_ROOT}/numpy" -depth -type d -name tests -exec rm -rf {} +' in run
    assert not shipped("numpy/_core/tests/test_multiarray.py") and not shipped("numpy/linalg/tests/test_linalg.py")
    # and nothing the function imports: numpy's modules, numpy.testing, other packages' files
    assert all(shipped(p) for p in ("numpy/_core/multiarray.py", "numpy/testing/__init__.py", "PIL/tests/x.py",
                                    "numpy.libs/libscipy_openblas.so"))
