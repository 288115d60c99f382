"""Prometheus metrics, /healthz and /readyz of the node daemon, with their own CollectorRegistry.

Served on --metrics (the DaemonSet binds the node's IP, so Prometheus can scrape it; docs/monitoring has a
PodMonitor). /healthz (liveness): 503 when an operation hangs far past its timeout or the serving loop does not
respond. /readyz (readiness): 503 until the watches listed once, while the loop or its socket cannot serve, and
while the policy file is bad (a rollout then stalls on the first node instead of spreading a bad policy).
"""

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cni.node.server import Outcome

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CacheProbe = Callable[[], Mapping[str, tuple[int, bool]]]  # resource -> (objects, synced)
LookupProbe = Callable[[], Mapping[str, int]]  # "hits" / "misses" -> count


class _CacheCollector(Collector):
    """Cache size and lookups, read at scrape time."""

    def __init__(self, cache: CacheProbe, lookups: LookupProbe) -> None:
        self._cache = cache
        self._lookups = lookups

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("netweave_node_cache_objects", "Objects in the node watch cache",
                                 labels=["resource"])
        synced = GaugeMetricFamily("netweave_node_cache_synced", "1 once the watch listed completely",
                                   labels=["resource"])
        for resource, (count, is_synced) in sorted(self._cache().items()):
            size.add_metric([resource], count)
            synced.add_metric([resource], 1.0 if is_synced else 0.0)
        lookups = CounterMetricFamily("netweave_node_cache_lookups", "Pod/NAD lookups by result",
                                      labels=["result"])
        for result, count in sorted(self._lookups().items()):
            lookups.add_metric([result], count)
        yield from (size, synced, lookups)


class NodeMetrics:
    """The daemon's metrics; implements cni.node.server.Observer."""

    def __init__(self, *, cache: CacheProbe | None = None, lookups: LookupProbe | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("netweave_cni_requests", "CNI requests by command and outcome",
                                 ["command", "outcome"], registry=self.registry)
        self._latency = Histogram("netweave_cni_request_duration_seconds", "CNI request latency",
                                  ["command"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._running = Gauge("netweave_cni_operations_running", "Operations running",
                              registry=self.registry)
        self._waiting = Gauge("netweave_cni_operations_waiting", "Operations waiting for a worker",
                              registry=self.registry)
        self._hotplug = Counter("netweave_hotplug_reconciles", "Hot-plug reconciles of a sandbox by outcome "
                                "(applied, unchanged, failed, skipped)", ["outcome"], registry=self.registry)
        # Which delegate and which network fail: label values are plugin types and NAD names, both bounded by
        # what the cluster defines (never pod or container ids).
        self._delegate_failures = Counter("netweave_delegate_failures", "Delegate plugin invocations that failed, "
                                          "by plugin type and command", ["plugin", "command"],
                                          registry=self.registry)
        self._network_failures = Counter("netweave_network_failures", "Attachments that failed, by network "
                                         "(NAD namespace/name, or the cluster network's name) and command",
                                         ["network", "command"], registry=self.registry)
        self._repairs = Counter("netweave_node_config_repairs", "Times the config guard rewrote "
                                "00-netweave.conflist", registry=self.registry)
        self._policy_valid = Gauge("netweave_node_policy_valid", "1 while the policy file is in force, 0 while "
                                   "it is bad (the last good policy or the defaults serve)", registry=self.registry)
        self._policy_problem: Callable[[], str | None] = lambda: None
        self._policy_valid.set_function(lambda: 0.0 if self._policy_problem() else 1.0)
        self._cache = cache or (lambda: {})
        self._stuck: Callable[[], str | None] = lambda: None
        self._unready: Callable[[], str | None] = lambda: None
        if cache is not None:
            self.registry.register(_CacheCollector(cache, lookups or (lambda: {})))

    def request_finished(self, command: str, outcome: Outcome, seconds: float) -> None:
        self._requests.labels(command, outcome).inc()
        self._latency.labels(command).observe(seconds)

    def hotplug_finished(self, outcome: str) -> None:
        self._hotplug.labels(outcome).inc()

    def delegate_failed(self, plugin: str, command: str) -> None:
        self._delegate_failures.labels(plugin or "unknown", command).inc()

    def network_failed(self, network: str, command: str) -> None:
        self._network_failures.labels(network, command).inc()

    def config_repaired(self, reason: str) -> None:
        self._repairs.inc()

    def load_changed(self, *, running: int, waiting: int) -> None:
        self._running.set(running)
        self._waiting.set(waiting)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def watch_liveness(self, stuck: Callable[[], str | None]) -> None:
        """Make /healthz fail while `stuck()` returns a reason (an operation hung far past its timeout, the serving
        loop wedged)."""
        self._stuck = stuck

    def watch_readiness(self, unready: Callable[[], str | None]) -> None:
        """Make /readyz fail while `unready()` returns a reason (the socket gone, the loop not serving)."""
        self._unready = unready

    def watch_policy(self, problem: Callable[[], str | None]) -> None:
        """Make /readyz fail and netweave_node_policy_valid 0 while `problem()` returns why the policy file is
        not in force."""
        self._policy_problem = problem

    def health(self) -> tuple[int, bytes]:
        """/healthz: 200 while the daemon serves (the body says whether the caches are synced); 503 when stuck."""
        reason = self._stuck()
        body = {"status": "stuck" if reason else "ok", "reason": reason,
                "cache": {k: {"objects": n, "synced": s} for k, (n, s) in self._cache().items()}}
        return (503 if reason else 200), json.dumps(body).encode()

    def ready(self) -> tuple[int, bytes]:
        """/readyz: 503 until every watch listed once (lookups fall back to GETs meanwhile) and while the daemon
        cannot serve the shim or its policy file is bad."""
        synced = all(s for _, s in self._cache().values())
        reason = self._unready() or self._policy_problem()
        body = {"synced": synced, "reason": reason}
        return (200 if synced and reason is None else 503), json.dumps(body).encode()


def serve_metrics(metrics: NodeMetrics, host: str, port: int) -> ThreadingHTTPServer:
    """Start /metrics, /healthz and /readyz on host:port in a daemon thread; the caller shuts it down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                status, body, kind = 200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8"
            elif path in ("/healthz", "/readyz"):
                status, body = metrics.health() if path == "/healthz" else metrics.ready()
                kind = "application/json"
            else:
                status, body, kind = 404, b"not found\n", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    class Server(ThreadingHTTPServer):
        # The node's IP may be IPv6 (status.hostIP on a single-stack IPv6 cluster).
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info("metrics listening", extra={"address": f"{host}:{server.server_address[1]}"})
    return server
