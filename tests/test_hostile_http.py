"""Hostile input catalogue, HTTP level: raw requests to the local API get their status, a JSON error, and then a good
request still works."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest

from conftest import http

GOOD_ROW = [0] * 64

GOOD_BODY = json.dumps({"instances": [GOOD_ROW]}).encode()


def _good(length: bytes | Callable[[int], bytes]) -> bytes:
    """A good request whose Content-Length header value is `length` (a %-pattern or a function of the length)."""
    value = length(len(GOOD_BODY)) if callable(length) else length % len(GOOD_BODY)
    return (b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nContent-Length: " + value
            + b"\r\n\r\n" + GOOD_BODY)


SEVEN_MB = b'{"instances": [[' + b",".join([b"1"] * (7 * 1024 * 1024 // 2)) + b"]]}"
HTTP_CASES = {
    "body over API Gateway's 10 MB": (b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                                      b"Content-Length: 10485761\r\n\r\n", 413),
    "unknown path": (b"POST /admin HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 404),
    "path traversal in URL": (b"POST /../predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 404),
    "chunked body": (b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411),
    "bad Content-Length": (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    "PUT": (b"PUT /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405),
    "GET": (b"GET /predict HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    "text/plain": (b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: text/plain\r\nContent-Length: 2\r\n\r\n{}", 415),
    "octet-stream": (b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/octet-stream\r\n"
                     b"Content-Length: 4\r\n\r\n\x80\x04K.", 415),
    "percent-encoded traversal in URL": (b"POST /%2e%2e/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 404),
    "200 headers": (b"POST /predict HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(200))
                    + b"Content-Length: 2\r\n\r\n{}", 431),
    "request line over 64 KiB": (b"POST /predict?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    # A good request each, so only the framing can be refused: int() would read these lengths as valid.
    "Content-Length with a sign": (_good(b"+%d"), 400),
    "Content-Length with an underscore": (_good(lambda n: b"%d_%d" % divmod(n, 10)), 400),
    "two equal Content-Length headers": (_good(lambda n: b"%d\r\nContent-Length: %d" % (n, n)), 400),
    "Expect: 100-continue over 10 MB (413 first, no 100)": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: 10485761\r\n\r\n", 413),
    "7 MB body: under API Gateway's 10 MB, over Lambda's 6 MB": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(SEVEN_MB), SEVEN_MB), 413),
}


def _length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.mark.parametrize("case", HTTP_CASES, ids=list(HTTP_CASES))
def test_http_level_hostility_over_the_local_api(case: str, local_api: dict[str, str]) -> None:
    raw, expected = HTTP_CASES[case]
    host, port = local_api["url"].split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(raw)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < _length(reply):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, payload = reply.decode("utf-8", "replace").partition("\r\n\r\n")
    assert head.split()[1] == str(expected)
    assert "error" in json.loads(payload)
    status, _, _ = http(local_api["url"], json.dumps({"instances": [GOOD_ROW]}).encode())
    assert status == 200
