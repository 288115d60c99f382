"""The cluster-backed NAD catalog against the replayed kube-apiserver 1.24 (tests/replay.py), official client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.replay import ReplayServer
from tests.waiting import eventually
from webhook.catalog import MemoryCatalog
from webhook.kube import Backoff, ClusterCatalog

NADS_PATH = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
LISTED = [("default", "ip-192"), ("default", "kube-ovn-vpc-network"), ("default", "macvlan-conf"),
          ("kube-system", "calico-net"), ("kube-system", "ovn-net"), ("lab", "bridge-b"), ("lab", "macvlan-a")]
AFTER_CAPTURED_WATCH = sorted([*LISTED, ("lab", "res-c"), ("lab-nri", "res-c")])
FAST = Backoff(initial=0.05, maximum=0.2)


def nad(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"config": '{"cniVersion":"0.3.1","type":"bridge","ipam":{"type":"host-local",'
                               '"subnet":"10.9.0.0/24"}}'}}


@pytest.fixture()
def api() -> Iterator[ReplayServer]:
    with ReplayServer(watch_hold=0.2) as server:
        yield server


def catalog_for(api: ReplayServer, **kwargs: Any) -> ClusterCatalog:
    options: dict[str, Any] = {"page_size": 3, "backoff": FAST, "min_watch_seconds": 0.05, **kwargs}
    return ClusterCatalog(lambda: client.ApiClient(api.configuration()), **options)


@pytest.fixture()
def running(api: ReplayServer) -> Iterator[ClusterCatalog]:
    catalog = catalog_for(api)
    catalog.start()
    yield catalog
    catalog.stop()


def watches(api: ReplayServer) -> list[dict[str, list[str]]]:
    return [dict(r.query) for r in api.requests_for("GET", NADS_PATH) if r.param("watch") == "True"]


def lists(api: ReplayServer) -> list[dict[str, list[str]]]:
    return [dict(r.query) for r in api.requests_for("GET", NADS_PATH) if r.param("watch") is None]


def test_relist_pages_through_all_namespaces(api: ReplayServer) -> None:
    catalog = catalog_for(api)
    assert catalog.state().synced is False
    assert catalog.relist() == "354"
    assert catalog.snapshot().keys() == tuple(LISTED)
    assert [q.get("limit") for q in lists(api)] == [["3"], ["3"], ["3"]]
    assert [bool(q.get("continue")) for q in lists(api)] == [False, True, True]
    state = catalog.state()
    assert (state.synced, state.size) == (True, 7) and state.last_sync is not None


def test_watch_applies_captured_events_and_returns_bookmark_version(api: ReplayServer) -> None:
    catalog = catalog_for(api)
    catalog.relist()
    rv, events, _ = catalog.watch("354")
    assert (rv, events) == ("363", 7)  # ADDED res-c, ADDED/MODIFIED/DELETED watch-demo, ADDED res-c, 2 BOOKMARKs
    assert list(catalog.snapshot().keys()) == AFTER_CAPTURED_WATCH
    assert catalog.snapshot().namespaces_of("res-c") == ("lab", "lab-nri")
    assert catalog.snapshot().get("team-a", "watch-demo") is None
    res_c = catalog.snapshot().get("lab", "res-c")
    assert res_c is not None and res_c.resource_name == "example.com/lab_nic"
    assert watches(api)[0] == {"allowWatchBookmarks": ["True"], "resourceVersion": ["354"],
                               "timeoutSeconds": ["300"], "watch": ["True"]}


def test_running_catalog_syncs_then_resumes_from_last_version(api: ReplayServer, running: ClusterCatalog) -> None:
    assert running.wait_synced(5)
    assert eventually(lambda: list(running.snapshot().keys()) == AFTER_CAPTURED_WATCH)
    assert eventually(lambda: len(watches(api)) >= 2)
    assert [q["resourceVersion"] for q in watches(api)[:2]] == [["354"], ["363"]]
    assert running.lists == 1


def test_live_events_reach_the_snapshot(api: ReplayServer, running: ClusterCatalog) -> None:
    assert running.wait_synced(5)
    api.add_nad(nad("team-b", "late"))
    assert eventually(lambda: running.snapshot().get("team-b", "late") is not None)
    api.delete_nad("lab", "bridge-b")
    assert eventually(lambda: running.snapshot().get("lab", "bridge-b") is None)
    assert running.lists == 1


def test_snapshots_are_immutable_and_swapped(api: ReplayServer) -> None:
    catalog = catalog_for(api)
    catalog.relist()
    before = catalog.snapshot()
    catalog.watch("354")
    after = catalog.snapshot()
    assert before is not after
    assert (len(before), len(after)) == (7, 9)
    assert before.get("lab", "res-c") is None


def test_410_gone_from_the_watch_relists(api: ReplayServer) -> None:
    gone = (api_dir_text("watch-nads-gone.raw"))
    api.script_watch("nads", [gone])
    catalog = catalog_for(api)
    catalog.start()
    try:
        assert eventually(lambda: catalog.lists >= 2)
        assert eventually(lambda: list(catalog.snapshot().keys()) == AFTER_CAPTURED_WATCH)
    finally:
        catalog.stop()
    assert [q["resourceVersion"] for q in watches(api)[:2]] == [["354"], ["354"]]


def test_compacted_resource_version_relists(api: ReplayServer, running: ClusterCatalog) -> None:
    assert eventually(lambda: list(running.snapshot().keys()) == AFTER_CAPTURED_WATCH)
    api.compact(364)  # the catalog's next watch (from 363) is too old
    assert eventually(lambda: running.lists >= 2)
    api.compact(0)
    assert eventually(lambda: list(running.snapshot().keys()) == AFTER_CAPTURED_WATCH)


def test_list_errors_back_off_and_recover(api: ReplayServer) -> None:
    api.fail_next("GET", NADS_PATH, 500, times=3)
    catalog = catalog_for(api, backoff=Backoff(initial=0.3, maximum=0.3))
    catalog.start()
    try:
        api.wait_for_request("GET", NADS_PATH, count=1)
        assert catalog.state().synced is False
        assert catalog.wait_synced(5)
    finally:
        catalog.stop()
    attempts = api.requests_for("GET", NADS_PATH)[:4]  # 3 failed lists, then the one that worked
    assert [r.param("watch") for r in attempts] == [None] * 4 and catalog.lists == 1


def test_watch_stream_error_event_relists(api: ReplayServer) -> None:
    api.script_watch("nads", [{"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "code": 500,
                                                           "reason": "InternalError", "message": "etcd down"}}])
    catalog = catalog_for(api)
    catalog.start()
    try:
        assert eventually(lambda: catalog.lists >= 2)
    finally:
        catalog.stop()


def test_unreachable_api_is_not_ready(api: ReplayServer) -> None:
    catalog = ClusterCatalog(lambda: client.ApiClient(unreachable()), backoff=FAST)
    catalog.start()
    try:
        assert not catalog.wait_synced(0.5)
        assert catalog.state() == (catalog.state().__class__(size=0, synced=False, last_sync=None))
    finally:
        catalog.stop()


def test_stop_cuts_an_open_watch(api: ReplayServer) -> None:
    api.watch_hold = 30.0
    catalog = catalog_for(api)
    catalog.start()
    assert eventually(lambda: len(watches(api)) >= 1)
    time.sleep(0.2)
    started = time.monotonic()
    catalog.stop()
    assert time.monotonic() - started < 15.0   # a hang guard: the watch would hold for 30 s


def test_snapshot_keeps_namespaces_of_each_name_sorted() -> None:
    from cni.spec import parse_nad

    snap = MemoryCatalog(parse_nad(nad(ns, "n")) for ns in ("zz", "aa"))
    assert snap.namespaces_of("n") == ("aa", "zz")
    assert snap.without("aa", "n").namespaces_of("n") == ("zz",)
    assert snap.without("zz", "n").without("aa", "n").namespaces_of("n") == ()
    assert snap.with_nad(parse_nad(nad("mm", "n"))).namespaces_of("n") == ("aa", "mm", "zz")
    assert len(snap) == 2


@pytest.mark.parametrize(("failures", "delay"), [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)])
def test_backoff_doubles_up_to_the_maximum(failures: int, delay: float) -> None:
    assert Backoff().ceiling(failures) == delay
    assert Backoff().delay(failures, draw=lambda: 0.0) == delay


@pytest.mark.parametrize(("draw", "delay"), [(0.0, 2.0), (0.5, 1.5), (0.999, 1.001)])
def test_backoff_jitter_takes_up_to_half_off(draw: float, delay: float) -> None:
    """Jitter: nodes and replicas that failed together do not retry together."""
    assert Backoff().delay(3, draw=lambda: draw) == pytest.approx(delay)


def api_dir_text(name: str) -> str:
    from tests.paths import FIXTURES

    return (FIXTURES / "apiserver" / name).read_text().strip()


def unreachable() -> Any:
    from tests.webhook.servers import free_port

    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{free_port()}"
    return cfg
