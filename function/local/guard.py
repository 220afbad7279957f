"""What one client may hold of the local server: time, threads, body bytes and handler calls, each bounded."""

from __future__ import annotations

import io
import socket
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The server's bounds; the defaults suit a laptop, and tests shrink them to run in a second."""

    timeout_s: float = 10.0
    """Per socket read or write: unfinished headers, an idle keep-alive or a stalled body is dropped after this."""
    header_deadline_s: float = 10.0
    """The request line and headers must arrive within this, however slowly they trickle (a slowloris)."""
    body_deadline_s: float = 30.0
    """The whole body must arrive within this, however slowly it trickles."""
    max_connections: int = 64
    """Connections served at once (one thread each); more wait in the listen backlog, then get a 503."""
    queue_wait_s: float = 0.5
    """How long a connection over the cap waits for a free thread before its 503."""
    body_budget_bytes: int = 64 * MIB
    """Request bodies held at once (declared Content-Length), so many near-limit bodies cannot add up."""
    max_calls: int = 2
    """Handler calls at once: each may decode up to a 64 MiB S3 object, so memory stays a few calls' worth."""
    call_wait_s: float = 29.0
    """How long a request waits for a call slot before its 503: API Gateway would have answered 504 by then."""
    drain_bytes: int = 32 * MIB
    """A refused body is read and discarded up to this, so a client that sends it all still sees the refusal."""
    linger_s: float = 5.0
    """How long a refused connection is drained before it is closed."""


class DeadlineSocketReader(io.RawIOBase):
    """The connection's reads, each checked against a deadline over a whole phase (headers, then body).

    A per-read timeout alone lets a client that trickles a byte at a time hold its thread for as long as it likes:
    here every read waits at most the per-read timeout and never past the phase's deadline.
    """

    def __init__(self, connection: socket.socket, per_read_s: float) -> None:
        super().__init__()
        self._connection, self._per_read_s = connection, per_read_s
        self.deadline = float("inf")

    def readable(self) -> bool:
        """Always: this is the read side of the connection."""
        return True

    def readinto(self, buffer: Any) -> int:
        """One recv into buffer, within both the per-read timeout and the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        self._connection.settimeout(min(self._per_read_s, left))
        return self._connection.recv_into(buffer)


class ByteBudget:
    """A counting semaphore in bytes: acquire(n) waits until n bytes are free or the deadline passes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._free = threading.Condition()

    def acquire(self, amount: int, timeout: float) -> bool:
        """Reserve `amount` bytes (capped at the capacity, so one request alone always fits); False on timeout."""
        amount = min(amount, self.capacity)
        with self._free:
            if not self._free.wait_for(lambda: self._used + amount <= self.capacity, timeout):
                return False
            self._used += amount
            return True

    def release(self, amount: int) -> None:
        """Give back a reservation made by acquire()."""
        with self._free:
            self._used -= min(amount, self.capacity)
            self._free.notify_all()


def lingering_close(connection: socket.socket, limits: Limits) -> None:
    """Half-close, then read and discard what the client still sends (bounded), as mature servers do.

    Closing with unread bytes in the receive buffer makes the kernel send a reset, and a client that sends its whole
    body before reading (Python's urllib, for one) then sees a broken pipe instead of the refusal.
    """
    try:
        connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + limits.linger_s
        drained = 0
        while drained < limits.drain_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            connection.settimeout(left)
            data = connection.recv(256 * 1024)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass


_BUSY_BODY = b'{"error": "too many connections; retry in a moment"}'
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
        b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class BoundedServer(ThreadingHTTPServer):
    """One thread per connection, at most `limits.max_connections` of them."""

    # socketserver's default backlog of 5 drops connections under concurrent load (1 s SYN retries).
    request_queue_size = 128
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, limits: Limits) -> None:
        self.limits = limits
        self.slots = threading.BoundedSemaphore(limits.max_connections)
        self.bodies = ByteBudget(limits.body_budget_bytes)
        self.calls = threading.BoundedSemaphore(limits.max_calls)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread for the connection only when a slot is free; otherwise answer 503 and close."""
        if not self.slots.acquire(timeout=self.limits.queue_wait_s):
            try:
                request.settimeout(1.0)
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve the connection, then free its slot."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()
