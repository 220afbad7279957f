"""Property-based fuzzing of the request body and of S3 object bytes: client errors never become 5xx."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile
from conftest import DATA_BUCKET, LambdaContext, http, load_event

CLIENT_STATUSES = {200, 400, 403, 404, 405, 413, 415, 422}
EXAMPLES = 300
RUN = Counter()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                database=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=70) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=200,
)
pixel_like = st.one_of(st.integers(-10, 300), st.floats(-1, 300), st.just(float("nan")), st.just("1"), st.none(),
                       st.booleans())


def answer(app: ModuleType, event: dict) -> tuple[int, dict]:
    """Call the handler; the response must be a well-formed JSON reply."""
    response = app.handler(event, LambdaContext())
    payload = json.loads(response["body"])
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], payload


def check(status: int, payload: dict) -> None:
    """The invariants: a documented client status, and either predictions or an error string."""
    assert status in CLIENT_STATUSES, (status, payload)
    if status == 200:
        assert len(payload["predictions"]) == payload["count"] > 0
    else:
        assert isinstance(payload["error"], str) and payload["error"]


@FUZZ
@given(value=json_values)
def test_any_json_body(app: ModuleType, value: object) -> None:
    RUN["JSON bodies"] += 1
    check(*answer(app, load_event("predict_inline.json", body=json.dumps(value))))


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["bucket", "key", "instances", "extra"]), json_values, max_size=4))
def test_any_request_shaped_object(app: ModuleType, fields: dict) -> None:
    RUN["request-shaped objects"] += 1
    check(*answer(app, load_event("predict_inline.json", body=json.dumps(fields))))


@FUZZ
@given(rows=st.lists(st.lists(pixel_like, min_size=60, max_size=66), min_size=0, max_size=4))
def test_any_inline_rows(app: ModuleType, rows: list) -> None:
    RUN["inline rows"] += 1
    check(*answer(app, load_event("predict_inline.json", body=json.dumps({"instances": rows}))))


@FUZZ
@given(data=st.binary(max_size=2000), encoded=st.booleans(),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]))
def test_any_body_bytes(app: ModuleType, data: bytes, encoded: bool, content_type: str) -> None:
    RUN["raw bodies"] += 1
    body = base64.b64encode(data).decode() if encoded else data.decode("utf-8", "replace")
    event = load_event("predict_inline.json", body=body, isBase64Encoded=encoded)
    event["headers"] = {**event["headers"], "content-type": content_type}
    check(*answer(app, event))


@FUZZ
@given(key=st.text(max_size=200) | st.text(alphabet="./%\\~ -_aZ09\u202e\u200b\ufeff", max_size=40))
def test_any_key_in_the_allowed_bucket(app: ModuleType, key: str) -> None:
    # Unicode, dots, percent signs and invisible characters reach S3 for real (moto over HTTP).
    RUN["keys"] += 1
    status, payload = answer(app, load_event("predict_inline.json",
                                             body=json.dumps({"bucket": DATA_BUCKET, "key": key})))
    check(status, payload)
    assert status in (400, 404, 415), (key, status, payload)


@FUZZ
@given(event=st.dictionaries(st.sampled_from(["body", "headers", "isBase64Encoded", "requestContext", "version",
                                              "rawPath"]), json_values, max_size=6) | json_values)
def test_any_event_shape_gets_a_json_response(app: ModuleType, event: object) -> None:
    # Not client-caused (API Gateway builds the event), so a 500 is allowed here; an exception or non-JSON is not.
    RUN["event shapes"] += 1
    response = app.handler(event, LambdaContext())
    assert isinstance(response["statusCode"], int) and isinstance(json.loads(response["body"]), dict)


@FUZZ
@given(method=st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
       path=st.sampled_from(["/predict", "/predict?x=1", "/", "/predict/", "/PREDICT", "/%70redict"]),
       content_type=st.sampled_from(["application/json", "text/plain", "application/octet-stream", ""]),
       body=st.binary(max_size=1500) | json_values.map(lambda value: json.dumps(value).encode()))
def test_any_http_request_to_the_local_api(local_api: dict[str, str], method: str, path: str, content_type: str,
                                           body: bytes) -> None:
    RUN["HTTP requests"] += 1
    url = local_api["url"].rsplit("/", 1)[0] + path
    status, headers, reply = http(url, body if method != "GET" else None, method=method,
                                  headers={"content-type": content_type} if content_type else {}, timeout=10)
    if method == "GET" and path == "/":  # the drawing page
        assert status == 200 and headers["content-type"].startswith("text/html")
        return
    assert headers["content-type"] == "application/json"
    check(status, json.loads(reply))


def _valid_object(suffix: str) -> bytes:
    rows = np.arange(2 * 64, dtype=np.uint8).reshape(2, 64) % 17
    return {".npy": hostile.npy(rows), ".npz": hostile.npz(X=rows),
            ".csv": "\n".join(",".join(map(str, r)) for r in rows).encode(),
            ".json": json.dumps(rows.tolist()).encode()}[suffix]


@FUZZ
@given(suffix=st.sampled_from([".npy", ".npz", ".csv", ".json"]), data=st.binary(max_size=3000))
def test_any_object_bytes(app: ModuleType, s3, suffix: str, data: bytes) -> None:
    RUN["random objects"] += 1
    s3.put_object(Bucket=DATA_BUCKET, Key=f"fuzz/random{suffix}", Body=data)
    body = json.dumps({"bucket": DATA_BUCKET, "key": f"fuzz/random{suffix}"})
    status, payload = answer(app, load_event("predict_inline.json", body=body))
    check(status, payload)
    assert status not in (403, 404, 405)


@FUZZ
@given(suffix=st.sampled_from([".npy", ".npz", ".csv", ".json"]), data=st.data())
def test_mutated_valid_objects(app: ModuleType, s3, suffix: str, data: st.DataObject) -> None:
    RUN["mutated objects"] += 1
    original = bytearray(_valid_object(suffix))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    s3.put_object(Bucket=DATA_BUCKET, Key=f"fuzz/mutated{suffix}", Body=bytes(original[:cut]))
    body = json.dumps({"bucket": DATA_BUCKET, "key": f"fuzz/mutated{suffix}"})
    check(*answer(app, load_event("predict_inline.json", body=body)))


def test_seeded_mutations_of_a_valid_npz_never_get_a_5xx(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # given 240 deterministic mutations (1-6 bytes each, single bytes or runs) of a compressed and a stored .npz
    rng = random.Random(15)
    rows = np.arange(2 * 64, dtype=np.uint8).reshape(2, 64) % 17
    originals = [hostile.npz(X=rows), hostile.stored_npz(X=rows)]
    objects: dict[str, bytes] = {}
    monkeypatch.setattr(app.S3, "read", lambda bucket, key: objects[key])
    statuses: Counter = Counter()
    for attempt in range(240):
        mutated = bytearray(originals[attempt % 2])
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(mutated))
            run = rng.choice([1, 1, 1, 2, 4])
            mutated[position:position + run] = bytes(rng.randrange(256) for _ in range(run))
        objects[f"mutated/{attempt}.npz"] = bytes(mutated)
        # when each is predicted
        status, payload = answer(app, load_event("predict_inline.json", body=json.dumps(
            {"bucket": DATA_BUCKET, "key": f"mutated/{attempt}.npz"})))
        # then the answer is a prediction or a client error, never a 5xx
        check(status, payload)
        statuses[status] += 1
    print(f"\nseeded .npz mutations: {dict(statuses)}")
    assert sum(statuses.values()) == 240 and statuses[200] > 0 and len(statuses) > 1


def test_every_property_ran_its_examples(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Runs last in this file: each property above must have been exercised EXAMPLES times.
    print(f"\nhypothesis examples run: {dict(RUN)}; total {sum(RUN.values())}")
    out = tmp_path_factory.mktemp("figures") / "fuzz.json"
    out.write_text(json.dumps({"per_property": dict(RUN), "total": sum(RUN.values())}))
    assert len(RUN) == 9 and all(count >= EXAMPLES for count in RUN.values())
