"""Host-rooted delegates: the daemon runs every delegate chrooted in the node's root filesystem (--chroot-dir),
so a plugin finds the node's files, binaries and sockets exactly as when the runtime runs it on the node."""

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cni.node.shims import install_shim
from tests.e2e.daemon_node import Daemon, run_via_shim
from tests.e2e.harness import Node, unique
from tests.hostroot import FakeRoot, agent, make_fake_root
from tests.replay import ReplayServer

pytestmark = pytest.mark.netns


@pytest.fixture
def fake_root(node: Node) -> FakeRoot:
    """The node's / stand-in: the plugin at the node's CNI bin dir path, and var/lib/fakecni/nodename."""
    fake = make_fake_root(node.root / "hostroot", bin_dir=node.root / "bin", nodename=f"node-{unique('n')}")
    conf = {"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "nodename"}]}
    node.cluster_conf.write_text(json.dumps(conf))
    return fake


@contextmanager
def shim_to_daemon(node: Node, *extra: str) -> Iterator[Path]:
    """A daemon started with these extra flags and the static shim that talks to it; the daemon stops after.
    No wait for its pod watch: a pod the watch has not seen yet is read with a GET."""
    daemon = Daemon(node)
    daemon.argv += list(extra)
    daemon.start()
    try:
        (node.root / "shim-bin").mkdir()
        yield install_shim(node.root / "shim-bin", socket=daemon.socket, implementation="static")
    finally:
        daemon.stop()


@pytest.fixture
def rooted(node: Node, fake_root: FakeRoot) -> Iterator[Path]:
    with shim_to_daemon(node, "--chroot-dir", str(fake_root.root)) as shim:
        yield shim


def test_delegates_read_the_node_files_and_dial_its_sockets_under_the_host_root(
    node: Node, api: ReplayServer, fake_root: FakeRoot, rooted: Path
) -> None:
    pod = node.pod(unique("p"))
    ns = node.make_netns()
    with agent(fake_root, "agent-on-the-node"):
        add = run_via_shim(rooted, node, "ADD", container_id="h1", netns=ns, pod=pod)
        assert add.rc == 0, add.out
        assert add.out["dns"] == {"domain": fake_root.nodename, "search": ["agent-on-the-node"]}
        assert run_via_shim(rooted, node, "CHECK", container_id="h1", netns=ns, pod=pod).rc == 0
        assert run_via_shim(rooted, node, "DEL", container_id="h1", netns=ns, pod=pod).rc == 0
    assert node.cache_records() == []


def test_without_the_host_root_the_same_attachment_fails(node: Node, api: ReplayServer,
                                                         fake_root: FakeRoot) -> None:
    # The same binary at the same path in the daemon's own root: only the node's file is missing there.
    shutil.copy2(fake_root.inside(node.root / "bin" / "nodename"), node.root / "bin" / "nodename")
    with shim_to_daemon(node) as shim:
        add = run_via_shim(shim, node, "ADD", container_id="h2", netns=node.make_netns(), pod=node.pod(unique("p")))
    assert add.rc == 1
    assert "cannot read /var/lib/fakecni/nodename" in add.out["msg"]
    assert node.cache_records() == []


def test_real_plugins_and_their_ipam_run_chrooted(node: Node, api: ReplayServer) -> None:
    """`--chroot-dir /` runs the real ptp + host-local through setpriv and chroot: the launch path of the DaemonSet."""
    with shim_to_daemon(node, "--chroot-dir", "/") as shim:
        pod = node.pod(unique("p"))
        ns = node.make_netns()
        add = run_via_shim(shim, node, "ADD", container_id="h3", netns=ns, pod=pod)
        assert add.rc == 0, add.out
        assert sorted(ns.links()) == ["eth0"]
        assert run_via_shim(shim, node, "DEL", container_id="h3", netns=ns, pod=pod).rc == 0
    assert node.reservations() == []
    assert ns.links() == {}


def test_a_chroot_dir_that_does_not_exist_stops_the_daemon_with_a_clear_error(node: Node, tmp_path: Path) -> None:
    daemon = Daemon(node)
    daemon.argv += ["--chroot-dir", str(tmp_path / "absent")]
    with pytest.raises(AssertionError, match="--chroot-dir"):
        daemon.start()
    assert daemon.wait() == 2
