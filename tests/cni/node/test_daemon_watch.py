"""The node daemon's watch cache against the replay API server (real kubernetes client, real HTTP)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cni.node.daemon import KubeTransport, cache_probe, lookup_counts
from cni.node.metrics import NodeMetrics
from cni.node.watchcache import WatchCache, split_lines
from tests.replay import ReplayServer
from tests.waiting import eventually


def pod(name: str, node: str, namespace: str = "team-a") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "annotations": {"k8s.v1.cni.cncf.io/networks": "default/macvlan-conf"},
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture
def api() -> Iterator[ReplayServer]:
    with ReplayServer(watch_hold=0.3) as server:
        yield server


@pytest.fixture
def cache(api: ReplayServer, tmp_path: Path) -> Iterator[WatchCache]:
    transport = KubeTransport.connect(str(api.write_kubeconfig(tmp_path / "kubeconfig")))
    watch = WatchCache(transport, node_name="node-1")
    watch.start()
    assert watch.wait_synced(5)
    yield watch
    watch.stop()


def test_lists_then_watches_pods_of_this_node_only(api: ReplayServer, cache: WatchCache) -> None:
    assert eventually(lambda: any(r.param("watch") == "true" for r in api.requests_for("GET", "/api/v1/pods")))
    requests = api.requests_for("GET", "/api/v1/pods")
    listing, watch = requests[0], next(r for r in requests if r.param("watch") == "true")
    assert (listing.param("watch"), listing.param("fieldSelector")) == (None, "spec.nodeName=node-1")
    assert watch.param("fieldSelector") == "spec.nodeName=node-1"
    assert watch.param("resourceVersion") == "367"  # the list's resourceVersion
    assert watch.param("allowWatchBookmarks") == "true"


def test_replayed_pod_events_end_with_the_pod_deleted(cache: WatchCache) -> None:
    # watch-pods-node.raw: ADDED, MODIFIED, DELETED team-a/on-node-1, then a BOOKMARK.
    assert eventually(lambda: cache.pods.get("team-a", "on-node-1") is None and len(cache.pods) == 0)


def test_replayed_nad_events_are_applied(cache: WatchCache) -> None:
    # watch-nads.raw: ADDED lab/res-c, ADDED/MODIFIED/DELETED team-a/watch-demo, ADDED lab-nri/res-c.
    assert eventually(lambda: cache.nads.get("lab-nri", "res-c") is not None)
    assert cache.nads.get("lab", "res-c") is not None
    assert cache.nads.get("team-a", "watch-demo") is None
    assert cache.nads.get("kube-system", "ovn-net") is not None
    assert len(cache.nads) == 9


def test_new_pods_on_this_node_appear_and_others_do_not(api: ReplayServer, cache: WatchCache) -> None:
    api.add_pod(pod("mine", "node-1"))
    api.add_pod(pod("theirs", "node-2"))
    assert eventually(lambda: cache.pod("team-a", "mine") is not None)
    assert cache.pod("team-a", "theirs") is None
    assert "managedFields" not in cache.pods.get("team-a", "mine")["metadata"]  # type: ignore[index]
    api.delete_pod("team-a", "mine")
    assert eventually(lambda: cache.pod("team-a", "mine") is None)


def test_watch_resumes_from_the_last_version_without_relisting(api: ReplayServer, cache: WatchCache) -> None:
    assert eventually(lambda: len([r for r in api.requests_for("GET", "/api/v1/pods") if r.param("watch")]) >= 3)
    requests = api.requests_for("GET", "/api/v1/pods")
    assert [r.param("watch") for r in requests].count(None) == 1  # one LIST only
    assert requests[2].param("resourceVersion") == "371"  # the BOOKMARK's version


def test_expired_watch_relists(api: ReplayServer, tmp_path: Path) -> None:
    gone = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": "too old resource version: 1 (218)", "reason": "Expired",
                                        "code": 410}}
    api.script_watch("pods", [gone])
    watch = WatchCache(KubeTransport.connect(str(api.write_kubeconfig(tmp_path / "kc"))), node_name="node-1")
    watch.start()
    try:
        lists = lambda: [r for r in api.requests_for("GET", "/api/v1/pods") if not r.param("watch")]  # noqa: E731
        assert eventually(lambda: len(lists()) >= 2)
    finally:
        watch.stop()


def test_api_errors_back_off_and_recover(api: ReplayServer, tmp_path: Path) -> None:
    api.fail_next("GET", "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions", 500, times=1)
    watch = WatchCache(KubeTransport.connect(str(api.write_kubeconfig(tmp_path / "kc"))), node_name="node-1")
    watch.start()
    try:
        assert watch.wait_synced(5)
        assert watch.nad("default", "macvlan-conf") is not None
    finally:
        watch.stop()


def test_lookups_count_hits_and_misses(cache: WatchCache) -> None:
    assert cache.nad("default", "macvlan-conf") is not None
    assert cache.nad("default", "nope") is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_metrics_report_cache_size_and_lookups(cache: WatchCache) -> None:
    assert eventually(lambda: len(cache.nads) == 9)
    cache.nad("default", "macvlan-conf")
    metrics = NodeMetrics(cache=cache_probe(cache), lookups=lambda: lookup_counts(cache))
    text = metrics.render().decode()
    assert 'netweave_node_cache_objects{resource="nads"} 9.0' in text
    assert 'netweave_node_cache_synced{resource="pods"} 1.0' in text
    assert 'netweave_node_cache_lookups_total{result="hits"} 1.0' in text
    assert metrics.ready()[0] == 200


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        pytest.param([b'{"a":1}\n{"b"', b":2}\n"], [b'{"a":1}', b'{"b":2}'], id="split-across-chunks"),
        pytest.param([b"\n\n", b'{"a":1}'], [b'{"a":1}'], id="blank-lines-and-no-final-newline"),
    ],
)
def test_split_lines(chunks: list[bytes], lines: list[bytes]) -> None:
    assert list(split_lines(iter(chunks))) == lines
