"""Shared fixtures. Each part's fixtures live in its own section below."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"


# ---------------------------------------------------------------- training
@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained once per session on the bundled digits by the real CLI."""
    out = tmp_path_factory.mktemp("model") / "model"
    subprocess.run(
        [sys.executable, "-m", "training", "--dataset", "digits", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


# ---------------------------------------------------------------- function
EVENTS_DIR = Path(__file__).resolve().parent / "events"
DATA_BUCKET = "mnist-test-data"


def load_event(name: str, **changes: object) -> dict:
    """A real API Gateway HTTP API payload 2.0 event from tests/events/, with top-level fields replaced."""
    event = json.loads((EVENTS_DIR / name).read_text())
    event.update(changes)
    return event


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on loopback for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(s3_server: str):
    """A boto3 S3 client on the moto server, with the allowed data bucket created."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=DATA_BUCKET)
    return client


@pytest.fixture(scope="session")
def app(model_dir: Path, s3_server: str, s3) -> ModuleType:
    """The handler module imported from function/ as Lambda's task root, reading the session model and S3."""
    os.environ.update(MODEL_DIR=str(model_dir), ALLOWED_BUCKETS=DATA_BUCKET, AWS_ENDPOINT_URL_S3=s3_server)
    sys.modules.pop("app", None)
    return importlib.import_module("app")


def call(app: ModuleType, body: object, **changes: object) -> tuple[int, dict]:
    """Send a POST /predict event with a JSON (or raw string) body; returns (status, parsed JSON body)."""
    text = body if isinstance(body, str) else json.dumps(body)
    response = app.handler(load_event("predict_inline.json", body=text, **changes), LambdaContext())
    return response["statusCode"], json.loads(response["body"])


class LambdaContext:
    """The attributes of Lambda's context object the handler reads."""

    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_name = "mnist-test"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        """As Lambda reports it: time left before the timeout."""
        return 15_000




# ---------------------------------------------------------------- component (Pulumi mocks)


# ---------------------------------------------------------------- local API
@pytest.fixture(scope="session")
def local_api(model_dir: Path) -> Iterator[dict[str, str]]:
    """`python -m function.local` running on a free port for the session; yields its JSON ready line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "function.local", "--port", "0", "--model-dir", str(model_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("the local API exited before printing its ready line")
    yield json.loads(line)
    process.terminate()
    process.wait(timeout=20)


def http(url: str, body: bytes | None = None, method: str = "POST",
         headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with urllib; returns (status, lower-cased headers, body) for any status."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
