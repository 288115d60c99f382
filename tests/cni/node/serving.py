"""Test helpers for the node daemon: running a shim, and a CniServer on a background loop (installing a shim:
tests/cni/node/shims.py)."""

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cni.node.server import CniServer, Handler, Limits, Observer

INTERPRETER = os.path.realpath(sys.executable)


@dataclass(frozen=True, slots=True)
class ShimRun:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def reply(self) -> dict[str, object]:
        body = json.loads(self.stdout)
        assert isinstance(body, dict)
        return body


def run_shim(shim_path: Path, env: Mapping[str, str], stdin: bytes, *, timeout: float = 30.0) -> ShimRun:
    """Exec the shim the way a runtime does: exactly `env`, config on stdin."""
    proc = subprocess.run([str(shim_path)], input=stdin, env=dict(env), capture_output=True, timeout=timeout,
                          check=False)
    return ShimRun(proc.returncode, proc.stdout, proc.stderr)


def start_shim(shim_path: Path, env: Mapping[str, str], stdin: bytes) -> "subprocess.Popen[bytes]":
    proc = subprocess.Popen([str(shim_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(env))
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None  # so that communicate() does not flush it
    return proc


@contextmanager
def serving(handler: Handler, socket: Path, *, limits: Limits | None = None,
            observer: Observer | None = None) -> Iterator[CniServer]:
    """A CniServer on its own event loop thread for the duration of the block; drained on exit."""
    loop = asyncio.new_event_loop()
    box: list[CniServer] = []
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        server = CniServer(handler, limits=limits or Limits(), observer=observer)
        loop.run_until_complete(server.start(socket))
        box.append(server)
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    try:
        yield box[0]
    finally:
        asyncio.run_coroutine_threadsafe(box[0].shutdown(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
