"""The node daemon as a process: its own API client when the conflist has no kubeconfig, and its shutdown."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon_node import Daemon, run_via_shim, shim_for
from tests.e2e.harness import Node
from tests.e2e.test_attach import NETWORKS, macvlan, network_status

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
