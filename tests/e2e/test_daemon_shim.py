"""The real node daemon on a temp socket, driven through each real shim (static and Python) with real plugins in
real netns."""

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cni.node.shims import IMPLEMENTATIONS, install_shim
from tests.e2e.daemon_node import (
    Daemon,
    finish,
    kill_pid_file,
    run_via_shim,
    start_via_shim,
)
from tests.e2e.harness import NETWEAVE, Netns, Node, Run, fake_plugin, unique
from tests.processes import alive
from tests.replay import ReplayServer
from tests.waiting import eventually

pytestmark = pytest.mark.netns


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def shim_for(node: Node, daemon: Daemon, implementation: str) -> Path:
    """The shim as node-install writes it, into a directory of its own (the runtime's CNI bin dir)."""
    bin_dir = node.root / "shim-bin"
    bin_dir.mkdir(exist_ok=True)
    return install_shim(bin_dir, socket=daemon.socket, standalone=str(NETWEAVE), implementation=implementation)


@pytest.fixture
def daemon(node: Node) -> Iterator[Daemon]:
    d = Daemon(node).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def shim(node: Node, daemon: Daemon, implementation: str) -> Path:
    return shim_for(node, daemon, implementation)


def macvlan(node: Node, name: str, octet: int) -> dict[str, Any]:
    """A NAD config: macvlan on a fresh veth master, host-local in its own subnet."""
    return {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": node.make_master(), "mode": "bridge",
            "ipam": node.ipam([[{"subnet": f"{node.v4}.{octet}.0/24"}]])}


def two_secondaries(node: Node, api: ReplayServer) -> dict[str, Any]:
    a, b = unique("a"), unique("b")
    node.nad(a, macvlan(node, a, 1))
    node.nad(b, macvlan(node, b, 2))
    return node.pod(unique("p"), {"k8s.v1.cni.cncf.io/networks": f"{a},{b}@data"})


def no_host_peer_in(ns: Netns) -> bool:
    """No veth in the root netns still has its peer in `ns` (other suites may add veths meanwhile)."""
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return f"link-netns {ns.name}" not in out.stdout


def assert_clean(node: Node, ns: Netns | None = None) -> None:
    """No IPAM reservation, no ADD record, and (given a pod netns) no interface in it or host peer of it."""
    assert node.reservations() == []
    assert node.cache_records() == []
    if ns is not None:
        assert ns.links() == {}
        assert no_host_peer_in(ns)


def test_primary_and_two_secondaries_add_and_del_through_the_shim(
    node: Node, api: ReplayServer, daemon: Daemon, shim: Path
) -> None:
    pod = two_secondaries(node, api)
    ns = node.make_netns()
    time.sleep(0.3)  # let the watch deliver the pod and NADs
    gets_before = len(api.requests_for("GET", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}"))
    nad_gets_before = len(api.requests_for("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/"))
    add = run_via_shim(shim, node, "ADD", container_id="c1", netns=ns, pod=pod)
    assert add.rc == 0, add.out
    links = ns.links()
    assert sorted(links) == ["data", "eth0", "net1"]
    assert links["net1"]["addresses"] == [f"{node.v4}.1.2/24"]
    assert links["data"]["addresses"] == [f"{node.v4}.2.2/24"]
    assert any(i["name"] == "eth0" and i.get("sandbox") == ns.path for i in add.out["interfaces"])
    # the pod came from the daemon's watch cache: no GET of it on the ADD path
    assert len(api.requests_for("GET", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}")) == gets_before
    assert len(api.requests_for("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/")) == nad_gets_before
    assert run_via_shim(shim, node, "CHECK", container_id="c1", netns=ns, pod=pod).rc == 0
    delete = run_via_shim(shim, node, "DEL", container_id="c1", netns=ns, pod=pod)
    assert delete.rc == 0, delete.out
    assert_clean(node, ns)


def test_same_result_as_standalone(node: Node, api: ReplayServer, shim: Path) -> None:
    pod = two_secondaries(node, api)
    ns1, ns2 = node.make_netns(), node.make_netns()
    time.sleep(0.3)
    via_daemon = run_via_shim(shim, node, "ADD", container_id="d1", netns=ns1, pod=pod)
    standalone = node.run("ADD", container_id="s1", netns=ns2, pod=pod)
    assert (via_daemon.rc, standalone.rc) == (0, 0)

    def shape(run: Run) -> list[tuple[str, bool, int]]:
        interfaces = run.out["interfaces"]
        return [(i["name"] if i.get("sandbox") else "host-side", "sandbox" in i, len(i.get("mac", "")))
                for i in interfaces] + [
            (ip["address"].split("/")[1], False, ip["interface"]) for ip in run.out["ips"]]

    assert shape(via_daemon) == shape(standalone)
    assert run_via_shim(shim, node, "DEL", container_id="d1", netns=ns1, pod=pod).rc == 0
    assert node.run("DEL", container_id="s1", netns=ns2, pod=pod).rc == 0
    assert_clean(node)


def test_failing_secondary_rolls_back_everything(node: Node, api: ReplayServer, shim: Path) -> None:
    fake_plugin(node, "broken", 'echo \'{"cniVersion":"1.0.0","code":100,"msg":"broken on purpose"}\'\n'
                'test "$CNI_COMMAND" = DEL && exit 0\nexit 1\n')
    good, bad = unique("g"), unique("x")
    node.nad(good, macvlan(node, good, 3))
    node.nad(bad, {"cniVersion": "1.0.0", "name": bad, "type": "broken"})
    pod = node.pod(unique("p"), {"k8s.v1.cni.cncf.io/networks": f"{good},{bad}"})
    ns = node.make_netns()
    time.sleep(0.3)
    add = run_via_shim(shim, node, "ADD", container_id="f1", netns=ns, pod=pod)
    assert add.rc != 0
    assert "broken on purpose" in json.dumps(add.out)
    assert_clean(node, ns)


def test_pod_missing_from_the_cache_falls_back_to_a_get(node: Node, api: ReplayServer, shim: Path) -> None:
    pod = node.pod(unique("p"))
    pod["spec"]["nodeName"] = "node-2"  # not watched by this node's daemon
    api.add_pod(pod)
    ns = node.make_netns()
    path = f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}"
    before = len(api.requests_for("GET", path))
    add = run_via_shim(shim, node, "ADD", container_id="g1", netns=ns, pod=pod)
    assert add.rc == 0, add.out
    assert len(api.requests_for("GET", path)) == before + 1
    assert run_via_shim(shim, node, "DEL", container_id="g1", netns=ns, pod=pod).rc == 0


def test_sigkill_mid_add_then_del_after_restart_leaves_nothing(node: Node, api: ReplayServer,
                                                               implementation: str) -> None:
    marker = node.root / "slow.pid"
    fake_plugin(node, "slow", f'if [ "$CNI_COMMAND" = ADD ]; then echo $$ > {marker}; sleep 60; fi\n'
                'echo \'{"cniVersion":"1.0.0"}\'\n')
    good, slow = unique("g"), unique("s")
    node.nad(good, macvlan(node, good, 4))
    node.nad(slow, {"cniVersion": "1.0.0", "name": slow, "type": "slow"})
    pod = node.pod(unique("p"), {"k8s.v1.cni.cncf.io/networks": f"{good},{slow}"})
    ns = node.make_netns()
    daemon = Daemon(node).start()
    shim = shim_for(node, daemon, implementation)
    time.sleep(0.3)
    try:
        adding = start_via_shim(shim, node, "ADD", container_id="k1", netns=ns, pod=pod)
        deadline = time.monotonic() + 20
        while not (marker.exists() and marker.read_text().strip()):
            assert time.monotonic() < deadline, "the slow delegate never started"
            time.sleep(0.02)
        assert sorted(ns.links()) == ["eth0", "net1"]  # primary and first secondary are in place
        delegate = int(marker.read_text())
        daemon.kill(signal.SIGKILL)
        daemon.wait()
        assert eventually(lambda: not alive(delegate)), "the delegate outlived the daemon"
        add = finish(adding)
        assert add.rc == 1 and add.out["code"] == 11
        assert node.cache_records() != []  # the ADD record survived the crash
    finally:
        kill_pid_file(marker)
        daemon.stop()
    restarted = Daemon(node).start()
    try:
        delete = run_via_shim(shim, node, "DEL", container_id="k1", netns=ns, pod=pod)
        assert delete.rc == 0, delete.out
    finally:
        restarted.stop()
    assert_clean(node, ns)


def test_fifty_concurrent_adds_with_a_limit_of_eight(node: Node, api: ReplayServer,
                                                     implementation: str) -> None:
    daemon = Daemon(node, workers=8, queue=8).start()
    shim = shim_for(node, daemon, implementation)
    pods = [node.pod(unique("c")) for _ in range(50)]
    spaces = [node.make_netns() for _ in pods]
    time.sleep(0.3)
    try:
        procs = [start_via_shim(shim, node, "ADD", container_id=f"cc{i}", netns=ns, pod=p)
                 for i, (p, ns) in enumerate(zip(pods, spaces, strict=True))]
        runs = [finish(proc, timeout=120) for proc in procs]  # none hangs
        codes = [0 if r.rc == 0 else r.out["code"] for r in runs]
        assert set(codes) <= {0, 11}, [r.out for r in runs if r.rc]
        assert codes.count(0) >= 16
        added = [i for i, code in enumerate(codes) if code == 0]
        for i in added:
            assert sorted(spaces[i].links()) == ["eth0"]
        metrics = daemon.metrics()
        assert f'netweave_cni_requests_total{{command="ADD",outcome="success"}} {len(added)}.0' in metrics
        for i in added:
            assert run_via_shim(shim, node, "DEL", container_id=f"cc{i}", netns=spaces[i], pod=pods[i]).rc == 0
    finally:
        daemon.stop()
    assert_clean(node)


def test_sigterm_lets_an_in_flight_add_finish(node: Node, api: ReplayServer,
                                              implementation: str) -> None:
    fake_plugin(node, "pause", 'test "$CNI_COMMAND" = ADD && sleep 1\n'
                'echo \'{"cniVersion":"1.0.0","interfaces":[],"ips":[]}\'\n')
    nad = unique("w")
    node.nad(nad, {"cniVersion": "1.0.0", "name": nad, "type": "pause"})
    pod = node.pod(unique("p"), {"k8s.v1.cni.cncf.io/networks": nad})
    ns = node.make_netns()
    daemon = Daemon(node).start()
    shim = shim_for(node, daemon, implementation)
    time.sleep(0.3)
    adding = start_via_shim(shim, node, "ADD", container_id="t1", netns=ns, pod=pod)
    time.sleep(0.4)
    daemon.kill(signal.SIGTERM)
    add = finish(adding)
    assert add.rc == 0, add.out
    assert daemon.wait() == 0
    assert not daemon.socket.exists()
    down = run_via_shim(shim, node, "DEL", container_id="t1", netns=ns, pod=pod)
    assert down.out["code"] == 11 and "not reachable" in down.out["msg"]
    restarted = Daemon(node).start()
    try:
        assert run_via_shim(shim, node, "DEL", container_id="t1", netns=ns, pod=pod).rc == 0
    finally:
        restarted.stop()
    assert_clean(node, ns)


def test_status_through_the_daemon(node: Node, daemon: Daemon, shim: Path) -> None:
    assert run_via_shim(shim, node, "STATUS", container_id="").rc == 0
    not_ready = run_via_shim(shim, node, "STATUS", container_id="",
                             config=node.config(readinessIndicatorFile=str(node.root / "absent")))
    assert (not_ready.rc, not_ready.out["code"]) == (1, 50)


def test_version_through_the_daemon_and_without_it(node: Node, daemon: Daemon, shim: Path) -> None:
    up = run_via_shim(shim, node, "VERSION", container_id="", config={"cniVersion": "1.0.0"})
    daemon.stop()
    down = run_via_shim(shim, node, "VERSION", container_id="", config={"cniVersion": "1.0.0"})
    assert (up.rc, down.rc) == (0, 0)
    assert up.out == down.out


def test_fallback_standalone_when_the_daemon_is_down(node: Node, api: ReplayServer, daemon: Daemon,
                                                     shim: Path) -> None:
    daemon.stop()
    pod = node.pod(unique("p"))
    ns = node.make_netns()
    config = node.config(fallback="standalone")
    add = run_via_shim(shim, node, "ADD", container_id="sa1", netns=ns, pod=pod, config=config)
    assert add.rc == 0, add.out
    assert sorted(ns.links()) == ["eth0"]
    assert run_via_shim(shim, node, "DEL", container_id="sa1", netns=ns, pod=pod, config=config).rc == 0
    assert_clean(node, ns)


def test_gc_through_the_daemon_removes_attachments_not_in_the_valid_list(
    node: Node, api: ReplayServer, daemon: Daemon, shim: Path
) -> None:
    keep, drop = node.pod(unique("k")), node.pod(unique("d"))
    ns_keep, ns_drop = node.make_netns(), node.make_netns()
    time.sleep(0.3)
    assert run_via_shim(shim, node, "ADD", container_id="gk", netns=ns_keep, pod=keep).rc == 0
    assert run_via_shim(shim, node, "ADD", container_id="gd", netns=ns_drop, pod=drop).rc == 0
    config = node.config(**{"cni.dev/valid-attachments": [{"containerID": "gk", "ifname": "eth0"}]})
    gc = run_via_shim(shim, node, "GC", container_id="", config=config)
    assert gc.rc == 0, gc.out
    assert ns_drop.links() == {}
    assert sorted(ns_keep.links()) == ["eth0"]
    assert run_via_shim(shim, node, "DEL", container_id="gk", netns=ns_keep, pod=keep).rc == 0
    assert_clean(node, ns_keep)


def test_daemon_started_while_the_api_server_is_down_still_serves_del(node: Node, api: ReplayServer,
                                                                      implementation: str) -> None:
    pod = node.pod(unique("p"))
    ns = node.make_netns()
    daemon = Daemon(node).start()
    shim = shim_for(node, daemon, implementation)
    try:
        assert run_via_shim(shim, node, "ADD", container_id="down1", netns=ns, pod=pod).rc == 0
    finally:
        daemon.stop()
    dead = node.root / "dead-kubeconfig"
    dead.write_text(node.kubeconfig.read_text().replace(api.url, "http://127.0.0.1:9"))
    started = time.monotonic()
    offline = Daemon(node, kubeconfig=dead).start()
    try:
        assert time.monotonic() - started < 15
        config = node.config(kubeconfig=str(dead))
        delete = run_via_shim(shim, node, "DEL", container_id="down1", netns=ns, pod=pod, config=config)
        assert delete.rc == 0, delete.out
    finally:
        offline.stop()
    assert_clean(node, ns)
