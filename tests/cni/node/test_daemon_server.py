"""The daemon's socket server driven through the real shim: bounded concurrency, per-container order, shutdown."""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from cni.node import shim
from cni.node.metrics import NodeMetrics
from cni.node.server import CniServer, Limits
from tests.cni.node.serving import run_shim, serving, start_shim

STDIN = json.dumps({"cniVersion": "1.0.0", "name": "netweave", "type": "netweave",
                    "clusterNetwork": "/x"}).encode()


def env(container: str, command: str = "ADD") -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": f"/var/run/netns/{container}",
            "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}


class SlowHandler:
    """Sleeps, and records how many ran at once and overall / per container."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.peak = 0
        self.peak_per_container = 0
        self.calls: list[str] = []

    def __call__(self, environ: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        cid = environ["CNI_CONTAINERID"]
        with self.lock:
            self.running[cid] = self.running.get(cid, 0) + 1
            self.peak = max(self.peak, sum(self.running.values()))
            self.peak_per_container = max(self.peak_per_container, self.running[cid])
            self.calls.append(f"{environ['CNI_COMMAND']} {cid}")
        time.sleep(self.seconds)
        with self.lock:
            self.running[cid] -= 1
        return b'{"cniVersion":"1.0.0"}', 0


def test_fifty_concurrent_adds_with_eight_workers_succeed_or_get_code_11(shim_path: Path, sock: Path) -> None:
    handler = SlowHandler(0.3)
    metrics = NodeMetrics()
    with serving(handler, sock, limits=Limits(workers=8, queue=8), observer=metrics):
        procs = [start_shim(shim_path, env(f"c{i}"), STDIN) for i in range(50)]
        results = [(p.wait(timeout=30), p.stdout.read() if p.stdout else b"") for p in procs]
    codes = [json.loads(out).get("code", 0) if rc else 0 for rc, out in results]
    assert set(codes) <= {0, 11}
    assert codes.count(0) >= 16  # 8 running + 8 queued are always accepted
    assert handler.peak <= 8
    assert codes.count(0) == len(handler.calls)
    text = metrics.render().decode()
    assert f'netweave_cni_requests_total{{command="ADD",outcome="success"}} {codes.count(0)}.0' in text
    if codes.count(11):
        assert f'outcome="rejected"}} {codes.count(11)}.0' in text


def test_operations_on_one_container_never_overlap(shim_path: Path, sock: Path) -> None:
    handler = SlowHandler(0.05)
    with serving(handler, sock, limits=Limits(workers=8, queue=32)):
        procs = [start_shim(shim_path, env("same", cmd), STDIN) for cmd in ["ADD", "DEL"] * 6]
        assert all(p.wait(timeout=30) == 0 for p in procs)
    assert handler.peak_per_container == 1
    assert len(handler.calls) == 12


def test_different_containers_run_in_parallel(shim_path: Path, sock: Path) -> None:
    # Each handler waits until all four are running at once: that is the claim, whatever the machine's speed.
    together = threading.Barrier(4, timeout=30)

    def handler(environ: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        together.wait()
        return b'{"cniVersion":"1.0.0"}', 0

    with serving(handler, sock, limits=Limits(workers=4, queue=0)):
        procs = [start_shim(shim_path, env(f"c{i}"), STDIN) for i in range(4)]
        assert all(p.wait(timeout=60) == 0 for p in procs)
    assert not together.broken


def test_request_timeout_answers_code_11_and_keeps_the_container_locked(shim_path: Path, sock: Path) -> None:
    handler = SlowHandler(1.0)
    with serving(handler, sock, limits=Limits(workers=2, queue=2, request_timeout=0.3)):
        first = run_shim(shim_path, env("slow"), STDIN)
        assert first.reply["code"] == 11
        assert "continues in the background" in str(first.reply["msg"])
        second = run_shim(shim_path, env("slow", "DEL"), STDIN)  # waits for the ADD, then times out itself
        assert second.reply["code"] == 11
    assert handler.peak_per_container == 1


def test_queued_operation_that_times_out_never_runs(shim_path: Path, sock: Path) -> None:
    handler = SlowHandler(0.8)
    with serving(handler, sock, limits=Limits(workers=1, queue=4, request_timeout=0.4)):
        busy = start_shim(shim_path, env("a"), STDIN)
        time.sleep(0.1)
        queued = run_shim(shim_path, env("b"), STDIN)
        assert queued.reply["code"] == 11
        assert "not started" in str(queued.reply["details"])
        busy.wait(timeout=10)
    assert handler.calls == ["ADD a"]


def test_shutdown_finishes_in_flight_operations(shim_path: Path, sock: Path) -> None:
    handler = SlowHandler(0.5)
    with serving(handler, sock, limits=Limits(workers=4, queue=4)):
        procs = [start_shim(shim_path, env(f"c{i}"), STDIN) for i in range(3)]
        deadline = time.monotonic() + 5
        while len(handler.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    # leaving `serving` ran CniServer.shutdown(): it drained before returning
    assert [p.wait(timeout=5) for p in procs] == [0, 0, 0]
    assert run_shim(shim_path, env("late"), STDIN).reply["code"] == 11  # no longer accepting


def test_handler_exception_becomes_code_999(shim_path: Path, sock: Path) -> None:
    def broken(environ: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        raise RuntimeError("boom")

    with serving(broken, sock):
        run = run_shim(shim_path, env("c"), STDIN)
    assert (run.returncode, run.reply["code"], run.reply["cniVersion"]) == (1, 999, "1.0.0")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="not-our-protocol"),
        pytest.param(shim.MAGIC + (shim.MAX_REQUEST + 1).to_bytes(4, "big"), id="too-large"),
    ],
)
def test_bad_frames_get_an_error_reply(sock: Path, payload: bytes) -> None:
    with serving(lambda environ, stdin: (b"", 0), sock):
        client = socket.socket(socket.AF_UNIX)
        client.settimeout(5)
        client.connect(str(sock))
        client.sendall(payload)
        header = client.recv(8)
        body = client.recv(65536)
        client.close()
    stdout, code = shim.decode_reply(body[: shim.parse_header(header, shim.MAX_REPLY)])
    assert code == 1
    assert json.loads(stdout)["code"] == 6


def test_a_client_that_sends_nothing_is_dropped(sock: Path) -> None:
    with serving(lambda environ, stdin: (b"", 0), sock, limits=Limits(read_timeout=0.2)):
        client = socket.socket(socket.AF_UNIX)
        client.settimeout(5)
        client.connect(str(sock))
        header = client.recv(8)
        client.close()
    assert header[:4] == shim.MAGIC


def test_stale_socket_file_is_replaced(sock: Path) -> None:
    sock.parent.mkdir(parents=True)
    sock.write_text("stale")

    async def start_and_stop() -> bool:
        server = CniServer(lambda environ, stdin: (b"", 0), limits=Limits())
        await server.start(sock)
        replaced = sock.is_socket()
        await server.shutdown()
        return replaced

    assert asyncio.run(start_and_stop())


def test_shutdown_removes_the_socket_but_not_a_newer_daemons(tmp_path: Path) -> None:
    path = tmp_path / "run" / "cni.sock"

    async def scenario() -> tuple[bool, bool]:
        old = CniServer(lambda environ, stdin: (b"", 0), limits=Limits())
        await old.start(path)
        new = CniServer(lambda environ, stdin: (b"", 0), limits=Limits())
        await new.start(path)  # a rolling update: the new pod binds while the old one drains
        await old.shutdown()
        kept = path.is_socket()
        await new.shutdown()
        return kept, path.exists()

    assert asyncio.run(scenario()) == (True, False)


def test_longest_running_reports_the_oldest_operation(shim_path: Path, sock: Path) -> None:
    handler = SlowHandler(0.6)
    with serving(handler, sock) as server:
        assert server.longest_running() == 0.0
        proc = start_shim(shim_path, env("busy"), STDIN)
        time.sleep(0.4)
        assert 0.2 < server.longest_running() < 0.6
        assert proc.wait(timeout=10) == 0
        assert server.longest_running() == 0.0


def test_shutdown_reports_an_operation_that_outlasts_the_grace_and_still_removes_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "run" / "cni.sock"
    release = threading.Event()

    def stuck(environ: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        release.wait(10)
        return b"", 0

    async def scenario() -> tuple[int, bool, int]:
        server = CniServer(stuck, limits=Limits(shutdown_grace=0.2))
        await server.start(path)
        _, writer = await asyncio.open_unix_connection(str(path))
        request = {k.encode(): v.encode() for k, v in env("stuck").items()}
        writer.write(shim.encode_request(request, STDIN))
        await writer.drain()
        for _ in range(500):
            if server.pending:
                break
            await asyncio.sleep(0.01)
        idle = await CniServer(stuck, limits=Limits()).shutdown()   # never started: nothing to wait for
        unfinished = await server.shutdown()
        removed = not path.exists()
        release.set()
        writer.close()
        return unfinished, removed, idle

    assert asyncio.run(scenario()) == (1, True, 0)
