"""Lambda-like sandbox: the handler works with its task root read-only and writes nothing outside /tmp."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_BUCKET, FUNCTION_DIR

# Run inside the sandbox: an audit hook fails on any write outside the writable scratch folder (Lambda's /tmp,
# here $SCRATCH), then the handler serves an inline and an S3 request.
GUARD = r"""
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
"""
SERVE = r"""
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


# Inside a private mount namespace: scratch becomes its own (writable) mount, then the whole root filesystem is
# remounted read-only, as Lambda leaves only /tmp writable. Each step is checked, so a mode is never claimed falsely.
LOCKDOWN = """
mount --bind "$SCRATCH" "$SCRATCH" || exit 98
mount -o remount,bind,ro / || exit 98
touch "$TASK_ROOT/.rw-probe" 2>/dev/null && exit 97
touch "$SCRATCH/.rw-probe" && rm "$SCRATCH/.rw-probe" || exit 96
exec "$@"
"""


def _sandboxed(root: Path, scratch: Path, env: dict[str, str], code: str = SERVE,
               hook: bool = True) -> tuple[list[str], str]:
    """The strongest sandbox this machine allows around `code` (run after the audit hook), and its name."""
    probe = [sys.executable, "-c", (GUARD if hook else "import json\n") + code]
    env.update(TASK_ROOT=str(root), SCRATCH=str(scratch))
    if shutil.which("unshare"):
        for wrapper in (["unshare", "--user", "--map-root-user", "--mount"], ["unshare", "--mount"]):
            command = [*wrapper, "sh", "-c", LOCKDOWN, "sh"]
            if subprocess.run([*command, "true"], env=env, capture_output=True).returncode == 0:
                return [*command, *probe], f"whole filesystem read-only except scratch ({' '.join(wrapper)}) + audit hook"
    if os.geteuid() != 0:
        # Without namespaces, file modes still bind an unprivileged user (they would not bind root).
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return probe, "task root chmod a-w (unprivileged user) + audit hook"
    return probe, "audit hook only (root, and no mount namespace available)"


def test_handler_runs_with_a_read_only_task_root(model_dir: Path, tmp_path: Path, s3, s3_server: str,
                                                 tmp_path_factory: pytest.TempPathFactory,
                                                 capsys: pytest.CaptureFixture) -> None:
    # given the task root laid out like /var/task, a scratch folder standing in for /tmp, and an S3 batch
    import numpy as np

    import hostile

    s3.put_object(Bucket=DATA_BUCKET, Key="sandbox/batch.npy",
                  Body=hostile.npy(np.load(model_dir / "test_features.npy")[:20]))
    root = _task_root(model_dir, tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # No PYTHONDONTWRITEBYTECODE: the interpreter tries to cache bytecode beside the code, as it would in Lambda.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch), "MODEL_DIR": str(root / "model"),
           "ALLOWED_BUCKETS": DATA_BUCKET, "AWS_ENDPOINT_URL_S3": s3_server, "AWS_ACCESS_KEY_ID": "t",
           "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}
    command, mode = _sandboxed(root, scratch, env)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    # when it imports and serves inline and S3 requests
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=60)
    # then both succeed and the task root is exactly as it was
    assert result.returncode == 0, (mode, result.stdout[-1500:], result.stderr[-1500:])
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [200, 200]
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    (tmp_path_factory.mktemp("figures") / "sandbox.json").write_text(json.dumps({"mode": mode}))
    with capsys.disabled():
        print(f"\nsandbox mode: {mode}")


ESCAPE = r"""
import os, pathlib
outcomes = {}
for target in (os.environ["TASK_ROOT"] + "/app.py", os.environ["TASK_ROOT"] + "/model/model.npz",
               os.environ["HOME"] + "/../escape.txt", os.environ["SCRATCH"] + "/ok.txt"):
    try:
        with open(target, "ab") as handle:
            handle.write(b"x")
        outcomes[target] = "written"
    except OSError as exc:
        outcomes[target] = type(exc).__name__
print(json.dumps(outcomes))
"""


@pytest.mark.parametrize("layer", ["filesystem", "audit hook"])
def test_each_sandbox_layer_alone_refuses_writes_outside_scratch(layer: str, model_dir: Path, tmp_path: Path) -> None:
    # given one layer of the sandbox alone around code that tries to modify the task root and escape scratch
    root = _task_root(model_dir, tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch)}
    if layer == "filesystem":
        command, mode = _sandboxed(root, scratch, env, ESCAPE, hook=False)
        if mode.startswith("audit hook only"):
            pytest.skip("no filesystem layer on this machine: root without mount namespaces")
    else:
        env.update(TASK_ROOT=str(root), SCRATCH=str(scratch))
        command, mode = [sys.executable, "-c", GUARD + ESCAPE], "audit hook"
    original = (root / "app.py").read_bytes()
    # when it runs
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=60)
    # then only the scratch write succeeded, and the task root is byte-for-byte unchanged
    assert result.returncode == 0, (mode, result.stderr[-1500:])
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert [outcome == "written" for outcome in outcomes.values()] == [False, False, False, True], (mode, outcomes)
    assert (root / "app.py").read_bytes() == original and not (tmp_path / "escape.txt").exists()
