"""`netweave serve`: the admission webhook over HTTPS (uvicorn), with certificate hot reload and JSON logs.

Without --tls-cert/--tls-key a development CA and serving certificate are created in .dev-certs/ (certs/).
The certificate files are watched; when they change, the live SSLContext loads them, so new connections get
the new certificate and open keep-alive connections carry on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import ssl
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from certs.rotation import CertificateFileError, CertPaths, dev_certificates
from webhook.app import CatalogSource, StaticCatalog, create_app
from webhook.catalog import CatalogError, MemoryCatalog
from webhook.connections import LOOP_FACTORY, BoundedHttpProtocol
from webhook.kube import ClusterCatalog, PodWatch, api_client_factory
from webhook.logs import logging_config
from webhook.manifests import read_catalog
from webhook.policy import Policy, PolicyError
from webhook.settings import CLUSTER, Settings, SettingsError

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
KEEP_ALIVE_SECONDS = 60  # the API server reuses webhook connections; do not make it reconnect often
GRACEFUL_SHUTDOWN_SECONDS = 10
BACKLOG = 1024  # pending TCP connections the kernel queues before refusing
GIL_SWITCH_SECONDS = 0.0005


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `netweave serve`; each also reads NETWEAVE_<NAME> from the environment."""
    parser.add_argument("--listen", help="address to serve HTTPS on, host:port (default 127.0.0.1:8443)")
    parser.add_argument("--tls-cert", type=Path, help="serving certificate (PEM); with --tls-key")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM); without both, dev certificates "
                        "are created in .dev-certs/")
    parser.add_argument("--catalog", help=f"where NADs come from: '{CLUSTER}' (list+watch via the API) or a "
                        "directory/file of NAD manifests (default: none, every named network is not found)")
    parser.add_argument("--config", type=Path, help="policy file (default .netweave.yaml when it exists)")
    parser.add_argument("--workers", type=int, help="worker processes (default 1)")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig for --catalog cluster "
                        "(default: in-cluster, then $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="default info")


def run(args: argparse.Namespace) -> int:
    """Start serving; returns the exit code when the server stops."""
    try:
        settings = settings_from(args, os.environ)
    except SettingsError as err:
        logging.config.dictConfig(logging_config("info"))
        logger.error("%s", err)
        return EXIT_USAGE
    logging.config.dictConfig(logging_config(settings.log_level))
    try:
        app = build_app(settings) if settings.workers == 1 else None
        if app is None:
            load_policy(settings)  # fail fast in the parent, with one message, before the workers start
            if not settings.cluster_catalog:
                static_catalog(settings)
        settings = with_certificates(settings)  # last: a start that fails leaves no .dev-certs/ behind
    except (SettingsError, PolicyError, CatalogError, OSError, ValueError) as err:
        logger.error("cannot start: %s", err)
        return EXIT_USAGE
    return serve(settings, app)


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Environment first, then the command line on top."""
    base = Settings.from_env(environ)
    return base.with_overrides(
        listen=args.listen, tls_cert=args.tls_cert, tls_key=args.tls_key, catalog=args.catalog,
        config=args.config, config_required=True if args.config is not None else None,
        workers=args.workers, kubeconfig=args.kubeconfig, log_level=args.log_level)


def with_certificates(settings: Settings) -> Settings:
    """The settings with a certificate: the given files, or development ones created under dev_cert_dir."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        for path in (settings.tls_cert, settings.tls_key):
            if not path.is_file():
                raise SettingsError(f"{path}: no such certificate/key file")
        return settings
    try:
        cert, key = dev_certificates(settings.dev_cert_dir)
    except CertificateFileError as err:
        raise SettingsError(str(err)) from err
    ca = CertPaths.of(settings.dev_cert_dir).ca_cert
    logger.info("using development certificates", extra={"cert": str(cert), "ca": str(ca)})
    return settings.with_overrides(tls_cert=cert, tls_key=key)


def load_policy(settings: Settings) -> Policy:
    if settings.config.is_file():
        return Policy.load(settings.config)
    if settings.config_required:
        raise PolicyError(f"{settings.config}: no such policy file")
    return Policy()


def catalog_source(settings: Settings) -> CatalogSource:
    if settings.cluster_catalog:
        return ClusterCatalog(api_client_factory(settings.kubeconfig), page_size=settings.list_page_size,
                              watch_timeout=settings.watch_timeout_seconds)
    return StaticCatalog(static_catalog(settings))


def pod_feed(settings: Settings, policy: Policy) -> PodWatch | None:
    """With the cluster catalog, one watch of all pods feeds the cluster-wide rules (static-ip-conflict,
    network-in-use); from manifests there is no cluster to watch."""
    if not settings.cluster_catalog:
        return None
    return PodWatch(api_client_factory(settings.kubeconfig), page_size=settings.list_page_size,
                    watch_timeout=settings.watch_timeout_seconds, system_namespace=policy.system_namespace)


def static_catalog(settings: Settings) -> MemoryCatalog:
    if not settings.catalog:
        logger.warning("no NAD catalog: every network a pod names is reported as not found; "
                       "give --catalog DIR or --catalog cluster")
        return MemoryCatalog()
    return read_catalog(settings.catalog)


def build_app(settings: Settings) -> FastAPI:
    """The app for these settings: policy, catalog source and body limit."""
    policy = load_policy(settings)
    source = catalog_source(settings)
    logger.info("admission app ready to start",
                extra={"catalog": settings.catalog, "nads": source.state().size,
                       "policy": str(settings.config) if settings.config.is_file() else "defaults"})
    return create_app(catalog=source, policy=policy, max_body_bytes=settings.max_body_bytes,
                      pods=pod_feed(settings, policy))


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes: `serve` exported the settings as NETWEAVE_* variables."""
    tune_interpreter()
    return build_app(Settings.from_env(os.environ))


def tune_interpreter() -> None:
    """Process-wide settings of a serving process (called once, at its start).

    Admission runs in worker threads beside the event loop; a thread running Python code hands the GIL over only
    every switch interval (5 ms by default), and each request crosses threads twice. A shorter interval keeps
    /healthz and small admissions near their normal latency while a large review is being checked.
    """
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


class TlsContextFactory:
    """uvicorn `ssl_context_factory`: a TLS server context whose certificate is reloaded when its files change.

    Picklable (paths only), so it reaches worker processes; each worker watches its own context.
    """

    def __init__(self, cert: Path, key: Path, *, poll_seconds: float) -> None:
        self.cert = cert
        self.key = key
        self.poll_seconds = poll_seconds

    def __call__(self, config: Any, default_factory: Any) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return context
        CertificateWatcher(context, self.cert, self.key, self.poll_seconds).start(loop)
        return context


class CertificateWatcher:
    """Polls the certificate files' stat from the event loop; on a change, loads them into the live context."""

    def __init__(self, context: ssl.SSLContext, cert: Path, key: Path, poll_seconds: float) -> None:
        self._context = context
        self._cert = cert
        self._key = key
        self._poll = poll_seconds
        self._stamp = _stamp(cert, key)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_later(self._poll, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        stamp = _stamp(self._cert, self._key)
        if stamp is not None and stamp != self._stamp:
            try:
                # Same thread as the handshakes (the event loop): only new connections see the new certificate.
                self._context.load_cert_chain(self._cert, self._key)
            except (OSError, ssl.SSLError) as err:
                # Half-written files during a rotation: keep serving the old certificate, retry next poll.
                logger.warning("cannot load the new TLS certificate yet: %s", err, extra={"cert": str(self._cert)})
            else:
                self._stamp = stamp
                logger.info("reloaded the TLS certificate", extra={"cert": str(self._cert)})
        if not loop.is_closed():
            loop.call_later(self._poll, self._check, loop)


def _stamp(cert: Path, key: Path) -> tuple[int, ...] | None:
    try:
        a, b = cert.stat(), key.stat()
    except OSError:
        return None
    return (a.st_mtime_ns, a.st_size, a.st_ino, b.st_mtime_ns, b.st_size, b.st_ino)


def uvicorn_config(settings: Settings, app: FastAPI | None) -> uvicorn.Config:
    """The uvicorn config: our app (or the env factory when there are several workers), TLS, JSON logs."""
    assert settings.tls_cert is not None and settings.tls_key is not None
    host, port = settings.listen_address()
    return uvicorn.Config(
        app if app is not None else "webhook.serve:app_from_env",
        factory=app is None,
        host=host,
        port=port,
        workers=settings.workers,
        ssl_context_factory=TlsContextFactory(settings.tls_cert, settings.tls_key,
                                              poll_seconds=settings.cert_poll_seconds),
        log_config=logging_config(settings.log_level),
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
        **limit_options(),
    )


def limit_options(protocol: type[BoundedHttpProtocol] = BoundedHttpProtocol,
                  loop: str = LOOP_FACTORY) -> dict[str, Any]:
    """The uvicorn options that bound what clients can hold: read deadlines, header size and the connection cap
    (in ``protocol``), the TLS handshake deadline (in ``loop``, an import string of a loop factory), the idle
    keep-alive time and the accept backlog."""
    return {"http": protocol, "loop": loop, "timeout_keep_alive": KEEP_ALIVE_SECONDS, "backlog": BACKLOG}


def serve(settings: Settings, app: FastAPI | None) -> int:
    """Run uvicorn until a signal stops it: in-process with one worker, else uvicorn's worker supervisor."""
    config = uvicorn_config(settings, app)
    host, port = settings.listen_address()
    logger.info("serving admission on https://%s:%d", host, port,
                extra={"workers": settings.workers, "catalog": settings.catalog})
    if settings.workers == 1:
        tune_interpreter()
        server = uvicorn.Server(config)
        server.run()
        return EXIT_OK if server.started else EXIT_FAILURE
    os.environ.update(settings.to_env())  # what app_from_env reads in each worker
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
    return EXIT_OK
