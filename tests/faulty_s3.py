"""A loopback proxy in front of the moto S3 server that can be switched into failure modes."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

INTERNAL_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                  b"<Message>We encountered an internal error. Please try again.</Message></Error>")


class FaultyS3:
    """Forwards to moto unless `mode` says otherwise: 'slow', 'trickle', 'error500', 'delete' or 'truncate'."""

    def __init__(self, upstream: str, delete) -> None:
        self.mode = "pass"
        self.slow_s = 8.0
        # 'trickle': every read returns within the client's read timeout, yet the whole body takes minutes.
        self.trickle_gap_s, self.trickle_chunk = 0.5, 256
        self.requests = 0
        self.seen: Counter[str] = Counter()  # requests received per mode
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                proxy.requests += 1
                proxy.seen[proxy.mode] += 1
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if proxy.mode == "slow":
                    time.sleep(proxy.slow_s)
                if proxy.mode == "error500":
                    return self._send(500, {"content-type": "application/xml"}, INTERNAL_ERROR)
                if proxy.mode == "delete" and self.command == "GET":
                    delete(self.path)  # the object disappears between the request and the read
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                upstream_conn.request(self.command, self.path, body, dict(self.headers.items()))
                response = upstream_conn.getresponse()
                data = response.read()
                headers = {k.lower(): v for k, v in response.getheaders()}
                if proxy.mode == "truncate" and self.command == "GET" and response.status == 200:
                    self.close_connection = True
                    return self._send(200, headers, data[: len(data) // 2], declared=len(data))
                if proxy.mode == "trickle" and self.command == "GET" and response.status == 200:
                    return self._trickle(headers, data)
                self._send(response.status, headers, data)

            def _trickle(self, headers: dict, data: bytes) -> None:
                self._send(200, headers, b"", declared=len(data))
                try:
                    for start in range(0, len(data), proxy.trickle_chunk):
                        if proxy.mode != "trickle":  # the test is over: hand over the rest at once
                            self.wfile.write(data[start:])
                            break
                        self.wfile.write(data[start:start + proxy.trickle_chunk])
                        self.wfile.flush()
                        time.sleep(proxy.trickle_gap_s)
                except OSError:
                    self.close_connection = True  # the client gave up: the point of the test

            def _send(self, status: int, headers: dict, data: bytes, declared: int | None = None) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(name, value)
                self.send_header("content-length", str(declared if declared is not None else len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward

            def log_message(self, *args: object) -> None:
                """Quiet."""

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                """A client that gave up on a slow answer is the point of the test, not an error."""

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
