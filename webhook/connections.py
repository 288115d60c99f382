"""Connection limits for the admission server: uvicorn's HTTP protocol with read deadlines and a connection cap.

uvicorn bounds only the idle time between requests (keep-alive). A client that connects and then sends its
request headers or body a byte at a time (slow loris) would hold a connection, its TLS state and its buffers
forever. Here every request must arrive within a deadline (headers, then body), the header block has a size
limit, and past a cap on connections a new one makes room by closing the one that has waited longest for a
request, so such clients are reaped and cannot crowd out the API server and the kubelet's probes. A client that
never finishes its TLS handshake (before it counts here) is dropped by the event loop after HANDSHAKE_TIMEOUT
instead of asyncio's 60 s: `event_loop` is the uvicorn loop factory that sets it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0  # seconds from accept to a finished TLS handshake (the API server needs milliseconds)
LOOP_FACTORY = "webhook.connections:event_loop"  # uvicorn's `loop` option: an import string


class BoundedLoop(uvloop.Loop):
    """uvloop's loop, whose TLS servers drop a connection that has not finished its handshake in time."""

    handshake_timeout: float = HANDSHAKE_TIMEOUT

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.AbstractServer:  # type: ignore[override]
        if kwargs.get("ssl") is not None and kwargs.get("ssl_handshake_timeout") is None:
            kwargs["ssl_handshake_timeout"] = self.handshake_timeout
        return await super().create_server(*args, **kwargs)


def event_loop() -> asyncio.AbstractEventLoop:
    """A new BoundedLoop (uvicorn calls this to make each server's loop)."""
    return BoundedLoop()


class BoundedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with request read deadlines, a header size limit and a connection cap.

    The limits are class attributes: uvicorn builds one protocol per connection from the class alone (and must
    pickle it to worker processes); a subclass can set others.
    """

    header_timeout: float = 10.0  # from connect (or from a request's first byte) to the end of its headers
    body_timeout: float = 30.0  # from the end of the headers to the end of the body (the API server sends ≤ 3 MiB)
    max_header_bytes: int = 64 * 1024  # request line and headers; the API server sends well under 1 KiB
    max_connections: int = 1000

    _deadline: asyncio.TimerHandle | None = None
    _phase: str | None = None  # what the deadline waits for: "headers", "body", or None (nothing being read)
    _since: float = 0.0  # loop time the current phase began
    _header_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            # Make room by closing the connection that has waited longest for a request (a slow or idle client),
            # so the API server and the kubelet's probes still get in while slow clients fill the cap.
            victim = self._least_useful()
            logger.debug("over the limit of %d connections: closed %s", self.max_connections,
                         "the oldest idle one" if victim is not None else "the new one",
                         extra={"client": _peer((victim or self).client)})
            if victim is None:
                transport.abort()
                return
            victim.transport.abort()
        self._arm(self.header_timeout, "headers")  # a connection that never sends a request is reaped too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._deadline is None:
            self._arm(self.header_timeout, "headers")

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout, "body")  # on_message_complete disarms it at once when there is no body

    def on_message_complete(self) -> None:
        self._disarm()  # the whole request is in; the app's own work is not a read
        super().on_message_complete()

    def _least_useful(self) -> BoundedHttpProtocol | None:
        """The open connection, other than this one, that has waited longest for its next request's headers (or,
        failing that, sits idle between keep-alive requests); None when every other one is mid-request."""
        waiting: list[tuple[int, float, BoundedHttpProtocol]] = []
        for conn in self.connections:
            if conn is self or not isinstance(conn, BoundedHttpProtocol) or conn.transport.is_closing():
                continue
            if conn._phase == "headers":
                waiting.append((0, conn._since, conn))
            elif conn.timeout_keep_alive_task is not None:
                waiting.append((1, conn._since, conn))
        return min(waiting, key=lambda entry: entry[:2])[2] if waiting else None

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            # Raised inside the parser callback: uvicorn answers 400 and closes the connection.
            raise ValueError(f"request headers exceed {self.max_header_bytes} bytes")

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, phase)
        self._phase = phase
        self._since = self.loop.time()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = None
        self._since = self.loop.time()

    def _expire(self, phase: str) -> None:
        self._deadline = None
        self._phase = None
        if self.transport is not None and not self.transport.is_closing():
            logger.debug("closed a connection that did not send its request %s in time", phase,
                         extra={"client": _peer(self.client)})
            self.transport.abort()  # not close(): a slow reader must not hold the TLS shutdown either


def _peer(client: tuple[str, int] | None) -> str | None:
    return f"{client[0]}:{client[1]}" if client else None
