"""The Lambda handler fed real payload 2.0 events, reading batches from a moto S3 server over HTTP."""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from conftest import DATA_BUCKET, LambdaContext, call, load_event
from logs import JsonFormatter


@pytest.fixture(scope="module")
def held_out(model_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The held-out batch and labels written by training."""
    return np.load(model_dir / "test_features.npy"), np.load(model_dir / "test_labels.npy")


def put(s3, key: str, data: bytes) -> dict[str, str]:
    """Upload bytes to the data bucket and return the request body naming them."""
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=data)
    return {"bucket": DATA_BUCKET, "key": key}


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


class Canary:
    """Unpickling this touches a marker file: proof that pickled data ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_s3_event_predicts_the_held_out_batch(app: ModuleType, s3, held_out) -> None:
    # given the held-out batch uploaded as .npy and the recorded S3 event naming it
    X, y = held_out
    put(s3, "batches/test_features.npy", npy_bytes(X))
    # when the handler receives the event
    response = app.handler(load_event("predict_s3.json"), LambdaContext())
    # then it answers 200 with one prediction per row, accurate, and names the model
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and response["headers"]["content-type"] == "application/json"
    assert body["count"] == len(X) == len(body["predictions"])
    assert np.mean(np.array(body["predictions"]) == y) >= 0.97
    assert body["model"]["dataset"] == "digits" and len(body["model"]["sha256"]) == 64


def test_base64_encoded_body_is_decoded(app: ModuleType, s3, held_out) -> None:
    put(s3, "batches/test_features.npy", npy_bytes(held_out[0]))
    response = app.handler(load_event("predict_s3_base64.json"), LambdaContext())
    assert response["statusCode"] == 200 and json.loads(response["body"])["count"] == len(held_out[0])


def test_every_format_and_inline_give_identical_predictions(app: ModuleType, s3, held_out) -> None:
    # given the same 50 rows in every accepted format
    X = held_out[0][:50]
    csv_rows = "\n".join(",".join(str(int(v)) for v in row) for row in X)
    npz = io.BytesIO()
    np.savez_compressed(npz, X=X)
    bodies = {
        "npy": put(s3, "same/rows.npy", npy_bytes(X.astype(np.float64))),
        "npz": put(s3, "same/rows.npz", npz.getvalue()),
        "csv": put(s3, "same/rows.csv", csv_rows.encode()),
        "csv with header": put(s3, "same/header.CSV", (",".join(f"p{i}" for i in range(64)) + "\n" + csv_rows).encode()),
        "json": put(s3, "same/rows.json", json.dumps(X.tolist()).encode()),
        "inline": {"instances": X.tolist()},
    }
    # when each is sent
    results = {name: call(app, body) for name, body in bodies.items()}
    # then every one succeeds with exactly the same predictions
    assert {name: status for name, (status, _) in results.items()} == dict.fromkeys(bodies, 200)
    predictions = {name: tuple(body["predictions"]) for name, (_, body) in results.items()}
    assert len(set(predictions.values())) == 1


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "exactly one input"),
        (json.dumps({"bucket": DATA_BUCKET, "key": "k.npy", "instances": [[0] * 64]}), "exactly one input"),
        (json.dumps({"bucket": DATA_BUCKET}), "exactly one input"),
        (json.dumps({"bucket": 3, "key": "k.npy"}), "non-empty strings"),
        (json.dumps({"bucket": DATA_BUCKET, "key": "a/../b.npy"}), "path segments"),
        (json.dumps({"bucket": DATA_BUCKET, "key": "bad\u0007key.npy"}), "control characters"),
        ("", "body is empty"),
    ],
    ids=["malformed", "array", "neither", "both", "bucket only", "wrong type", "traversal", "control char", "empty"],
)
def test_bad_requests_get_400(app: ModuleType, body: str, fragment: str) -> None:
    status, payload = call(app, body)
    assert status == 400 and fragment in payload["error"]


def test_bucket_outside_the_allowlist_gets_403_without_reading(app: ModuleType, s3) -> None:
    status, payload = call(app, {"bucket": "someone-elses-bucket", "key": "x.npy"})
    assert status == 403 and "not allowed" in payload["error"]


def test_missing_object_gets_404(app: ModuleType) -> None:
    status, payload = call(app, {"bucket": DATA_BUCKET, "key": "nowhere/missing.npy"})
    assert status == 404 and "upload" in payload["error"]


def test_get_gets_405_with_allow_header(app: ModuleType) -> None:
    response = app.handler(load_event("get_predict.json"), LambdaContext())
    assert response["statusCode"] == 405 and response["headers"]["allow"] == "POST"
    assert "use POST" in json.loads(response["body"])["error"]


def test_limits_give_413(app: ModuleType, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    # rows over the limit
    monkeypatch.setattr(app, "MAX_ROWS", 10)
    status, payload = call(app, {"instances": [[0] * 64] * 11})
    assert status == 413 and "limit of 10" in payload["error"]
    # an object over the byte limit is refused from its length, before it is read
    monkeypatch.setattr(app.S3, "max_bytes", 1000)
    status, payload = call(app, put(s3, "big/rows.npy", npy_bytes(np.zeros((100, 64)))))
    assert status == 413 and "limit is 1000" in payload["error"]
    # an inline body over Lambda's request cap
    monkeypatch.setattr(app, "MAX_BODY_BYTES", 2000)
    status, payload = call(app, {"instances": [[0] * 64] * 20})
    assert status == 413 and "put the batch in S3" in payload["error"]


def test_text_objects_over_their_limit_get_413(app: ModuleType, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "MAX_JSON_BYTES", 500)
    status, payload = call(app, put(s3, "big/rows.json", json.dumps([[0] * 64] * 10).encode()))
    assert status == 413 and "as .npy or .npz" in payload["error"]


def test_npz_bomb_is_refused_from_its_declared_size(app: ModuleType, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    # given an .npz whose X inflates far beyond the object limit
    monkeypatch.setattr(app.S3, "max_bytes", 200_000)
    monkeypatch.setattr(app, "MAX_OBJECT_BYTES", 200_000)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", npy_bytes(np.zeros((20_000, 64), dtype=np.uint8)))
    assert len(bomb.getvalue()) < 200_000
    status, payload = call(app, put(s3, "bomb/rows.npz", bomb.getvalue()))
    assert status == 413 and "uncompressed" in payload["error"]


@pytest.mark.parametrize("suffix", [".joblib", ".pkl", ".npy"])
def test_pickle_canaries_never_fire(app: ModuleType, s3, tmp_path: Path, suffix: str) -> None:
    # given a pickle (or an object-dtype .npy) whose loading would create a marker file
    marker = tmp_path / "pwned"
    if suffix == ".npy":
        data = npy_bytes(np.array([Canary(marker)], dtype=object), allow_pickle=True)
    else:
        data = pickle.dumps(Canary(marker))
    # when the caller names it
    status, payload = call(app, put(s3, f"canary/batch{suffix}", data))
    # then it is refused as a format, the marker does not exist, and the message says how to convert
    assert status == 415 and not marker.exists()
    assert ".npy" in payload["error"] and "to_numpy" in payload["error"]


def test_pickle_bytes_under_a_safe_suffix_are_refused(app: ModuleType, s3, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    status, _ = call(app, put(s3, "canary/disguised.csv", pickle.dumps(Canary(marker))))
    assert status == 415 and not marker.exists()


def test_unknown_format_and_content_type_get_415(app: ModuleType, s3) -> None:
    status, payload = call(app, put(s3, "odd/rows.parquet", b"PAR1"))
    assert status == 415 and ".npy" in payload["error"]
    headers = {"content-type": "text/plain"}
    status, payload = call(app, {"instances": [[0] * 64]}, headers=headers)
    assert status == 415 and "application/json" in payload["error"]


@pytest.mark.parametrize(
    "rows, fragment",
    [
        ([[0] * 63], "64 features"),
        ([[0] * 64, [0] * 63], "same length"),
        ([[float("nan")] + [0] * 63], "NaN"),
        ([[17] + [0] * 63], "between 0 and 16"),
        ([[-1] + [0] * 63], "between 0 and 16"),
        ([["1"] + [0] * 63], "only numbers"),
        ([[True] + [0] * 63], "booleans"),
        ([], "empty"),
        ([0] * 64, "2-D"),
    ],
    ids=["narrow", "ragged", "nan", "over the trained range", "negative", "string", "boolean", "empty", "1-D"],
)
def test_unpredictable_rows_get_422(app: ModuleType, rows: list, fragment: str) -> None:
    status, payload = call(app, {"instances": rows})
    assert status == 422 and fragment in payload["error"]


@pytest.mark.parametrize(
    "key, data, fragment",
    [("empty.npy", b"", "not a valid .npy"), ("cut.npy", None, "not a valid .npy"),
     ("text.csv", (",".join(["1"] * 63 + ["x"]) + "\n").encode(), "not a number"), ("obj.json", b'{"rows": 1}', "list of rows")],
    ids=["zero-byte npy", "truncated npy", "csv text", "json object"],
)
def test_broken_objects_get_422(app: ModuleType, s3, key: str, data: bytes | None, fragment: str) -> None:
    data = npy_bytes(np.zeros((10, 64)))[:200] if data is None else data
    status, payload = call(app, put(s3, f"broken/{key}", data))
    assert status == 422 and fragment in payload["error"]


def test_s3_unreachable_gets_503_quickly(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the function's S3 endpoint pointing at a closed port
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setattr(app, "S3", app.S3.__class__(app.MAX_OBJECT_BYTES))
    # then the request is answered with 503, not an exception
    status, payload = call(app, {"bucket": DATA_BUCKET, "key": "batches/test_features.npy"})
    assert status == 503 and "try again" in payload["error"]


def test_unexpected_errors_become_500_without_details(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app, "MODEL", type("Broken", (), {"n_features": 64, "predict": staticmethod(boom)})())
    status, payload = call(app, {"instances": [[0] * 64]})
    assert status == 500 and "secret" not in payload["error"] and "request id" in payload["error"]


def test_logs_are_json_lines_without_payload(app: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="mnist")
    call(app, {"instances": [[7] * 64]})
    record = [r for r in caplog.records if r.getMessage() == "predict"][-1]
    assert record.request_id == LambdaContext.aws_request_id and record.source == "inline" and record.rows == 1
    assert record.status == 200 and record.ms >= 0
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == LambdaContext.aws_request_id and entry["rows"] == 1
    assert "7, 7" not in json.dumps(entry) and "instances" not in json.dumps(entry)


# ---------------------------------------------------------------- issue 15: input rules
def test_training_records_the_value_range_and_the_function_enforces_it(app: ModuleType, model_dir: Path) -> None:
    # given the digits model (pixel values 0-16) as training wrote it
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["value_range"] == [0, 16]
    # when rows inside and just outside that range are sent
    inside = call(app, {"instances": [[16] * 64]})
    outside = call(app, {"instances": [[17] + [0] * 63]})
    # then the first is predicted, the second refused with the range named, and the range is in the model info
    assert inside[0] == 200 and inside[1]["model"]["value_range"] == [0, 16]
    assert outside[0] == 422 and "between 0 and 16" in outside[1]["error"] and "found 0 to 17" in outside[1]["error"]


def test_value_range_follows_the_training_data_scale() -> None:
    from training.__main__ import value_range

    assert value_range(np.array([[0.0, 0.7]])) == [0, 1]
    assert value_range(np.array([[0, 16]])) == [0, 16]
    assert value_range(np.array([[0, 17]])) == [0, 255]


def test_model_folder_without_a_value_range_falls_back_to_0_255(app: ModuleType, model_dir: Path,
                                                                  tmp_path: Path) -> None:
    # given a model folder written before training recorded the value range
    old = tmp_path / "old-model"
    old.mkdir()
    for name in ("model.npz", "metadata.json"):
        (old / name).write_bytes((model_dir / name).read_bytes())
    metadata = json.loads((old / "metadata.json").read_text())
    del metadata["value_range"]
    (old / "metadata.json").write_text(json.dumps(metadata))
    # when the function loads it, then rows are checked against 0-255, as before
    _, info = app.load_model(old)
    assert info["value_range"] == [0, 255]


def test_an_index_header_a_row_could_also_be_is_refused(app: ModuleType, s3, monkeypatch) -> None:
    # given a model whose values reach 255: a line 0,1,...,63 could be a header or a row of pixels
    monkeypatch.setattr(app, "VALUE_RANGE", (0.0, 255.0))
    text = ",".join(map(str, range(64))) + "\n" + ",".join(["1"] * 64) + "\n"
    status, payload = call(app, put(s3, "rules/index.csv", text.encode()))
    # then it is refused with what to do, rather than guessed
    assert status == 422 and "header of column numbers or a row" in payload["error"]


def test_utf8_bodies_with_a_byte_order_mark_are_accepted(app: ModuleType) -> None:
    body = "\ufeff" + json.dumps({"instances": [[1] * 64]})
    assert call(app, body)[0] == 200
    encoded = base64.b64encode(body.encode("utf-8")).decode()
    assert call(app, encoded, isBase64Encoded=True)[0] == 200
    assert call(app, {"instances": [[1] * 64]}, headers={"content-type": "application/json; charset=UTF-8"})[0] == 200


def test_error_messages_say_what_to_do(app: ModuleType, s3) -> None:
    # a raw .npy posted as the body, an integer past Python's digit limit, a UTF-16 object, an encrypted .npz
    npy = base64.b64encode(npy_bytes(np.zeros((1, 64), np.uint8))).decode()
    status, payload = call(app, npy, isBase64Encoded=True)
    assert status == 415 and "a .npy file" in payload["error"] and '"bucket"' in payload["error"]
    status, payload = call(app, '{"instances": [[' + "1" * 5_000 + "]]}")
    assert status == 400 and "too long" in payload["error"]
    status, payload = call(app, put(s3, "rules/u16.json", json.dumps([[0] * 64]).encode("utf-16")))
    assert status == 415 and "UTF-16" in payload["error"] and "UTF-8" in payload["error"]


def test_the_response_cap_holds_on_every_path(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a small response cap
    monkeypatch.setattr(app, "MAX_RESPONSE_BYTES", 2_000)
    # when predictions would exceed it, then 413
    status, payload = call(app, {"instances": [[1] * 64] * 1_000})
    assert status == 413 and "fewer rows" in payload["error"]
    # and when an error message would exceed it, it is cut, keeping its status
    def huge_error(*args: object, **kwargs: object) -> None:
        raise app.batch.InvalidRows("x" * 10_000_000)

    monkeypatch.setattr(app.batch, "validate", huge_error)
    response = app.handler(load_event("predict_inline.json", body=json.dumps({"instances": [[1] * 64]})),
                           LambdaContext())
    assert response["statusCode"] == 422 and len(response["body"]) < 2_000
