"""The pod index fed by one list + watch of all pods (webhook.kube.PodWatch), against the replayed kube-apiserver,
and admission reading it: a second pod asking for a taken static IP is denied, naming the first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.replay import ReplayServer
from tests.waiting import eventually
from tests.webhook.rules.conftest import CATALOG
from tests.webhook.servers import ServeProcess, make_certs
from webhook.admission import admit
from webhook.kube import Backoff, PodWatch
from webhook.policy import Policy
from webhook.review import decode_review

FAST = Backoff(initial=0.05, maximum=0.2)
NET = "default/macvlan-conf"


def static_pod(name: str, ip: str, namespace: str = "default") -> dict[str, Any]:
    networks = json.dumps([{"name": "macvlan-conf", "ips": [ip]}])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": {"k8s.v1.cni.cncf.io/networks": networks}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": "Running"}}


@pytest.fixture()
def api() -> Iterator[ReplayServer]:
    with ReplayServer(watch_hold=0.2) as server:
        yield server


def watch_for(api: ReplayServer, **kwargs: Any) -> PodWatch:
    options: dict[str, Any] = {"page_size": 2, "backoff": FAST, "min_watch_seconds": 0.05, **kwargs}
    return PodWatch(lambda: client.ApiClient(api.configuration()), **options)


def test_relist_keeps_only_multi_network_pods(api: ReplayServer) -> None:
    api.add_pod(static_pod("first", "192.168.1.200/24"))
    api.add_pod({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain", "namespace": "default"},
                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    api.add_pod({**static_pod("done", "192.168.1.201/24"), "status": {"phase": "Succeeded"}})
    pods = watch_for(api)
    pods.relist()
    assert pods.index.holders(NET, "192.168.1.200") == ("Pod default/first",)
    assert pods.index.holders(NET, "192.168.1.201") == ()
    assert len(pods.index) == 2  # busybox3 (captured, selects a NAD) and first; not plain, not the finished one
    assert pods.state().synced and next(r.param("limit") for r in api.requests_for("GET", "/api/v1/pods")) == "2"


def test_watch_follows_adds_changes_and_deletes(api: ReplayServer) -> None:
    pods = watch_for(api)
    pods.start()
    try:
        eventually(lambda: pods.state().synced)
        api.add_pod(static_pod("first", "192.168.1.200/24"))
        eventually(lambda: pods.index.holders(NET, "192.168.1.200") == ("Pod default/first",))
        api.add_pod(static_pod("first", "192.168.1.210/24"))  # MODIFIED (a recreated pod, say)
        eventually(lambda: pods.index.holders(NET, "192.168.1.210") == ("Pod default/first",))
        assert pods.index.holders(NET, "192.168.1.200") == ()
        api.delete_pod("default", "first")
        eventually(lambda: "Pod default/first" not in pods.index.users(NET, limit=100)[0])
        assert pods.index.holders(NET, "192.168.1.210") == ()
    finally:
        pods.stop()


def test_bounded_index_says_it_is_incomplete(api: ReplayServer) -> None:
    for i in range(3):
        api.add_pod(static_pod(f"p{i}", f"192.168.1.{10 + i}/24"))
    pods = watch_for(api, max_pods=2)
    pods.relist()
    assert len(pods.index) == 2 and not pods.index.complete


def create_review(pod: dict[str, Any]) -> Any:
    return decode_review(json.dumps({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": "CREATE",
                    "namespace": pod["metadata"]["namespace"], "name": pod["metadata"]["name"], "object": pod,
                    "userInfo": {"username": "kubernetes-admin"}}}).encode())


def test_admission_denies_the_second_pod_naming_the_first(api: ReplayServer) -> None:
    api.add_pod(static_pod("first", "192.168.1.200/24"))
    pods = watch_for(api)
    pods.relist()
    result = admit(create_review(static_pod("second", "192.168.1.200/24")), catalog=CATALOG, policy=Policy(),
                   mutate=True, pods=pods.index)
    assert result.decision.allowed is False
    (error,) = result.decision.errors
    assert "192.168.1.200 is already requested on default/macvlan-conf by Pod default/first" in error
    assert error.endswith("[static-ip-conflict]")
    free = admit(create_review(static_pod("third", "192.168.1.202/24")), catalog=CATALOG, policy=Policy(),
                 mutate=True, pods=pods.index)
    assert free.decision.allowed is True


def review_doc(pod: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u2", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": operation,
                        "namespace": pod["metadata"]["namespace"], "name": pod["metadata"]["name"], "object": pod,
                        "userInfo": {"username": "kubernetes-admin"}}}


def test_serve_with_the_cluster_catalog_watches_pods_for_static_ips(tmp_path: Path) -> None:
    """`netweave serve --catalog cluster`: the pod watch runs beside the NAD catalog; a pod created in the
    cluster after the webhook started takes its address, and the next pod asking for it is denied."""
    certs = make_certs(tmp_path / "certs")
    with ReplayServer(watch_hold=30.0) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        with ServeProcess(["--catalog", "cluster", "--kubeconfig", str(kubeconfig)], certs=certs,
                          log_path=tmp_path / "serve.log") as proc:
            c = proc.client()
            second = review_doc(static_pod("second", "192.168.1.200/24"))
            assert c.post("/validate", second).response["allowed"] is True
            api.add_pod(static_pod("first", "192.168.1.200/24"))
            assert eventually(lambda: c.post("/validate", second).response["allowed"] is False, timeout=10.0)
            message = c.post("/validate", second).response["status"]["message"]
            assert "by Pod default/first" in message and message.endswith("[static-ip-conflict]")
            assert api.requests_for("GET", "/api/v1/pods")  # one list + watch of pods, all namespaces
            c.close()
