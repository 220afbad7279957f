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
    assert pickled.returncode == 2 and ".npy, .npz, .csv or .json" in pickled.stderr


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


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last stderr line, after checking there is no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_upload_to_a_missing_bucket_is_one_line(s3_server: str, tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.zeros((2, 64), dtype=np.uint8))
    result = client("upload", str(tmp_path / "rows.npy"), "--bucket", "no-such-bucket", "--endpoint-url", s3_server,
                    env=LOCAL_CREDENTIALS)
    assert result.returncode == 1
    assert _one_error_line(result) == ("error: upload to s3://no-such-bucket/batches/rows.npy failed: "
                                       "the bucket does not exist; check --bucket (pulumi stack output bucket_name) "
                                       "(NoSuchBucket)")


@pytest.mark.parametrize("url", ["localhost:5000", "127.0.0.1:5000", "ftp://host/x"])
def test_endpoint_url_without_http_scheme_is_refused(url: str, tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.zeros((2, 64), dtype=np.uint8))
    result = client("upload", str(tmp_path / "rows.npy"), "--bucket", "b", "--endpoint-url", url)
    assert result.returncode == 2 and "--endpoint-url must start with http:// or https://" in _one_error_line(result)


def test_predict_url_without_scheme_is_refused(tmp_path: Path) -> None:
    result = client("predict", "localhost:3000/predict", "--bucket", "b", "--key", "k.npy")
    assert result.returncode == 2 and "must start with http:// or https://" in _one_error_line(result)


@pytest.fixture
def denying_s3():
    """A loopback S3 stand-in that answers every request 403 AccessDenied, as real AWS does without permission."""
    class Deny(BaseHTTPRequestHandler):
        def _deny(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
                    b"<Message>Access Denied</Message><RequestId>1</RequestId></Error>")
            self.send_response(403)
            self.send_header("content-type", "application/xml")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_PUT = do_POST = do_GET = do_HEAD = _deny  # noqa: N815 - the stdlib's names

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Deny)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_upload_access_denied_is_one_line(denying_s3: str, tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.zeros((2, 64), dtype=np.uint8))
    result = client("upload", str(tmp_path / "rows.npy"), "--bucket", "theirs", "--endpoint-url", denying_s3,
                    env=LOCAL_CREDENTIALS)
    assert result.returncode == 1 and "access denied" in _one_error_line(result)
    assert "(AccessDenied)" in _one_error_line(result)


@pytest.mark.parametrize("labels", [[1.5, 2.0, 3.0], [1.0, 2.0, float("nan")]], ids=["fraction", "nan"])
def test_fractional_labels_are_refused_before_the_request(labels: list[float], tmp_path: Path) -> None:
    # given float labels that int() would truncate
    np.save(tmp_path / "rows.npy", np.zeros((3, 64), dtype=np.uint8))
    np.save(tmp_path / "labels.npy", np.array(labels))
    # when predicting with them (at a URL nothing listens on: the labels must fail first)
    result = client("predict", "http://127.0.0.1:9/predict", "--rows", str(tmp_path / "rows.npy"),
                    "--labels", str(tmp_path / "labels.npy"))
    # then no accuracy, one line naming the problem, exit 2
    assert result.returncode == 2 and "labels must be whole numbers" in _one_error_line(result)
    assert "accuracy" not in result.stdout


def _as_header_csv(path: Path, rows: np.ndarray) -> Path:
    header = ",".join(f"pixel{i}" for i in range(rows.shape[1]))
    np.savetxt(path, rows, delimiter=",", fmt="%d", header=header, comments="")
    return path


BATCH_WRITERS = {
    "csv with header": lambda d, rows: _as_header_csv(d / "rows.csv", rows),
    "json": lambda d, rows: (d / "rows.json").write_text(json.dumps(rows.tolist())) and d / "rows.json",
    "npz": lambda d, rows: np.savez(d / "rows.npz", X=rows) or d / "rows.npz",
    "compressed npz": lambda d, rows: np.savez_compressed(d / "rowsc.npz", X=rows) or d / "rowsc.npz",
}


@pytest.mark.parametrize("fmt", BATCH_WRITERS, ids=list(BATCH_WRITERS))
def test_client_accepts_every_format_the_api_accepts(fmt: str, local_api: dict[str, str], model_dir: Path,
                                                     tmp_path: Path) -> None:
    # given the same rows in another format the API accepts
    rows = np.load(model_dir / "test_features.npy")[:6]
    np.save(tmp_path / "rows.npy", rows)
    path = BATCH_WRITERS[fmt](tmp_path, rows)
    # when sent inline and uploaded with the client
    inline = client("predict", local_api["url"], "--rows", str(path))
    reference = client("predict", local_api["url"], "--rows", str(tmp_path / "rows.npy"))
    up = client("upload", str(path), "--bucket", local_api["bucket"], "--endpoint-url", local_api["s3_endpoint"],
                env=LOCAL_CREDENTIALS)
    # then both succeed, and the predictions are those of the .npy
    assert inline.returncode == 0, inline.stderr
    assert json.loads(inline.stdout)["predictions"] == json.loads(reference.stdout)["predictions"]
    assert up.returncode == 0, up.stderr
    by_key = client("predict", local_api["url"], "--bucket", local_api["bucket"], "--key", f"batches/{path.name}")
    assert json.loads(by_key.stdout)["predictions"] == json.loads(reference.stdout)["predictions"]


def test_predict_with_labels_writes_no_picture_unless_asked(local_api: dict[str, str], model_dir: Path,
                                                            tmp_path: Path) -> None:
    # given labels and a working folder of the user's
    work = tmp_path / "work"
    work.mkdir()
    np.save(tmp_path / "rows.npy", np.load(model_dir / "test_features.npy")[:10])
    np.save(tmp_path / "labels.npy", np.load(model_dir / "test_labels.npy")[:10])
    # when predicting with --labels but no --confusion, from that folder
    result = subprocess.run([sys.executable, "-m", "client", "predict", local_api["url"], "--rows",
                             str(tmp_path / "rows.npy"), "--labels", str(tmp_path / "labels.npy")],
                            cwd=work, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    # then it prints the accuracy and writes nothing there
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("accuracy: ") and list(work.iterdir()) == []


def test_confusion_needs_labels_and_a_picture_suffix() -> None:
    no_labels = client("predict", "http://127.0.0.1:9/predict", "--bucket", "b", "--key", "k.npy",
                       "--confusion", "c.png")
    assert no_labels.returncode == 2 and "--confusion needs --labels" in no_labels.stderr
    text = client("predict", "http://127.0.0.1:9/predict", "--bucket", "b", "--key", "k.npy", "--labels", "l.npy",
                  "--confusion", "c.txt")
    assert text.returncode == 2 and "must end in .png" in text.stderr


def test_rows_with_a_bucket_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    result = client("predict", "http://127.0.0.1:9/predict", "--rows", str(tmp_path / "r.npy"), "--bucket", "b")
    assert result.returncode == 2 and "--bucket goes with --key" in result.stderr


def test_help_points_to_the_api_page() -> None:
    result = client("--help")
    assert result.returncode == 0 and "docs/api.md" in result.stdout and "README" not in result.stdout


def test_a_200_without_predictions_is_one_line() -> None:
    # given a URL whose server answers 200 with something other than predictions (a wrong path, another service)
    class Other(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        # when the client calls it, then one line says so instead of a JSON or KeyError traceback
        result = client("predict", f"http://127.0.0.1:{server.server_address[1]}/", "--bucket", "b", "--key", "k.npy")
    finally:
        server.server_close()
    assert result.returncode == 1 and "without predictions" in _one_error_line(result)
