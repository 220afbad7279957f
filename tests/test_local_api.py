"""The local API end to end over loopback: same handler, same statuses, API Gateway's HTTP limits."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import ROOT, http


def test_ready_line_names_url_s3_and_bucket(local_api: dict[str, str]) -> None:
    assert local_api["url"].startswith("http://127.0.0.1:") and local_api["url"].endswith("/predict")
    assert local_api["s3_endpoint"].startswith("http://127.0.0.1:") and local_api["bucket"] == "mnist-local-data"


def test_s3_reference_and_inline_rows_give_the_same_predictions(local_api: dict[str, str], model_dir: Path) -> None:
    # given the held-out batch the local API uploaded at start
    X = np.load(model_dir / "test_features.npy")
    y = np.load(model_dir / "test_labels.npy")
    by_reference = json.dumps({"bucket": local_api["bucket"], "key": "batches/test_features.npy"}).encode()
    inline = json.dumps({"instances": X.tolist()}).encode()
    # when it is predicted both ways over HTTP
    status_s3, _, body_s3 = http(local_api["url"], by_reference)
    status_inline, headers, body_inline = http(local_api["url"], inline)
    # then both succeed, agree, and are accurate
    assert status_s3 == status_inline == 200 and headers["content-type"] == "application/json"
    predictions = json.loads(body_s3)["predictions"]
    assert predictions == json.loads(body_inline)["predictions"]
    assert np.mean(np.array(predictions) == y) >= 0.97


def test_unknown_path_gets_404(local_api: dict[str, str]) -> None:
    status, _, body = http(local_api["url"].replace("/predict", "/admin"), b"{}")
    assert status == 404 and "POST /predict" in json.loads(body)["error"]


def test_get_reaches_the_handler_and_gets_405(local_api: dict[str, str]) -> None:
    status, headers, body = http(local_api["url"], method="GET")
    assert status == 405 and headers["allow"] == "POST" and "use POST" in json.loads(body)["error"]


def test_body_over_api_gateway_limit_gets_413_without_being_read(local_api: dict[str, str]) -> None:
    # given a request that declares 11 MB but sends only the headers
    host, port = local_api["url"].split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 11534336\r\n\r\n")
        reply = b""
        while not reply.endswith(b"}"):  # the JSON body may arrive after the headers
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    # then the server answers 413 at once
    text = reply.decode()
    assert text.startswith("HTTP/1.1 413") and "API Gateway" in text


def test_body_over_lambda_limit_gets_413_from_the_handler(local_api: dict[str, str]) -> None:
    body = json.dumps({"instances": [[0] * 64] * 50_000}).encode()
    assert 6 * 1024 * 1024 < len(body) < 10 * 1024 * 1024
    status, _, reply = http(local_api["url"], body)
    assert status == 413 and "put the batch in S3" in json.loads(reply)["error"]


def test_port_in_use_is_one_line_and_exit_2(model_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "function.local", "--port", str(port), "--model-dir",
                                 str(model_dir)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_once_runs_the_round_trip_and_exits(model_dir: Path, tmp_path: Path) -> None:
    # when the README's main command runs against a trained model
    png = tmp_path / "confusion.png"
    result = subprocess.run([sys.executable, "-m", "function.local", "--once", "--port", "0", "--model-dir",
                             str(model_dir), "--confusion", str(png)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    # then it prints the ready line, the accuracy over HTTP, saves the matrix, and exits 0
    assert result.returncode == 0, result.stderr[-2000:]
    ready, accuracy_line, _ = result.stdout.strip().splitlines()
    assert json.loads(ready)["bucket"] == "mnist-local-data"
    assert accuracy_line.startswith("accuracy: ") and float(accuracy_line.split()[1]) >= 0.97
    assert png.read_bytes().startswith(b"\x89PNG")
