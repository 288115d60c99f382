"""Prometheus metrics of one admission app, in its own CollectorRegistry (never the global one).

Every label value comes from a fixed set: a value the request chose (an invented kind, a lone surrogate) would
make one series per request and could break the text exposition, so anything outside the set is "other".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Admission must stay in single-digit milliseconds: resolve that range finely.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
OTHER = "other"
ENDPOINTS = frozenset({"mutate", "validate"})
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
# The kinds admission has checks for; any other kind the webhook is (mis)registered for counts as "other".
KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                   "NetworkAttachmentDefinition"})
OUTCOMES = frozenset({"allowed", "patched", "denied", "error", "invalid"})
SEVERITIES = frozenset({"error", "warning"})
# Rule ids are ours (kebab-case constants); the pattern keeps the label bounded even if one ever were not.
_RULE_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")


@dataclass(frozen=True, slots=True)
class CatalogState:
    """What the catalog gauges report."""

    size: int
    synced: bool
    last_sync: float | None  # unix time of the last full list or applied watch event


class _CatalogCollector(Collector):
    def __init__(self, read: Callable[[], CatalogState]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._read()
        yield GaugeMetricFamily("netweave_catalog_nads", "NetworkAttachmentDefinitions in the catalog",
                                value=state.size)
        yield GaugeMetricFamily("netweave_catalog_synced", "1 once the NAD catalog has been listed",
                                value=1.0 if state.synced else 0.0)
        yield GaugeMetricFamily("netweave_catalog_last_sync_timestamp_seconds",
                                "Unix time of the catalog's last list or watch event (0 = never)",
                                value=state.last_sync or 0.0)


class Metrics:
    """The admission metrics; ``render`` gives the text exposition for GET /metrics."""

    def __init__(self, catalog_state: Callable[[], CatalogState]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "netweave_admission_requests", "Admission requests by endpoint, operation, kind and outcome",
            ["endpoint", "operation", "kind", "outcome"], registry=self.registry)
        self.findings = Counter(
            "netweave_admission_findings", "Findings reported, by rule and severity",
            ["rule", "severity"], registry=self.registry)
        self.latency = Histogram(
            "netweave_admission_duration_seconds", "Time from request received to response ready",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_CatalogCollector(catalog_state))

    def count_request(self, *, endpoint: str, operation: str, kind: str, outcome: str) -> None:
        """One admission request; an empty operation/kind means the request could not be decoded."""
        self.requests.labels(_bounded(endpoint, ENDPOINTS), _bounded(operation, OPERATIONS, empty=True),
                             _bounded(kind, KINDS, empty=True), _bounded(outcome, OUTCOMES)).inc()

    def count_finding(self, *, rule: str, severity: str) -> None:
        self.findings.labels(rule if _RULE_ID.fullmatch(rule) else OTHER, _bounded(severity, SEVERITIES)).inc()

    def observe_latency(self, *, endpoint: str, seconds: float) -> None:
        self.latency.labels(_bounded(endpoint, ENDPOINTS)).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _bounded(value: str, allowed: frozenset[str], *, empty: bool = False) -> str:
    return value if value in allowed or (empty and value == "") else OTHER
