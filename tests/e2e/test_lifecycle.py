"""Many pods at once, every CNI version, GC, STATUS, status conflicts and device ids, with real plugins."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.harness import Node, Run, root_links
from tests.e2e.test_attach import NETWORKS, STATUS, host_veth, macvlan, network_status

pytestmark = pytest.mark.netns

TRY_AGAIN = 11   # the CNI spec's "try again later"
RETRIES = 5


def test_twenty_pods_in_parallel_get_distinct_addresses_and_leave_nothing(node: Node) -> None:
    """Bounded by what it checks, not by the machine's speed: a generous per-call timeout (20 at once share two
    cores), and code 11 ("try again", e.g. a busy node) retried as a runtime does — an ADD after its DEL."""
    master = node.make_master()
    macvlan(node, "crowd", master, "10.170.0.0/24", routes=[{"dst": "0.0.0.0/0"}])
    pods = [node.pod(f"p-crowd-{i}", {NETWORKS: "crowd"}) for i in range(20)]
    netns = [node.make_netns() for _ in pods]

    def run(command: str, i: int) -> Run:
        return node.run(command, container_id=f"c-crowd-{i}", netns=netns[i], pod=pods[i], timeout=600)

    def like_a_runtime(command: str, i: int) -> Run:
        for _ in range(RETRIES):
            done = run(command, i)
            if done.rc == 0 or not isinstance(done.out, dict) or done.out.get("code") != TRY_AGAIN:
                return done
            if command == "ADD":
                assert like_a_runtime("DEL", i).rc == 0   # a runtime DELs a failed ADD before it tries again
        return done

    with ThreadPoolExecutor(max_workers=20) as pool:
        added = list(pool.map(lambda i: like_a_runtime("ADD", i), range(20)))
    assert [r.rc for r in added] == [0] * 20, [r.out for r in added if r.rc]
    addresses = [a for ns in netns for link in ns.links().values() for a in link["addresses"]]
    assert len(addresses) == 40 and len(set(addresses)) == 40
    assert all(ns.default_routes() == [(f"{node.cluster4}.1", "eth0")] for ns in netns)
    assert len(node.reservations()) == 40

    with ThreadPoolExecutor(max_workers=20) as pool:
        deleted = list(pool.map(lambda i: like_a_runtime("DEL", i), range(20)))
    assert [r.rc for r in deleted] == [0] * 20, [r.out for r in deleted if r.rc]
    assert all(ns.links() == {} for ns in netns)
    assert node.reservations() == [] and node.cache_records() == []
    assert not {host_veth(r.out) for r in added} & root_links()


@pytest.mark.parametrize(("top", "delegate"), [
    pytest.param("0.3.0", "0.3.0", id="0.3.0"),
    pytest.param("0.3.1", "1.0.0", id="0.3.1-over-1.0.0"),
    pytest.param("0.4.0", "0.3.1", id="0.4.0-over-0.3.1"),
    pytest.param("1.0.0", "0.4.0", id="1.0.0-over-0.4.0"),
    pytest.param("1.1.0", "0.3.1", id="1.1.0-over-0.3.1"),
])
def test_results_come_back_in_the_runtime_version(node: Node, top: str, delegate: str) -> None:
    cluster = json.loads(node.cluster_conf.read_text())
    cluster["cniVersion"] = delegate
    node.cluster_conf.write_text(json.dumps(cluster))
    master = node.make_master()
    macvlan(node, "ver", master, "10.171.0.0/24", version=delegate)
    pod = node.pod(f"p-ver-{top}", {NETWORKS: "ver"})
    ns = node.make_netns()
    config = node.config(cniVersion=top)

    added = node.run("ADD", container_id="c-ver", netns=ns, pod=pod, config=config)

    assert added.rc == 0, added.out
    assert added.out["cniVersion"] == top
    ip = added.out["ips"][0]
    assert ("version" in ip) == (top in ("0.3.0", "0.3.1", "0.4.0"))
    assert ip["address"] == f"{node.cluster4}.2/24"
    if top != "0.3.0" and top != "0.3.1":
        assert node.run("CHECK", container_id="c-ver", netns=ns, pod=pod, config=config).rc == 0
    assert node.run("DEL", container_id="c-ver", netns=ns, pod=pod, config=config).rc == 0
    assert ns.links() == {} and node.reservations() == []


def test_gc_deletes_attachments_the_runtime_no_longer_knows(node: Node) -> None:
    keep_pod, lost_pod = node.pod("p-keep"), node.pod("p-lost")
    keep_ns, lost_ns = node.make_netns(), node.make_netns()
    assert node.run("ADD", container_id="c-keep", netns=keep_ns, pod=keep_pod).rc == 0
    assert node.run("ADD", container_id="c-lost", netns=lost_ns, pod=lost_pod).rc == 0

    gc = node.run("GC", container_id="", config=node.config(**{
        "cni.dev/valid-attachments": [{"containerID": "c-keep", "ifname": "eth0"}]}))

    assert (gc.rc, gc.out) == (0, None)
    assert node.cache_records() == ["c-keep-eth0.json"]
    assert lost_ns.links() == {}
    assert network_status(node, lost_pod) == [] and len(network_status(node, keep_pod)) == 1
    assert len(node.reservations()) == 1
    assert node.run("DEL", container_id="c-keep", netns=keep_ns, pod=keep_pod).rc == 0


def test_status_reports_not_ready_until_the_readiness_file_exists(node: Node) -> None:
    ready = node.root / "ready"
    config = node.config(readinessIndicatorFile=str(ready))

    before = node.run("STATUS", container_id="", config=config)
    ready.touch()
    after = node.run("STATUS", container_id="", config=config)

    assert before.rc != 0 and before.out["code"] == 50
    assert (after.rc, after.out) == (0, None)


def test_add_waits_for_the_readiness_file_with_try_again_later(node: Node) -> None:
    pod = node.pod("p-notready")
    ns = node.make_netns()
    added = node.run("ADD", container_id="c-nr", netns=ns, pod=pod,
                     config=node.config(readinessIndicatorFile=str(node.root / "missing")))
    assert added.rc != 0 and added.out["code"] == 11
    assert ns.links() == {}


def test_status_annotation_survives_a_conflict_and_a_failed_patch_is_not_fatal(node: Node) -> None:
    pod = node.pod("p-conflict")
    ns = node.make_netns()
    node.api.conflict_next_status_patch(1)
    assert node.run("ADD", container_id="c-conflict", netns=ns, pod=pod).rc == 0
    entries = network_status(node, pod)
    assert [(e["name"], e["interface"]) for e in entries] == [("cluster", "eth0")]
    assert len(node.api.requests_for("PATCH", "/api/v1/namespaces/default/pods/p-conflict/status")) == 2

    pod2 = node.pod("p-patchfail")
    ns2 = node.make_netns()
    node.api.fail_next("PATCH", "/api/v1/namespaces/default/pods/p-patchfail/status", 500, times=10)
    added = node.run("ADD", container_id="c-patchfail", netns=ns2, pod=pod2)
    assert added.rc == 0, added.out
    stored = node.api.pod("default", "p-patchfail")
    assert stored is not None and STATUS not in stored["metadata"]["annotations"]
    assert any(e["reason"] == "FailedWritingNetworkStatus" and e["involvedObject"]["name"] == "p-patchfail"
               for e in node.api.events)
    for cid, n, p in (("c-conflict", ns, pod), ("c-patchfail", ns2, pod2)):
        assert node.run("DEL", container_id=cid, netns=n, pod=p).rc == 0


def test_add_fails_with_try_again_when_the_api_server_is_unreachable(node: Node) -> None:
    pod = node.pod("p-down")
    ns = node.make_netns()
    dead = node.root / "dead-kubeconfig"
    dead.write_text(node.kubeconfig.read_text().replace(node.api.url, "http://127.0.0.1:9"))
    added = node.run("ADD", container_id="c-down", netns=ns, pod=pod, config=node.config(kubeconfig=str(dead)))
    assert added.rc != 0 and added.out["code"] == 11
    assert ns.links() == {} and node.cache_records() == []


def test_device_ids_from_the_kubelet_checkpoint_reach_the_delegate_in_order(node: Node) -> None:
    recorder = node.root / "bin" / "devrec"
    recorder.write_text(
        "#!/bin/sh\ncat > \"$0.$CNI_IFNAME.$CNI_COMMAND.json\"\n"
        "echo '{\"cniVersion\":\"1.0.0\",\"interfaces\":[],\"ips\":[],\"dns\":{}}'\n")
    recorder.chmod(0o755)
    for name in ("sriov-a", "sriov-b"):
        node.nad(name, {"cniVersion": "1.0.0", "name": name, "type": "devrec",
                        "capabilities": {"deviceID": True}},
                 annotations={"k8s.v1.cni.cncf.io/resourceName": "example.com/vf"})
    pod = node.pod("p-dev", {NETWORKS: "sriov-a,sriov-b"})
    checkpoint = {"Data": {"PodDeviceEntries": [
        {"PodUID": pod["metadata"]["uid"], "ContainerName": "c", "ResourceName": "example.com/vf",
         "DeviceIDs": {"0": ["0000:03:00.2", "0000:03:00.3"]}, "AllocResp": ""}],
        "RegisteredDevices": {}}, "Checksum": 1}
    (node.root / "kubelet_internal_checkpoint").write_text(json.dumps(checkpoint))
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-dev", netns=ns, pod=pod)

    assert added.rc == 0, added.out
    seen = [json.loads((node.root / "bin" / f"devrec.{i}.ADD.json").read_text()) for i in ("net1", "net2")]
    assert [s["runtimeConfig"]["deviceID"] for s in seen] == ["0000:03:00.2", "0000:03:00.3"]
    info = [e.get("device-info") for e in network_status(node, pod)]
    assert info[2] == {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:03:00.3"}}
    assert node.run("DEL", container_id="c-dev", netns=ns, pod=pod).rc == 0


def test_delegates_get_only_declared_capabilities_cni_args_and_their_own_ifname(node: Node) -> None:
    recorder = node.root / "bin" / "rec"
    recorder.write_text(
        "#!/bin/sh\ncat > \"$0.$CNI_IFNAME.$CNI_COMMAND.json\"\nenv > \"$0.$CNI_IFNAME.env\"\n"
        "echo '{\"cniVersion\":\"1.0.0\",\"interfaces\":[],\"ips\":[],\"dns\":{}}'\n")
    recorder.chmod(0o755)
    node.nad("rec", {"cniVersion": "1.0.0", "name": "rec", "plugins": [
        {"type": "rec", "capabilities": {"portMappings": True, "mac": False}},
        {"type": "rec", "capabilities": {"bandwidth": True}}]})
    element: dict[str, Any] = {"name": "rec", "interface": "data0", "mac": "0a:58:00:00:00:01",
                               "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                               "bandwidth": {"ingressRate": 1000, "ingressBurst": 100},
                               "cni-args": {"vlan": "7"}}
    pod = node.pod("p-rec", {NETWORKS: json.dumps([element])})
    ns = node.make_netns()

    assert node.run("ADD", container_id="c-rec", netns=ns, pod=pod).rc == 0

    second = json.loads((node.root / "bin" / "rec.data0.ADD.json").read_text())
    assert second["runtimeConfig"] == {"bandwidth": {"ingressRate": 1000, "ingressBurst": 100}}
    assert second["args"] == {"cni": {"vlan": "7"}}
    assert second["prevResult"]["cniVersion"] == "1.0.0"
    env = dict(line.split("=", 1) for line in (node.root / "bin" / "rec.data0.env").read_text().splitlines()
               if "=" in line)
    assert env["CNI_IFNAME"] == "data0"
    assert "MAC=0a:58:00:00:00:01" in env["CNI_ARGS"].split(";")
    assert not {k for k in env if not k.startswith("CNI_")} - {"PATH", "PWD", "SHLVL", "_", "OLDPWD"}
    assert node.run("DEL", container_id="c-rec", netns=ns, pod=pod).rc == 0


def test_cluster_network_can_be_a_nad_in_the_system_namespace(node: Node) -> None:
    cluster = json.loads(node.cluster_conf.read_text())
    node.nad("primary", cluster, namespace="kube-system")
    pod = node.pod("p-nadprimary")
    ns = node.make_netns()
    config = node.config(clusterNetwork="primary")

    added = node.run("ADD", container_id="c-nadprimary", netns=ns, pod=pod, config=config)

    assert added.rc == 0, added.out
    assert [e["name"] for e in network_status(node, pod)] == ["kube-system/primary"]
    assert node.run("DEL", container_id="c-nadprimary", netns=ns, pod=pod, config=config).rc == 0
    assert ns.links() == {} and node.reservations() == []


def test_del_without_a_cache_record_undoes_what_the_api_still_describes(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "lost", master, "10.172.0.0/24")
    pod = node.pod("p-lost-cache", {NETWORKS: "lost"})
    ns = node.make_netns()
    assert node.run("ADD", container_id="c-lost-cache", netns=ns, pod=pod).rc == 0
    for record in (node.root / "cache").glob("*.json"):
        record.unlink()

    deleted = node.run("DEL", container_id="c-lost-cache", netns=ns, pod=pod)

    assert (deleted.rc, deleted.out) == (0, None)
    assert ns.links() == {} and node.reservations() == []


def test_a_macvlan_with_a_missing_master_fails_add_leaves_nothing_and_del_succeeds(node: Node) -> None:
    macvlan(node, "nomaster", "nwmissing0", "10.173.0.0/24")   # no such link on the node
    pod = node.pod("p-nomaster", {NETWORKS: "nomaster"})
    ns = node.make_netns()

    added = node.run("ADD", container_id="c-nomaster", netns=ns, pod=pod)

    assert added.rc != 0 and added.out["code"] == 103, added.out
    assert 'network "default/nomaster" interface "net1"' in added.out["msg"]
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []
    deleted = [node.run("DEL", container_id="c-nomaster", netns=ns, pod=pod) for _ in range(2)]
    assert [(r.rc, r.out) for r in deleted] == [(0, None)] * 2
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


@pytest.mark.parametrize("where", [pytest.param("same", id="same-netns"), pytest.param("other", id="other-netns")])
def test_a_second_add_of_a_live_container_is_refused_and_the_attachment_stays_intact(node: Node, where: str) -> None:
    master = node.make_master()
    macvlan(node, "twice", master, "10.174.0.0/24")
    pod = node.pod("p-twice", {NETWORKS: "twice"})
    ns = node.make_netns()
    assert node.run("ADD", container_id="c-twice", netns=ns, pod=pod).rc == 0
    links, leases, records = ns.links(), node.reservations(), node.cache_records()
    second_ns = ns if where == "same" else node.make_netns()

    again = node.run("ADD", container_id="c-twice", netns=second_ns, pod=pod)

    assert again.rc != 0 and again.out["code"] == 109, again.out
    assert second_ns is ns or second_ns.links() == {}
    assert again.out["msg"] == "container c-twice interface eth0 already has an attachment"
    assert ns.links() == links and sorted(links) == ["eth0", "net1"]
    assert node.reservations() == leases and len(leases) == 2
    assert node.cache_records() == records
    assert ns.default_routes() == [(f"{node.cluster4}.1", "eth0")]
    assert node.run("DEL", container_id="c-twice", netns=ns, pod=pod).rc == 0
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_del_without_a_record_or_the_api_server_asks_to_try_again_while_the_pod_has_interfaces(
    node: Node,
) -> None:
    pod = node.pod("p-blind")
    ns = node.make_netns()
    assert node.run("ADD", container_id="c-blind", netns=ns, pod=pod).rc == 0
    for record in (node.root / "cache").glob("*.json"):
        record.unlink()
    dead = node.root / "dead-kubeconfig"
    dead.write_text(node.kubeconfig.read_text().replace(node.api.url, "http://127.0.0.1:9"))
    blind = node.config(kubeconfig=str(dead))

    refused = node.run("DEL", container_id="c-blind", netns=ns, pod=pod, config=blind)

    assert refused.rc != 0 and refused.out["code"] == 11, refused.out
    assert sorted(ns.links()) == ["eth0"] and len(node.reservations()) == 1
    deleted = node.run("DEL", container_id="c-blind", netns=ns, pod=pod)   # the API server is back
    assert (deleted.rc, deleted.out) == (0, None)
    assert ns.links() == {} and node.reservations() == []
    again = node.run("DEL", container_id="c-blind", netns=ns, pod=pod, config=blind)   # nothing left: success
    assert (again.rc, again.out) == (0, None)


def test_network_status_has_the_gateways_and_del_clears_this_sandbox_s_entries(node: Node) -> None:
    master = node.make_master()
    macvlan(node, "gwnet", master, "10.175.0.0/24", routes=[{"dst": "0.0.0.0/0"}])
    pod = node.pod("p-gwnet", {NETWORKS: json.dumps([{"name": "gwnet", "default-route": ["10.175.0.254"]}])})
    ns = node.make_netns()
    assert node.run("ADD", container_id="c-gwnet", netns=ns, pod=pod).rc == 0

    entries = network_status(node, pod)

    assert [(e["interface"], e.get("gateway"), e.get("default-route")) for e in entries] == [
        ("eth0", None, None), ("net1", ["10.175.0.254"], ["10.175.0.254"])]
    assert all(set(e) <= {"name", "interface", "ips", "mac", "mtu", "default", "dns", "gateway", "default-route",
                          "device-info"} for e in entries)
    assert node.run("DEL", container_id="c-gwnet", netns=ns, pod=pod).rc == 0
    assert network_status(node, pod) == []
