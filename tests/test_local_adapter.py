"""The HTTP -> payload 2.0 adapter produces the events API Gateway sends."""

from __future__ import annotations

import base64
import json

from conftest import load_event
from function.local.adapter import LocalContext, from_result, to_event


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_event_has_the_shape_of_a_recorded_api_gateway_event() -> None:
    # given a JSON POST as curl would send it
    event = to_event("POST", "/predict?x=1", {"Content-Type": "application/json", "Host": "h"}, b'{"a": 1}', "127.0.0.1")
    recorded = load_event("predict_inline.json")
    # then every field the recorded event has at the top and in http is there, with the same types
    assert set(recorded) <= set(event)
    assert _shape(event["requestContext"]["http"]) == _shape(recorded["requestContext"]["http"])
    assert event["rawPath"] == "/predict" and event["rawQueryString"] == "x=1"
    assert event["headers"]["content-type"] == "application/json" and event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False and event["requestContext"]["stage"] == "$default"


def test_binary_bodies_arrive_base64_encoded() -> None:
    event = to_event("POST", "/predict", {"content-type": "application/octet-stream"}, b"\x00\xff", "127.0.0.1")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\xff"


def test_invalid_utf8_in_a_text_body_is_base64_encoded_not_dropped() -> None:
    event = to_event("POST", "/predict", {"content-type": "application/json"}, b"\xff\xfe", "127.0.0.1")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\xfe"


def test_results_map_to_http_and_malformed_results_to_502() -> None:
    status, headers, body = from_result({"statusCode": 200, "headers": {"Content-Type": "application/json"},
                                         "body": json.dumps({"ok": 1})})
    assert (status, headers["content-type"], json.loads(body)) == (200, "application/json", {"ok": 1})
    assert from_result({"statusCode": 201, "body": base64.b64encode(b"x").decode(), "isBase64Encoded": True})[2] == b"x"
    assert from_result(None)[0] == 502 and from_result({"body": "x"})[0] == 502


def test_context_counts_down_and_ids_are_unique() -> None:
    first, second = LocalContext(timeout_s=15), LocalContext()
    assert 14_000 < first.get_remaining_time_in_millis() <= 15_000
    assert first.aws_request_id != second.aws_request_id
