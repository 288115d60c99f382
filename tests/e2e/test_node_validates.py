"""The node validates every value it passes on, whatever admission did: real netns, real plugins, nothing made."""

from __future__ import annotations

import json

import pytest

from tests.e2e.harness import Node

pytestmark = pytest.mark.netns

NETWORKS = "k8s.v1.cni.cncf.io/networks"

REFUSED = [
    pytest.param({"interface": "a\u0000b"}, "[0].interface", id="nul-interface-name"),
    pytest.param({"interface": "a\u00e0"}, "[0].interface", id="kernel-whitespace-c3-a0"),
    pytest.param({"mac": "02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system"}, "[0].mac", id="semicolon-mac"),
    pytest.param({"ips": ["10.160.0.5/24;K8S_POD_NAME=x"]}, "[0].ips[0]", id="semicolon-ip"),
]


@pytest.mark.parametrize(("fields", "path"), REFUSED)
def test_a_value_no_delegate_can_take_is_refused_and_nothing_is_created(node: Node, fields: dict[str, object],
                                                                         path: str) -> None:
    master = node.make_master()
    node.nad("mv", {"cniVersion": "1.0.0", "name": "mv", "type": "macvlan", "master": master, "mode": "bridge",
                    "capabilities": {"ips": True, "mac": True}, "ipam": node.ipam([[{"subnet": "10.160.0.0/24"}]])})
    pod = node.pod("p-bad", {NETWORKS: json.dumps([{"name": "mv", **fields}])})
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-bad", netns=ns, pod=pod)

    assert added.rc != 0
    assert added.out["code"] == 105
    assert f'metadata.annotations["{NETWORKS}"]{path}: ' in added.out["msg"]
    assert ns.links() == {}               # not even eth0: the cluster network's delegate never ran
    assert node.reservations() == []      # no lease taken
    assert node.cache_records() == []
    assert node.run("DEL", container_id="c-bad", netns=ns, pod=pod).rc == 0
