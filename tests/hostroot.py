"""A fake node root filesystem: a bare directory tree with a static test plugin, a file and a unix socket only that
tree has."""

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.paths import FIXTURES

PLUGIN_SOURCE = FIXTURES / "hostroot" / "nodename-plugin.c"
NODENAME_FILE = "var/lib/fakecni/nodename"
AGENT_SOCKET = "run/fakecni/agent.sock"


def build_plugin(out: Path) -> Path:
    """The nodename test plugin, compiled static (it must run in a tree without a libc)."""
    if shutil.which("gcc") is None:
        raise AssertionError("gcc is needed to build the test plugin (make shim installs build-essential)")
    subprocess.run(["gcc", "-static", "-Os", "-o", str(out), str(PLUGIN_SOURCE)], check=True, capture_output=True,
                   timeout=120)
    return out


@dataclass(frozen=True, slots=True)
class FakeRoot:
    """`root` stands for the node's `/`; `bin_dir` is a CNI_PATH entry as the node sees it."""

    root: Path
    bin_dir: Path
    nodename: str

    def inside(self, path: Path) -> Path:
        """`path` (as the node sees it) inside the fake root."""
        return self.root / str(path).lstrip("/")


def make_fake_root(root: Path, *, bin_dir: Path, nodename: str) -> FakeRoot:
    """A tree holding the plugin at `bin_dir`/nodename and var/lib/fakecni/nodename; nothing else."""
    fake = FakeRoot(root, bin_dir, nodename)
    plugin_dir = fake.inside(bin_dir)
    plugin_dir.mkdir(parents=True, exist_ok=True)
    build_plugin(plugin_dir / "nodename")
    marker = root / NODENAME_FILE
    marker.parent.mkdir(parents=True)
    marker.write_text(nodename + "\n")
    return fake


@contextmanager
def agent(fake: FakeRoot, answer: str) -> Iterator[None]:
    """A node agent on run/fakecni/agent.sock in the fake root that sends `answer` to every connection."""
    path = fake.root / AGENT_SOCKET
    path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(answer.encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)
        path.unlink()
