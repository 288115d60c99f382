"""Liveness and readiness of the node daemon, and its failure counters: real loops, sockets, HTTP and plugins."""

import asyncio
import json
import os
import signal
import socket
import stat
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cni.context import Context
from cni.execute import execute
from cni.node import daemon
from cni.node.health import loop_problem, socket_identity, socket_problem
from cni.node.metrics import NodeMetrics
from cni.node.server import Limits
from tests.waiting import eventually


@pytest.fixture
def running_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_a_serving_loop_is_alive(running_loop: asyncio.AbstractEventLoop) -> None:
    assert loop_problem(running_loop) is None


def test_a_wedged_loop_is_not(running_loop: asyncio.AbstractEventLoop) -> None:
    release = threading.Event()
    running_loop.call_soon_threadsafe(release.wait)   # blocks the loop, as a synchronous call in it would
    try:
        assert loop_problem(running_loop, timeout=0.2) == "the serving loop did not respond within 0.2 s"
    finally:
        release.set()
    assert eventually(lambda: loop_problem(running_loop) is None)


def test_a_stopped_loop_is_not_serving() -> None:
    loop = asyncio.new_event_loop()
    assert loop_problem(loop) == "the serving loop is not running"
    loop.close()


def test_the_socket_gone_or_taken_over_is_found(tmp_path: Path) -> None:
    path = tmp_path / "cni.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        identity = socket_identity(path)
        assert socket_problem(path, identity) is None
        path.unlink()
        assert socket_problem(path, identity) == f"the socket {path} is gone"
        with socket.socket(socket.AF_UNIX) as newer:
            newer.bind(str(path))   # a newer daemon's, during a rolling update
            assert socket_problem(path, identity) == f"the socket {path} is another process's now"


def test_readyz_and_healthz_report_the_reason() -> None:
    metrics = NodeMetrics(cache=lambda: {"pods": (3, True)})
    metrics.watch_readiness(lambda: "the socket /run/netweave/cni.sock is gone")
    status, body = metrics.ready()
    assert status == 503
    assert json.loads(body) == {"synced": True, "reason": "the socket /run/netweave/cni.sock is gone"}
    metrics.watch_liveness(lambda: "the serving loop did not respond within 2 s")
    status, body = metrics.health()
    assert status == 503 and json.loads(body)["reason"] == "the serving loop did not respond within 2 s"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _ready(base: str) -> bool:
    """/readyz answers 200; refused while the metrics server is not listening yet (it may start after the socket)."""
    try:
        return _get(base + "/readyz")[0] == 200
    except urllib.error.URLError:
        return False


def test_the_running_daemon_turns_unready_when_its_socket_is_deleted(tmp_path: Path) -> None:
    port = _free_port()
    options = daemon.DaemonOptions(socket=tmp_path / "cni.sock", metrics=("127.0.0.1", port), node_name="n",
                                   kubeconfig=None, limits=Limits())
    stopping = daemon.StopRequest()
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(asyncio.run(daemon.serve(
        options, lambda env, stdin: (b"{}", 0), NodeMetrics(), stopping))), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert eventually(lambda: options.socket.exists() and _ready(base), timeout=30)
        assert _get(base + "/healthz") == (200, {"status": "ok", "reason": None, "cache": {}})
        options.socket.unlink()   # what a dead daemon's cleanup or an operator does; the shim cannot connect
        status, body = _get(base + "/readyz")
        assert status == 503 and body["reason"] == f"the socket {options.socket} is gone"
        assert _get(base + "/healthz")[0] == 200   # the process is fine: not a restart, a readiness matter
    finally:
        stopping.handle(signal.SIGTERM, None)
        thread.join(30)
    assert done == [0]


def test_failed_delegates_and_networks_are_counted(tmp_path: Path) -> None:
    """A real plugin executable that fails: the counters name its type and the network, never the pod."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "failing"
    plugin.write_text('#!/bin/sh\necho \'{"cniVersion": "1.0.0", "code": 11, "msg": "boom"}\'\nexit 1\n')
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    cluster = tmp_path / "10-cluster.conf"
    cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster-net", "type": "failing"}))
    stdin = json.dumps({"cniVersion": "1.0.0", "name": "netweave", "type": "netweave",
                        "clusterNetwork": str(cluster), "cacheDir": str(tmp_path / "cache")}).encode()
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": str(tmp_path / "netns"),
           "CNI_IFNAME": "eth0", "CNI_PATH": str(bin_dir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    metrics = NodeMetrics()
    context = Context(node_name="n", delegate_failed=metrics.delegate_failed, network_failed=metrics.network_failed)
    outcome = execute(env, stdin, context=context)
    assert outcome.exit_code == 1 and b"boom" in outcome.stdout
    text = metrics.render().decode()
    assert 'netweave_delegate_failures_total{command="ADD",plugin="failing"} 1.0' in text
    assert 'netweave_network_failures_total{command="ADD",network="cluster-net"} 1.0' in text
