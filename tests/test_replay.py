"""The replay API server answers the official kubernetes client as the captured kube-apiserver 1.24 did."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from tests.paths import FIXTURES
from tests.replay import ReplayServer

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"


def captured(name: str) -> Any:
    return json.loads((FIXTURES / "apiserver" / name).read_text())


@pytest.fixture()
def api() -> Iterator[ReplayServer]:
    with ReplayServer(watch_hold=0.3) as server:
        yield server


@pytest.fixture()
def core(api: ReplayServer) -> client.CoreV1Api:
    return client.CoreV1Api(client.ApiClient(api.configuration()))


@pytest.fixture()
def custom(api: ReplayServer) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(client.ApiClient(api.configuration()))


def nad(namespace: str, name: str, config_text: str = '{"cniVersion":"0.3.1","type":"bridge"}') -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"config": config_text}}


def watch_nads(custom: client.CustomObjectsApi, **kwargs: Any) -> list[tuple[str, str | None]]:
    stream = watch.Watch().stream(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                                  timeout_seconds=1, **kwargs)
    return [(e["type"], e["raw_object"]["metadata"].get("name")) for e in stream]


@pytest.mark.parametrize(
    ("fixture", "namespace", "name"),
    [
        pytest.param("get-pod.json", "default", "busybox3", id="pod"),
        pytest.param("get-pod-missing.json", "default", "nope", id="pod-missing"),
    ],
)
def test_get_pod_replays_captured_response(core: client.CoreV1Api, fixture: str, namespace: str,
                                           name: str) -> None:
    expected = captured(fixture)["response"]
    try:
        got = core.read_namespaced_pod(name, namespace, _preload_content=False)
        status, body = got.status, json.loads(got.data)
    except client.ApiException as e:
        status, body = e.status, json.loads(e.body)
    assert (status, body) == (expected["status"], expected["body"])


@pytest.mark.parametrize(
    ("fixture", "namespace", "name"),
    [
        pytest.param("get-nad.json", "kube-system", "ovn-net", id="nad"),
        pytest.param("get-nad-missing.json", "default", "ovn-net", id="nad-missing"),
    ],
)
def test_get_nad_replays_captured_response(custom: client.CustomObjectsApi, fixture: str, namespace: str,
                                           name: str) -> None:
    expected = captured(fixture)["response"]
    try:
        status, body = 200, custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except client.ApiException as e:
        status, body = e.status, json.loads(e.body)
    assert (status, body) == (expected["status"], expected["body"])


def test_list_all_namespaces_equals_capture(custom: client.CustomObjectsApi) -> None:
    got = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert got == captured("list-nads-all.json")["response"]["body"]


def test_list_namespace_pages_with_real_continue_token(custom: client.CustomObjectsApi) -> None:
    first = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, limit=2)
    assert first == captured("list-nads-ns.json")["response"]["body"]
    second = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, limit=2,
                                                  _continue=first["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in second["items"]] == ["macvlan-conf"]
    assert second["metadata"]["continue"] == ""


def test_list_bad_continue_token_is_400(custom: client.CustomObjectsApi) -> None:
    with pytest.raises(client.ApiException) as info:
        custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, _continue="garbage!")
    assert info.value.status == 400


def test_watch_from_list_version_streams_captured_events(custom: client.CustomObjectsApi) -> None:
    events = watch_nads(custom, resource_version="354", allow_watch_bookmarks=True)
    assert events == [("ADDED", "res-c"), ("ADDED", "watch-demo"), ("MODIFIED", "watch-demo"),
                      ("DELETED", "watch-demo"), ("ADDED", "res-c"), ("BOOKMARK", None), ("BOOKMARK", None)]


def test_watch_without_bookmarks_and_resumed_later(custom: client.CustomObjectsApi) -> None:
    assert watch_nads(custom, resource_version="359") == [("DELETED", "watch-demo"), ("ADDED", "res-c")]


def test_watch_without_resource_version_starts_with_synthetic_added(custom: client.CustomObjectsApi) -> None:
    events = watch_nads(custom)
    assert events[:7] == [("ADDED", n) for n in ("ip-192", "kube-ovn-vpc-network", "macvlan-conf",
                                                 "calico-net", "ovn-net", "bridge-b", "macvlan-a")]


def test_watch_from_compacted_version_gets_captured_410(api: ReplayServer, custom: client.CustomObjectsApi) -> None:
    resp = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, watch=True, resource_version="1",
                                             _preload_content=False)
    assert resp.data.decode().strip() == (FIXTURES / "apiserver" / "watch-nads-gone.raw").read_text().strip()
    api.compact(400)
    with pytest.raises(client.ApiException) as info:
        watch_nads(custom, resource_version="363")
    assert info.value.status == 410


def test_scripted_watch_is_served_once_then_log(api: ReplayServer, custom: client.CustomObjectsApi) -> None:
    api.script_watch("nads", [{"type": "ADDED", "object": nad("x", "scripted")}])
    assert watch_nads(custom, resource_version="354") == [("ADDED", "scripted")]
    assert watch_nads(custom, resource_version="362") == [("ADDED", "res-c")]


def test_open_watch_sees_objects_added_by_the_test(api: ReplayServer, custom: client.CustomObjectsApi) -> None:
    api.watch_hold = 3.0

    def change() -> None:
        api.add_nad(nad("team-b", "late"))
        api.delete_nad("lab", "bridge-b")

    timer = threading.Timer(0.2, change)
    timer.start()
    seen: list[tuple[str, str | None]] = []
    w = watch.Watch()
    for e in w.stream(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, resource_version="363",
                      timeout_seconds=3):
        seen.append((e["type"], e["raw_object"]["metadata"]["name"]))
        if len(seen) == 2:
            w.stop()
    timer.join()
    assert seen == [("ADDED", "late"), ("DELETED", "bridge-b")]
    listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    names = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]}
    assert ("team-b", "late") in names and ("lab", "bridge-b") not in names
    assert int(listed["metadata"]["resourceVersion"]) >= 373


def test_registered_pod_is_served_at_its_path(api: ReplayServer, core: client.CoreV1Api) -> None:
    stored = api.add_pod({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "team-a"},
                          "spec": {"nodeName": "node-2", "containers": [{"name": "c", "image": "busybox"}]}})
    assert core.read_namespaced_pod("p1", "team-a").metadata.resource_version == stored["metadata"]["resourceVersion"]
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-2").items] \
        == ["p1"]
    assert core.list_namespaced_pod("default").items[0].metadata.name == "busybox3"


def test_pods_on_node_list_then_watch(core: client.CoreV1Api) -> None:
    listed = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-1")
    assert (listed.items, listed.metadata.resource_version) == ([], "367")
    stream = watch.Watch().stream(core.list_pod_for_all_namespaces, field_selector="spec.nodeName=node-1",
                                  resource_version="367", allow_watch_bookmarks=True, timeout_seconds=1)
    assert [e["type"] for e in stream] == ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
    other = watch.Watch().stream(core.list_pod_for_all_namespaces, field_selector="spec.nodeName=node-9",
                                 resource_version="367", timeout_seconds=1)
    assert list(other) == []


def test_patch_status_then_conflict_once(api: ReplayServer, core: client.CoreV1Api) -> None:
    body = captured("patch-pod-status.json")["request"]["body"]
    pod = core.patch_namespaced_pod_status("busybox3", "default", body)
    assert pod.metadata.annotations["k8s.v1.cni.cncf.io/network-status"].startswith('[{"name":"kube-system/')
    api.conflict_next_status_patch()
    with pytest.raises(client.ApiException) as info:
        core.patch_namespaced_pod_status("busybox3", "default", body)
    assert info.value.status == 409
    assert json.loads(info.value.body) == captured("patch-pod-status-conflict.json")["response"]["body"]
    core.patch_namespaced_pod_status("busybox3", "default", body)
    patches = api.requests_for("PATCH", "/api/v1/namespaces/default/pods/busybox3/status")
    assert len(patches) == 3 and patches[0].json() == body


def test_patch_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    body = captured("patch-pod-status-conflict.json")["request"]["body"]
    with pytest.raises(client.ApiException) as info:
        core.patch_namespaced_pod_status("busybox3", "default", body)
    assert info.value.status == 409


def test_post_event_is_201_and_recorded(api: ReplayServer, core: client.CoreV1Api) -> None:
    body = captured("create-event.json")["request"]["body"]
    event = core.create_namespaced_event("default", body)
    assert event.metadata.name.startswith("busybox3.") and event.metadata.namespace == "default"
    assert api.events[0]["message"] == body["message"]
    assert api.requests_for("POST")[0].headers["content-type"] == "application/json"


def test_injected_failure_then_recovery(api: ReplayServer, custom: client.CustomObjectsApi) -> None:
    api.fail_next("GET", "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions", 500, times=2)
    for _ in range(2):
        with pytest.raises(client.ApiException) as info:
            custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        assert info.value.status == 500
    assert len(custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]) == 7


def test_kubeconfig_and_request_recording(api: ReplayServer, tmp_path: Path) -> None:
    api_client = config.new_client_from_config(str(api.write_kubeconfig(tmp_path / "kubeconfig")))
    client.CoreV1Api(api_client).read_namespaced_pod("busybox3", "default")
    (req,) = api.requests
    assert (req.method, req.path, req.headers["authorization"]) == (
        "GET", "/api/v1/namespaces/default/pods/busybox3", "Bearer replay-token")


def test_unknown_path_is_404_status(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as info:
        core.list_namespaced_config_map("default")
    assert info.value.status == 404
    assert json.loads(info.value.body)["message"] == "the server could not find the requested resource"


@pytest.mark.parametrize(("selector", "names"), [
    pytest.param("metadata.name=p1", ["p1"], id="by-name"),
    pytest.param("metadata.name==p2,spec.nodeName=node-2", ["p2"], id="two-terms"),
    pytest.param("spec.nodeName!=node-2", ["busybox3", "p3"], id="not-equal"),
])
def test_field_selectors(api: ReplayServer, core: client.CoreV1Api, selector: str, names: list[str]) -> None:
    for name, node in (("p1", "node-2"), ("p2", "node-2"), ("p3", "node-3")):
        api.add_pod({"metadata": {"name": name, "namespace": "default"},
                     "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
    listed = core.list_namespaced_pod("default", field_selector=selector)
    assert [p.metadata.name for p in listed.items] == names
    stream = watch.Watch().stream(core.list_namespaced_pod, "default", field_selector=selector,
                                  resource_version="367", timeout_seconds=1)
    assert sorted(e["raw_object"]["metadata"]["name"] for e in stream) == sorted(set(names) - {"busybox3"})
