"""The uninstall DaemonSets' first init container, run for real: it waits while the node daemon answers on its
socket (its config guard would restore the conflist node-uninstall removes) and ends once the daemon is gone."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.rendered import UNINSTALL, find, render
from tests.deploy.test_helm_node_placement import UNINSTALL as CHART_UNINSTALL
from tests.deploy.test_helm_node_placement import pod
from tests.deploy.test_helm_node_placement import render as helm_render

SOCKET = "/run/netweave/cni.sock"


def _kustomize() -> list[str]:
    spec = find(render(UNINSTALL), "DaemonSet", "netweave-node-uninstall")["spec"]["template"]["spec"]
    command: list[str] = spec["initContainers"][0]["command"]
    return command


def _chart() -> list[str]:
    command: list[str] = pod(helm_render(*CHART_UNINSTALL), "netweave-node-uninstall")["initContainers"][0]["command"]
    return command


@pytest.fixture(params=[_kustomize, _chart], ids=["kustomize", "chart"])
def wait_script(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[list[str], Path]:
    command = request.param()
    assert command[:2] == ["python", "-c"] and SOCKET in command[2]
    path = tmp_path / "cni.sock"
    return [sys.executable, "-c", command[2].replace(SOCKET, str(path))], path


def test_no_socket_ends_the_wait_at_once(wait_script: tuple[list[str], Path]) -> None:
    command, _ = wait_script
    assert subprocess.run(command, timeout=60, check=False).returncode == 0


def test_waits_while_the_daemon_answers_and_ends_when_it_stops(wait_script: tuple[list[str], Path]) -> None:
    command, path = wait_script
    daemon = socket.socket(socket.AF_UNIX)
    daemon.bind(str(path))
    daemon.listen()
    with subprocess.Popen(command) as wait:
        try:
            daemon.settimeout(60)
            for _ in range(2):  # it asked, and asks again: still waiting while the daemon answers
                daemon.accept()[0].close()
            assert wait.poll() is None
        finally:
            daemon.close()  # the socket file stays behind, as after a SIGKILLed daemon
        assert path.exists()
        assert wait.wait(timeout=60) == 0
