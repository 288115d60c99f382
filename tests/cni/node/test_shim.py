"""Conformance of every shim implementation (docs/shim-protocol.md): each is installed as node-install writes it and
exec'd as the runtime execs it (subprocess, exact env + stdin) against a real socket server."""

import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from cni import request
from cni.node import install, shim
from tests.cni.node.serving import INTERPRETER, run_shim, serving
from tests.cni.node.shims import IMPLEMENTATIONS, install_shim

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


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shim_path(tmp_path: Path, sock: Path, implementation: str) -> Path:
    (tmp_path / "bin").mkdir()
    return install_shim(tmp_path / "bin", socket=sock, implementation=implementation)


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


def test_fallback_standalone_execs_netweave_cni_with_the_same_env_and_stdin(tmp_path: Path, sock: Path,
                                                                          implementation: str) -> None:
    fake = tmp_path / "netweave-cni"
    fake.write_text("#!/bin/sh\necho \"$CNI_COMMAND $CNI_IFNAME\"\ncat\nexit 3\n")
    fake.chmod(0o755)
    (tmp_path / "bin").mkdir()
    shim_path = install_shim(tmp_path / "bin", socket=sock, standalone=str(fake), implementation=implementation)
    stdin = json.dumps(CONF | {"fallback": "standalone"}).encode()
    run = run_shim(shim_path, ENV, stdin)
    assert run.returncode == 3
    assert run.stdout == b"ADD eth0\n" + stdin


@pytest.mark.parametrize("executable", [
    pytest.param(None, id="missing"),
    pytest.param(False, id="not-executable"),
])
def test_fallback_that_cannot_start_is_code_11_not_a_traceback(tmp_path: Path, sock: Path,
                                                                 executable: bool | None, implementation: str) -> None:
    fake = tmp_path / "netweave-cni"
    if executable is not None:
        fake.write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "bin").mkdir()
    shim_path = install_shim(tmp_path / "bin", socket=sock, standalone=str(fake), implementation=implementation)
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
    # The shim's own 1 s timeout answers 11; run_shim's generous timeout only guards against a hang.
    run = run_shim(shim_path, ENV, json.dumps(CONF | {"shimTimeout": 1}).encode(), timeout=60)
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


def test_installed_python_shim_imports_only_the_standard_library(tmp_path: Path, sock: Path) -> None:
    (tmp_path / "bin").mkdir()
    shim_path = install_shim(tmp_path / "bin", socket=sock, implementation="python")
    proc = subprocess.run([INTERPRETER, "-IS", "-X", "importtime", str(shim_path)], input=b"",
                          env={"CNI_COMMAND": "VERSION"}, capture_output=True, timeout=10, check=False)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert not imported & {"socket", "json", "typing", "cni", "kubernetes", "pyroute2", "site", "selectors"} - {
        "json"  # only the error/VERSION paths import json; this run answers VERSION locally
    }


def test_static_shim_constants_match_the_python_shim() -> None:
    source = (install.STATIC_SHIM_BUILT.parent / "netweave-shim.c").read_text()
    defines = {name: value.strip() for name, value in re.findall(r"^#define (\w+) (.+)$", source, re.MULTILINE)}
    numbers: dict[str, float] = {}
    for name, value in defines.items():
        if shifted := re.fullmatch(r"\((\d+)u << (\d+)\)", value):
            numbers[name] = int(shifted[1]) << int(shifted[2])
        elif re.fullmatch(r"[\d.]+", value):
            numbers[name] = float(value)
    assert (defines["MAGIC"], defines["FALLBACK_VERSION"]) == (f'"{shim.MAGIC.decode()}"', f'"{shim.FALLBACK_VERSION}"')
    assert (numbers["MAX_REQUEST"], numbers["MAX_REPLY"]) == (shim.MAX_REQUEST, shim.MAX_REPLY)
    assert (numbers["CONNECT_TIMEOUT"], numbers["REPLY_TIMEOUT"]) == (shim.CONNECT_TIMEOUT, shim.REPLY_TIMEOUT)
    assert (numbers["MAX_SHIM_TIMEOUT"], numbers["TRY_AGAIN"]) == (shim.MAX_SHIM_TIMEOUT, shim.TRY_AGAIN)
    assert defines["MARKER"] == f'"{install.SETTINGS_MARKER.rstrip(bytes(1)).decode()}"'
    assert numbers["SETTINGS_SIZE"] == install.SETTINGS_SIZE
    assert f"char version[{shim.MAX_VERSION_BYTES}], socket[{shim.MAX_SOCKET_BYTES}];" in source
    assert f'char netweave_settings[SETTINGS_SIZE] = MARKER "\\0{shim.DEFAULT_SOCKET}\\0{shim.STANDALONE_COMMAND}";' \
        in source
    versions = re.search(r"supported\[\] = \{(.*?), NULL\}", source)
    assert versions is not None
    assert tuple(v.strip(' "') for v in versions.group(1).split(",")) == shim.SUPPORTED_VERSIONS


def test_static_shim_is_statically_linked() -> None:
    from tests.cni.node.shims import static_binary

    elf = static_binary().read_bytes()
    assert elf[:5] == b"\x7fELF\x02"  # 64-bit
    phoff, phentsize, phnum = (int.from_bytes(elf[a:b], "little") for a, b in ((32, 40), (54, 56), (56, 58)))
    types = {int.from_bytes(elf[phoff + i * phentsize : phoff + i * phentsize + 4], "little") for i in range(phnum)}
    assert not types & {2, 3}  # no PT_DYNAMIC, no PT_INTERP: nothing on the host is needed to run it


# ---- the config keys the shim reads (a strict JSON reader in the static shim, json.loads in Python) --------------

def _served(shim_path: Path, sock: Path, stdin: bytes, env: Mapping[str, str] = ENV) -> tuple[object, bytes]:
    """(reply or stdout, stdin the daemon saw) with the installed default socket served."""
    seen: list[bytes] = []

    def handler(env: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        seen.append(stdin)
        return b"served", 0

    with serving(handler, sock):
        run = run_shim(shim_path, env, stdin)
    return (run.stdout if run.returncode == 0 else run.reply), (seen[0] if seen else b"")


@pytest.mark.parametrize("stdin", [
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock"', id="truncated-json"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock"} trailing', id="trailing-garbage"),
    pytest.param(b'{"daemonSocket": 5}', id="not-a-string"),
    pytest.param(b'{"daemonSocket": ""}', id="empty"),
    pytest.param(b'{"daemonSocket": "/nonexistent/\\u0000.sock"}', id="nul-escape"),
    pytest.param(b'{"daemonSocket": "/nonexistent/\\ud83d.sock"}', id="lone-surrogate"),
    pytest.param(b'{"daemonSocket": "/nonexistent/\xff.sock"}', id="invalid-utf8"),
    pytest.param(b'{"daemonSocket": "/nonexistent/\xed\xa0\x80.sock"}', id="utf8-encoded-surrogate"),
    pytest.param(b'{"daemonSocket": "/nonexistent/\xc0\xaf.sock"}', id="overlong-utf8"),
    pytest.param(b'{"daemonSocket": "/' + b"x" * 511 + b'"}', id="longer-than-511-bytes"),
    pytest.param(b'{"x": {"daemonSocket": "/nonexistent/x.sock"}}', id="not-top-level"),
    pytest.param(b'["daemonSocket", "/nonexistent/x.sock"]', id="not-an-object"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "a": [1, 2.5e3, -0, true, {"b": []}}', id="bad-nesting"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": 01}', id="bad-number-01"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": 2.e3}', id="bad-number-2.e3"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": 1.}', id="bad-number-1."),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": -}', id="bad-number--"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": 2.5e}', id="bad-number-2.5e"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": +1}', id="bad-number-+1"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": .5}', id="bad-number-.5"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": 0x10}', id="bad-number-0x10"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": NaN}', id="bad-number-NaN"),
    pytest.param(b'{"daemonSocket": "/nonexistent/x.sock", "n": Infinity}', id="bad-number-Infinity"),
])
def test_unusable_socket_settings_fall_back_to_the_installed_socket(shim_path: Path, sock: Path, stdin: bytes) -> None:
    out, seen = _served(shim_path, sock, stdin)
    assert out == b"served"
    assert seen == stdin


@pytest.mark.parametrize("encoded", [
    pytest.param("plain", id="plain"),
    pytest.param("escaped", id="json-escapes"),
])
def test_config_socket_is_decoded_like_json(tmp_path: Path, shim_path: Path, encoded: str) -> None:
    other = tmp_path / "sock \u00e9\U0001F600 \"q\"" / "d.sock"
    text = json.dumps(str(other), ensure_ascii=encoded == "escaped")
    stdin = b'{"a": [1, {"b": "\\\\"}], "daemonSocket": ' + text.encode() + b', "z": -1.5e-3}'
    with serving(lambda env, stdin: (b"other", 0), other):
        run = run_shim(shim_path, ENV, stdin)
    assert (run.returncode, run.stdout) == (0, b"other")


def test_a_key_spelled_with_escapes_is_the_same_key(tmp_path: Path, shim_path: Path) -> None:
    other = tmp_path / "other.sock"
    with serving(lambda env, stdin: (b"other", 0), other):
        run = run_shim(shim_path, ENV, b'{"daemon\\u0053ocket": "' + str(other).encode() + b'"}')
    assert (run.returncode, run.stdout) == (0, b"other")


@pytest.mark.parametrize(("stdin", "version"), [
    pytest.param(b'{"cniVersion": "0.4.0"}', "0.4.0", id="config-version"),
    pytest.param(b'{"cniVersion": "9.9.9-\\"odd\\""}', '9.9.9-"odd"', id="any-string-echoed"),
    pytest.param(b'{"cniVersion": 1}', "1.1.0", id="not-a-string"),
    pytest.param(b'{"cniVersion": ""}', "1.1.0", id="empty"),
    pytest.param(b'{"cniVersion": "1\\u0000"}', "1.1.0", id="nul"),
    pytest.param(b'{"cniVersion": "' + b"9" * 255 + b'"}', "9" * 255, id="255-bytes"),
    pytest.param(b'{"cniVersion": "' + b"9" * 256 + b'"}', "1.1.0", id="256-bytes"),
    pytest.param('{"cniVersion": "é\U0001F600"}'.encode(), "é\U0001F600", id="utf8"),
    pytest.param(b'{"cniVersion": "0.4.0", "x": "\\udc00"}', "1.1.0", id="lone-surrogate-elsewhere"),
    pytest.param(b'\xef\xbb\xbf{"cniVersion": "0.4.0"}', "0.4.0", id="utf8-bom"),
    pytest.param(b'{"cniVersion": "0.4.0"', "1.1.0", id="invalid-json"),
    pytest.param(b"", "1.1.0", id="no-config"),
])
def test_error_replies_carry_the_config_version(shim_path: Path, stdin: bytes, version: str) -> None:
    run = run_shim(shim_path, ENV, stdin)
    assert (run.returncode, run.reply["code"], run.reply["cniVersion"]) == (1, 11, version)


def test_a_socket_path_too_long_for_a_unix_socket_is_code_11(shim_path: Path) -> None:
    path = "/" + "x" * 200
    run = run_shim(shim_path, ENV, json.dumps(CONF | {"daemonSocket": path}).encode())
    assert (run.returncode, run.reply["code"]) == (1, 11)
    assert run.reply["details"] == f"cannot connect to {path}: AF_UNIX path too long"


@pytest.mark.parametrize(("version", "answered"), [("0.3.1", "0.3.1"), ("1.1.0", "1.1.0"), ("0.2.0", "1.1.0")])
def test_version_reply_without_the_daemon(shim_path: Path, version: str, answered: str) -> None:
    run = run_shim(shim_path, {"CNI_COMMAND": "VERSION"}, json.dumps({"cniVersion": version}).encode())
    assert run.returncode == 0
    assert run.reply == {"cniVersion": answered, "supportedVersions": list(shim.SUPPORTED_VERSIONS)}


@pytest.mark.parametrize(("code", "status"), [(0, 0), (1, 1), (7, 7), (-1, 255), (999, 999 & 0xFF)])
def test_exit_code_is_relayed(shim_path: Path, sock: Path, code: int, status: int) -> None:
    with serving(lambda env, stdin: (b"x", code), sock):
        run = run_shim(shim_path, ENV, STDIN)
    assert (run.returncode, run.stdout) == (status, b"x")


def test_large_config_and_reply_within_the_limits_pass_unchanged(shim_path: Path, sock: Path) -> None:
    stdin = json.dumps(CONF | {"pad": "p" * (shim.MAX_REQUEST - 70000)}).encode()
    reply = bytes(range(256)) * ((shim.MAX_REPLY - 8) // 256)

    def echo(env: Mapping[str, str], got: bytes) -> tuple[bytes, int]:
        assert got == stdin
        return reply, 0

    with serving(echo, sock):
        run = run_shim(shim_path, ENV, stdin)
    assert (run.returncode, len(run.stdout), run.stdout == reply) == (0, len(reply), True)


@contextmanager
def raw_daemon(sock: Path, answer: bytes) -> Iterator[list[bytes]]:
    """Reads one whole request frame, sends `answer` as it is, closes; yields the request payloads seen."""
    sock.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.listen(1)
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while len(data) < 8 or len(data) < 8 + int.from_bytes(data[4:8], "big"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            seen.append(data[8:])
            conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        thread.join(10)
        listener.close()


def test_request_frame_on_the_wire(shim_path: Path, sock: Path) -> None:
    with raw_daemon(sock, shim.encode_reply(b"ok", 0)) as seen:
        run = run_shim(shim_path, ENV, STDIN)
    assert (run.returncode, run.stdout) == (0, b"ok")
    [payload] = seen
    size = int.from_bytes(payload[:4], "big")
    entries = payload[4 : 4 + size].split(b"\0")
    assert {e.decode() for e in entries} - {"LC_CTYPE=C.UTF-8"} == {f"{k}={v}" for k, v in ENV.items()}
    assert payload[4 + size :] == STDIN


@pytest.mark.parametrize(("answer", "detail"), [
    pytest.param(b"HTTP/1.1 200 OK\r\n\r\n", "bad magic", id="bad-magic"),
    pytest.param(shim.MAGIC + (shim.MAX_REPLY + 1).to_bytes(4, "big"), "exceeds the limit", id="too-large"),
    pytest.param(shim.MAGIC + (100).to_bytes(4, "big") + b"short", "closed the connection", id="truncated"),
    pytest.param(b"", "closed the connection", id="nothing"),
])
def test_bad_replies_are_code_11(shim_path: Path, sock: Path, answer: bytes, detail: str) -> None:
    with raw_daemon(sock, answer):
        run = run_shim(shim_path, ENV, STDIN)
    assert (run.returncode, run.reply["code"]) == (1, 11)
    assert "did not answer" in str(run.reply["msg"])
    assert detail in str(run.reply["details"])
