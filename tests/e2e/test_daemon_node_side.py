"""The node daemon as a process: its own API client when the conflist has no kubeconfig, and its shutdown."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon_node import Daemon, finish, kill_pid_file, run_via_shim, shim_for, start_via_shim
from tests.e2e.harness import OS_PATH, Node, fake_plugin
from tests.e2e.test_attach import NETWORKS, macvlan, network_status
from tests.paths import REPO
from tests.waiting import eventually

pytestmark = pytest.mark.netns


@pytest.fixture()
def daemon(node: Node) -> Iterator[Daemon]:
    started = Daemon(node).start()
    try:
        yield started
    finally:
        started.stop()


def test_status_and_events_are_written_by_the_daemon_s_own_client_without_a_kubeconfig(
    node: Node, daemon: Daemon
) -> None:
    shim = shim_for(node, daemon)
    master = node.make_master()
    macvlan(node, "own", master, "10.176.0.0/24")
    pod = node.pod("p-own", {NETWORKS: "own"})
    ns = node.make_netns()
    config = node.config()
    del config["kubeconfig"]

    added = run_via_shim(shim, node, "ADD", container_id="c-own", netns=ns, pod=pod, config=config)

    assert added.rc == 0, added.out
    assert [(e["name"], e["interface"]) for e in network_status(node, pod)] == [
        ("cluster", "eth0"), ("default/own", "net1")]
    events = [(e["reason"], e["message"].split(" [")[0]) for e in node.api.events
              if e["involvedObject"]["name"] == "p-own"]
    assert events == [("AddedInterface", "Add eth0"), ("AddedInterface", "Add net1")]
    deleted = run_via_shim(shim, node, "DEL", container_id="c-own", netns=ns, pod=pod, config=config)
    assert (deleted.rc, deleted.out) == (0, None)
    assert network_status(node, pod) == []
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_an_idle_daemon_exits_promptly_on_sigterm_and_removes_its_socket(
    node: Node, daemon: Daemon, record_property: Callable[[str, object], None]
) -> None:
    socket_path: Path = daemon.socket
    assert socket_path.exists()
    sent = time.monotonic()
    daemon.kill(signal.SIGTERM)
    rc = daemon.wait(timeout=10)   # generous bound; the measured time is printed, not asserted tightly
    took = time.monotonic() - sent
    record_property("sigterm_exit_seconds", round(took, 3))   # in the junit XML
    print(f"idle daemon exited {took:.2f} s after SIGTERM (pytest -s shows it)")
    assert rc == 0
    assert not socket_path.exists()


def test_an_operation_that_outlasts_the_shutdown_grace_does_not_keep_the_daemon_alive(node: Node) -> None:
    pid_file = node.root / "slow.pid"
    fake_plugin(node, "slow", f'echo $$ > {pid_file}\ntest "$CNI_COMMAND" = ADD && exec sleep 30\n'
                'echo \'{"cniVersion":"1.0.0","interfaces":[],"ips":[]}\'\n')
    node.nad("slow", {"cniVersion": "1.0.0", "name": "slow", "type": "slow"})
    pod = node.pod("p-slow", {NETWORKS: "slow"})
    ns = node.make_netns()
    daemon = Daemon(node)
    daemon.argv += ["--shutdown-grace", "1"]
    daemon.start()
    shim = shim_for(node, daemon)
    try:
        adding = start_via_shim(shim, node, "ADD", container_id="c-slow", netns=ns, pod=pod)
        assert eventually(pid_file.exists, timeout=20)
        sent = time.monotonic()
        daemon.kill(signal.SIGTERM)
        rc = daemon.wait(timeout=20)
        took = time.monotonic() - sent
        print(f"daemon with a stuck operation exited {took:.2f} s after SIGTERM (grace 1 s)")
        assert rc == 1
        assert not daemon.socket.exists()
        add = finish(adding)
        assert add.rc != 0 and add.out["code"] == 11, add.out
    finally:
        kill_pid_file(pid_file)
        daemon.stop()
    restarted = Daemon(node).start()
    try:
        deleted = run_via_shim(shim_for(node, restarted), node, "DEL", container_id="c-slow", netns=ns, pod=pod)
        assert (deleted.rc, deleted.out) == (0, None)
    finally:
        restarted.stop()
    assert ns.links() == {} and node.reservations() == [] and node.cache_records() == []


def test_sigterm_during_the_startup_sync_stops_the_daemon_cleanly(node: Node) -> None:
    dead = node.root / "dead-kubeconfig"
    dead.write_text(node.kubeconfig.read_text().replace(node.api.url, "http://127.0.0.1:9"))
    daemon = Daemon(node, kubeconfig=dead)
    daemon.argv += ["--sync-timeout", "60"]
    with daemon.log.open("ab") as log:
        daemon.proc = subprocess.Popen(daemon.argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                                       env={"PATH": OS_PATH})
    try:
        assert eventually(lambda: "cni.reflector" in daemon.log.read_text(), timeout=20)   # a failed list
        assert not daemon.socket.exists()   # still waiting for the first lists
        sent = time.monotonic()
        daemon.kill(signal.SIGTERM)
        rc = daemon.wait(timeout=10)
        print(f"daemon exited {time.monotonic() - sent:.2f} s after SIGTERM during its startup sync")
        assert rc == 0   # a clean shutdown, not death by the signal
        assert not daemon.socket.exists()
    finally:
        daemon.stop()
