"""Real admission servers for tests: `netweave serve` as a subprocess, or uvicorn in a thread, over real TLS
with the server's own connection limits (`limit_options`).

Certificates come from certs/ (`dev_certificates`); clients verify them against the generated CA.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from certs.rotation import CertPaths, dev_certificates
from tests.paths import REPO
from webhook.connections import LOOP_FACTORY, BoundedHttpProtocol
from webhook.serve import TlsContextFactory, limit_options


@dataclass(frozen=True)
class Certs:
    cert: Path
    key: Path
    ca: Path


def make_certs(directory: Path) -> Certs:
    cert, key = dev_certificates(directory)
    return Certs(cert, key, CertPaths.of(directory).ca_cert)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def response(self) -> dict[str, Any]:
        out: dict[str, Any] = self.json()["response"]
        return out

    def patch_ops(self) -> list[dict[str, Any]]:
        patch = self.response.get("patch")
        return json.loads(base64.b64decode(patch)) if patch else []


class Client:
    """An HTTPS keep-alive client that verifies the server certificate against ``ca`` files."""

    def __init__(self, port: int, ca: Sequence[Path], *, host: str = "127.0.0.1") -> None:
        self.context = ssl.create_default_context()
        for path in ca:
            self.context.load_verify_locations(cafile=str(path))
        self.port = port
        self.host = host
        self.conn = self.connect()

    def connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def post(self, path: str, doc: Any) -> Reply:
        return self.request("POST", path, json.dumps(doc).encode())

    def peer_certificate(self) -> bytes:
        sock = self.conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        der = sock.getpeercert(binary_form=True)
        assert der is not None
        return der

    def close(self) -> None:
        self.conn.close()


def wait_ready(port: int, ca: Path, *, timeout: float = 20.0, path: str = "/readyz",
               process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            client = Client(port, [ca])
            try:
                if client.request("GET", path).status == 200:
                    return
            finally:
                client.close()
        except OSError as err:
            last = err
        time.sleep(0.05)
    raise TimeoutError(f"server on port {port} not ready: {last}")


class ServeProcess:
    """`python -m netweave serve ...` in a subprocess; stderr (JSON logs) is kept in ``log_path``."""

    def __init__(self, args: Sequence[str], *, certs: Certs, log_path: Path, port: int | None = None,
                 env: Mapping[str, str] | None = None, ready_path: str = "/readyz", tls_args: bool = True) -> None:
        self.port = port or free_port()
        self.certs = certs
        self.log_path = log_path
        tls = ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)] if tls_args else []
        self.args = ["--listen", f"127.0.0.1:{self.port}", *tls, *args]
        self.env = {**os.environ, **(env or {})}
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServeProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "netweave", "serve", *self.args],
                                            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(self.port, self.certs.ca, process=self.process, path=self.ready_path)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self) -> Client:
        return Client(self.port, [self.certs.ca])

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


class ThreadedServer:
    """uvicorn serving ``app`` over TLS in a background thread (one worker, like `netweave serve`)."""

    def __init__(self, app: FastAPI, *, certs: Certs, poll_seconds: float = 0.1,
                 protocol: type[BoundedHttpProtocol] = BoundedHttpProtocol, loop: str = LOOP_FACTORY) -> None:
        self.port = free_port()
        self.certs = certs
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                ssl_context_factory=TlsContextFactory(certs.cert, certs.key,
                                                                      poll_seconds=poll_seconds),
                                lifespan="on", **limit_options(protocol, loop))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self, *extra_ca: Path) -> Client:
        return Client(self.port, [self.certs.ca, *extra_ca])
