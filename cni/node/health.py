"""What /healthz and /readyz of the node daemon check, beyond the watch caches: the serving loop and its socket.

A daemon whose event loop is wedged accepts connections into the kernel backlog and answers none; a daemon whose
socket file was deleted or taken over is unreachable by the shim though its process is fine. Both are checked
from the metrics thread, without sending a request (a probe must not occupy a worker or count as one).
"""

import asyncio
import os
from pathlib import Path

LOOP_TIMEOUT = 2.0  # kubelet's default probe timeout is 1 s per try; a loop this late is not serving

SocketIdentity = tuple[int, int]  # (st_dev, st_ino) of the socket file this daemon bound


def socket_identity(path: Path) -> SocketIdentity | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


async def _nothing() -> None:
    return None


def loop_problem(loop: asyncio.AbstractEventLoop, timeout: float = LOOP_TIMEOUT) -> str | None:
    """Why the serving loop is not alive (it does not run a no-op within `timeout`), or None. From another thread."""
    if loop.is_closed() or not loop.is_running():
        return "the serving loop is not running"
    future = asyncio.run_coroutine_threadsafe(_nothing(), loop)
    try:
        future.result(timeout)
    except TimeoutError:
        future.cancel()
        return f"the serving loop did not respond within {timeout:g} s"
    return None


def socket_problem(path: Path, identity: SocketIdentity | None) -> str | None:
    """Why the shim cannot reach this daemon at `path` (the file gone or another process's), or None."""
    now = socket_identity(path)
    if now is None:
        return f"the socket {path} is gone"
    if now != identity:
        return f"the socket {path} is another process's now"
    return None
