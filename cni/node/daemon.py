"""`netweave node`: the long-lived node daemon the shim talks to.

One watch of the pods on this node and one of NADs feed every request (cni.node.watchcache); requests arrive on a
root-only unix socket (cni.node.server), run the same cni.execute code as standalone mode in-process, one at a time
per container and at most --workers at once; /healthz, /readyz and /metrics listen on a local port.
SIGTERM/SIGINT stop accepting and let in-flight operations finish.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cni.context import Context
from cni.execute import execute
from cni.kube import KubeClient, kube_from_kubeconfig
from cni.kubeclient import KubeconfigError, api_client
from cni.logformat import configure_logging
from cni.node import shim
from cni.node.confguard import ConfGuard, node_event_reporter
from cni.node.health import loop_problem, socket_identity, socket_problem
from cni.node.hotplug_loop import HotplugLoop
from cni.node.install import Layout
from cni.node.metrics import NodeMetrics, serve_metrics
from cni.node.policy import PolicyFile
from cni.node.server import CniServer, Handler, Limits
from cni.node.settings import NodeSettings
from cni.node.watchcache import WatchCache
from cni.reflector import ResponseStream
from cni.request import DEFAULT_CACHE_DIR

logger = logging.getLogger(__name__)

DEFAULT_METRICS = "127.0.0.1:9653"
DEFAULT_LIMITS = Limits()
STUCK_FACTOR = 3.0
LAST_GOOD_POLICY = "policy.last-good.json"
POLICY_EVENT_REASON = "NetweavePolicyInvalid"


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """Everything `netweave node` needs, from the command line and NodeSettings."""

    socket: Path
    metrics: tuple[str, int] | None
    node_name: str
    kubeconfig: str | None
    limits: Limits
    sync_timeout: float = 3.0
    log_level: str = "info"
    chroot_dir: str | None = None  # the node's root filesystem as mounted here; delegates run chrooted in it
    hot_plug: bool = False  # reconcile running pods whose networks annotation changed (cni.hotplug)
    cache_dirs: tuple[str, ...] = (DEFAULT_CACHE_DIR,)  # where the ADD records are (the conflists' cacheDir)
    guard: Layout | None = None  # keep 00-netweave.conflist in this CNI config directory (cni.node.confguard)
    policy_file: Path | None = None  # the policy ConfigMap's file: defaults for the conflists' policy keys


# ---- the kubernetes edge ------------------------------------------------------------------------------------


class KubeTransport:
    """cni.node.watchcache.Transport over kubernetes.client.ApiClient (raw JSON, no model decoding)."""

    def __init__(self, api_client: Any) -> None:
        self._client = api_client

    @property
    def api_client(self) -> Any:
        return self._client

    @classmethod
    def connect(cls, kubeconfig: str | None) -> "KubeTransport":
        """From a kubeconfig file, else the pod's service account (cni.kubeclient.api_client); KubeconfigError."""
        return cls(api_client(kubeconfig))

    def _call(self, path: str, query: Mapping[str, str], timeout: float) -> Any:
        return self._client.call_api(
            path, "GET", query_params=list(query.items()), header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
            _request_timeout=(5.0, timeout),
        )

    def get_json(self, path: str, query: Mapping[str, str], *, timeout: float) -> Mapping[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            response = self._call(path, query, timeout)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        body = json.loads(response.data)
        return body if isinstance(body, dict) else None

    def stream(self, path: str, query: Mapping[str, str], *, timeout: float) -> ResponseStream:
        return ResponseStream(self._call(path, query, timeout))


# ---- wiring -------------------------------------------------------------------------------------------------


def memoized(factory: Callable[[str], Any]) -> Callable[[str], Any]:
    """One client per kubeconfig path for the daemon's lifetime (not one per request)."""
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def get(path: str) -> Any:
        with lock:
            if path not in clients:
                clients[path] = factory(path)
            return clients[path]

    return get


def daemon_context(cache: WatchCache | None, node_name: str, api_client: Any = None,
                   host_root: str | None = None,
                   config_defaults: Callable[[], Mapping[str, Any]] = dict,
                   failures: NodeMetrics | None = None) -> Context:
    """The Context the daemon's requests share: the watch cache's lookups and, given `api_client`, the daemon's
    own API credentials for every request (the service account token that kubelet keeps fresh, instead of the
    copy written into the node's kubeconfig at install time, which expires)."""
    if api_client is not None:
        shared = KubeClient(api_client)
        kube: Callable[[str], Any] = lambda _path: shared  # noqa: E731
    else:
        kube = memoized(kube_from_kubeconfig)
    context = Context(
        kube=kube,
        pod_lookup=cache.pod if cache is not None else None,
        nad_lookup=cache.nad if cache is not None else None,
        node_name=node_name,
        host_root=host_root,
        config_defaults=config_defaults,
    )
    if failures is None:
        return context
    return replace(context, delegate_failed=failures.delegate_failed, network_failed=failures.network_failed)


def execute_handler(cache: WatchCache | None, node_name: str, api_client: Any = None,
                    host_root: str | None = None,
                    config_defaults: Callable[[], Mapping[str, Any]] = dict,
                    failures: NodeMetrics | None = None) -> Handler:
    """The in-process cni.execute, fed the watch cache (and the daemon's API client) through its Context;
    `config_defaults` (the policy file) fill the policy keys a request's conflist leaves out; `failures` count
    failed delegates and networks."""
    context = daemon_context(cache, node_name, api_client, host_root, config_defaults, failures)

    def handle(env: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        outcome = execute(env, stdin, context=context)
        return outcome.stdout, outcome.exit_code

    return handle


def cache_probe(cache: WatchCache) -> Callable[[], Mapping[str, tuple[int, bool]]]:
    return lambda: {
        "pods": (len(cache.pods), cache.pods.synced.is_set()),
        "nads": (len(cache.nads), cache.nads.synced.is_set()),
    }


def stuck_reason(longest: float, limits: Limits) -> str | None:
    """Why the liveness probe should fail: an operation running far past its request timeout holds a worker
    (and its container's lock) for good; a restart frees both, and DEL recovers from the ADD record."""
    limit = STUCK_FACTOR * limits.request_timeout
    if longest > limit:
        return f"an operation has been running for {longest:.0f} s (limit {limit:.0f} s)"
    return None


class StopRequest:
    """SIGTERM/SIGINT as a stop request, caught from the start of run_daemon: a signal during startup is not lost
    (as PID 1 in a container, a signal without a handler is dropped by the kernel)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._pid = os.getpid()
        self._wake: Callable[[], object] | None = None

    def handle(self, signum: int, frame: object) -> None:
        # Not loop.add_signal_handler: its wakeup fd is inherited by children that pyroute2 forks for netns
        # work, and a signal delivered to such a child would then stop this daemon.
        if os.getpid() != self._pid:
            return
        self.requested.set()
        wake = self._wake
        if wake is not None:
            wake()

    def wake_with(self, wake: Callable[[], object]) -> None:
        """Call `wake` on the stop request (at once if it already came)."""
        self._wake = wake
        if self.requested.is_set():
            wake()

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopRequest"]:
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


Background = Callable[[CniServer, asyncio.AbstractEventLoop], Callable[[], None]]


async def serve(options: DaemonOptions, handler: Handler, metrics: NodeMetrics,
                stopping: StopRequest | None = None, background: Background | None = None) -> int:
    """Serve the socket (and metrics) until the stop request; then drain. The operations still unfinished
    after the shutdown grace. `background` starts work that needs the server (hot-plug) and returns its stop."""
    server = CniServer(handler, limits=options.limits, observer=metrics)
    await server.start(options.socket)
    loop = asyncio.get_running_loop()
    stop_background = background(server, loop) if background is not None else None
    identity = socket_identity(options.socket)
    metrics.watch_liveness(lambda: stuck_reason(server.longest_running(), options.limits) or loop_problem(loop))
    metrics.watch_readiness(lambda: loop_problem(loop) or socket_problem(options.socket, identity))
    http = serve_metrics(metrics, *options.metrics) if options.metrics else None
    stop = asyncio.Event()
    with contextlib.ExitStack() as signals:
        if stopping is None:
            stopping = signals.enter_context(StopRequest().installed())
        stopping.wake_with(lambda: loop.call_soon_threadsafe(stop.set))
        logger.info("ready", extra={"socket": str(options.socket), "node": options.node_name})
        await stop.wait()
    logger.info("shutting down", extra={"in_flight": server.pending})
    if stop_background is not None:
        stop_background()
    unfinished = await server.shutdown()
    if http is not None:
        http.shutdown()
    return unfinished


def run_daemon(options: DaemonOptions, *, handler: Handler | None = None,
               stopping: StopRequest | None = None) -> int:
    """Start the watches, then serve; `handler` replaces cni.execute (tests, benchmarks); `stopping`: the caller's
    stop request, already installed (a daemon run off the main thread, which cannot install signal handlers).

    SIGTERM/SIGINT: stop accepting, let in-flight operations finish within --shutdown-grace, remove the socket,
    exit 0. Operations still running after the grace cannot be waited for (their worker threads would hold the
    interpreter's exit): the daemon then exits 1 at once; DEL recovers what they did from the ADD records.
    """
    with contextlib.ExitStack() as signals:
        if stopping is None:
            stopping = signals.enter_context(StopRequest().installed())
        try:
            transport = KubeTransport.connect(options.kubeconfig)
        except KubeconfigError as err:  # no usable API credentials
            logger.error("cannot configure API access",
                         extra={"kubeconfig": options.kubeconfig, "error": str(err)})
            return 2
        policy = open_policy(options, transport.api_client)
        listeners: list[Callable[[], None]] = []
        cache = WatchCache(transport, node_name=options.node_name, on_change=lambda: _notify(listeners))
        cache.start()
        metrics = NodeMetrics(cache=cache_probe(cache), lookups=lambda: lookup_counts(cache))
        if policy is not None:
            metrics.watch_policy(policy.problem)
        guard = ConfGuard(options.guard, on_repair=_repair_reporter(metrics, transport.api_client,
                                                                     options.node_name)) \
            if options.guard is not None else None
        if guard is not None:
            guard.start()
        try:
            if not _wait_synced(cache, options.sync_timeout, stopping):
                logger.warning("watch cache not synced yet; lookups fall back to GETs",
                               extra={"waited": options.sync_timeout})
            background = hotplug_starter(options, cache, transport.api_client, metrics, listeners) \
                if options.hot_plug else None
            unfinished = asyncio.run(serve(
                options, handler or execute_handler(cache, options.node_name, transport.api_client,
                                                    options.chroot_dir,
                                                    policy.config_defaults if policy is not None else dict,
                                                    metrics),
                metrics, stopping, background))
        finally:
            cache.stop(timeout=0.5)   # daemon threads: a watch stuck in a read must not delay the exit
            if guard is not None:
                guard.stop(timeout=0.5)
    if unfinished:
        logger.error("exiting with operations unfinished after the shutdown grace",
                     extra={"unfinished": unfinished, "grace": options.limits.shutdown_grace})
        logging.shutdown()
        os._exit(1)
    return 0


def last_good_path(options: DaemonOptions) -> Path:
    """Where the last accepted policy is kept on the host: under the first cache dir, which the daemon owns and
    which outlives its container; in a subdirectory, since cni.cache reads every *.json there as an ADD record."""
    return Path(options.cache_dirs[0]) / "daemon" / LAST_GOOD_POLICY


def open_policy(options: DaemonOptions, api_client: Any) -> PolicyFile | None:
    """The --policy file, its bad versions reported as Warning Events on the Node. Its content never stops the
    daemon (cni.node.policy): a cluster-wide typo would otherwise crash-loop every node at its next restart."""
    if options.policy_file is None:
        return None
    post = node_event_reporter(KubeClient(api_client), options.node_name, event_reason=POLICY_EVENT_REASON)

    def report(problem: str) -> None:
        # Off the caller's thread: an unreachable API server must not delay the start (DEL needs no API) or a
        # readiness probe.
        threading.Thread(target=post, args=(problem,), name="policy-event", daemon=True).start()

    return PolicyFile(options.policy_file, last_good=last_good_path(options), on_problem=report)


def _repair_reporter(metrics: NodeMetrics, api_client: Any, node: str) -> Callable[[str], None]:
    """Each config repair: counted, and a Warning Event on the Node."""
    post = node_event_reporter(KubeClient(api_client), node)

    def report(reason: str) -> None:
        metrics.config_repaired(reason)
        post(reason)

    return report


def _notify(listeners: list[Callable[[], None]]) -> None:
    for listener in listeners:
        listener()


def hotplug_starter(options: DaemonOptions, cache: WatchCache, api_client: Any, metrics: NodeMetrics,
                    listeners: list[Callable[[], None]]) -> Background:
    """Start the hot-plug loop once the server runs: pods from the watch cache, each reconcile under the
    container's lock of the server, woken by every watch event."""
    def start(server: CniServer, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        def run_locked(key: str, work: Callable[[], Any]) -> Any:
            return asyncio.run_coroutine_threadsafe(server.run_exclusive(key, work), loop).result()

        hotplug = HotplugLoop(cache_dirs=options.cache_dirs, pods=cache.pods.get, run_locked=run_locked,
                              context=daemon_context(cache, options.node_name, api_client, options.chroot_dir),
                              observe=metrics.hotplug_finished)
        listeners.append(hotplug.wake)
        hotplug.start()
        return lambda: hotplug.stop(timeout=0)   # never block the loop a running reconcile waits on

    return start


def _wait_synced(cache: WatchCache, timeout: float, stopping: StopRequest) -> bool:
    """Wait for the first lists, but no longer once a stop is requested."""
    deadline = time.monotonic() + timeout
    while not cache.wait_synced(min(0.05, max(0.0, deadline - time.monotonic()))):
        if stopping.requested.is_set() or time.monotonic() >= deadline:
            return False
    return True


def lookup_counts(cache: WatchCache) -> Mapping[str, int]:
    stats = cache.stats
    return {"hits": stats.hits, "misses": stats.misses}


# ---- command line -------------------------------------------------------------------------------------------


def parse_address(text: str) -> tuple[str, int]:
    """"host:port" (IPv6 as [addr]:port) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `netweave node`."""
    parser.add_argument("--socket", type=Path, default=Path(shim.DEFAULT_SOCKET),
                        help="unix socket for the shim, mode 0600 (default: %(default)s)")
    parser.add_argument("--metrics", type=parse_address, default=DEFAULT_METRICS,
                        help="HOST:PORT for /metrics, /healthz, /readyz (default: %(default)s)")
    parser.add_argument("--no-metrics", action="store_true", help="do not serve metrics")
    parser.add_argument("--node-name", help="this node (default: $NODE_NAME)")
    parser.add_argument("--kubeconfig", help="API access for the watches (default: $KUBECONFIG, else in-cluster)")
    parser.add_argument("--workers", type=int, default=DEFAULT_LIMITS.workers,
                        help="operations run at once (default: %(default)s)")
    parser.add_argument("--queue", type=int, default=DEFAULT_LIMITS.queue,
                        help="operations that may wait for a worker; more get CNI code 11 (default: %(default)s)")
    parser.add_argument("--request-timeout", type=float, default=DEFAULT_LIMITS.request_timeout,
                        help="seconds before a request is answered with code 11 (default: %(default)s; "
                        f"keep below the shim's {shim.REPLY_TIMEOUT:g})")
    parser.add_argument("--shutdown-grace", type=float, default=DEFAULT_LIMITS.shutdown_grace,
                        help="seconds to finish in-flight operations on SIGTERM (default: %(default)s)")
    parser.add_argument("--sync-timeout", type=float, default=3.0,
                        help="seconds to wait for the first list before serving; kept short so that DEL, which "
                        "needs no API, is served at once even when the API server is down (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--chroot-dir", help="the node's root filesystem as mounted in this container (e.g. "
                        "/hostroot): every delegate runs chrooted there, as if the runtime had run it on the node "
                        "(its binaries, config files and unix sockets); default: none, this container's own")
    parser.add_argument("--hot-plug", action="store_true", help="apply changes of a running pod's networks "
                        "annotation (admission allows them under policy hotPlug): add and remove its attachments")
    parser.add_argument("--cache-dir", action="append", help="where the ADD records are, as the conflist's "
                        f"cacheDir (repeatable; default: {DEFAULT_CACHE_DIR}); hot-plug reads them")
    parser.add_argument("--guard-cni-conf-dir", type=Path, help="keep 00-netweave.conflist in this CNI config "
                        "directory (node-install's --cni-conf-dir, mounted writable): re-render it within a second "
                        "when another agent removes, renames or edits it or the primary config changes")
    parser.add_argument("--host-cni-conf-dir", type=Path, default=Path("/etc/cni/net.d"),
                        help="--guard-cni-conf-dir as the node sees it (default: %(default)s)")
    parser.add_argument("--policy", type=Path, help="the netweave policy file (.netweave.yaml keys, the ConfigMap "
                        "netweave-policy the webhook reads too): namespaceIsolation, globalNamespaces, "
                        "systemNamespace, clusterRoutes and sourceRouting apply to every conflist that does not set "
                        "them; re-read when it changes (a missing file: built-in defaults); while it is bad, the "
                        "last good policy (kept under the first --cache-dir) or the defaults serve and /readyz fails")


def options_from(args: argparse.Namespace, settings: NodeSettings) -> DaemonOptions:
    node = args.node_name or settings.node_name
    if not node:
        raise ValueError("the node name is unknown: set NODE_NAME (downward API spec.nodeName) or --node-name")
    if args.request_timeout >= shim.REPLY_TIMEOUT:
        raise ValueError(f"--request-timeout must stay below the shim's {shim.REPLY_TIMEOUT:g} s")
    if args.chroot_dir and not os.path.isdir(args.chroot_dir):
        raise ValueError(f"--chroot-dir {args.chroot_dir!r} is not a directory; mount the node's / there "
                         "(hostPath /) or leave the option out")
    limits = Limits(workers=args.workers, queue=args.queue, request_timeout=args.request_timeout,
                    shutdown_grace=args.shutdown_grace)
    return DaemonOptions(socket=args.socket, metrics=None if args.no_metrics else args.metrics, node_name=node,
                         kubeconfig=args.kubeconfig or settings.kubeconfig, limits=limits,
                         sync_timeout=args.sync_timeout, log_level=args.log_level,
                         chroot_dir=os.path.abspath(args.chroot_dir) if args.chroot_dir else None,
                         hot_plug=bool(getattr(args, "hot_plug", False)),
                         cache_dirs=tuple(getattr(args, "cache_dir", None) or (DEFAULT_CACHE_DIR,)),
                         guard=_guard_layout(args), policy_file=getattr(args, "policy", None))


def _guard_layout(args: argparse.Namespace) -> Layout | None:
    conf_dir = getattr(args, "guard_cni_conf_dir", None)
    if conf_dir is None:
        return None
    if not conf_dir.is_dir():
        raise ValueError(f"--guard-cni-conf-dir {str(conf_dir)!r} is not a directory; mount the node's CNI config "
                         "directory there (writable) or leave the option out")
    # The guard writes only the conflist and install's state; the shim's bin dir is not its business.
    return Layout(bin_dir=conf_dir, conf_dir=conf_dir,
                  host_conf_dir=getattr(args, "host_cni_conf_dir", None) or Path("/etc/cni/net.d"))


def grace_problem(limits: Limits) -> str | None:
    """Why SIGTERM could cut a request short: the drain must outlast a request that just started (and the pod's
    terminationGracePeriodSeconds the drain, which the DaemonSet's test checks)."""
    if limits.shutdown_grace <= limits.request_timeout:
        return (f"--shutdown-grace ({limits.shutdown_grace:g} s) does not exceed --request-timeout "
                f"({limits.request_timeout:g} s): SIGTERM may end a request that just started")
    return None


def run(args: argparse.Namespace) -> int:
    """`netweave node`: 0 after a clean shutdown, 2 on bad settings."""
    configure_logging(args.log_level)
    try:
        options = options_from(args, NodeSettings.from_env(os.environ))
    except ValueError as err:
        logger.error("bad settings", extra={"error": str(err)})
        return 2
    if (problem := grace_problem(options.limits)) is not None:
        logger.warning("grace periods do not nest", extra={"problem": problem})
    return run_daemon(options)


def main() -> int:
    """`python -m cni.node.daemon` (the `netweave node` CLI registers add_arguments/run instead)."""
    parser = argparse.ArgumentParser(prog="netweave node", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
