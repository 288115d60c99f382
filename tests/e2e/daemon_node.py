"""The node daemon as a real process, and the installed shim run exactly like a container runtime runs a plugin."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.cni.node.shims import install_shim
from tests.e2e.harness import OS_PATH, PYTHON, Netns, Node, Run
from tests.paths import REPO, console_script


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Daemon:
    """`python -m cni.node.daemon` on a temp socket, watching the replay API server as node-1."""

    def __init__(self, node: Node, *, workers: int = 8, queue: int = 64, request_timeout: float = 60.0,
                 kubeconfig: Path | None = None) -> None:
        self.node = node
        self.socket = node.root / "run" / "cni.sock"
        self.port = free_port()
        self.log = node.root / "log" / "daemon.log"
        self.argv = [str(PYTHON), "-m", "cni.node.daemon", "--socket", str(self.socket),
                     "--metrics", f"127.0.0.1:{self.port}", "--node-name", "node-1",
                     "--kubeconfig", str(kubeconfig or node.kubeconfig), "--workers", str(workers),
                     "--queue", str(queue), "--request-timeout", str(request_timeout), "--log-level", "debug"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Daemon":
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                                         env={"PATH": OS_PATH})
        deadline = time.monotonic() + 20
        while not self.healthy():
            assert self.proc.poll() is None, f"daemon exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "daemon did not become healthy"
            time.sleep(0.05)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as reply:
                return bool(reply.status == 200) and self.socket.exists()
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def shim_for(node: Node, daemon: Daemon) -> Path:
    """The shim as node-install writes it, into a directory of its own (the runtime's CNI bin dir)."""
    bin_dir = node.root / "shim-bin"
    bin_dir.mkdir(exist_ok=True)
    return install_shim(bin_dir, socket=daemon.socket, standalone=str(console_script("netweave-cni")))


def runtime_env(node: Node, command: str, *, container_id: str, netns: Netns | None,
                pod: Mapping[str, Any] | None, ifname: str = "eth0") -> dict[str, str]:
    """The environment a runtime gives a plugin (same as tests.e2e.harness.Node.run)."""
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_IFNAME": ifname,
           "CNI_PATH": node.cni_path, "PATH": OS_PATH, "CNI_NETNS": netns.path if netns else ""}
    if pod is not None:
        meta = pod["metadata"]
        env["CNI_ARGS"] = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={meta['namespace']};K8S_POD_NAME={meta['name']};"
                           f"K8S_POD_INFRA_CONTAINER_ID={container_id};K8S_POD_UID={meta['uid']}")
    return env


def start_via_shim(shim: Path, node: Node, command: str, *, container_id: str, netns: Netns | None = None,
                   pod: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
                   ) -> "subprocess.Popen[bytes]":
    proc = subprocess.Popen([str(shim)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=runtime_env(node, command, container_id=container_id, netns=netns, pod=pod))
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(dict(config) if config is not None else node.config()).encode())
    proc.stdin.close()
    proc.stdin = None  # so that communicate() does not flush it
    return proc


def finish(proc: "subprocess.Popen[bytes]", timeout: float = 90) -> Run:
    out, err = proc.communicate(timeout=timeout)
    return Run(proc.returncode, json.loads(out) if out.strip() else None, err.decode())


def run_via_shim(shim: Path, node: Node, command: str, *, container_id: str, netns: Netns | None = None,
                 pod: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None) -> Run:
    """One plugin invocation through the shim, exactly as a runtime makes it."""
    return finish(start_via_shim(shim, node, command, container_id=container_id, netns=netns, pod=pod,
                                 config=config))


def kill_pid_file(path: Path) -> None:
    """Kill a process whose pid a fake plugin wrote (an orphan of a SIGKILLed daemon)."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
