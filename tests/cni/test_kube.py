"""The API edge against the replay server: GET 200/404, status PATCH with conflict retry, Events, outages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cni.context import Context
from cni.errors import CniError
from cni.kube import OWN_CREDENTIALS, Api, KubeClient
from cni.request import Config, Request
from tests.paths import FIXTURES
from tests.replay import ReplayServer

STATUS = "k8s.v1.cni.cncf.io/network-status"


@pytest.fixture(scope="module")
def api() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.fixture()
def kube(api: ReplayServer, tmp_path: Path) -> KubeClient:
    return KubeClient.from_kubeconfig(str(api.write_kubeconfig(tmp_path / "kubeconfig")))


def captured(name: str) -> dict[str, object]:
    return dict(json.loads((FIXTURES / "apiserver" / name).read_text())["response"]["body"])


def test_pod_and_nad_are_read_as_the_api_server_returns_them(kube: KubeClient) -> None:
    assert kube.get_pod("default", "busybox3") == captured("get-pod.json")
    nad = kube.get_nad("kube-system", "ovn-net")
    assert nad is not None and nad["spec"] == captured("get-nad.json")["spec"]


def test_missing_objects_read_as_none(kube: KubeClient) -> None:
    assert kube.get_pod("default", "nope") is None
    assert kube.get_nad("default", "ovn-net") is None


def test_status_patch_retries_on_conflict_with_a_fresh_resource_version(api: ReplayServer,
                                                                        kube: KubeClient) -> None:
    pod = kube.get_pod("default", "busybox3")
    assert pod is not None
    api.conflict_next_status_patch(2)
    kube.patch_network_status(pod, '[{"name":"x","default":true}]')
    patches = api.requests_for("PATCH", "/api/v1/namespaces/default/pods/busybox3/status")[-3:]
    assert [r.headers["content-type"] for r in patches] == ["application/merge-patch+json"] * 3
    assert patches[-1].json()["metadata"]["annotations"] == {STATUS: '[{"name":"x","default":true}]'}
    stored = api.pod("default", "busybox3")
    assert stored is not None and stored["metadata"]["annotations"][STATUS] == '[{"name":"x","default":true}]'


def test_events_have_the_captured_shape(api: ReplayServer, kube: KubeClient) -> None:
    pod = kube.get_pod("default", "busybox3")
    assert pod is not None
    kube.create_event(pod, reason="AddedInterface", message="Add eth1 [192.168.1.200/24] from default/macvlan-conf",
                      warning=False, node="node-1")
    sent = api.requests_for("POST", "/api/v1/namespaces/default/events")[-1].json()
    expected = json.loads((FIXTURES / "apiserver" / "create-event.json").read_text())["request"]["body"]
    expected["involvedObject"]["uid"] = pod["metadata"]["uid"]
    assert sent == expected


def test_an_unreachable_api_server_is_try_again_later(tmp_path: Path) -> None:
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
              "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
              "users": [{"name": "x", "user": {"token": "t"}}],
              "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}
    (tmp_path / "kc").write_text(json.dumps(config))
    with pytest.raises(CniError) as caught:
        KubeClient.from_kubeconfig(str(tmp_path / "kc")).get_pod("default", "x")
    assert caught.value.code == 11


def test_an_unreadable_kubeconfig_is_invalid_config(tmp_path: Path) -> None:
    with pytest.raises(CniError) as caught:
        KubeClient.from_kubeconfig(str(tmp_path / "missing"))
    assert caught.value.code == 7


def test_a_cached_pod_of_another_uid_is_read_again(api: ReplayServer, tmp_path: Path) -> None:
    """A recreated pod (same name, new uid) must not wait for the watch: the GET has the new sandbox's pod."""
    from cni.context import Context
    from cni.kube import Api
    from cni.request import parse_config

    fresh = captured("get-pod.json")
    stale = {"metadata": {"name": "busybox3", "namespace": "default", "uid": "old-uid"}}
    config = parse_config({"cniVersion": "1.0.0", "name": "nw", "type": "netweave", "clusterNetwork": "/x.conf",
                           "kubeconfig": str(api.write_kubeconfig(tmp_path / "kc"))}, command="ADD")
    reader = Api(Context(pod_lookup=lambda ns, name: stale), config)
    uid = str(fresh["metadata"]["uid"])  # type: ignore[index]
    got = reader.pod("default", "busybox3", uid)
    assert got is not None and got["metadata"]["uid"] == uid
    assert reader.pod("default", "busybox3", "old-uid") is stale


def _config(**extra: object) -> Config:
    stdin = json.dumps({"cniVersion": "1.1.0", "name": "n", "clusterNetwork": "/x.conf", **extra}).encode()
    req = Request.from_env({"CNI_COMMAND": "STATUS", "CNI_PATH": "/x"}, stdin)
    assert req.config is not None
    return req.config


def test_without_a_kubeconfig_the_daemon_s_own_client_is_used_and_standalone_has_none(kube: KubeClient) -> None:
    asked: list[str] = []

    def daemon_factory(path: str) -> KubeClient:
        asked.append(path)
        return kube

    assert Api(Context(kube=daemon_factory), _config()).client is kube
    assert Api(Context(kube=daemon_factory), _config(kubeconfig="/etc/k")).client is kube
    assert asked == [OWN_CREDENTIALS, "/etc/k"]
    assert Api(Context(), _config()).client is None   # standalone: KubeClient.from_kubeconfig("") has none
