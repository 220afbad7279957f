"""A threaded HTTP server on loopback that hands `/predict` requests to the Lambda handler.

It behaves as a careful HTTP server would (docs/reliability.md, "Local server hardening"): bounded time, threads,
body bytes and handler calls per client (function/local/guard.py), strict Content-Length, and refusals that reach
the client.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from function.local.adapter import ROUTE, LocalContext, from_result, to_event
from function.local.guard import BoundedServer, DeadlineSocketReader, Limits, lingering_close

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; the handler enforces Lambda's 6 MB itself
_DIGITS = re.compile(r"[0-9]{1,15}")  # RFC 9110: 1*DIGIT; int() would also take "+209", "2_09" and " 209"
_READ = 256 * 1024


class Refusal(Exception):
    """A request refused before the handler: status and message; the connection is closed after it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def make_server(host: str, port: int, handler: Callable[[dict, Any], Any], limits: Limits | None = None) -> BoundedServer:
    """Bind the server; every method on /predict reaches the handler, so it answers 405 itself."""
    limits = limits or Limits()

    class RequestHandler(BaseHTTPRequestHandler):
        """Reads the request, answers size and path errors as API Gateway would, hands the rest to the handler."""

        protocol_version = "HTTP/1.1"
        timeout = limits.timeout_s  # StreamRequestHandler applies it to every read and write on the socket

        def setup(self) -> None:
            """Read through DeadlineSocketReader, so headers and body each have a deadline, not only a timeout."""
            super().setup()
            self.rfile.close()  # the stdlib's reader: closing it releases its hold on the socket
            self.reader = DeadlineSocketReader(self.connection, limits.timeout_s)
            self.rfile = io.BufferedReader(self.reader)

        def handle_one_request(self) -> None:
            """Give each request (request line and headers) its own deadline."""
            self.reader.deadline = time.monotonic() + limits.header_deadline_s
            super().handle_one_request()

        def version_string(self) -> str:
            """The Server header names the product only: no Python version for a scanner to match."""
            return "mnist-local"

        def handle_expect_100(self) -> bool:
            """Defer `100 Continue` until the request is known to be accepted (see _read_body)."""
            return True

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _refuse(self, status: int, message: str) -> None:
            """Answer, then close lingeringly: the unread body must not turn the answer into a reset."""
            self.close_connection = True
            self._reply(status, {"content-type": "application/json"}, json.dumps({"error": message}).encode())
            lingering_close(self.connection, limits)

        def _declared_length(self) -> int:
            values = self.headers.get_all("content-length") or []
            if self.headers.get("transfer-encoding"):
                raise Refusal(411, "send a Content-Length; chunked bodies are not supported")
            if len(values) > 1:
                raise Refusal(400, "more than one Content-Length header")
            if not values:
                return 0
            if not _DIGITS.fullmatch(values[0].strip(" \t")):
                raise Refusal(400, "invalid Content-Length header: digits only")
            length = int(values[0].strip(" \t"))
            if length > MAX_BODY_BYTES:
                # Like API Gateway, refuse before reading (and before any 100 Continue).
                raise Refusal(413, f"the body is over API Gateway's {MAX_BODY_BYTES} bytes")
            return length

        def _read_body(self, length: int) -> bytes:
            if self.headers.get("expect", "").lower() == "100-continue" and self.request_version >= "HTTP/1.1":
                self.send_response_only(100)
                self.end_headers()
            self.reader.deadline = time.monotonic() + limits.body_deadline_s
            parts, received = [], 0
            while received < length:
                try:
                    part = self.rfile.read1(min(_READ, length - received))
                except TimeoutError:
                    raise Refusal(408, f"the body did not arrive in time: {limits.timeout_s:g} s without a byte, "
                                       f"or {limits.body_deadline_s:g} s in all") from None
                if not part:
                    raise Refusal(400, f"the body ended after {received} of its {length} bytes (Content-Length)")
                parts.append(part)
                received += len(part)
            return b"".join(parts)

        def _dispatch(self) -> None:
            path = self.path.partition("?")[0]
            try:
                length = self._declared_length()
                # GET / is the drawing page, which the handler serves itself (as it does deployed with auth none).
                if path != ROUTE[1] and not (path == "/" and self.command in ("GET", "HEAD")):
                    raise Refusal(404, f"not found; this API serves {ROUTE[0]} {ROUTE[1]}")
                if not self.server.bodies.acquire(length, limits.body_deadline_s):
                    raise Refusal(503, "too many request bodies in flight; retry in a moment")
            except Refusal as refusal:
                return self._refuse(refusal.status, str(refusal))
            try:
                body = self._read_body(length) if length else b""
                self._handle(body)
            except Refusal as refusal:
                self._refuse(refusal.status, str(refusal))
            finally:
                self.server.bodies.release(length)

        def _handle(self, body: bytes) -> None:
            event = to_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
            # Bounded handler calls: each may hold a large decoded batch, so memory stays a few calls' worth.
            if not self.server.calls.acquire(timeout=limits.call_wait_s):
                raise Refusal(503, "the local API is busy; retry in a moment")
            try:
                result = handler(event, LocalContext())
            except Exception:  # the handler should never raise; if it does, answer as API Gateway would
                result = None
            finally:
                self.server.calls.release()
            self._reply(*from_result(result))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The stdlib's own refusals (malformed request line, 414, 431) in JSON too, not its HTML page."""
            self.close_connection = True
            body = json.dumps({"error": message or HTTPStatus(code).phrase}).encode()
            self.send_response(code, message)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
            lingering_close(self.connection, limits)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            """Silence the default access log: the handler logs every request as JSON."""

    return BoundedServer((host, port), RequestHandler, limits)
