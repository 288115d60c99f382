"""Connection limits of the admission server, on a real uvicorn over real TLS: slow clients are reaped, the
connection cap holds, and /healthz answers while admission work is in progress."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paths import FIXTURES
from tests.waiting import eventually
from tests.webhook.servers import Certs, ThreadedServer, make_certs
from webhook.app import StaticCatalog, create_app
from webhook.catalog import MemoryCatalog, NadCatalog
from webhook.connections import BoundedHttpProtocol, BoundedLoop
from webhook.manifests import read_catalog
from webhook.metrics import CatalogState
from webhook.policy import Policy

NADS = FIXTURES / "manifests" / "nads.yaml"
SAMPLE = FIXTURES / "admission" / "009-create-pod-samplepod.json"


class QuickProtocol(BoundedHttpProtocol):
    header_timeout = 0.3
    body_timeout = 0.3
    max_connections = 4


class QuickLoop(BoundedLoop):
    handshake_timeout = 0.3


def quick_loop() -> asyncio.AbstractEventLoop:
    return QuickLoop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture()
def server(certs: Certs) -> Iterator[ThreadedServer]:
    app = create_app(catalog=StaticCatalog(read_catalog(str(NADS))), policy=Policy())
    with ThreadedServer(app, certs=certs, protocol=QuickProtocol,
                        loop="tests.webhook.test_connections:quick_loop") as running:
        yield running


def tls(server: ThreadedServer) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(server.certs.ca))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def closed_by_server(sock: ssl.SSLSocket) -> bool:
    """Whether the server closes the connection (EOF or reset) while we wait up to the socket timeout."""
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def healthz_ok(server: ThreadedServer) -> bool:
    client = server.client()
    try:
        return client.request("GET", "/healthz").status == 200
    except OSError:
        return False
    finally:
        client.close()


def test_connection_that_never_starts_its_tls_handshake_is_dropped(server: ThreadedServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        try:
            assert raw.recv(1) == b""
        except ConnectionError:
            pass  # a reset is a drop too
        except TimeoutError:
            pytest.fail("the server kept a connection that never sent a ClientHello")


def test_connection_that_never_sends_a_request_is_reaped(server: ThreadedServer) -> None:
    sock = tls(server)
    assert closed_by_server(sock)
    sock.close()


def test_headers_sent_a_byte_at_a_time_are_reaped(server: ThreadedServer) -> None:
    sock = tls(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    reaped = False
    for _ in range(200):  # 10 s of trickling at most: far past the 0.3 s header deadline
        try:
            sock.sendall(b"X")
        except OSError:
            reaped = True
            break
        time.sleep(0.05)
    assert reaped or closed_by_server(sock)
    sock.close()
    assert healthz_ok(server)


def test_body_that_stalls_is_reaped(server: ThreadedServer) -> None:
    sock = tls(server)
    sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"apiVersion\":")
    assert closed_by_server(sock)
    sock.close()


def test_keep_alive_connection_may_idle_between_requests_beyond_the_header_deadline(
        server: ThreadedServer) -> None:
    client = server.client()
    assert client.request("GET", "/healthz").status == 200
    sock = client.conn.sock
    time.sleep(QuickProtocol.header_timeout * 3)  # idle time is the keep-alive timeout's business (60 s)
    assert client.request("GET", "/healthz").status == 200
    assert client.conn.sock is sock  # the same connection, not a reconnect
    client.close()


def test_oversized_headers_get_400_and_close(server: ThreadedServer) -> None:
    sock = tls(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (80 * 1024) + b"\r\n\r\n")
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")
    sock.close()


def test_over_the_cap_a_new_connection_closes_the_one_waiting_longest_for_a_request(
        server: ThreadedServer) -> None:
    waiting = []
    for _ in range(QuickProtocol.max_connections):
        sock = tls(server)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # a request that never finishes its headers
        waiting.append(sock)
        time.sleep(0.01)  # a distinct wait for each, oldest first
    assert healthz_ok(server)  # the new connection is served ...
    assert closed_by_server(waiting[0])  # ... in place of the one that waited longest
    for sock in waiting:
        sock.close()


class PatientProtocol(QuickProtocol):
    body_timeout = 30.0


def test_over_the_cap_with_every_connection_mid_request_the_new_one_is_refused(certs: Certs) -> None:
    app = create_app(catalog=StaticCatalog(read_catalog(str(NADS))), policy=Policy())
    with ThreadedServer(app, certs=certs, protocol=PatientProtocol) as server:
        busy = []
        for _ in range(PatientProtocol.max_connections):
            sock = tls(server)
            sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # mid-body
            busy.append(sock)
        assert eventually(lambda: not healthz_ok(server), timeout=10.0)  # refused: nobody to make room
        for sock in busy:
            sock.close()
        assert eventually(lambda: healthz_ok(server), timeout=10.0)


class BlockingCatalog:
    """A catalog source whose snapshot blocks until released: an admission that takes as long as we want."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self._catalog = read_catalog(str(NADS))

    def snapshot(self) -> NadCatalog:
        self.entered.set()
        self.release.wait(timeout=30)
        return self._catalog

    def state(self) -> CatalogState:
        return CatalogState(size=len(self._catalog), synced=True, last_sync=0.0)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def test_healthz_and_metrics_answer_while_an_admission_is_in_progress(certs: Certs) -> None:
    catalog = BlockingCatalog()
    app = create_app(catalog=catalog, policy=Policy())
    with ThreadedServer(app, certs=certs) as server:
        outcome: dict[str, Any] = {}

        def admit() -> None:
            client = server.client()
            outcome["reply"] = client.post("/mutate", json.loads(SAMPLE.read_text()))
            client.close()

        worker = threading.Thread(target=admit)
        worker.start()
        assert catalog.entered.wait(timeout=10)
        # The admission is stuck inside the rules; the event loop is not.
        probe = server.client()
        assert probe.request("GET", "/healthz").status == 200
        assert probe.request("GET", "/metrics").status == 200
        assert "reply" not in outcome
        catalog.release.set()
        worker.join(timeout=10)
        assert outcome["reply"].status == 200 and outcome["reply"].response["allowed"] is True
        probe.close()


def test_protocol_limits_are_what_netweave_serve_uses(tmp_path: Path) -> None:
    from webhook.serve import uvicorn_config
    from webhook.settings import Settings

    live = make_certs(tmp_path)
    settings = Settings(tls_cert=live.cert, tls_key=live.key)
    app = create_app(catalog=StaticCatalog(MemoryCatalog()), policy=Policy())
    config = uvicorn_config(settings, app)
    assert config.http is BoundedHttpProtocol and config.timeout_keep_alive == 60
    assert config.loop == "webhook.connections:event_loop"
    loop = config.get_loop_factory()()  # type: ignore[misc]
    assert isinstance(loop, BoundedLoop) and loop.handshake_timeout == 10.0
    loop.close()
