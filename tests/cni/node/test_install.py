"""node-install / node-uninstall on a temp directory tree shaped like a node's /etc/cni/net.d and /opt/cni/bin."""

import argparse
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cni.node import install, shim
from cni.node.install import InstallError, InstallOptions, Layout
from tests.cni.node.shims import static_binary

CALICO = {
    "name": "k8s-pod-network",
    "cniVersion": "0.3.1",
    "plugins": [
        {
            "type": "calico",
            "log_level": "info",
            "datastore_type": "kubernetes",
            "nodename": "node-1",
            "mtu": 0,
            "ipam": {"type": "calico-ipam"},
            "policy": {"type": "k8s"},
            "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"},
        },
        {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ],
}
FLANNEL = {"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}]}


@pytest.fixture
def node(tmp_path: Path) -> Layout:
    """A node tree with Calico's conflist as the only config and a service account."""
    conf_dir, bin_dir = tmp_path / "etc/cni/net.d", tmp_path / "opt/cni/bin"
    conf_dir.mkdir(parents=True)
    bin_dir.mkdir(parents=True)
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO, indent=2))
    (conf_dir / "calico-kubeconfig").write_text("not a CNI config")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("sa-token\n")
    (account / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
    return Layout(bin_dir=bin_dir, conf_dir=conf_dir, host_conf_dir=Path("/etc/cni/net.d"))


def options(layout: Layout, **overrides: object) -> InstallOptions:
    base: dict[str, object] = {
        "layout": layout,
        "timeout": 0.5,
        "interval": 0.05,
        "interpreter": os.path.realpath(sys.executable),
        "standalone": "/usr/local/bin/netweave-cni",
        "service_account_dir": layout.conf_dir.parents[2] / "serviceaccount",
        "api_host": "10.96.0.1",
        "api_port": "443",
    }
    base.update(overrides)
    return InstallOptions(**base)  # type: ignore[arg-type]


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o7777)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_calico_conflist_becomes_the_cluster_network(node: Layout) -> None:
    install.install(options(node))
    conflist = json.loads(node.conflist.read_text())
    assert conflist == {
        "cniVersion": "0.3.1",
        "name": "netweave",
        "plugins": [
            {
                "type": "netweave",
                "clusterNetwork": "/etc/cni/net.d/10-calico.conflist",
                "capabilities": {"bandwidth": True, "portMappings": True},
                "kubeconfig": "/etc/cni/net.d/netweave.d/netweave.kubeconfig",
            }
        ],
    }
    assert json.loads((node.conf_dir / "10-calico.conflist").read_text()) == CALICO


def test_install_writes_a_kubeconfig_from_the_service_account(node: Layout) -> None:
    install.install(options(node, api_host="fd00::1", api_port="6443"))
    doc = json.loads(node.kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://[fd00::1]:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE")
    assert doc["users"][0]["user"] == {"token": "sa-token"}
    assert node.kubeconfig.stat().st_mode & 0o777 == 0o600


def test_install_copies_an_executable_shim_with_an_absolute_isolated_shebang(node: Layout) -> None:
    install.install(options(node))
    text = node.shim.read_text()
    assert text.splitlines()[0] == f"#!{os.path.realpath(sys.executable)} -IS"
    assert "DEFAULT_SOCKET = '/run/netweave/cni.sock'" in text
    assert "STANDALONE_COMMAND = '/usr/local/bin/netweave-cni'" in text
    assert node.shim.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("kind", ["python", "static"])
def test_installed_shim_runs_and_reports_an_absent_daemon_as_try_again(node: Layout, tmp_path: Path,
                                                                       kind: str) -> None:
    binary = static_binary() if kind == "static" else None
    install.install(options(node, socket=str(tmp_path / "absent.sock"), shim=kind, static_shim=binary))
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
           "CNI_PATH": str(node.bin_dir)}
    stdin = node.conflist.read_bytes()
    proc = subprocess.run([str(node.shim)], input=stdin, env=env, capture_output=True, timeout=10, check=False)
    assert proc.returncode == 1
    reply = json.loads(proc.stdout)
    assert (reply["code"], reply["cniVersion"]) == (11, "0.3.1")
    assert "not reachable" in reply["msg"]
    assert str(tmp_path / "absent.sock") in reply["details"]


def test_static_shim_is_installed_with_its_settings_filled_in(node: Layout) -> None:
    install.install(options(node, shim="static", static_shim=static_binary(), socket="/run/nw/x.sock"))
    installed = node.shim.read_bytes()
    block = install.SETTINGS_MARKER + b"/run/nw/x.sock\0/usr/local/bin/netweave-cni\0"
    assert block in installed
    assert len(installed) == static_binary().stat().st_size
    assert node.shim.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(("kind", "binary", "installed"), [
    pytest.param("auto", True, "static", id="auto-prefers-the-static-binary"),
    pytest.param("auto", False, "python", id="auto-without-a-binary-is-python"),
    pytest.param("python", True, "python", id="python-on-request"),
    pytest.param("static", True, "static", id="static-on-request"),
])
def test_shim_choice(kind: install.ShimKind, binary: bool, installed: str) -> None:
    _, chosen = install.shim_file(kind, static_binary=static_binary() if binary else None,
                                  interpreter="/usr/bin/python3", socket="/s", standalone="x")
    assert chosen == installed


def test_static_shim_requested_but_not_built_is_an_install_error() -> None:
    with pytest.raises(InstallError, match="make shim"):
        install.shim_file("static", static_binary=None, interpreter="/usr/bin/python3", socket="/s", standalone="x")


@pytest.mark.parametrize(("binary", "socket", "standalone", "message"), [
    pytest.param(b"no block here", "/s", "x", "no single settings block", id="no-block"),
    pytest.param(install.SETTINGS_MARKER * 2 + bytes(2048), "/s", "x", "no single settings block", id="two-blocks"),
    pytest.param(install.SETTINGS_MARKER + bytes(2048), "/s", "x" * 1000, "exceed", id="too-long"),
    pytest.param(install.SETTINGS_MARKER + bytes(2048), "/s", "", "non-empty", id="empty-command"),
    pytest.param(install.SETTINGS_MARKER + bytes(10), "/s", "x", "exceed", id="block-cut-short"),
])
def test_render_binary_refuses(binary: bytes, socket: str, standalone: str, message: str) -> None:
    with pytest.raises(InstallError, match=message):
        install.render_binary(binary, socket=socket, standalone=standalone)


def test_socket_path_longer_than_a_unix_socket_allows_is_refused(node: Layout) -> None:
    with pytest.raises(InstallError, match="--socket"):
        install.install(options(node, socket="/run/" + "x" * 120))


def test_second_install_changes_nothing(node: Layout) -> None:
    root = node.conf_dir.parents[2]
    install.install(options(node))
    first = snapshot(root)
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    install.install(options(node))
    assert snapshot(root) == first
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == mtimes


def test_uninstall_restores_the_original_tree(node: Layout) -> None:
    root = node.conf_dir.parents[2]
    before = snapshot(root)
    install.install(options(node))
    install.uninstall(node)
    assert snapshot(root) == before
    assert not node.state_dir.exists()


def test_a_config_that_sorts_before_ours_is_moved_aside_and_restored(node: Layout) -> None:
    root = node.conf_dir.parents[2]
    (node.conf_dir / "10-calico.conflist").rename(node.conf_dir / "00-calico.conflist")
    before = snapshot(root)
    install.install(options(node))
    install.install(options(node))  # idempotent with the primary moved aside
    names = sorted(p.name for p in node.conf_dir.iterdir())
    assert names == ["00-calico.conflist.netweave-disabled", "00-netweave.conflist", "calico-kubeconfig",
                     "netweave.d"]
    conflist = json.loads(node.conflist.read_text())
    assert conflist["plugins"][0]["clusterNetwork"] == "/etc/cni/net.d/00-calico.conflist.netweave-disabled"
    install.uninstall(node)
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"10-calico.conflist": CALICO, "20-flannel.conflist": FLANNEL}, "10-calico.conflist",
                     id="first-in-lexical-order"),
        pytest.param({"05-flannel.conf": FLANNEL["plugins"][0] | {"cniVersion": "0.3.1", "name": "cbr0"},
                      "10-calico.conflist": CALICO}, "05-flannel.conf", id="conf-before-conflist"),
        pytest.param({"10-broken.conflist": "{", "20-flannel.json": FLANNEL}, "20-flannel.json",
                      id="skips-unreadable"),
        pytest.param({".hidden.conf": FLANNEL, "99-calico.conflist": CALICO}, "99-calico.conflist",
                     id="skips-dotfiles"),
    ],
)
def test_primary_detection(tmp_path: Path, files: dict[str, object], expected: str) -> None:
    for name, body in files.items():
        (tmp_path / name).write_text(body if isinstance(body, str) else json.dumps(body))
    assert install.find_primary(tmp_path, name=None) == tmp_path / expected


def test_configured_primary_wins_over_detection(node: Layout) -> None:
    (node.conf_dir / "05-flannel.conflist").write_text(json.dumps(FLANNEL))
    install.install(options(node, primary="10-calico.conflist"))
    conflist = json.loads(node.conflist.read_text())
    assert conflist["plugins"][0]["clusterNetwork"] == "/etc/cni/net.d/10-calico.conflist"


def test_install_waits_for_the_readiness_indicator_and_gives_up(node: Layout, tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="readiness indicator"):
        install.install(options(node, readiness_indicator_file=tmp_path / "calico-ready"))
    assert not node.conflist.exists()
    (tmp_path / "calico-ready").touch()
    install.install(options(node, readiness_indicator_file=tmp_path / "calico-ready"))
    assert node.conflist.exists()


@pytest.mark.parametrize(("indicator", "expected"), [
    pytest.param("net.d/calico-ready", "/etc/cni/net.d/calico-ready", id="under-conf-dir-as-the-host-sees-it"),
    pytest.param("run/calico-ready", None, id="elsewhere-unchanged"),
])
def test_readiness_indicator_reaches_the_conflist(node: Layout, tmp_path: Path, indicator: str,
                                                  expected: str | None) -> None:
    path = node.conf_dir.parent / indicator if indicator.startswith("net.d/") else tmp_path / indicator
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    install.install(options(node, readiness_indicator_file=path))
    plugin = json.loads(node.conflist.read_text())["plugins"][0]
    assert plugin["readinessIndicatorFile"] == (expected or str(path))


def test_install_without_any_primary_times_out(tmp_path: Path) -> None:
    layout = Layout(bin_dir=tmp_path / "bin", conf_dir=tmp_path / "net.d", host_conf_dir=tmp_path / "net.d")
    with pytest.raises(InstallError, match="primary CNI config"):
        install.install(options(layout))


def test_socket_and_fallback_options_reach_the_conflist(node: Layout) -> None:
    install.install(options(node, socket="/run/other.sock", fallback="standalone", cni_version="1.1.0"))
    conflist = json.loads(node.conflist.read_text())
    assert conflist["cniVersion"] == "1.1.0"
    assert conflist["plugins"][0]["daemonSocket"] == "/run/other.sock"
    assert conflist["plugins"][0]["fallback"] == "standalone"


def test_render_shim_refuses_a_source_without_the_constants() -> None:
    with pytest.raises(InstallError):
        install.render_shim("print('hi')\n", interpreter="/usr/bin/python3", socket="/s", standalone="x")


def test_command_line_install_then_uninstall(node: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    parser = argparse.ArgumentParser()
    install.add_install_arguments(parser)
    args = parser.parse_args(["--cni-bin-dir", str(node.bin_dir), "--cni-conf-dir", str(node.conf_dir),
                              "--service-account-dir", str(tmp_path / "serviceaccount"), "--timeout", "1"])
    assert install.run_install(args) == 0
    assert json.loads(node.kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == "https://10.96.0.1:443"
    parser = argparse.ArgumentParser()
    install.add_uninstall_arguments(parser)
    args = parser.parse_args(["--cni-bin-dir", str(node.bin_dir), "--cni-conf-dir", str(node.conf_dir)])
    assert install.run_uninstall(args) == 0
    assert not node.conflist.exists()
    assert not node.shim.exists()


def test_shim_defaults_match_what_install_fills_in() -> None:
    assert shim.DEFAULT_SOCKET == "/run/netweave/cni.sock"
