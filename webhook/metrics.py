"""Prometheus metrics of one admission app, in its own CollectorRegistry (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Admission must stay in single-digit milliseconds: resolve that range finely.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


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

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
