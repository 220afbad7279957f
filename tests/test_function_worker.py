"""The batch handler on real SQS-shaped events against moto over HTTP: predictions/, errors/, retries, keys."""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote_plus

import boto3
import numpy as np
import pytest

import hostile
from conftest import DATA_BUCKET, EVENTS_DIR, LambdaContext
from faulty_s3 import FaultyS3


@pytest.fixture(scope="module")
def worker(app: ModuleType) -> ModuleType:
    """function/worker.py imported as Lambda imports `worker.handler`, after the API module's environment."""
    sys.modules.pop("worker", None)
    return importlib.import_module("worker")


@pytest.fixture(scope="module")
def X(model_dir: Path) -> np.ndarray:
    """The held-out batch of the session model."""
    return np.load(model_dir / "test_features.npy")


def sqs_event(*keys: str, bucket: str = DATA_BUCKET, ids: list[str] | None = None) -> dict:
    """An SQS event as Lambda's event source mapping sends it: one S3 notification per record, keys URL-encoded."""
    template = json.loads((EVENTS_DIR / "sqs_s3_put.json").read_text())["Records"][0]
    records = []
    for n, key in enumerate(keys):
        body = json.loads(template["body"])
        body["Records"][0]["s3"]["bucket"]["name"] = bucket
        body["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="/")
        records.append({**template, "messageId": (ids or [f"m-{n}" for n in range(len(keys))])[n],
                        "body": json.dumps(body)})
    return {"Records": records}


def get_json(s3, key: str) -> dict:
    """An output object, parsed."""
    return json.loads(s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())


def keys_under(s3, prefix: str) -> dict[str, str]:
    """Key -> ETag of every object under a prefix."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=DATA_BUCKET, Prefix=prefix)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def test_an_npy_under_incoming_gets_its_predictions_file(worker: ModuleType, app: ModuleType, s3, X) -> None:
    # given a batch dropped under incoming/
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/ok/batch.npy", Body=hostile.npy(X))
    etag = s3.head_object(Bucket=DATA_BUCKET, Key="incoming/ok/batch.npy")["ETag"].strip('"')
    # when its notification arrives
    result = worker.handler(sqs_event("incoming/ok/batch.npy"), LambdaContext())
    # then the message is acknowledged and predictions/<path>.json holds what the API would answer
    assert result == {"batchItemFailures": []}
    out = get_json(s3, "predictions/ok/batch.npy.json")
    assert out["predictions"] == app.MODEL.predict(X).tolist() and out["count"] == len(X)
    assert out["model"] == app.MODEL_INFO
    assert out["source"] == {"bucket": DATA_BUCKET, "key": "incoming/ok/batch.npy", "etag": etag}


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz", ".NPY"])
def test_other_formats_use_the_api_readers(worker: ModuleType, app: ModuleType, s3, X, suffix: str) -> None:
    rows = X[:50]
    data = {".csv": "\n".join(",".join(str(int(v)) for v in row) for row in rows).encode(),
            ".json": json.dumps(rows.astype(int).tolist()).encode(), ".NPY": hostile.npy(rows)}.get(suffix)
    if data is None:
        buffer = io.BytesIO()
        np.savez(buffer, X=rows)
        data = buffer.getvalue()
    s3.put_object(Bucket=DATA_BUCKET, Key=f"incoming/formats/rows{suffix}", Body=data)
    assert worker.handler(sqs_event(f"incoming/formats/rows{suffix}"), LambdaContext()) == {"batchItemFailures": []}
    assert get_json(s3, f"predictions/formats/rows{suffix}.json")["predictions"] == app.MODEL.predict(rows).tolist()


def test_a_large_npy_is_scored_in_many_chunks_with_the_same_predictions(
        worker: ModuleType, app: ModuleType, s3, X, monkeypatch: pytest.MonkeyPatch) -> None:
    # given rows far more numerous than one chunk (and one ranged GET), stored big-endian float64
    monkeypatch.setattr(worker.npystream, "MAX_CHUNK_ROWS", 37)
    monkeypatch.setattr(worker.npystream, "WINDOW_BYTES", 37 * 3 * X.shape[1] * 8)
    rows = np.tile(X, (5, 1)).astype(">f8")
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/chunks.npy", Body=hostile.npy(rows))
    # when it is scored chunk by chunk
    assert worker.handler(sqs_event("incoming/chunks.npy"), LambdaContext()) == {"batchItemFailures": []}
    # then the predictions are exactly those of one whole batch
    out = get_json(s3, "predictions/chunks.npy.json")
    assert out["count"] == len(rows) and out["predictions"] == app.MODEL.predict(rows).tolist()
    assert len(rows) > 10 * 37 * 3


def test_a_fortran_order_npy_is_scored_whole(worker: ModuleType, app: ModuleType, s3, X) -> None:
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/fortran.npy", Body=hostile.npy(np.asfortranarray(X[:40])))
    assert worker.handler(sqs_event("incoming/fortran.npy"), LambdaContext()) == {"batchItemFailures": []}
    assert get_json(s3, "predictions/fortran.npy.json")["predictions"] == app.MODEL.predict(X[:40]).tolist()


POISON = {
    "pickle": ("p/canary.pkl", lambda tmp, X: hostile.pickled_canary(tmp / "pwned"), 415),
    "pickle bytes named .npy": ("p/canary.npy", lambda tmp, X: hostile.pickled_canary(tmp / "pwned"), 415),
    "unknown format": ("p/rows.parquet", lambda tmp, X: b"PAR1", 415),
    "wrong width": ("p/narrow.npy", lambda tmp, X: hostile.npy(X[:, :10]), 422),
    "pixel over 255 in a late chunk": ("p/late.npy", lambda tmp, X: hostile.npy(
        np.vstack([X, X, np.full((1, X.shape[1]), 300.0)])), 422),
    "truncated .npy": ("p/cut.npy", lambda tmp, X: hostile.npy(X)[:-7], 422),
    "empty object": ("p/empty.npy", lambda tmp, X: b"", 422),
    "CSV of the wrong width": ("p/width.csv", lambda tmp, X: b"1\n" * 10, 422),
    "CSV over the row limit": ("p/many.csv", lambda tmp, X: ("0" + ",0" * 63 + "\n").encode() * 10_001, 413),
}


@pytest.mark.parametrize("case", POISON, ids=list(POISON))
def test_an_object_that_can_never_be_scored_gets_an_errors_file_and_is_acknowledged(
        worker: ModuleType, s3, X, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    monkeypatch.setattr(worker.npystream, "MAX_CHUNK_ROWS", 100)
    path, make, status = POISON[case]
    s3.put_object(Bucket=DATA_BUCKET, Key=f"incoming/{path}", Body=make(tmp_path, X))
    # when its notification arrives
    result = worker.handler(sqs_event(f"incoming/{path}"), LambdaContext())
    # then: acknowledged (retrying cannot help), an errors/ file with the API's status, no predictions, no pickle run
    assert result == {"batchItemFailures": []}
    error = get_json(s3, f"errors/{path}.json")
    assert error["status"] == status and 10 < len(error["error"]) < 500
    assert error["source"]["key"] == f"incoming/{path}" and error["source"]["bucket"] == DATA_BUCKET
    assert not keys_under(s3, f"predictions/{path}") and not (tmp_path / "pwned").exists()


def test_a_bad_row_in_a_late_chunk_is_located_in_the_error(worker: ModuleType, s3, X,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker.npystream, "MAX_CHUNK_ROWS", 100)
    rows = np.vstack([X[:250], np.full((1, X.shape[1]), np.nan)])
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/p/nan.npy", Body=hostile.npy(rows))
    worker.handler(sqs_event("incoming/p/nan.npy"), LambdaContext())
    assert get_json(s3, "errors/p/nan.npy.json")["error"] == "rows 200-250: rows contain NaN or infinite values"


def test_an_event_before_its_object_is_readable_is_a_batch_item_failure(worker: ModuleType, s3, X) -> None:
    # given two messages: one for a missing object (as moto may deliver early), one for a good object
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/t/good.npy", Body=hostile.npy(X[:5]))
    event = sqs_event("incoming/t/not-yet.npy", "incoming/t/good.npy", ids=["late", "fine"])
    # when both arrive in one batch
    result = worker.handler(event, LambdaContext())
    # then only the missing one is retried; nothing is written for it, the other is scored
    assert result == {"batchItemFailures": [{"itemIdentifier": "late"}]}
    assert not keys_under(s3, "errors/t/not-yet") and not keys_under(s3, "predictions/t/not-yet")
    assert get_json(s3, "predictions/t/good.npy.json")["count"] == 5


@pytest.fixture
def busy_s3(worker: ModuleType, s3, s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyS3]:
    """The worker's S3 client behind a proxy answering 500 InternalError to everything."""
    proxy = FaultyS3(s3_server, lambda path: None)
    proxy.mode = "error500"
    client = boto3.client("s3", endpoint_url=proxy.url, region_name="us-east-1",
                          config=worker.S3.meta.config.merge(boto3.session.Config(retries={"total_max_attempts": 1})))
    monkeypatch.setattr(worker, "S3", client)
    yield proxy
    proxy.close()


def test_s3_errors_are_batch_item_failures_not_errors_files(worker: ModuleType, s3, X, busy_s3: FaultyS3) -> None:
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/t/busy.npy", Body=hostile.npy(X[:5]))
    result = worker.handler(sqs_event("incoming/t/busy.npy", ids=["busy"]), LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "busy"}]} and busy_s3.requests >= 1
    assert not keys_under(s3, "errors/t/busy") and not keys_under(s3, "predictions/t/busy")


def test_the_s3_test_event_is_acknowledged_and_ignored(worker: ModuleType, s3) -> None:
    before = keys_under(s3, "")
    event = json.loads((EVENTS_DIR / "sqs_s3_test_event.json").read_text())
    assert worker.handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert keys_under(s3, "") == before


@pytest.mark.parametrize("path", ["my batch.npy", "a+b=c.npy", "données/批次 🚀.npy", "100% sure?.npy"])
def test_url_encoded_keys_are_decoded(worker: ModuleType, s3, X, path: str) -> None:
    # given an object whose key S3 URL-encodes in the event (spaces as '+', '+' as %2B, UTF-8 escapes)
    s3.put_object(Bucket=DATA_BUCKET, Key=f"incoming/keys/{path}", Body=hostile.npy(X[:3]))
    assert worker.handler(sqs_event(f"incoming/keys/{path}"), LambdaContext()) == {"batchItemFailures": []}
    # then the output sits at the decoded path
    assert get_json(s3, f"predictions/keys/{path}.json")["source"]["key"] == f"incoming/keys/{path}"


def test_duplicate_deliveries_write_the_same_single_output(worker: ModuleType, s3, X) -> None:
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/dup/batch.npy", Body=hostile.npy(X))
    event = sqs_event("incoming/dup/batch.npy", "incoming/dup/batch.npy", ids=["first", "again"])
    assert worker.handler(event, LambdaContext()) == {"batchItemFailures": []}
    first = s3.get_object(Bucket=DATA_BUCKET, Key="predictions/dup/batch.npy.json")["Body"].read()
    worker.handler(event, LambdaContext())
    assert list(keys_under(s3, "predictions/dup/")) == ["predictions/dup/batch.npy.json"]
    assert s3.get_object(Bucket=DATA_BUCKET, Key="predictions/dup/batch.npy.json")["Body"].read() == first


def test_nothing_outside_incoming_is_scored_and_nothing_is_written_under_incoming(worker: ModuleType, s3, X) -> None:
    # given objects under predictions/, errors/, elsewhere, and in another bucket
    for key in ("predictions/loop.npy", "errors/loop.npy", "elsewhere/x.npy", "incoming/"):
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=hostile.npy(X[:2]))
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/r/ok.npy", Body=hostile.npy(X[:2]))
    incoming = keys_under(s3, "incoming/")
    before = keys_under(s3, "")
    # when their notifications arrive (a misconfigured notification, or a forged message)
    event = sqs_event("predictions/loop.npy", "errors/loop.npy", "elsewhere/x.npy", "incoming/",
                      "incoming/../incoming/r/ok.npy", "incoming/r/./ok.npy")
    event["Records"] += sqs_event("incoming/r/ok.npy", bucket="someone-elses-bucket")["Records"]
    assert worker.handler(event, LambdaContext()) == {"batchItemFailures": []}
    # then nothing was scored or written
    assert keys_under(s3, "") == before
    # and scoring a real incoming object writes outside incoming/ only
    worker.handler(sqs_event("incoming/r/ok.npy"), LambdaContext())
    assert keys_under(s3, "incoming/") == incoming and "predictions/r/ok.npy.json" in keys_under(s3, "predictions/")


class ShortContext(LambdaContext):
    """An invocation with almost no time left."""

    def get_remaining_time_in_millis(self) -> int:
        """As Lambda reports it near the timeout."""
        return 100


def test_an_object_that_cannot_finish_in_time_is_refused_at_once_saying_how_to_split(
        worker: ModuleType, s3, X, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a streamed object, and an invocation whose remaining time cannot hold it
    monkeypatch.setattr(worker.npystream, "MAX_CHUNK_ROWS", 50)
    monkeypatch.setattr(worker, "PROJECT_AFTER_S", 0.0)
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/slow/rows.npy", Body=hostile.npy(X))
    # when it is scored
    result = worker.handler(sqs_event("incoming/slow/rows.npy"), ShortContext())
    # then it is not retried (it would time out on every receive): errors/ says 413 and how to split it
    assert result == {"batchItemFailures": []}
    error = get_json(s3, "errors/slow/rows.npy.json")
    assert error["status"] == 413 and "split the file into objects of at most" in error["error"]


def test_an_image_under_incoming_is_one_digit_normalised_as_the_api_does(worker: ModuleType, app: ModuleType,
                                                                        s3, X) -> None:
    from digit_images import picture, png

    # given a PNG of a held-out digit, as a phone or scanner would give it, dropped under incoming/
    data = png(picture(X[0], app.VALUE_RANGE[1]))
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/photos/seven.png", Body=data)
    # when its notification arrives
    assert worker.handler(sqs_event("incoming/photos/seven.png"), LambdaContext()) == {"batchItemFailures": []}
    # then its prediction is the one POST /predict gives for the same image
    out = get_json(s3, "predictions/photos/seven.png.json")
    assert out["count"] == 1 and out["predictions"] == app.MODEL.predict(app.image_rows([data])).tolist()


def test_each_object_writes_its_metrics_with_the_lag_since_it_was_created(worker: ModuleType, s3, X,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import metrics
    from test_function_metrics import FUNCTION, NAMESPACE, check_emf, emf_lines

    # given the batch function with metrics on, as the component configures it
    monkeypatch.setattr(worker, "METRICS", metrics.Emitter(NAMESPACE, FUNCTION))
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/metered/good.npy", Body=hostile.npy(X[:20]))
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/metered/bad.csv", Body=b"not,a,row\n1,2\n")
    capsys.readouterr()
    # when one good and one unscorable object are scored
    worker.handler(sqs_event("incoming/metered/good.npy", "incoming/metered/bad.csv"), LambdaContext())
    scored, failed = (check_emf(d) for d in emf_lines(capsys.readouterr().out))
    # then each writes one EMF line: rows and a small, non-negative lag; the failure counts as failed
    assert (scored["ObjectsScored"], scored["RowsScored"], scored["ObjectsFailed"]) == (1, 20, 0)
    assert (failed["ObjectsScored"], failed["RowsScored"], failed["ObjectsFailed"]) == (0, 0, 1)
    assert 0 <= scored["Lag"] < 60 and 0 <= failed["Lag"] < 60
