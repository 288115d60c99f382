"""The config guard on a temp node tree: what another agent does to 00-netweave.conflist is undone within seconds."""

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cni.node import install
from cni.node.confguard import ConfGuard
from cni.node.install import Layout
from tests.cni.node.test_install import CALICO, node, options
from tests.waiting import eventually

__all__ = ["node"]  # the fixture, imported for pytest


@pytest.fixture
def installed(node: Layout) -> Layout:
    install.install(options(node))
    return node


@pytest.fixture
def guard(installed: Layout) -> Iterator[tuple[ConfGuard, list[str]]]:
    repairs: list[str] = []
    running = ConfGuard(installed, interval=0.05, on_repair=repairs.append)
    running.start()
    yield running, repairs
    running.stop(timeout=5)


def test_a_deleted_conflist_is_put_back_within_seconds(installed: Layout, guard: tuple[ConfGuard, list[str]]) -> None:
    original = installed.conflist.read_bytes()
    installed.conflist.unlink()
    assert eventually(lambda: installed.conflist.exists() and installed.conflist.read_bytes() == original,
                      timeout=30)
    assert eventually(lambda: any("was missing" in reason for reason in guard[1]), timeout=30)


def test_a_conflist_renamed_by_another_agent_is_put_back(installed: Layout,
                                                         guard: tuple[ConfGuard, list[str]]) -> None:
    original = installed.conflist.read_bytes()
    # What Cilium's exclusive mode does to every foreign config.
    os.rename(installed.conflist, installed.conf_dir / "00-netweave.conflist.cilium_bak")
    assert eventually(lambda: installed.conflist.exists() and installed.conflist.read_bytes() == original,
                      timeout=30)


def test_a_changed_primary_config_is_rendered_again(installed: Layout, guard: tuple[ConfGuard, list[str]]) -> None:
    upgraded = json.loads(json.dumps(CALICO))
    upgraded["plugins"].append({"type": "tuning", "capabilities": {"mac": True}})
    # Written in place, not atomically, as some agents do: a pass that reads it half-written renders nothing.
    (installed.conf_dir / "10-calico.conflist").write_text(json.dumps(upgraded))

    def has_mac() -> bool:
        plugin = json.loads(installed.conflist.read_text())["plugins"][0]
        assert plugin["capabilities"]["portMappings"] is True  # never a rendering from a half-written primary
        return plugin["capabilities"].get("mac") is True

    assert eventually(has_mac, timeout=30)
    assert eventually(lambda: any("differed" in reason for reason in guard[1]), timeout=30)


def test_an_edited_conflist_is_rendered_again(installed: Layout) -> None:
    original = installed.conflist.read_bytes()
    installed.conflist.write_text('{"cniVersion": "1.0.0", "name": "netweave", "plugins": []}')
    reason = ConfGuard(installed).check()
    assert reason is not None and "differed from its rendering around 10-calico.conflist" in reason
    assert installed.conflist.read_bytes() == original


def test_nothing_is_written_when_nothing_changed(installed: Layout) -> None:
    before = installed.conflist.stat().st_mtime_ns, installed.state.stat().st_mtime_ns
    assert ConfGuard(installed).check() is None
    install.install(options(installed))  # a restart of node-install: nothing rewritten either
    assert (installed.conflist.stat().st_mtime_ns, installed.state.stat().st_mtime_ns) == before


def test_the_guard_renders_what_install_rendered_with_its_options(node: Layout, tmp_path: Path) -> None:
    indicator = tmp_path / "ready"
    indicator.touch()
    install.install(options(node, socket="/run/nw/other.sock", fallback="standalone", cni_version="1.0.0",
                            readiness_indicator_file=indicator))
    original = node.conflist.read_bytes()
    node.conflist.unlink()
    assert ConfGuard(node).check() is not None
    assert node.conflist.read_bytes() == original


def test_a_config_sorting_before_ours_is_moved_aside_by_the_guard(installed: Layout) -> None:
    (installed.conf_dir / "00-aaa.conf").write_text(json.dumps({"name": "x", "cniVersion": "0.3.1",
                                                                  "type": "bridge"}))
    ConfGuard(installed).check()
    assert not (installed.conf_dir / "00-aaa.conf").exists()
    install.uninstall(installed)
    assert (installed.conf_dir / "00-aaa.conf").exists()


def test_without_an_install_the_guard_writes_nothing_and_says_why_once(node: Layout,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    guard = ConfGuard(node)
    with caplog.at_level(logging.WARNING, logger="cni.node.confguard"):
        assert guard.check() is None
        assert guard.check() is None
    assert not node.conflist.exists()
    warnings = [r for r in caplog.records if r.getMessage() == "cannot keep the CNI config"]
    assert len(warnings) == 1
    assert "run `netweave node-install` first" in warnings[0].__dict__["error"]


def test_without_a_primary_config_the_conflist_is_left_alone(installed: Layout) -> None:
    os.rename(installed.conf_dir / "10-calico.conflist", installed.conf_dir / "10-calico.conflist.bak")
    before = installed.conflist.read_bytes()
    assert ConfGuard(installed).check() is None
    assert installed.conflist.read_bytes() == before


def _daemon_args(*argv: str) -> object:
    import argparse

    from cni.node import daemon

    parser = argparse.ArgumentParser()
    daemon.add_arguments(parser)
    return parser.parse_args(["--node-name", "n", *argv])


def test_the_daemon_guards_the_directory_it_is_given(tmp_path: Path) -> None:
    from cni.node import daemon
    from cni.node.settings import NodeSettings

    args = _daemon_args("--guard-cni-conf-dir", str(tmp_path), "--host-cni-conf-dir", "/etc/cni/net.d")
    options = daemon.options_from(args, NodeSettings())  # type: ignore[arg-type]
    assert options.guard == Layout(bin_dir=tmp_path, conf_dir=tmp_path, host_conf_dir=Path("/etc/cni/net.d"))
    assert daemon.options_from(_daemon_args(), NodeSettings()).guard is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"--guard-cni-conf-dir .* is not a directory"):
        daemon.options_from(_daemon_args("--guard-cni-conf-dir", str(tmp_path / "absent")),  # type: ignore[arg-type]
                            NodeSettings())


def test_a_repair_is_a_warning_event_on_the_node(installed: Layout, tmp_path: Path) -> None:
    from cni.kube import KubeClient
    from cni.node.confguard import REPAIR_REASON, node_event_reporter
    from tests.replay import ReplayServer

    with ReplayServer() as api:
        kube = KubeClient.from_kubeconfig(str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        installed.conflist.unlink()
        reason = ConfGuard(installed, on_repair=node_event_reporter(kube, "node-1")).check()
        [event] = api.events
    assert reason is not None
    assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": "node-1"}
    assert (event["reason"], event["type"], event["message"]) == (REPAIR_REASON, "Warning", reason)
    assert event["metadata"]["namespace"] == "default"


def test_an_event_that_cannot_be_posted_leaves_the_repair_standing(installed: Layout, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from cni.kube import KubeClient
    from cni.node.confguard import node_event_reporter
    from tests.replay import ReplayServer

    with ReplayServer() as api:
        kube = KubeClient.from_kubeconfig(str(api.write_kubeconfig(tmp_path / "kubeconfig")))
    # The server is gone now: the POST fails, the conflist is back all the same.
    installed.conflist.unlink()
    with caplog.at_level(logging.WARNING, logger="cni.node.confguard"):
        assert ConfGuard(installed, on_repair=node_event_reporter(kube, "node-1")).check() is not None
    assert installed.conflist.exists()
    [failed] = [r for r in caplog.records if r.getMessage() == "node event not posted"]
    assert "cannot reach the API server" in failed.__dict__["error"]


def test_an_agent_fighting_the_guard_gets_one_event_a_minute_not_one_a_second(installed: Layout,
                                                                              tmp_path: Path) -> None:
    from cni.kube import KubeClient
    from cni.node.confguard import node_event_reporter
    from tests.replay import ReplayServer

    now = [1000.0]
    with ReplayServer() as api:
        kube = KubeClient.from_kubeconfig(str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        guard = ConfGuard(installed, on_repair=node_event_reporter(kube, "node-1", every=60, clock=lambda: now[0]))
        for step in (0.0, 1.0, 30.0, 61.0):   # seconds since the first repair
            now[0] = 1000.0 + step
            installed.conflist.unlink()
            assert guard.check() is not None
        assert len(api.events) == 2   # at 0 s and at 61 s
