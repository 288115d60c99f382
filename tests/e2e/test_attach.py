"""ADD/DEL/CHECK of real pods: real netns, real /usr/lib/cni plugins, netweave-cni run as a runtime runs it."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.e2e.harness import PYTHON, Netns, Node, fake_plugin, root_links

pytestmark = pytest.mark.netns

NETWORKS = "k8s.v1.cni.cncf.io/networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"


def macvlan(node: Node, name: str, master: str, subnet: str, *, routes: list[dict[str, Any]] | None = None,
            version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    conf = {"cniVersion": version, "name": name, "type": "macvlan", "master": master, "mode": "bridge",
            "ipam": node.ipam([[{"subnet": subnet}]], routes), **extra}
    node.nad(name, conf)
    return conf


def network_status(node: Node, pod: dict[str, Any]) -> list[dict[str, Any]]:
    stored = node.api.pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
    assert stored is not None
    return list(json.loads(stored["metadata"]["annotations"][STATUS]))


def host_veth(result: dict[str, Any]) -> str:
    return str(next(i["name"] for i in result["interfaces"] if not i.get("sandbox")))


def assert_all_gone(node: Node, ns: Netns, veths: list[str]) -> None:
    assert ns.links() == {}
    assert node.reservations() == []
    assert node.cache_records() == []
    assert not set(veths) & root_links()


def test_secondary_default_route_is_removed_and_eth0_keeps_the_only_one(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "ovn-like", master, "10.150.0.0/24", routes=[{"dst": "0.0.0.0/0"}])
    pod = node.pod("p-default", {NETWORKS: "ovn-like"})
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-default", netns=ns, pod=pod)

    assert added.rc == 0, added.out
    assert added.out["cniVersion"] == "1.1.0"
    assert ns.default_routes() == [(f"{node.cluster4}.1", "eth0")]
    links = ns.links()
    assert sorted(links) == ["eth0", "net1"]
    assert links["net1"]["addresses"] == ["10.150.0.2/24"]
    assert network_status(node, pod) == [
        {"name": "cluster", "interface": "eth0", "ips": [f"{node.cluster4}.2"], "mac": links["eth0"]["mac"],
         "default": True, "gateway": [f"{node.cluster4}.1"]},
        {"name": "default/ovn-like", "interface": "net1", "ips": ["10.150.0.2"], "mac": links["net1"]["mac"],
         "default": False},
    ]
    reasons = [(e["reason"], e["message"]) for e in node.api.events if e["involvedObject"]["name"] == "p-default"]
    assert ("AddedInterface", "Add net1 [10.150.0.2/24] from default/ovn-like") in reasons

    deleted = node.run("DEL", container_id="c-default", netns=ns, pod=pod)
    assert (deleted.rc, deleted.out) == (0, None)
    assert_all_gone(node, ns, [host_veth(added.out)])


def test_secondary_takes_the_default_route_and_cluster_routes_stay_on_eth0(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "uplink", master, "10.151.0.0/24", routes=[{"dst": "0.0.0.0/0"}])
    pod = node.pod("p-gw", {NETWORKS: json.dumps([{"name": "uplink", "interface": "ext0",
                                                   "default-route": ["10.151.0.254"]}])})
    ns = node.make_netns()
    config = node.config(clusterRoutes=["10.96.0.0/12", "172.16.0.0/12"])

    added = node.run("ADD", container_id="c-gw", netns=ns, pod=pod, config=config)

    assert added.rc == 0, added.out
    assert ns.default_routes() == [("10.151.0.254", "ext0")]
    assert ns.route_get("10.96.0.10") == "eth0"
    assert ns.route_get("172.20.7.7") == "eth0"
    assert ns.route_get("192.0.2.99") == "ext0"
    status = network_status(node, pod)
    assert status[1]["default-route"] == ["10.151.0.254"]
    assert node.run("DEL", container_id="c-gw", netns=ns, pod=pod, config=config).rc == 0
    assert_all_gone(node, ns, [host_veth(added.out)])


@pytest.mark.parametrize("carrier", [
    pytest.param(None, id="ovn-primary-keeps-the-default"),
    pytest.param("gateway", id="calico-like-secondary-takes-the-default"),
])
def test_default_network_override_with_a_host_routed_secondary(node: Node, carrier: str | None) -> None:
    # The seeds' dual-CNI layouts: primary from v1.multus-cni.io/default-network, a ptp (Calico-like,
    # host-routed, installs its own default) secondary on eth1, the default route wherever the pod asks.
    master = node.make_master()
    node.nad("alt-primary", {"cniVersion": "0.4.0", "name": "alt", "type": "macvlan", "master": master,
                             "ipam": node.ipam([[{"subnet": "10.152.0.0/24"}]], [{"dst": "0.0.0.0/0"}])},
             namespace="kube-system")
    side = node.random_net()
    node.nad("calico-like", {"cniVersion": "0.3.1", "name": "calico-like", "type": "ptp",
                             "ipam": node.ipam([[{"subnet": f"{side}.0/24"}]], [{"dst": "0.0.0.0/0"}])},
             namespace="kube-system")
    element: dict[str, Any] = {"name": "calico-like", "namespace": "kube-system", "interface": "eth1"}
    if carrier:
        carrier = f"{side}.1"
        element["default-route"] = [carrier]
    pod = node.pod(f"p-override-{bool(carrier)}", {DEFAULT_NETWORK: "alt-primary", NETWORKS: json.dumps([element])})
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-override", netns=ns, pod=pod)

    assert added.rc == 0, added.out
    assert added.out["ips"] == [{"interface": 0, "address": "10.152.0.2/24", "gateway": "10.152.0.1"}]
    assert ns.default_routes() == ([(carrier, "eth1")] if carrier else [("10.152.0.1", "eth0")])
    assert [(s["name"], s["interface"], s["default"]) for s in network_status(node, pod)] == [
        ("kube-system/alt-primary", "eth0", True), ("kube-system/calico-like", "eth1", False)]
    assert node.run("DEL", container_id="c-override", netns=ns, pod=pod).rc == 0
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_static_ips_and_mac_reach_plugins_by_capabilities_and_by_legacy_args(node: Node) -> None:
    master = node.make_master()
    node.nad("static-caps", {"cniVersion": "1.0.0", "name": "static-caps", "plugins": [
        {"type": "macvlan", "master": master, "capabilities": {"ips": True}, "ipam": {"type": "static"}},
        {"type": "tuning", "capabilities": {"mac": True}},
    ]})
    macvlan(node, "legacy", master, "10.155.0.0/24")
    pod = node.pod("p-static", {NETWORKS: json.dumps([
        {"name": "static-caps", "ips": ["10.154.0.7/24"], "mac": "0a:58:0a:9a:00:07"},
        {"name": "legacy", "ips": ["10.155.0.42/24"], "mac": "0a:58:0a:9b:00:2a"},
    ])})
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-static", netns=ns, pod=pod)

    assert added.rc == 0, added.out
    links = ns.links()
    assert links["net1"] == {"mac": "0a:58:0a:9a:00:07", "addresses": ["10.154.0.7/24"]}
    assert links["net2"] == {"mac": "0a:58:0a:9b:00:2a", "addresses": ["10.155.0.42/24"]}
    assert node.run("DEL", container_id="c-static", netns=ns, pod=pod).rc == 0
    assert_all_gone(node, ns, [host_veth(added.out)])


def test_three_networks_get_auto_names_in_annotation_order(node: Node) -> None:
    master = node.make_master()
    for i, name in enumerate(("red", "green", "blue")):
        macvlan(node, name, master, f"10.16{i}.0.0/24")
    pod = node.pod("p-three", {NETWORKS: "red, default/green,blue"})
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-three", netns=ns, pod=pod)

    assert added.rc == 0, added.out
    links = ns.links()
    assert [links[f"net{i}"]["addresses"] for i in (1, 2, 3)] == [
        ["10.160.0.2/24"], ["10.161.0.2/24"], ["10.162.0.2/24"]]
    assert [s["interface"] for s in network_status(node, pod)] == ["eth0", "net1", "net2", "net3"]
    assert node.run("DEL", container_id="c-three", netns=ns, pod=pod).rc == 0
    assert_all_gone(node, ns, [host_veth(added.out)])


FAILING = """\
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","code":117,"msg":"switch port unavailable","details":"sw-3 full"}'
  exit 1
fi
exit 0
"""


def test_failure_at_the_third_delegate_deletes_everything_in_reverse(node: Node) -> None:
    master = node.make_master()
    fake_plugin(node, "broken", FAILING)
    macvlan(node, "one", master, "10.163.0.0/24")
    node.nad("two", {"cniVersion": "1.0.0", "name": "two", "plugins": [
        {"type": "macvlan", "master": master, "ipam": node.ipam([[{"subnet": "10.164.0.0/24"}]])},
        {"type": "tuning", "sysctl": {"net.ipv4.conf.net2.arp_notify": "1"}}]})
    node.nad("three", {"cniVersion": "1.0.0", "name": "three", "type": "broken"})
    pod = node.pod("p-fail", {NETWORKS: "one,two,three"})
    ns = node.make_netns()

    failed = node.run("ADD", container_id="c-fail", netns=ns, pod=pod)

    assert failed.rc != 0
    assert failed.out["code"] == 103
    assert failed.out["msg"] == 'network "default/three" interface "net3": plugin broken: switch port unavailable'
    assert failed.out["details"] == "code 117: sw-3 full"
    assert ns.links() == {}
    assert node.reservations() == []
    assert node.cache_records() == []
    warnings = [e for e in node.api.events if e["reason"] == "FailedAddingInterface"]
    assert warnings and 'interface "net3"' in warnings[-1]["message"]


def test_del_succeeds_after_the_nad_the_pod_and_the_netns_are_gone_and_twice(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "gone", master, "10.165.0.0/24")
    pod = node.pod("p-gone", {NETWORKS: "gone"})
    ns = node.make_netns()
    added = node.run("ADD", container_id="c-gone", netns=ns, pod=pod)
    assert added.rc == 0, added.out
    node.api.delete_nad("default", "gone")
    node.api.delete_pod("default", "p-gone")
    subprocess.run(["ip", "netns", "del", ns.name], check=True)

    first = node.run("DEL", container_id="c-gone", netns=ns, pod=pod)
    second = node.run("DEL", container_id="c-gone", netns=ns, pod=pod)
    third = node.run("DEL", container_id="c-gone", netns="", pod=pod)

    assert [(r.rc, r.out) for r in (first, second, third)] == [(0, None)] * 3
    assert node.reservations() == []
    assert node.cache_records() == []
    assert host_veth(added.out) not in root_links()


def test_del_succeeds_when_the_api_server_is_unreachable(node: Node) -> None:
    pod = node.pod("p-noapi")
    ns = node.make_netns()
    assert node.run("ADD", container_id="c-noapi", netns=ns, pod=pod).rc == 0
    dead = node.root / "dead-kubeconfig"
    dead.write_text(node.kubeconfig.read_text().replace(node.api.url, "http://127.0.0.1:9"))

    deleted = node.run("DEL", container_id="c-noapi", netns=ns, pod=pod, config=node.config(kubeconfig=str(dead)))

    assert (deleted.rc, deleted.out) == (0, None)
    assert_all_gone(node, ns, [])


def test_check_passes_then_reports_a_stray_default_route(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "chk", master, "10.166.0.0/24", version="0.4.0")
    pod = node.pod("p-check", {NETWORKS: "chk"})
    ns = node.make_netns()
    assert node.run("ADD", container_id="c-check", netns=ns, pod=pod).rc == 0

    assert node.run("CHECK", container_id="c-check", netns=ns, pod=pod).rc == 0
    subprocess.run(["ip", "netns", "exec", ns.name, "ip", "route", "add", "default", "via", "10.166.0.1",
                    "dev", "net1", "metric", "50"], check=True)
    drifted = node.run("CHECK", container_id="c-check", netns=ns, pod=pod)

    assert drifted.rc != 0 and drifted.out["code"] == 106
    assert node.run("DEL", container_id="c-check", netns=ns, pod=pod).rc == 0
    assert_all_gone(node, ns, [])


def test_dual_stack_default_route_is_chosen_per_family(node: Node) -> None:
    node.write_cluster(dual_stack=True)
    master = node.make_master()
    node.nad("v4-uplink", {"cniVersion": "1.0.0", "name": "v4-uplink", "type": "macvlan", "master": master,
                           "ipam": node.ipam([[{"subnet": "10.167.0.0/24"}], [{"subnet": f"{node.v6}:1::/64"}]],
                                             [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}])})
    pod = node.pod("p-dual", {NETWORKS: json.dumps([{"name": "v4-uplink", "default-route": ["10.167.0.1"]}])})
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-dual", netns=ns, pod=pod)

    assert added.rc == 0, added.out
    assert ns.default_routes(4) == [("10.167.0.1", "net1")]
    assert ns.default_routes(6) == [(f"{node.v6}::1", "eth0")]
    assert node.run("DEL", container_id="c-dual", netns=ns, pod=pod).rc == 0
    assert_all_gone(node, ns, [host_veth(added.out)])


SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7777)); s.listen(1); s.settimeout(10); print("ready", flush=True)
c, _ = s.accept(); c.sendall(b"reply-from-" + sys.argv[1].encode()); c.close()
"""
CLIENT = """
import socket, sys
s = socket.socket(); s.settimeout(3); s.bind((sys.argv[1], 0)); s.connect((sys.argv[2], 7777))
print(s.recv(100).decode())
"""


def test_source_routing_sends_replies_out_of_the_interface_they_came_in(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "sr", master, "10.168.0.0/24", sourceRouting=True)
    node.nad("router", {"cniVersion": "1.0.0", "name": "router", "type": "macvlan", "master": master,
                        "ipam": {"type": "static", "addresses": [{"address": "10.168.0.1/24"}]}})
    server_pod = node.pod("p-sr", {NETWORKS: "sr"})
    router_pod = node.pod("p-router", {NETWORKS: "router"})
    a, b = node.make_netns(), node.make_netns()
    assert node.run("ADD", container_id="c-sr", netns=a, pod=server_pod).rc == 0
    assert node.run("ADD", container_id="c-router", netns=b, pod=router_pod).rc == 0
    subprocess.run(["ip", "netns", "exec", b.name, "ip", "addr", "add", "10.169.0.5/32", "dev", "net1"], check=True)
    assert a.route_get("10.169.0.5") == "eth0"
    assert a.route_get("10.169.0.5", src="10.168.0.2") == "net1"

    server = subprocess.Popen(["ip", "netns", "exec", a.name, str(PYTHON), "-c", SERVER, "10.168.0.2"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        client = subprocess.run(["ip", "netns", "exec", b.name, str(PYTHON), "-c", CLIENT, "10.169.0.5",
                                 "10.168.0.2"], capture_output=True, text=True, timeout=10, check=False)
    finally:
        server.kill()
        server.wait()
    assert client.stdout.strip() == "reply-from-10.168.0.2", client.stderr
    for cid, ns, pod in (("c-sr", a, server_pod), ("c-router", b, router_pod)):
        assert node.run("DEL", container_id=cid, netns=ns, pod=pod).rc == 0
    rules = subprocess.run(["ip", "netns", "exec", a.name, "ip", "rule"], capture_output=True, text=True).stdout
    assert "10.168.0.2" not in rules


def test_an_unreachable_default_route_gateway_rolls_back_every_attachment(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "far", master, "10.173.0.0/24")
    pod = node.pod("p-far", {NETWORKS: json.dumps([{"name": "far", "default-route": ["10.99.99.1"]}])})
    ns = node.make_netns()

    failed = node.run("ADD", container_id="c-far", netns=ns, pod=pod)

    assert failed.rc != 0 and failed.out["code"] == 106
    assert failed.out["msg"].startswith("pod routes: cannot install route 0.0.0.0/0 via 10.99.99.1 dev net1")
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


@pytest.mark.parametrize(("annotation", "config", "code"), [
    pytest.param("missing-net", {}, 102, id="nad-missing"),
    pytest.param("kube-system/elsewhere", {"namespaceIsolation": True, "globalNamespaces": []}, 104,
                 id="namespace-isolation"),
    pytest.param('[{"name": 5}]', {}, 105, id="annotation-invalid"),
])
def test_a_pod_that_cannot_be_planned_gets_an_error_and_an_event_and_nothing_is_attached(
        node: Node, annotation: str, config: dict[str, Any], code: int) -> None:
    name = f"p-unplanned-{code}"
    pod = node.pod(name, {NETWORKS: annotation})
    ns = node.make_netns()

    failed = node.run("ADD", container_id="c-unplanned", netns=ns, pod=pod, config=node.config(**config))

    assert failed.rc != 0 and failed.out["code"] == code
    assert ns.links() == {} and node.cache_records() == [] and node.reservations() == []
    assert any(e["reason"] == "FailedAddingInterface" and e["involvedObject"]["name"] == name
               for e in node.api.events)
