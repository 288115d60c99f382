"""The Python CNI shim: forward env + stdin to the node daemon, relay its reply and exit code.

Frames, limits, timeouts, settings and error replies are specified in docs/shim-protocol.md; the static shim
(cni/node/shim-static/netweave-shim.c) implements the same page and tests/cni/node/test_shim.py checks both. The daemon
imports the frame helpers below, so its end of the protocol is this code.

Standard library only and self-contained: `netweave node-install --shim python` copies this one file into the CNI
bin dir behind a `#!<python> -IS` shebang, so it imports nothing on the common path that costs startup time
(`_socket`, not `socket`; no `json`, `typing` or `struct`).
"""

import _socket
import os
import sys
import time

# node-install rewrites the next two lines in the installed copy (cni.node.install.render_shim).
DEFAULT_SOCKET = "/run/netweave/cni.sock"
STANDALONE_COMMAND = "netweave-cni"

MAGIC = b"NWV1"
MAX_REQUEST = 4 << 20
MAX_REPLY = 4 << 20
CONNECT_TIMEOUT = 5.0
# Must exceed the daemon's own request timeout (cni.node.daemon: --request-timeout, default 120 s), so that the
# daemon answers first; past it the shim gives up with code 11 rather than hang the runtime.
REPLY_TIMEOUT = 150.0
MAX_SHIM_TIMEOUT = 3600.0
MAX_VERSION_BYTES = 256  # a longer cniVersion is not echoed in error replies
MAX_SOCKET_BYTES = 512   # a longer daemonSocket is ignored (a unix socket path has at most 107)
TRY_AGAIN = 11
INVALID_CONFIG = 7
FALLBACK_VERSION = "1.1.0"
# What standalone `netweave-cni` answers to VERSION (kept equal by tests/cni/node/test_shim.py).
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


class ProtocolError(Exception):
    """A frame that is malformed or larger than allowed."""


class DaemonUnreachable(Exception):
    """Nothing listens on the socket (the daemon is not running): safe to fall back to standalone."""


class DaemonFailed(Exception):
    """The daemon accepted the request but gave no usable reply (crash, timeout, bad frame)."""


def frame(payload: bytes) -> bytes:
    """Prefix a payload with the magic and its length."""
    return MAGIC + len(payload).to_bytes(4, "big") + payload


def parse_header(header: bytes, limit: int) -> int:
    """The payload length announced by an 8-byte header; ProtocolError when bad or over `limit`."""
    if len(header) != 8 or header[:4] != MAGIC:
        raise ProtocolError("not a netweave frame (bad magic)")
    size = int.from_bytes(header[4:], "big")
    if size > limit:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit of {limit}")
    return size


def encode_request(env: dict[bytes, bytes], stdin: bytes) -> bytes:
    """A request frame carrying the plugin's environment and stdin."""
    packed = b"\0".join(key + b"=" + value for key, value in env.items() if b"\0" not in key + value)
    return frame(len(packed).to_bytes(4, "big") + packed + stdin)


def decode_request(payload: bytes) -> tuple[dict[str, str], bytes]:
    """The environment (decoded like os.environ) and stdin of a request payload."""
    if len(payload) < 4:
        raise ProtocolError("request payload too short")
    size = int.from_bytes(payload[:4], "big")
    if size > len(payload) - 4:
        raise ProtocolError("request environment overruns the payload")
    env: dict[str, str] = {}
    for entry in payload[4 : 4 + size].split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep and key:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return env, payload[4 + size :]


def encode_reply(stdout: bytes, exit_code: int) -> bytes:
    """A reply frame carrying the plugin's stdout and exit code."""
    return frame(exit_code.to_bytes(4, "big", signed=True) + stdout)


def decode_reply(payload: bytes) -> tuple[bytes, int]:
    """The stdout and exit code of a reply payload."""
    if len(payload) < 4:
        raise ProtocolError("reply payload too short")
    return payload[4:], int.from_bytes(payload[:4], "big", signed=True)


def _recv_exact(sock: _socket.socket, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    missing = size
    while missing:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(remaining)
        chunk = sock.recv(min(missing, 1 << 20))
        if not chunk:
            raise DaemonFailed("the daemon closed the connection before replying")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def call_daemon(path: str, request: bytes, *, timeout: float = REPLY_TIMEOUT) -> tuple[bytes, int]:
    """Send one request frame to the daemon at `path`; its (stdout, exit code)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise DaemonUnreachable(f"nothing listens on {path} ({err.strerror})") from err
        except OSError as err:
            raise DaemonFailed(f"cannot connect to {path}: {err}") from err
        deadline = time.monotonic() + timeout
        try:
            sock.sendall(request)
            size = parse_header(_recv_exact(sock, 8, deadline), MAX_REPLY)
            return decode_reply(_recv_exact(sock, size, deadline))
        except TimeoutError as err:
            raise DaemonFailed(f"no reply from the daemon at {path} within {timeout:g} s") from err
        except (OSError, ProtocolError) as err:
            raise DaemonFailed(f"bad exchange with the daemon at {path}: {err}") from err
    finally:
        sock.close()


def _config(stdin: bytes) -> dict[str, object]:
    # json costs ~4 ms of import: only parse when the answer can matter (error paths, shim settings).
    import json

    try:
        conf = json.loads(stdin, parse_constant=_not_json)
        json.dumps(conf, ensure_ascii=False).encode()  # a lone surrogate escape (\ud800) is not Unicode text
    except (ValueError, RecursionError):
        return {}
    return conf if isinstance(conf, dict) else {}


def _text(value: object, limit: int) -> str | None:
    """A usable string setting: non-empty, no NUL, fewer than `limit` UTF-8 bytes (as the static shim reads it)."""
    if not isinstance(value, str) or not value or "\0" in value or len(value.encode()) >= limit:
        return None
    return value


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def _error(stdin: bytes, code: int, msg: str, details: str) -> bytes:
    import json

    body = {
        "cniVersion": _text(_config(stdin).get("cniVersion"), MAX_VERSION_BYTES) or FALLBACK_VERSION,
        "code": code,
        "msg": msg,
        "details": details,
    }
    return json.dumps(body).encode() + b"\n"


def _version_reply(stdin: bytes) -> bytes:
    import json

    version = _config(stdin).get("cniVersion")
    body = {
        "cniVersion": version if version in SUPPORTED_VERSIONS else FALLBACK_VERSION,
        "supportedVersions": list(SUPPORTED_VERSIONS),
    }
    return json.dumps(body).encode() + b"\n"


def _exec_standalone(stdin: bytes) -> None:
    """Replace this process with standalone `netweave-cni`, handing it the same stdin via a memfd."""
    fd = os.memfd_create("netweave-stdin")
    view = memoryview(stdin)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    if os.path.isabs(STANDALONE_COMMAND):
        os.execv(STANDALONE_COMMAND, [STANDALONE_COMMAND])
    os.execvp(STANDALONE_COMMAND, [STANDALONE_COMMAND])


def _settings(stdin: bytes) -> tuple[str, float, bool]:
    """Socket path, reply timeout and whether to fall back to standalone, from top-level config keys."""
    keys = (b'"daemonSocket"', b'"fallback"', b'"shimTimeout"', b"\\u")  # \u: a key may be spelled with escapes
    if not any(key in stdin for key in keys):
        return DEFAULT_SOCKET, REPLY_TIMEOUT, False
    conf = _config(stdin)
    path = conf.get("daemonSocket")
    timeout = conf.get("shimTimeout")
    seconds = 0.0
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        seconds = float(min(timeout, MAX_SHIM_TIMEOUT + 1))  # an int too large for a float is simply too large
    return (
        _text(path, MAX_SOCKET_BYTES) or DEFAULT_SOCKET,
        seconds if 0 < seconds <= MAX_SHIM_TIMEOUT else REPLY_TIMEOUT,
        conf.get("fallback") == "standalone",
    )


def run(env: dict[bytes, bytes], stdin: bytes) -> tuple[bytes, int]:
    """Forward one CNI invocation to the daemon; (stdout, exit code) to hand back to the runtime."""
    if len(stdin) > MAX_REQUEST - 65536:
        return _error(stdin, INVALID_CONFIG, "network configuration too large", f"{len(stdin)} bytes"), 1
    path, timeout, fallback = _settings(stdin)
    try:
        return call_daemon(path, encode_request(env, stdin), timeout=timeout)
    except DaemonUnreachable as err:
        if fallback:
            try:
                _exec_standalone(stdin)  # replaces this process, or raises when the exec fails
            except OSError as exec_err:
                msg = "netweave node daemon is not reachable and the standalone fallback could not be started"
                return _error(stdin, TRY_AGAIN, msg, f"{STANDALONE_COMMAND}: {exec_err}; {err}"), 1
        if env.get(b"CNI_COMMAND") == b"VERSION":
            return _version_reply(stdin), 0
        msg = "netweave node daemon is not reachable; is the netweave DaemonSet pod running on this node?"
        return _error(stdin, TRY_AGAIN, msg, str(err)), 1
    except DaemonFailed as err:
        return _error(stdin, TRY_AGAIN, "netweave node daemon did not answer; try again later", str(err)), 1


def main() -> int:
    """Entry point of the installed shim."""
    stream = sys.stdin.buffer if sys.stdin is not None else None
    stdin = stream.read(MAX_REQUEST + 1) if stream is not None else b""
    stdout, code = run(dict(os.environb), stdin)
    sys.stdout.buffer.write(stdout)
    sys.stdout.buffer.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
