"""`python -m client`: upload and predict against the local API, SigV4 signing, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from client.api import ClientError, predict, region_of
from conftest import ROOT


def client(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the client CLI as a user would."""
    return subprocess.run([sys.executable, "-m", "client", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


def test_upload_then_predict_prints_accuracy_and_saves_png(local_api: dict[str, str], model_dir: Path,
                                                           tmp_path: Path) -> None:
    # given a CSV batch uploaded with the client
    rows = np.load(model_dir / "test_features.npy")[:40]
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",", fmt="%d")
    np.save(tmp_path / "labels.npy", np.load(model_dir / "test_labels.npy")[:40])
    up = client("upload", str(tmp_path / "rows.csv"), "--bucket", local_api["bucket"], "--key", "mine/rows.csv",
                "--endpoint-url", local_api["s3_endpoint"], env=LOCAL_CREDENTIALS)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout) == {"bucket": local_api["bucket"], "key": "mine/rows.csv"} and "100%" in up.stderr
    # when predicting it by reference with labels
    png = tmp_path / "cm.png"
    result = client("predict", local_api["url"], "--bucket", local_api["bucket"], "--key", "mine/rows.csv",
                    "--labels", str(tmp_path / "labels.npy"), "--confusion", str(png))
    # then predictions, accuracy and the picture appear
    assert result.returncode == 0, result.stderr
    summary, accuracy, _ = result.stdout.strip().splitlines()
    assert json.loads(summary)["count"] == 40 and float(accuracy.split()[1]) >= 0.9
    assert png.read_bytes().startswith(b"\x89PNG")


def test_inline_rows_match_s3_reference(local_api: dict[str, str], model_dir: Path, tmp_path: Path) -> None:
    rows = np.load(model_dir / "test_features.npy")[:5]
    np.save(tmp_path / "five.npy", rows)
    inline = client("predict", local_api["url"], "--rows", str(tmp_path / "five.npy"))
    assert inline.returncode == 0, inline.stderr
    full = client("predict", local_api["url"], "--bucket", local_api["bucket"], "--key", "batches/test_features.npy")
    assert json.loads(inline.stdout)["predictions"] == json.loads(full.stdout)["predictions"][:5]


def test_http_errors_are_one_line_with_the_servers_message(local_api: dict[str, str]) -> None:
    result = client("predict", local_api["url"], "--bucket", "not-ours", "--key", "x.npy")
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: HTTP 403: ") and "not allowed" in result.stderr


def test_unreachable_url_and_bad_files_exit_non_zero(tmp_path: Path) -> None:
    down = client("predict", "http://127.0.0.1:9/predict", "--bucket", "b", "--key", "k.npy")
    assert down.returncode == 1 and down.stderr.startswith("error: cannot reach") and "Traceback" not in down.stderr
    missing = client("predict", "http://127.0.0.1:9/predict", "--rows", str(tmp_path / "none.npy"))
    assert missing.returncode == 2 and "file not found" in missing.stderr
    (tmp_path / "batch.pkl").write_bytes(b"\x80\x04.")
    pickled = client("upload", str(tmp_path / "batch.pkl"), "--bucket", "b")
    assert pickled.returncode == 2 and ".npy or .csv" in pickled.stderr


def test_region_comes_from_execute_api_hosts_only() -> None:
    assert region_of("https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/predict") == "eu-west-1"
    assert region_of("http://127.0.0.1:3000/predict") is None


@pytest.fixture
def capturing_server():
    """A loopback server that records the headers of one POST and answers 200 with predictions."""
    seen: dict[str, str] = {}

    class Capture(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            seen.update({k.lower(): v for k, v in self.headers.items()})
            self.rfile.read(int(self.headers["content-length"]))
            body = b'{"predictions": [7], "count": 1}'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.handle_request, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict", seen
    server.server_close()


def test_requests_are_sigv4_signed_for_execute_api(capturing_server, monkeypatch: pytest.MonkeyPatch) -> None:
    # given credentials in the environment, as for a deployed stack with IAM auth
    url, seen = capturing_server
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    # when the client signs a call for region eu-west-1
    reply = predict(url, {"instances": [[0] * 64]}, sign=True, region="eu-west-1")
    # then the request carries a SigV4 Authorization for execute-api in that region
    assert reply.status == 200 and reply.body["predictions"] == [7]
    assert seen["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in seen["authorization"]
    assert seen["x-amz-security-token"] == "token" and "x-amz-date" in seen


def test_signing_without_a_region_is_refused() -> None:
    with pytest.raises(ClientError, match="--region"):
        predict("http://127.0.0.1:9/predict", {}, sign=True)
