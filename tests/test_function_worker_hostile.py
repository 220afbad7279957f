"""Hostile objects from the catalogue, sent through the batch path: each lands in errors/ with the API's status."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import ModuleType

import pytest

from conftest import DATA_BUCKET, LambdaContext
from test_function_worker import sqs_event, worker  # noqa: F401 - a fixture
from test_hostile_catalogue import CATALOGUE

# Every catalogue case that names an object it creates (the others are about request bodies, keys and buckets).
OBJECT_CASES = [name for name, (build, _) in CATALOGUE.items() if build.__qualname__.startswith("obj.")]
# A .npy is streamed in batch, so the request's 64 MiB limit does not apply: these zero bytes are refused as what
# they are, not a .npy.
BATCH_STATUS = {"object over the 64 MiB limit": 422}


def test_the_batch_path_covers_the_catalogue_objects() -> None:
    assert len(OBJECT_CASES) >= 30


@pytest.mark.parametrize("case", OBJECT_CASES)
def test_hostile_object_lands_in_errors_with_the_api_status(case: str, worker: ModuleType, s3, tmp_path: Path) -> None:
    # given the catalogue's object, written under incoming/
    build, api_status = CATALOGUE[case]
    request, _ = build(s3, tmp_path)
    key = f"incoming/hostile/{request['key']}"
    s3.copy_object(Bucket=DATA_BUCKET, Key=key, CopySource={"Bucket": DATA_BUCKET, "Key": request["key"]})
    # when its notification reaches the batch handler
    started = time.perf_counter()
    result = worker.handler(sqs_event(key), LambdaContext())
    # then it is acknowledged, with an errors/ file holding the status the API gives, quickly, and no pickle ran
    assert result == {"batchItemFailures": []}
    error = json.loads(s3.get_object(Bucket=DATA_BUCKET, Key=f"errors/hostile/{request['key']}.json")["Body"].read())
    assert error["status"] == BATCH_STATUS.get(case, api_status), error
    assert 10 < len(error["error"]) < 500 and error["source"]["key"] == key
    assert time.perf_counter() - started < 10 and not (tmp_path / "pwned").exists()
    assert "Contents" not in s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=f"predictions/hostile/{request['key']}")
