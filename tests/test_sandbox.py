"""Lambda-like sandbox: the handler works with its task root read-only and writes nothing outside /tmp."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_BUCKET, FUNCTION_DIR

# Run inside the sandbox: an audit hook fails on any write outside the writable scratch folder (Lambda's /tmp,
# here $SCRATCH), then the handler serves an inline and an S3 request.
PROBE = r"""
import json, os, sys
SCRATCH = os.environ["SCRATCH"] + "/"
def guard(event, args):
    if event == "open" and args[1] not in (None, "r", "rb") and isinstance(args[0], str):
        mode = args[1] if isinstance(args[1], str) else ""
        flags = args[2] if isinstance(args[2], int) else 0
        writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and not os.path.realpath(args[0]).startswith(SCRATCH) and args[0] != "/dev/null":
            raise PermissionError(f"write outside the scratch folder: {args[0]}")
    if event in ("os.mkdir", "os.rename", "os.remove", "shutil.rmtree") and not str(args[0]).startswith(SCRATCH):
        raise PermissionError(f"{event} outside the scratch folder: {args[0]}")
sys.addaudithook(guard)
import app
inline = {"requestContext": {"http": {"method": "POST"}}, "headers": {"content-type": "application/json"},
          "body": json.dumps({"instances": [[0] * 64]})}
s3 = dict(inline, body=json.dumps({"bucket": os.environ["ALLOWED_BUCKETS"], "key": "sandbox/batch.npy"}))
print(json.dumps([app.handler(inline, None)["statusCode"], app.handler(s3, None)["statusCode"]]))
"""


def _task_root(model_dir: Path, tmp_path: Path) -> Path:
    """The files the Dockerfile copies, laid out like /var/task."""
    root = tmp_path / "var-task"
    root.mkdir()
    for module in FUNCTION_DIR.glob("*.py"):
        if module.name != "__init__.py":
            shutil.copy(module, root)
    (root / "model").mkdir()
    for name in ("model.npz", "metadata.json"):
        shutil.copy(model_dir / name, root / "model")
    return root


def _readonly_command(root: Path) -> tuple[list[str], str]:
    """Wrap the probe in a read-only bind mount of the task root when user namespaces allow it."""
    probe = [sys.executable, "-c", PROBE]
    mount = (f"mount --bind {root} {root} && mount -o remount,bind,ro {root} && "
             f"touch {root}/canary 2>/dev/null && exit 97; exec \"$@\"")
    for wrapper in (["unshare", "--user", "--map-root-user", "--mount"], ["unshare", "--mount"]):
        # Try the whole mount first (namespaces or mounts may be forbidden, e.g. in some CI containers).
        if shutil.which("unshare") and subprocess.run([*wrapper, "sh", "-c", mount, "sh", "true"],
                                                      capture_output=True).returncode == 0:
            return [*wrapper, "sh", "-c", mount, "sh", *probe], "read-only bind mount + audit hook"
    return probe, "audit hook only (no mount namespace available)"


def test_handler_runs_with_a_read_only_task_root(model_dir: Path, tmp_path: Path, s3, s3_server: str,
                                                 capsys: pytest.CaptureFixture) -> None:
    # given the task root and an S3 batch
    import numpy as np

    import hostile

    s3.put_object(Bucket=DATA_BUCKET, Key="sandbox/batch.npy",
                  Body=hostile.npy(np.load(model_dir / "test_features.npy")[:20]))
    root = _task_root(model_dir, tmp_path)
    command, mode = _readonly_command(root)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch), "SCRATCH": str(scratch), "MODEL_DIR": str(root / "model"), "ALLOWED_BUCKETS": DATA_BUCKET,
           "AWS_ENDPOINT_URL_S3": s3_server, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
           "AWS_DEFAULT_REGION": "us-east-1"}
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    # when it imports and serves inline and S3 requests
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=60)
    # then both succeed and the task root is exactly as it was
    assert result.returncode == 0, (mode, result.stdout[-1500:], result.stderr[-1500:])
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [200, 200]
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    with capsys.disabled():
        print(f"\nsandbox mode: {mode}")
