"""A threaded HTTP server on loopback that hands `/predict` requests to the Lambda handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from function.local.adapter import ROUTE, LocalContext, from_result, to_event

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; the handler enforces Lambda's 6 MB itself


def make_server(host: str, port: int, handler: Callable[[dict, Any], Any]) -> ThreadingHTTPServer:
    """Bind the server; every method on /predict reaches the handler, so it answers 405 itself."""

    class RequestHandler(BaseHTTPRequestHandler):
        """Reads the request, answers size and path errors as API Gateway would, hands the rest to the handler."""

        protocol_version = "HTTP/1.1"
        server_version = "mnist-local"

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, message: str, close: bool = False) -> None:
            if close:
                self.close_connection = True
            self._reply(status, {"content-type": "application/json"}, json.dumps({"error": message}).encode())

        def _dispatch(self) -> None:
            path = self.path.partition("?")[0]
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                return self._error(400, "invalid Content-Length header", close=True)
            if length < 0:
                return self._error(400, "invalid Content-Length header", close=True)
            if self.headers.get("transfer-encoding"):
                return self._error(411, "send a Content-Length; chunked bodies are not supported", close=True)
            if length > MAX_BODY_BYTES:
                # Like API Gateway, refuse before reading; the unread body means the connection must close.
                return self._error(413, f"the body is over API Gateway's {MAX_BODY_BYTES} bytes", close=True)
            body = self.rfile.read(length) if length else b""
            # GET / is the drawing page, which the handler serves itself (as it does when deployed with auth none).
            if path != ROUTE[1] and not (path == "/" and self.command in ("GET", "HEAD")):
                return self._error(404, f"not found; this API serves {ROUTE[0]} {ROUTE[1]}")
            event = to_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
            try:
                result = handler(event, LocalContext())
            except Exception:  # the handler should never raise; if it does, answer as API Gateway would
                result = None
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

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            """Silence the default access log: the handler logs every request as JSON."""

    class Server(ThreadingHTTPServer):
        """One thread per connection."""

        # socketserver's default backlog of 5 drops connections under concurrent load (1 s SYN retries).
        request_queue_size = 128
        daemon_threads = True

    server = Server((host, port), RequestHandler)
    return server
