"""A real TLS handshake: a stdlib server with the serving cert, a client that trusts only the netweave CA."""

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from certs.rotation import ensure_certificates
from tests.prerequisites import require

REPLY = b"netweave"


@dataclass(frozen=True)
class Server:
    host: str
    port: int


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    # The handshake checks validity against the real clock, so these certificates start now.
    ensure_certificates(directory, now=datetime.now(UTC), service="netweave-webhook", namespace="netweave-system")
    return directory


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("other")
    ensure_certificates(directory, now=datetime.now(UTC), service="netweave-webhook", namespace="netweave-system")
    return directory / "ca.crt"


def _serve(context: ssl.SSLContext, listener: socket.socket, stop: threading.Event) -> None:
    # Poll accept() so that teardown can stop the thread: closing a listener does not wake a blocked accept.
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        raw.settimeout(10)
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.sendall(REPLY)
        except (ssl.SSLError, OSError):
            continue  # a handshake the client refused: the negative cases check the client side


def _start(cert_dir: Path, family: socket.AddressFamily, host: str) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    stop = threading.Event()
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen()
        listener.settimeout(0.05)
        thread = threading.Thread(target=_serve, args=(context, listener, stop), daemon=True)
        thread.start()
        try:
            yield Server(host=host, port=listener.getsockname()[1])
        finally:
            stop.set()
            thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(cert_dir: Path) -> Iterator[Server]:
    yield from _start(cert_dir, socket.AF_INET, "127.0.0.1")


def _handshake(server: Server, *, cafile: Path, server_hostname: str) -> tuple[bytes, str | None]:
    context = ssl.create_default_context(cafile=str(cafile))  # trusts this CA only, checks the hostname
    with (
        socket.create_connection((server.host, server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as conn,
    ):
        return conn.recv(len(REPLY)), conn.version()


@pytest.mark.parametrize(
    "server_hostname",
    [
        pytest.param("netweave-webhook.netweave-system.svc", id="service-svc-name"),
        pytest.param("netweave-webhook.netweave-system.svc.cluster.local", id="fqdn"),
        pytest.param("netweave-webhook", id="short-name"),
        pytest.param("localhost", id="localhost"),
        pytest.param("127.0.0.1", id="ipv4-loopback"),
    ],
)
def test_client_trusting_only_the_ca_accepts_the_server(
    server: Server, cert_dir: Path, server_hostname: str
) -> None:
    reply, version = _handshake(server, cafile=cert_dir / "ca.crt", server_hostname=server_hostname)
    assert reply == REPLY
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_ipv6_loopback_handshake(cert_dir: Path) -> None:
    require(None if _ipv6_loopback() else "no IPv6 loopback on this machine")
    for ipv6 in _start(cert_dir, socket.AF_INET6, "::1"):
        assert _handshake(ipv6, cafile=cert_dir / "ca.crt", server_hostname="::1")[0] == REPLY


@pytest.mark.parametrize(
    ("server_hostname", "use_other_ca", "reason"),
    [
        pytest.param("netweave-webhook.netweave-system.svc", True, "unable to get local issuer", id="other-ca"),
        pytest.param("netweave-webhook.default.svc", False, "Hostname mismatch", id="wrong-namespace"),
        pytest.param("10.0.0.1", False, "IP address mismatch", id="wrong-ip"),
    ],
)
def test_client_rejects_untrusted_or_misnamed_server(
    server: Server, cert_dir: Path, other_ca: Path, server_hostname: str, use_other_ca: bool, reason: str
) -> None:
    cafile = other_ca if use_other_ca else cert_dir / "ca.crt"
    with pytest.raises(ssl.SSLCertVerificationError, match=reason):
        _handshake(server, cafile=cafile, server_hostname=server_hostname)
