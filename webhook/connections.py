"""Connection limits for the admission server: uvicorn's HTTP protocol with read deadlines and a connection cap.

uvicorn bounds only the idle time between requests (keep-alive). A client that connects and then sends its
request headers or body a byte at a time (slow loris) would hold a connection, its TLS state and its buffers
forever. Here every request must arrive within a deadline (headers, then body), the header block has a size
limit, and connections beyond a cap are closed at once, so such clients are reaped and cannot crowd out the API
server and the kubelet's probes. (A client that never finishes the TLS handshake is dropped by the event loop
after its 60 s handshake timeout, before it counts here.)
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)


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
    _header_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            logger.debug("closed a connection over the limit of %d", self.max_connections,
                         extra={"client": _peer(self.client)})
            transport.abort()
            return
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

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            # Raised inside the parser callback: uvicorn answers 400 and closes the connection.
            raise ValueError(f"request headers exceed {self.max_header_bytes} bytes")

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, phase: str) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            logger.debug("closed a connection that did not send its request %s in time", phase,
                         extra={"client": _peer(self.client)})
            self.transport.abort()  # not close(): a slow reader must not hold the TLS shutdown either


def _peer(client: tuple[str, int] | None) -> str | None:
    return f"{client[0]}:{client[1]}" if client else None
