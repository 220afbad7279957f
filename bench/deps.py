"""Installed size of each side's runtime dependencies, resolved for the Lambda platform (cached)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.data import CACHE, ROOT

# What the tutorial's image installed on top of the base image (which brings boto3, as it does for us).
REFERENCE_REQUIREMENTS = ["scikit-learn==1.9.1", "joblib==1.6.0", "pandas==3.1.1"]
# Lambda's python3.12 image runs on Amazon Linux 2023 (glibc 2.34), so manylinux_2_28 wheels load too.
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_28_x86_64"]


def project_requirements() -> list[str]:
    """The function's pinned runtime requirements."""
    lines = (ROOT / "function" / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def shipped(path: str) -> bool:
    """Whether a file of an unpacked wheel stays in the image: function/Dockerfile drops numpy's test suites."""
    parts = path.split("/")
    return not (parts[0] == "numpy" and "tests" in parts[1:-1])


def installed_bytes(requirements: list[str], log, prune: bool = False) -> int | None:
    """Sum of the unpacked wheel files for Lambda's platform and Python 3.12 (with prune, only what the project's
    image keeps); None if they cannot be downloaded."""
    key = hashlib.sha256(json.dumps([requirements, PLATFORMS, prune]).encode()).hexdigest()[:12]
    cached = CACHE / f"deps-{key}.json"
    if cached.exists():
        return json.loads(cached.read_text())["bytes"]
    log(f"downloading Lambda-platform wheels for {', '.join(requirements)} ...")
    with tempfile.TemporaryDirectory() as folder:
        platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", *platforms,
             "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312", "-d", folder, *requirements],
            capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            log(f"could not download wheels: {done.stderr.strip().splitlines()[-1:]}")
            return None
        total = 0
        for wheel in Path(folder).glob("*.whl"):
            with zipfile.ZipFile(wheel) as archive:
                total += sum(info.file_size for info in archive.infolist() if not prune or shipped(info.filename))
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"requirements": requirements, "bytes": total}))
    return total
