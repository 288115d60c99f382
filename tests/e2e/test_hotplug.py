"""Hot-plug through the node daemon: the replayed API server's pod watch carries a changed networks annotation,
and the daemon (`--hot-plug`) adds and removes real macvlan attachments in the running sandbox's netns."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import _usable
from tests.e2e.daemon_node import Daemon, finish, run_via_shim, shim_for, start_via_shim
from tests.e2e.harness import PLUGINS, Netns, Node, fake_plugin
from tests.prerequisites import require
from tests.replay import ReplayServer

pytestmark = pytest.mark.netns

NETWORKS = "k8s.v1.cni.cncf.io/networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"

FAILING = """\
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","code":117,"msg":"switch port unavailable","details":"sw-3 full"}'
  exit 1
fi
exit 0
"""


class HotNode:
    """A test node whose daemon runs with --hot-plug over the node's cache dir."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.daemon = self.start_daemon()
        self.shim = shim_for(node, self.daemon)

    def start_daemon(self) -> Daemon:
        daemon = Daemon(self.node)
        daemon.argv += ["--hot-plug", "--cache-dir", str(self.node.root / "cache")]
        return daemon.start()

    def annotate(self, pod: dict[str, Any], networks: list[dict[str, Any]]) -> None:
        """What `kubectl annotate --overwrite` does: a new pod version, a MODIFIED watch event."""
        meta = pod["metadata"]
        stored = self.node.api.pod(meta["namespace"], meta["name"])
        assert stored is not None
        stored["metadata"]["annotations"][NETWORKS] = json.dumps(networks)
        self.node.api.add_pod(stored)

    def status(self, pod: dict[str, Any]) -> list[tuple[str, str]]:
        stored = self.node.api.pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
        assert stored is not None
        return [(s["name"], s["interface"]) for s in json.loads(stored["metadata"]["annotations"][STATUS])]

    def events(self, pod: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(e["type"], e["reason"], e["message"]) for e in self.node.api.events
                if e["involvedObject"]["name"] == pod["metadata"]["name"]]

    def metric(self, outcome: str) -> float:
        for line in self.daemon.metrics().splitlines():
            if line.startswith(f'netweave_hotplug_reconciles_total{{outcome="{outcome}"}}'):
                return float(line.split()[-1])
        return 0.0


@pytest.fixture()
def hot(tmp_path: Path, api: ReplayServer) -> Iterator[HotNode]:
    require(_usable())
    node = Node(tmp_path, api)
    hot = HotNode(node)
    try:
        yield hot
    finally:
        hot.daemon.stop()
        node.cleanup()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def macvlan_nad(node: Node, name: str, master: str, subnet: str, **extra: Any) -> None:
    node.nad(name, {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": master, "mode": "bridge",
                    "ipam": node.ipam([[{"subnet": subnet}]]), **extra})


def started_pod(hot: HotNode, name: str, networks: list[dict[str, Any]], container_id: str) -> tuple[
        dict[str, Any], Netns]:
    node = hot.node
    pod = node.pod(name, {NETWORKS: json.dumps(networks)})
    ns = node.make_netns()
    added = run_via_shim(hot.shim, node, "ADD", container_id=container_id, netns=ns, pod=pod)
    assert added.rc == 0, added.out
    return pod, ns


def test_hotplug_adds_net2_then_removes_net1_then_a_failing_add_changes_nothing(hot: HotNode) -> None:
    node = hot.node
    master = node.make_master()
    macvlan_nad(node, "hp-a", master, "10.171.0.0/24")
    macvlan_nad(node, "hp-b", master, "10.172.0.0/24")
    fake_plugin(node, "broken", FAILING)
    node.nad("hp-broken", {"cniVersion": "1.0.0", "name": "hp-broken", "type": "broken"})
    pod, ns = started_pod(hot, "p-hot", [{"name": "hp-a", "interface": "net1"}], "c-hot")
    assert sorted(ns.links()) == ["eth0", "net1"]

    hot.annotate(pod, [{"name": "hp-a", "interface": "net1"}, {"name": "hp-b", "interface": "net2"}])
    wait_for(lambda: ("default/hp-b", "net2") in hot.status(pod), "net2 in network-status")

    links = ns.links()
    assert sorted(links) == ["eth0", "net1", "net2"]
    assert links["net2"]["addresses"] == ["10.172.0.2/24"]
    assert ns.default_routes() == [(f"{node.cluster4}.1", "eth0")]
    assert ns.route_get("10.172.0.9") == "net2"
    assert hot.status(pod) == [("cluster", "eth0"), ("default/hp-a", "net1"), ("default/hp-b", "net2")]
    assert ("Normal", "AddedInterface", "Add net2 [10.172.0.2/24] from default/hp-b") in hot.events(pod)
    assert len([r for r in node.reservations() if r.startswith("10.172.")]) == 1
    checked = run_via_shim(hot.shim, node, "CHECK", container_id="c-hot", netns=ns, pod=pod)
    assert checked.rc == 0, checked.out   # the runtime's CHECK sees the hot-added attachment and routes

    hot.annotate(pod, [{"name": "hp-b", "interface": "net2"}])
    wait_for(lambda: "net1" not in ns.links(), "net1 removed")
    wait_for(lambda: hot.status(pod) == [("cluster", "eth0"), ("default/hp-b", "net2")], "status without net1")
    assert sorted(ns.links()) == ["eth0", "net2"]
    assert not [r for r in node.reservations() if r.startswith("10.171.")], "the lease of net1 is freed"
    assert ("Normal", "RemovedInterface", "Remove net1 from default/hp-a") in hot.events(pod)
    assert ns.default_routes() == [(f"{node.cluster4}.1", "eth0")]

    before = hot.status(pod)
    hot.annotate(pod, [{"name": "hp-b", "interface": "net2"}, {"name": "hp-broken", "interface": "net3"}])
    wait_for(lambda: any(r == "FailedAddingInterface" for _, r, _ in hot.events(pod)), "a warning Event")
    (warning,) = [e for e in hot.events(pod) if e[1] == "FailedAddingInterface"]
    assert warning[0] == "Warning" and 'interface "net3"' in warning[2] and "switch port unavailable" in warning[2]
    assert sorted(ns.links()) == ["eth0", "net2"]
    assert ns.default_routes() == [(f"{node.cluster4}.1", "eth0")]
    assert hot.status(pod) == before
    record = json.loads((node.root / "cache" / "c-hot-eth0.json").read_text())
    assert [a["ifname"] for a in record["attachments"]] == ["eth0", "net2"]
    assert hot.metric("applied") == 2 and hot.metric("failed") == 1

    deleted = run_via_shim(hot.shim, node, "DEL", container_id="c-hot", netns=ns, pod=pod)
    assert deleted.rc == 0, deleted.out
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_hotplug_default_route_moves_to_the_added_network_and_back(hot: HotNode) -> None:
    node = hot.node
    master = node.make_master()
    macvlan_nad(node, "hp-gw", master, "10.173.0.0/24")
    pod, ns = started_pod(hot, "p-gw", [], "c-gw")
    assert ns.default_routes() == [(f"{node.cluster4}.1", "eth0")]

    hot.annotate(pod, [{"name": "hp-gw", "interface": "uplink", "default-route": ["10.173.0.254"]}])
    wait_for(lambda: "uplink" in ns.links() and ns.default_routes() == [("10.173.0.254", "uplink")],
             "the default route on uplink")
    hot.annotate(pod, [])
    wait_for(lambda: "uplink" not in ns.links(), "uplink removed")
    wait_for(lambda: ns.default_routes() == [(f"{node.cluster4}.1", "eth0")], "the default route back on eth0")
    assert run_via_shim(hot.shim, node, "DEL", container_id="c-gw", netns=ns, pod=pod).rc == 0
    assert ns.links() == {} and node.reservations() == []


SLOW_ONCE = f"""\
if [ "$CNI_COMMAND" = ADD ] && [ ! -e "$0.started" ]; then
  echo $$ > "$0.started"
  sleep 30
fi
exec {PLUGINS}/macvlan
"""

SLOW = f"""\
if [ "$CNI_COMMAND" = ADD ]; then
  touch "$0.started"
  sleep 2
fi
exec {PLUGINS}/macvlan
"""


def test_hotplug_daemon_killed_mid_add_converges_after_restart(hot: HotNode) -> None:
    node = hot.node
    master = node.make_master()
    plugin = fake_plugin(node, "slowvlan", SLOW_ONCE)
    node.nad("hp-slow", {"cniVersion": "1.0.0", "name": "hp-slow", "type": "slowvlan", "master": master,
                         "mode": "bridge", "ipam": node.ipam([[{"subnet": "10.174.0.0/24"}]])})
    pod, ns = started_pod(hot, "p-crash", [], "c-crash")

    hot.annotate(pod, [{"name": "hp-slow", "interface": "net1"}])
    started = Path(f"{plugin}.started")
    wait_for(started.exists, "the hot-plug ADD to start")
    hot.daemon.kill()
    hot.daemon.wait()
    os.kill(int(started.read_text()), 9)
    record = json.loads((node.root / "cache" / "c-crash-eth0.json").read_text())
    assert [a["ifname"] for a in record["attachments"]] == ["eth0", "net1"] and "net1" not in record["results"]

    hot.daemon = hot.start_daemon()
    wait_for(lambda: ("default/hp-slow", "net1") in hot.status(pod), "net1 attached after the restart")
    assert ns.links()["net1"]["addresses"] == ["10.174.0.2/24"]
    record = json.loads((node.root / "cache" / "c-crash-eth0.json").read_text())
    assert sorted(record["results"]) == ["eth0", "net1"]
    assert run_via_shim(hot.shim, node, "DEL", container_id="c-crash", netns=ns, pod=pod).rc == 0
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_hotplug_racing_a_sandbox_del_leaves_nothing_behind(hot: HotNode) -> None:
    node = hot.node
    master = node.make_master()
    plugin = fake_plugin(node, "slowvlan", SLOW)
    node.nad("hp-race", {"cniVersion": "1.0.0", "name": "hp-race", "type": "slowvlan", "master": master,
                         "mode": "bridge", "ipam": node.ipam([[{"subnet": "10.175.0.0/24"}]])})
    pod, ns = started_pod(hot, "p-race", [], "c-race")

    hot.annotate(pod, [{"name": "hp-race", "interface": "net1"}])
    wait_for(Path(f"{plugin}.started").exists, "the hot-plug ADD to start")
    deleting = start_via_shim(hot.shim, node, "DEL", container_id="c-race", netns=ns, pod=pod)
    assert finish(deleting).rc == 0
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_hotplug_node_refuses_a_change_in_place_that_admission_would_deny(hot: HotNode) -> None:
    node = hot.node
    master = node.make_master()
    macvlan_nad(node, "hp-x", master, "10.176.0.0/24")
    macvlan_nad(node, "hp-y", master, "10.177.0.0/24")
    pod, ns = started_pod(hot, "p-inplace", [{"name": "hp-x", "interface": "net1"}], "c-inplace")
    before = (ns.links(), hot.status(pod))

    hot.annotate(pod, [{"name": "hp-y", "interface": "net1"}])
    wait_for(lambda: any(r == "FailedAddingInterface" for _, r, _ in hot.events(pod)), "a warning Event")

    (warning,) = [e for e in hot.events(pod) if e[1] == "FailedAddingInterface"]
    assert warning == ("Warning", "FailedAddingInterface", 'hot-plug refused: interface "net1" holds "default/hp-x"; '
                       'it cannot become "default/hp-y" in place')
    assert (ns.links(), hot.status(pod)) == before
    assert run_via_shim(hot.shim, node, "DEL", container_id="c-inplace", netns=ns, pod=pod).rc == 0
    assert ns.links() == {} and node.reservations() == []
