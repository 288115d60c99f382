"""The pod netns's netlink socket made without forking: it is in the pod's netns, leaks nothing, leaves no thread
behind in the netns, and a missing netns is FileNotFoundError as before. Real network namespaces (root)."""

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest

from cni import netlink


@pytest.fixture
def pod_netns() -> Iterator[str]:
    name = f"nwsock{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "add", "podside0", "type", "veth", "peer", "name", "podside1"],
                   check=True)
    yield f"/var/run/netns/{name}"
    subprocess.run(["ip", "netns", "del", name], check=False)


def _names(ipr: object) -> set[str]:
    return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}  # type: ignore[attr-defined]


def _open_files() -> set[tuple[str, str]]:
    """(fd, what it is) of this process: a socket opened here is new even if it reuses the number of an fd that an
    earlier test's background thread (a replay server's keep-alive handler) closed meanwhile."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except FileNotFoundError:   # the listing's own fd
            continue
    return out


def _netns_threads() -> int:
    return sum(t.name == "netns-socket" for t in threading.enumerate())


def test_the_socket_is_in_the_pod_netns_and_nothing_stays_open(pod_netns: str) -> None:
    before = _open_files()
    host = os.readlink("/proc/thread-self/ns/net")
    for _ in range(3):
        with netlink.pod_netns(pod_netns) as ipr:
            assert _names(ipr) == {"lo", "podside0", "podside1"}
        with netlink.PodNetns(pod_netns) as ns:
            assert _names(ns.ipr()) == {"lo", "podside0", "podside1"}
    assert _open_files() - before == set()
    assert _netns_threads() == 0
    # This thread never left the host's netns.
    assert os.readlink("/proc/thread-self/ns/net") == host


def test_a_missing_netns_is_file_not_found(tmp_path: object) -> None:
    with pytest.raises(FileNotFoundError):
        netlink.netns_socket("/var/run/netns/nwsock-absent")
    with pytest.raises(FileNotFoundError), netlink.pod_netns("/var/run/netns/nwsock-absent"):
        pass
