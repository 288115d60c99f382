"""The seeds' dual-CNI pods on a real node: delegates that add their own default route, like Calico and OVN-K.

tests/fixtures/plugins/calico_like.py adds the pod's default route with a plain `ip route add` and fails with
"File exists" when one is there (projectcalico/calico#5962, multus#241). The NADs and pod annotations mirror
tests/fixtures/seeds/004-007 (seed 000, all four Calico/OVN combinations) and 009 (seed 001, busybox3), with the
plugin types swapped for that stand-in and host-local IPAM. Every case runs standalone and through the daemon.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.conftest import _usable
from tests.e2e.daemon_node import Daemon, shim_for
from tests.e2e.harness import Netns, Node, fake_plugin, root_links, unique
from tests.paths import REPO
from tests.prerequisites import require
from tests.replay import ReplayServer

pytestmark = pytest.mark.netns

PLUGIN = REPO / "tests" / "fixtures" / "plugins" / "calico_like.py"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
CALICO_GW = "169.254.1.1"
CALICO_GW6 = "fe80::ecee:eeff:feee:eeee"
OVN_SUBNET, OVN_GW = "10.124.2.0/24", "10.124.2.1"          # seed 000: "default-route": ["10.124.2.1"]
YUSUR_SUBNET, YUSUR_GW = "10.144.0.0/24", "10.144.0.1"      # seed 001 busybox3: "default-route": ["10.144.0.1"]
CLUSTER_ROUTES = ["10.96.0.0/12", "fd00:96::/108"]


@pytest.fixture(params=["standalone", "daemon"])
def node(request: pytest.FixtureRequest, tmp_path: Path, api: ReplayServer,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    require(_usable())
    n = Node(tmp_path, api)
    install_plugins(n)
    daemon = Daemon(n).start() if request.param == "daemon" else None
    if daemon is not None:
        monkeypatch.setattr(harness, "NETWEAVE", shim_for(n, daemon))
    try:
        yield n
    finally:
        if daemon is not None:
            daemon.stop()
        n.cleanup()


def install_plugins(node: Node) -> None:
    """The stand-in under both names (the name picks its gateway style), with this venv's interpreter."""
    source = PLUGIN.read_text().split("\n", 1)[1]
    for name in ("calico-like", "ovn-like"):
        path = node.root / "bin" / name
        path.write_text(f"#!{sys.executable}\n{source}")
        path.chmod(0o755)


def calico_conf(node: Node, subnets: list[str]) -> dict[str, Any]:
    """seed 000's calico-net conflist: calico (here calico-like + host-local), portmap, bandwidth."""
    return {"name": "calico-net", "cniVersion": "0.3.1", "plugins": [
        {"type": "calico-like", "log_level": "info", "datastore_type": "kubernetes", "mtu": 0,
         "ipam": node.ipam([[{"subnet": s}] for s in subnets]), "policy": {"type": "k8s"}},
        {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ]}


def ovn_conf(node: Node, name: str, ranges: list[tuple[str, str]]) -> dict[str, Any]:
    """seed 000's ovn-net / seed 001's yusur-ovn: one plugin, OVN-K's own IPAM (here host-local)."""
    return {"cniVersion": "0.4.0", "name": name, "type": "ovn-like",
            "ipam": node.ipam([[{"subnet": s, "gateway": g}] for s, g in ranges]), "dns": {},
            "logFile": "/var/log/ovn-kubernetes/ovn-k8s-cni-overlay.log", "logLevel": "5"}


def seed_000_nads(node: Node) -> None:
    node.nad("calico-net", calico_conf(node, [f"{node.random_net()}.0/24"]), namespace="kube-system")
    node.nad("ovn-net", ovn_conf(node, "ovn-kubernetes", [(OVN_SUBNET, OVN_GW)]), namespace="kube-system",
             annotations={"k8s.v1.cni.cncf.io/resourceName": "yusur.tech/sriov_dpu"})


def allocate_dpu(node: Node, pod: dict[str, Any]) -> None:
    """The kubelet checkpoint entry of the DPU VF the seed pods request (yusur.tech/sriov_dpu: 1)."""
    entry = {"PodUID": pod["metadata"]["uid"], "ContainerName": "c", "ResourceName": "yusur.tech/sriov_dpu",
             "DeviceIDs": {"0": ["0000:3b:00.2"]}}
    (node.root / "kubelet_internal_checkpoint").write_text(json.dumps({"Data": {"PodDeviceEntries": [entry]}}))


def host_veths(result: dict[str, Any]) -> set[str]:
    return {i["name"] for i in result.get("interfaces", []) if not i.get("sandbox")}


def add_check_del(node: Node, ns: Netns, pod: dict[str, Any], expected: dict[int, tuple[str, str] | None],
                  cluster_via: str = "eth0") -> None:
    """ADD succeeds with exactly the expected default per family, CHECK passes, DEL leaves nothing."""
    config = node.config(clusterRoutes=CLUSTER_ROUTES)
    cid = unique("c-")   # host veths are named after it: unique across test processes running at once
    added = node.run("ADD", container_id=cid, netns=ns, pod=pod, config=config)
    assert added.rc == 0, added.out
    for family in (4, 6):
        want = expected.get(family)
        assert ns.default_routes(family) == ([want] if want else []), family
    assert ns.route_get("10.96.0.10") == cluster_via
    veths = _host_ends(node, cid)
    assert veths <= root_links()
    assert veths <= {host_veth_of(cid, i, p) for i in ("eth0", "eth1", "eth2") for p in ("cali", "ovn")}
    assert node.run("CHECK", container_id=cid, netns=ns, pod=pod, config=config).rc == 0

    deleted = node.run("DEL", container_id=cid, netns=ns, pod=pod, config=config)

    assert (deleted.rc, deleted.out) == (0, None)
    assert ns.links() == {}
    assert node.reservations() == []
    assert node.cache_records() == []
    assert veths and not veths & root_links()


def host_veth_of(container_id: str, ifname: str, prefix: str) -> str:
    """The host end calico_like.py names for an attachment (Calico names it after the workload)."""
    return prefix + hashlib.sha1(f"{container_id}.{ifname}".encode()).hexdigest()[:11]


def _host_ends(node: Node, container_id: str) -> set[str]:
    """The host-side veths of every attachment in the record (calico-like names them after the container)."""
    record = json.loads((node.root / "cache" / f"{container_id}-eth0.json").read_text())
    return {name for result in record["results"].values() for name in host_veths(result)}


@pytest.mark.parametrize(("default_network", "element", "expected"), [
    pytest.param("calico-net", {"name": "ovn-net", "namespace": "kube-system", "interface": "eth1",
                                "default-route": [OVN_GW]},
                 (OVN_GW, "eth1"), id="004-calico-primary-ovn-secondary-ovn-route"),
    pytest.param("calico-net", {"name": "ovn-net", "namespace": "kube-system", "interface": "eth1"},
                 (CALICO_GW, "eth0"), id="005-calico-primary-ovn-secondary-calico-route"),
    pytest.param("ovn-net", {"name": "calico-net", "namespace": "kube-system", "interface": "eth1",
                             "default-route": [CALICO_GW]},
                 (CALICO_GW, "eth1"), id="006-ovn-primary-calico-secondary-calico-route"),
    pytest.param("ovn-net", {"name": "calico-net", "namespace": "kube-system", "interface": "eth1"},
                 (OVN_GW, "eth0"), id="007-ovn-primary-calico-secondary-ovn-route"),
    pytest.param("ovn-net", {"name": "calico-net", "namespace": "kube-system", "interface": "eth1",
                             "default-route": []},
                 (CALICO_GW, "eth1"), id="ovn-primary-calico-secondary-takes-its-own-on-link-default"),
    pytest.param("calico-net", {"name": "ovn-net", "namespace": "kube-system", "interface": "eth1",
                                "default-route": []},
                 (OVN_GW, "eth1"), id="calico-primary-ovn-secondary-takes-its-network-gateway"),
])
def test_seed_000_dual_cni_pods_get_one_default_route_where_they_ask(
        node: Node, default_network: str, element: dict[str, Any], expected: tuple[str, str]) -> None:
    seed_000_nads(node)
    pod = node.pod(f"nginx2-{default_network[:3]}-{element['name'][:3]}-{len(element)}",
                   {DEFAULT_NETWORK: default_network, NETWORKS: json.dumps([element])})
    allocate_dpu(node, pod)

    add_check_del(node, node.make_netns(), pod, {4: expected})


def test_seed_001_busybox3_calico_cluster_network_and_ovn_default_route(node: Node) -> None:
    # Calico is the cluster default network (the node's conf file), OVN-K is eth1 and carries the default.
    node.cluster_conf.write_text(json.dumps(calico_conf(node, [f"{node.random_net()}.0/24"])))
    node.nad("yusur-ovn", ovn_conf(node, "ovn-kubernetes", [(YUSUR_SUBNET, YUSUR_GW)]))
    pod = node.pod("busybox3", {NETWORKS: '[{"name": "yusur-ovn", "interface": "eth1", '
                                          '"default-route": ["10.144.0.1"]}]'})

    add_check_del(node, node.make_netns(), pod, {4: (YUSUR_GW, "eth1")})


def test_dual_stack_one_element_owns_ipv4_another_ipv6(node: Node) -> None:
    # Multus-compatible dual-stack: one element per IP family may carry default-route (cni.spec.routing).
    node.cluster_conf.write_text(json.dumps(calico_conf(node, [f"{node.random_net()}.0/24", f"{node.v6}::/64"])))
    v6a, v6b = (f"{node.v6}:1::/64", f"{node.v6}:1::1"), (f"{node.v6}:2::/64", f"{node.v6}:2::1")
    node.nad("v4-uplink", ovn_conf(node, "v4-uplink", [(OVN_SUBNET, OVN_GW), v6a]))
    node.nad("v6-uplink", ovn_conf(node, "v6-uplink", [(YUSUR_SUBNET, YUSUR_GW), v6b]))
    pod = node.pod("p-dual-owners", {NETWORKS: json.dumps([
        {"name": "v4-uplink", "interface": "eth1", "default-route": [OVN_GW]},
        {"name": "v6-uplink", "interface": "eth2", "default-route": [f"{node.v6}:2::1"]}])})
    ns = node.make_netns()

    add_check_del(node, ns, pod, {4: (OVN_GW, "eth1"), 6: (f"{node.v6}:2::1", "eth2")})


def test_dual_stack_calico_like_primary_keeps_both_families_with_its_link_local_ipv6_gateway(node: Node) -> None:
    node.cluster_conf.write_text(json.dumps(calico_conf(node, [f"{node.random_net()}.0/24", f"{node.v6}::/64"])))
    v6 = (f"{node.v6}:2::/64", f"{node.v6}:2::1")
    node.nad("yusur-ovn", ovn_conf(node, "ovn-kubernetes", [(YUSUR_SUBNET, YUSUR_GW), v6]))
    pod = node.pod("p-dual-calico", {NETWORKS: json.dumps([{"name": "yusur-ovn", "interface": "eth1"}])})

    add_check_del(node, node.make_netns(), pod, {4: (CALICO_GW, "eth0"), 6: (CALICO_GW6, "eth0")})


def test_check_reports_a_default_route_the_pod_gained_after_add(node: Node) -> None:
    seed_000_nads(node)
    pod = node.pod("p-drift", {DEFAULT_NETWORK: "calico-net", NETWORKS: json.dumps(
        [{"name": "ovn-net", "namespace": "kube-system", "interface": "eth1", "default-route": [OVN_GW]}])})
    allocate_dpu(node, pod)
    ns, cid = node.make_netns(), unique("c-")
    assert node.run("ADD", container_id=cid, netns=ns, pod=pod).rc == 0
    assert node.run("CHECK", container_id=cid, netns=ns, pod=pod).rc == 0
    subprocess.run(["ip", "netns", "exec", ns.name, "ip", "route", "add", "default", "via", CALICO_GW, "dev", "eth0",
                    "metric", "50"], check=True)

    drifted = node.run("CHECK", container_id=cid, netns=ns, pod=pod)

    assert drifted.rc != 0 and drifted.out["code"] == 106
    assert drifted.out["msg"] == "default routes changed since ADD (IPv4)"
    assert node.run("DEL", container_id=cid, netns=ns, pod=pod).rc == 0
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_the_stand_in_fails_like_calico_when_a_default_route_exists(node: Node) -> None:
    # Without netweave: the second delegate's plain default-route add fails, with CNI error JSON, and cleans up.
    ns = node.make_netns()
    conf = ovn_conf(node, "ovn-kubernetes", [(OVN_SUBNET, OVN_GW)])
    env = {"CNI_CONTAINERID": unique("c-"), "CNI_NETNS": ns.path, "CNI_PATH": node.cni_path, "PATH": harness.OS_PATH}
    calico = calico_conf(node, [f"{node.random_net()}.0/24"])["plugins"][0] | {"name": "calico-net",
                                                                                "cniVersion": "0.3.1"}

    def run(command: str, plugin: str, ifname: str, stdin: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(node.root / "bin" / plugin)], input=json.dumps(stdin).encode(), check=False,
                              capture_output=True, env=env | {"CNI_COMMAND": command, "CNI_IFNAME": ifname})

    assert run("ADD", "calico-like", "eth0", calico).returncode == 0
    failed = run("ADD", "ovn-like", "eth1", conf)

    assert failed.returncode == 1
    assert json.loads(failed.stdout) == {
        "cniVersion": "0.4.0", "code": 100, "msg": f"ip -4 route add default via {OVN_GW} dev eth1: "
        "RTNETLINK answers: File exists", "details": "RTNETLINK answers: File exists"}
    assert sorted(ns.links()) == ["eth0"]
    assert run("DEL", "calico-like", "eth0", calico).returncode == 0
    assert run("DEL", "calico-like", "eth0", calico).returncode == 0   # idempotent
    assert ns.links() == {} and node.reservations() == []


BROKEN = """\
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"0.4.0","code":117,"msg":"switch port unavailable"}'
  exit 1
fi
exit 0
"""


def test_a_failure_after_the_default_routes_were_taken_rolls_back_everything_and_restores_nothing(
        node: Node) -> None:
    seed_000_nads(node)
    fake_plugin(node, "broken", BROKEN)
    node.nad("third", {"cniVersion": "0.4.0", "name": "third", "type": "broken"})
    pod = node.pod("p-rollback", {DEFAULT_NETWORK: "calico-net", NETWORKS: json.dumps([
        {"name": "ovn-net", "namespace": "kube-system", "interface": "eth1", "default-route": [OVN_GW]},
        {"name": "third", "interface": "eth2"}])})
    allocate_dpu(node, pod)
    ns, cid = node.make_netns(), unique("c-")

    failed = node.run("ADD", container_id=cid, netns=ns, pod=pod)

    assert failed.rc != 0 and failed.out["code"] == 103
    assert failed.out["msg"] == 'network "default/third" interface "eth2": plugin broken: switch port unavailable'
    assert ns.links() == {} and ns.default_routes(4) == [] and ns.default_routes(6) == []
    assert node.reservations() == [] and node.cache_records() == []
    assert not {host_veth_of(cid, "eth0", "cali"), host_veth_of(cid, "eth1", "ovn")} & root_links()
    assert node.run("DEL", container_id=cid, netns=ns, pod=pod).rc == 0
