"""The node daemon's unix-socket server: bounded concurrency, one operation at a time per container.

Each connection carries one request frame (cni.node.shim wire protocol) and gets one reply frame. Operations on the
same CNI_CONTAINERID run one after the other; at most `workers` run at once, at most `queue` more wait; past
that the request is answered at once with CNI code 11 ("try again later") instead of growing without bound.
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from cni.errors import CniError
from cni.node import shim

logger = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, str], bytes], tuple[bytes, int]]
T = TypeVar("T")
Outcome = Literal["success", "error", "rejected", "timeout", "bad-request"]

TRY_AGAIN = 11
DECODING_FAILED = 6
INTERNAL = 999
CLOSE_TIMEOUT = 1.0   # seconds to wait for the listener's connections to close once operations are done


@dataclass(frozen=True, slots=True)
class Limits:
    """How much work the server accepts."""

    workers: int = 8  # operations running at once
    queue: int = 64  # operations waiting for a worker; past it: code 11
    request_timeout: float = 120.0  # queue wait + run, then code 11 (the shim waits longer)
    read_timeout: float = 10.0  # to receive a request frame
    shutdown_grace: float = 150.0  # to finish in-flight operations on shutdown


class Observer(Protocol):
    """Receives what metrics need; cni.node.metrics implements it."""

    def request_finished(self, command: str, outcome: Outcome, seconds: float) -> None: ...

    def load_changed(self, *, running: int, waiting: int) -> None: ...


class NullObserver:
    """An Observer that records nothing."""

    def request_finished(self, command: str, outcome: Outcome, seconds: float) -> None:
        return None

    def load_changed(self, *, running: int, waiting: int) -> None:
        return None


def cni_error(stdin: bytes, code: int, msg: str, details: str = "") -> bytes:
    """CNI error JSON in the cniVersion of the request's config (1.1.0 when unreadable)."""
    try:
        conf = json.loads(stdin)
    except ValueError:
        conf = {}
    version = conf.get("cniVersion") if isinstance(conf, dict) else None
    cni_version = version if isinstance(version, str) and version else shim.FALLBACK_VERSION
    return CniError(code, msg, details).to_bytes(cni_version) + b"\n"


@dataclass(slots=True)
class _KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        if not key:  # VERSION, STATUS, GC: not about one container
            yield
            return
        lock, users = self.locks.get(key, (asyncio.Lock(), 0))
        self.locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self.locks[key]
            if users == 1:
                del self.locks[key]
            else:
                self.locks[key] = (lock, users - 1)


def bind_unix_socket(path: Path) -> socket.socket:
    """A listening socket at `path` that only root can open (0600 in a 0700 directory), bound race-free."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(temp))
        os.chmod(temp, 0o600)
        os.replace(temp, path)  # the socket appears at its public path already restricted
        sock.listen(512)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class CniServer:
    """Serves CNI requests from the shim with `handler`, run in worker threads."""

    def __init__(self, handler: Handler, *, limits: Limits, observer: Observer | None = None) -> None:
        self._handler = handler
        self._limits = limits
        self._observer: Observer = observer or NullObserver()
        self._slots = asyncio.Semaphore(limits.workers)
        self._locks = _KeyedLocks()
        self._executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="cni")
        self._operations: set[asyncio.Task[tuple[bytes, int]]] = set()
        self._running = 0
        self._running_since: dict[int, float] = {}  # operation token -> monotonic start
        self._tokens = 0
        self._server: asyncio.Server | None = None
        self._path: Path | None = None
        self._identity: tuple[int, int] | None = None

    @property
    def pending(self) -> int:
        """Operations accepted and not finished (running or waiting)."""
        return len(self._operations)

    def longest_running(self) -> float:
        """Seconds the oldest running operation has been running (0 when idle); for the liveness probe."""
        since = list(self._running_since.values())
        return time.monotonic() - min(since) if since else 0.0

    async def start(self, path: Path) -> None:
        """Listen on `path` (replacing a stale socket)."""
        sock = bind_unix_socket(path)
        info = path.stat()
        self._path, self._identity = path, (info.st_dev, info.st_ino)
        self._server = await asyncio.start_unix_server(self._serve_connection, sock=sock)
        logger.info("listening", extra={"socket": str(path), "workers": self._limits.workers})

    async def shutdown(self) -> int:
        """Stop accepting, let in-flight operations finish (bounded by shutdown_grace), remove the socket file;
        the number of operations still running after the grace."""
        if self._server is not None:
            self._server.close()
        unfinished: set[asyncio.Task[tuple[bytes, int]]] = set()
        if self._operations:
            logger.info("draining", extra={"operations": len(self._operations)})
            _, unfinished = await asyncio.wait(set(self._operations), timeout=self._limits.shutdown_grace)
        self._remove_socket()
        if self._server is not None:
            # From Python 3.12 on this also waits for open connections: bounded, as a reply may never come.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT)
        self._executor.shutdown(wait=False, cancel_futures=True)
        return len(unfinished)

    def _remove_socket(self) -> None:
        """Unlink our socket file, unless a newer daemon (rolling update) has already replaced it."""
        if self._path is None:
            return
        with contextlib.suppress(FileNotFoundError):
            info = self._path.stat()
            if (info.st_dev, info.st_ino) == self._identity:
                self._path.unlink()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        try:
            reply = await self._answer(reader, started)
            writer.write(reply)
            await writer.drain()
        except (ConnectionError, OSError) as err:
            logger.warning("reply not delivered", extra={"error": str(err)})
        finally:
            writer.close()
            # CancelledError: the loop is ending after a drain; the reply was already written.
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, started: float) -> bytes:
        try:
            env, stdin = await asyncio.wait_for(self._read_request(reader), self._limits.read_timeout)
        except (shim.ProtocolError, asyncio.IncompleteReadError, TimeoutError) as err:
            self._observer.request_finished("unknown", "bad-request", time.monotonic() - started)
            return shim.encode_reply(cni_error(b"", DECODING_FAILED, "bad request frame", str(err)), 1)
        command = env.get("CNI_COMMAND", "unknown")
        stdout, code, outcome = await self._dispatch(env, stdin)
        self._observer.request_finished(command, outcome, time.monotonic() - started)
        return shim.encode_reply(stdout, code)

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes]:
        size = shim.parse_header(await reader.readexactly(8), shim.MAX_REQUEST)
        return shim.decode_request(await reader.readexactly(size))

    async def _dispatch(self, env: dict[str, str], stdin: bytes) -> tuple[bytes, int, Outcome]:
        limits = self._limits
        if len(self._operations) >= limits.workers + limits.queue:
            msg = "netweave node daemon is busy; try again later"
            details = f"{len(self._operations)} operations pending (limit {limits.workers} + {limits.queue})"
            return cni_error(stdin, TRY_AGAIN, msg, details), 1, "rejected"
        started = asyncio.Event()
        task = asyncio.create_task(self._operate(env, stdin, started))
        self._operations.add(task)
        task.add_done_callback(self._operation_done)
        self._report_load()
        done, _ = await asyncio.wait({task}, timeout=limits.request_timeout)
        if not done and not started.is_set():
            task.cancel()  # nothing done yet: drop it rather than run it after the runtime gave up
            msg = "netweave node daemon is busy; try again later"
            details = f"not started within {limits.request_timeout:g} s"
            return cni_error(stdin, TRY_AGAIN, msg, details), 1, "timeout"
        if not done:
            # The operation keeps its container lock until it ends, so a DEL that follows waits for it.
            msg = "netweave node daemon timed out; the operation continues in the background"
            details = f"no result within {limits.request_timeout:g} s"
            return cni_error(stdin, TRY_AGAIN, msg, details), 1, "timeout"
        stdout, code = task.result()
        return stdout, code, "success" if code == 0 else "error"

    def _operation_done(self, task: "asyncio.Task[tuple[bytes, int]]") -> None:
        self._operations.discard(task)
        self._report_load()

    def _report_load(self) -> None:
        self._observer.load_changed(running=self._running, waiting=len(self._operations) - self._running)

    async def _operate(self, env: dict[str, str], stdin: bytes, started: asyncio.Event) -> tuple[bytes, int]:
        async with self._locks.hold(env.get("CNI_CONTAINERID", "")), self._slots:
            started.set()
            self._running += 1
            self._tokens += 1
            token = self._tokens
            self._running_since[token] = time.monotonic()
            self._report_load()
            try:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._executor, self._call_handler, env, stdin)
            finally:
                self._running -= 1
                del self._running_since[token]

    async def run_exclusive(self, key: str, work: Callable[[], T]) -> T:
        """Run `work` in a worker thread holding `key`'s lock: the lock of that CNI_CONTAINERID's requests, so
        that the daemon's own work on a sandbox (hot-plug) never overlaps the runtime's ADD/DEL/CHECK of it."""
        async with self._locks.hold(key), self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _call_handler(self, env: Mapping[str, str], stdin: bytes) -> tuple[bytes, int]:
        try:
            return self._handler(env, stdin)
        except Exception as err:  # the handler should not raise; never let one request kill the daemon
            logger.exception("handler failed", extra={"command": env.get("CNI_COMMAND")})
            return cni_error(stdin, INTERNAL, "internal error in the netweave node daemon", repr(err)), 1
