"""Metrics labels come from fixed sets: request-chosen strings can neither grow /metrics nor break a scrape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.webhook.servers import Certs, ThreadedServer, make_certs
from webhook.app import StaticCatalog, create_app
from webhook.catalog import MemoryCatalog
from webhook.metrics import KINDS, CatalogState, Metrics
from webhook.policy import Policy


def review(kind: str, n: int) -> bytes:
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": f"u{n}", "operation": "CREATE", "kind": {"group": "x.io", "version": "v1", "kind": kind},
        "object": {"metadata": {"name": "o"}}}}).encode()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture()
def server(certs: Certs) -> Iterator[ThreadedServer]:
    app = create_app(catalog=StaticCatalog(MemoryCatalog()), policy=Policy())
    with ThreadedServer(app, certs=certs) as running:
        yield running


def kind_labels(text: str) -> set[str]:
    return {sample.labels["kind"] for family in text_string_to_metric_families(text)
            for sample in family.samples if "kind" in sample.labels}


def test_invented_kinds_keep_metrics_small_and_scrapable(server: ThreadedServer) -> None:
    client = server.client()
    before = client.request("GET", "/metrics").body
    for n in range(2_000):
        assert client.request("POST", "/validate", review(f"Invented{n}", n)).status == 200
    surrogate = review("Bad", 0).replace(b'"Bad"', b'"Bad\\ud800"')
    assert client.request("POST", "/validate", surrogate).status == 200
    scrape = client.request("GET", "/metrics")
    assert scrape.status == 200
    assert len(scrape.body) < len(before) + 2_000  # one new series, not 2,001
    assert kind_labels(scrape.body.decode()) == {"other"}
    client.close()


def test_labels_outside_the_fixed_sets_are_other() -> None:
    metrics = Metrics(lambda: CatalogState(size=0, synced=True, last_sync=None))
    metrics.count_request(endpoint="mutate", operation="CREATE", kind="Pod", outcome="allowed")
    metrics.count_request(endpoint="m\ud800", operation="\x1b", kind="Pod\u2028", outcome="x" * 1000)
    metrics.count_finding(rule="interface-name-reserved", severity="error")
    metrics.count_finding(rule="Bad Rule\ud800", severity="fatal")
    text = metrics.render()[0].decode()
    labels = [sample.labels for family in text_string_to_metric_families(text) for sample in family.samples
              if family.name in ("netweave_admission_requests", "netweave_admission_findings")]
    assert {"endpoint": "other", "operation": "other", "kind": "other", "outcome": "other"} in labels
    assert {"rule": "other", "severity": "other"} in labels
    assert {"rule": "interface-name-reserved", "severity": "error"} in labels
    assert {label["kind"] for label in labels if "kind" in label} <= KINDS | {"other"}


def test_twenty_thousand_invented_kinds_make_one_series() -> None:
    metrics = Metrics(lambda: CatalogState(size=0, synced=True, last_sync=None))
    empty = len(metrics.render()[0])
    for n in range(20_000):
        metrics.count_request(endpoint="validate", operation="CREATE", kind=f"Invented{n}", outcome="allowed")
    metrics.count_request(endpoint="validate", operation="CREATE", kind="Bad\ud800", outcome="allowed")
    text = metrics.render()[0]
    assert len(text) < empty + 1_000 and b'kind="other"' in text and b"20001.0" in text
