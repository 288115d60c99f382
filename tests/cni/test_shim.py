"""The shim as the runtime execs it (installed copy, subprocess, exact env + stdin) against a real socket server."""

import json
import os
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from cni import request, shim
from tests.cni.serving import INTERPRETER, install_shim, run_shim, serving

CONF = {"cniVersion": "1.0.0", "name": "netweave", "type": "netweave", "clusterNetwork": "/etc/cni/net.d/10.conf"}
STDIN = json.dumps(CONF).encode()
ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "c0ffee",
    "CNI_NETNS": "/var/run/netns/pod",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
    "CNI_PATH": "/opt/cni/bin",
}


@pytest.mark.parametrize(
    ("env", "stdin"),
    [
        pytest.param({b"CNI_COMMAND": b"ADD"}, b"{}", id="simple"),
        pytest.param({}, b"", id="empty"),
        pytest.param({b"A": b"x=y=z", b"B": b"\xff\xfe"}, b"\x00" * 70000, id="binary-and-equals"),
    ],
)
def test_request_frame_round_trips(env: dict[bytes, bytes], stdin: bytes) -> None:
    frame = shim.encode_request(env, stdin)
    size = shim.parse_header(frame[:8], shim.MAX_REQUEST)
    decoded_env, decoded_stdin = shim.decode_request(frame[8 : 8 + size])
    assert {os.fsencode(k): os.fsencode(v) for k, v in decoded_env.items()} == env
    assert decoded_stdin == stdin


@pytest.mark.parametrize(("stdout", "code"), [(b'{"ok":1}', 0), (b"", 1), (b"x", -1), (b"y", 999)])
def test_reply_frame_round_trips(stdout: bytes, code: int) -> None:
    frame = shim.encode_reply(stdout, code)
    assert shim.decode_reply(frame[8:]) == (stdout, code)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"HTTP/1.1", id="bad-magic"),
        pytest.param(shim.MAGIC + (shim.MAX_REPLY + 1).to_bytes(4, "big"), id="too-large"),
        pytest.param(shim.MAGIC + b"\x00", id="short"),
    ],
)
def test_bad_headers_are_refused(header: bytes) -> None:
    with pytest.raises(shim.ProtocolError):
        shim.parse_header(header, shim.MAX_REPLY)


def test_shim_forwards_env_and_stdin_and_relays_stdout_and_exit_code(shim_path: Path, sock: Path) -> None:
    seen: list[tuple[Mapping[str, str], bytes]] = []

    def handler(env: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        seen.append((dict(env), stdin))
        return b'{"cniVersion":"1.0.0","code":7,"msg":"no"}', 7

    with serving(handler, sock):
        run = run_shim(shim_path, ENV, STDIN)
    assert (run.returncode, run.stdout) == (7, b'{"cniVersion":"1.0.0","code":7,"msg":"no"}')
    [(env, stdin)] = seen
    # PEP 538: an interpreter started without a locale adds LC_CTYPE=C.UTF-8 to its own environment.
    assert {k: v for k, v in env.items() if k != "LC_CTYPE"} == ENV
    assert stdin == STDIN


def test_socket_is_root_only(sock: Path) -> None:
    with serving(lambda env, stdin: (b"", 0), sock):
        assert sock.stat().st_mode & 0o777 == 0o600
        assert sock.parent.stat().st_mode & 0o777 == 0o700


def test_absent_daemon_is_code_11_that_says_so(shim_path: Path) -> None:
    run = run_shim(shim_path, ENV, STDIN)
    assert run.returncode == 1
    assert run.reply["code"] == 11
    assert run.reply["cniVersion"] == "1.0.0"
    assert "daemon is not reachable" in str(run.reply["msg"])


def test_stale_socket_file_without_a_listener_is_code_11(shim_path: Path, sock: Path) -> None:
    sock.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.close()  # the file stays, nobody listens: ECONNREFUSED
    assert run_shim(shim_path, ENV, STDIN).reply["code"] == 11


def test_version_is_answered_even_when_the_daemon_is_down(shim_path: Path) -> None:
    run = run_shim(shim_path, {"CNI_COMMAND": "VERSION"}, b'{"cniVersion":"0.4.0"}')
    assert run.returncode == 0
    assert run.reply == {"cniVersion": "0.4.0", "supportedVersions": list(request.SUPPORTED_VERSIONS)}


def test_shim_versions_match_standalone() -> None:
    assert tuple(request.SUPPORTED_VERSIONS) == shim.SUPPORTED_VERSIONS
    assert shim.FALLBACK_VERSION == request.LATEST_VERSION


def test_fallback_standalone_execs_netweave_cni_with_the_same_env_and_stdin(tmp_path: Path, sock: Path) -> None:
    fake = tmp_path / "netweave-cni"
    fake.write_text("#!/bin/sh\necho \"$CNI_COMMAND $CNI_IFNAME\"\ncat\nexit 3\n")
    fake.chmod(0o755)
    (tmp_path / "bin").mkdir()
    shim_path = install_shim(tmp_path / "bin", socket=sock, standalone=str(fake))
    stdin = json.dumps(CONF | {"fallback": "standalone"}).encode()
    run = run_shim(shim_path, ENV, stdin)
    assert run.returncode == 3
    assert run.stdout == b"ADD eth0\n" + stdin


@pytest.mark.parametrize("executable", [
    pytest.param(None, id="missing"),
    pytest.param(False, id="not-executable"),
])
def test_fallback_that_cannot_start_is_code_11_not_a_traceback(tmp_path: Path, sock: Path,
                                                                 executable: bool | None) -> None:
    fake = tmp_path / "netweave-cni"
    if executable is not None:
        fake.write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "bin").mkdir()
    shim_path = install_shim(tmp_path / "bin", socket=sock, standalone=str(fake))
    run = run_shim(shim_path, ENV, json.dumps(CONF | {"fallback": "standalone"}).encode())
    assert run.returncode == 1
    assert run.reply["code"] == 11
    assert "fallback could not be started" in str(run.reply["msg"])
    assert str(fake) in str(run.reply["details"])
    assert b"Traceback" not in run.stderr


def test_config_can_name_another_socket(shim_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "x.sock"
    with serving(lambda env, stdin: (b"other", 0), other):
        run = run_shim(shim_path, ENV, json.dumps(CONF | {"daemonSocket": str(other)}).encode())
    assert (run.returncode, run.stdout) == (0, b"other")


@pytest.fixture
def silent_daemon(sock: Path) -> Iterator[list[socket.socket]]:
    """Accepts connections and never answers."""
    sock.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.listen(8)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    yield accepted
    listener.close()
    for conn in accepted:
        conn.close()


def test_shim_never_hangs_on_a_daemon_that_does_not_answer(shim_path: Path, silent_daemon: object) -> None:
    started = time.monotonic()
    run = run_shim(shim_path, ENV, json.dumps(CONF | {"shimTimeout": 1}).encode(), timeout=10)
    assert time.monotonic() - started < 5
    assert run.reply["code"] == 11
    assert "did not answer" in str(run.reply["msg"])


def test_daemon_dying_mid_request_is_code_11(shim_path: Path, sock: Path) -> None:
    def crash(env: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        raise SystemExit  # BaseException: the server drops the connection without a reply

    sock.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.listen(1)

    def accept_and_close() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    run = run_shim(shim_path, ENV, STDIN)
    listener.close()
    assert run.reply["code"] == 11
    assert "closed the connection" in str(run.reply["details"])


def test_oversized_config_is_refused_by_the_shim(shim_path: Path) -> None:
    stdin = json.dumps(CONF | {"pad": "x" * shim.MAX_REQUEST}).encode()
    run = run_shim(shim_path, ENV, stdin)
    assert run.reply["code"] == 7


def test_installed_shim_imports_only_the_standard_library(shim_path: Path) -> None:
    proc = subprocess.run([INTERPRETER, "-IS", "-X", "importtime", str(shim_path)], input=b"",
                          env={"CNI_COMMAND": "VERSION"}, capture_output=True, timeout=10, check=False)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert not imported & {"socket", "json", "typing", "cni", "kubernetes", "pyroute2", "site", "selectors"} - {
        "json"  # only the error/VERSION paths import json; this run answers VERSION locally
    }


def test_shim_start_to_exit_is_fast(shim_path: Path, sock: Path) -> None:
    with serving(lambda env, stdin: (b"{}", 0), sock):
        times = []
        for _ in range(15):
            started = time.perf_counter()
            assert run_shim(shim_path, ENV, STDIN).returncode == 0
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.1  # the benchmark measures it properly: ~16 ms on the dev box
