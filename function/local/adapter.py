"""HTTP request -> API Gateway HTTP API payload 2.0 event, and the handler's result -> HTTP response.

A small stdlib adapter rather than a library: Powertools' resolver and Mangum translate the other way
(event -> web app), and importing them would only add to start-up time (figures in the README).
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

ROUTE = ("POST", "/predict")
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


@dataclass
class LocalContext:
    """The parts of Lambda's context object a handler reads."""

    timeout_s: float = 15.0
    function_name: str = "mnist-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def to_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """Build the event API Gateway would send for this request."""
    path, _, query = target.partition("?")
    lowered = {name.lower(): value for name, value in headers.items()}
    content_type = lowered.get("content-type", "")
    # As API Gateway does: text bodies pass through, anything else arrives base64-encoded.
    is_text = not body or content_type.startswith(_TEXT_TYPES)
    try:
        text = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text = None
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": f"{ROUTE[0]} {ROUTE[1]}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
            "requestId": base64.b32encode(uuid.uuid4().bytes)[:14].decode(),
            "routeKey": f"{ROUTE[0]} {ROUTE[1]}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text if text is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": text is None,
    }


def from_result(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes from a handler's return value (payload 2.0 response format)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # API Gateway's own reading of a malformed integration response.
        return 502, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, data
