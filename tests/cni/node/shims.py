"""Every implementation of the CNI shim (docs/shim-protocol.md), installed exactly as node-install writes it."""

import functools
import subprocess
from pathlib import Path

from cni.atomicfile import write_atomic
from cni.node import install
from tests.cni.node.serving import INTERPRETER
from tests.paths import REPO

IMPLEMENTATIONS = ("python", "static")


@functools.cache
def static_binary() -> Path:
    """The static shim, (re)built by `make shim` when its source is newer than the binary."""
    proc = subprocess.run(["make", "--no-print-directory", "-s", "shim"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, f"make shim failed: {proc.stdout}{proc.stderr}"
    return install.STATIC_SHIM_BUILT


def install_shim(bin_dir: Path, *, socket: Path, standalone: str = "netweave-cni",
                 implementation: str = "python") -> Path:
    """`implementation` ("python" or "static") as node-install writes it into `bin_dir`, talking to `socket`."""
    kind: install.ShimKind = "static" if implementation == "static" else "python"
    content, installed = install.shim_file(kind, static_binary=static_binary() if kind == "static" else None,
                                           interpreter=INTERPRETER, socket=str(socket), standalone=standalone)
    assert installed == implementation
    path = bin_dir / "netweave"
    write_atomic(path, content, mode=0o755)
    return path
