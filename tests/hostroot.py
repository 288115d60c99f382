"""A fake node root filesystem: a bare directory tree with a static test plugin and a file only that tree has."""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.paths import FIXTURES

PLUGIN_SOURCE = FIXTURES / "hostroot" / "nodename-plugin.c"
NODENAME_FILE = "var/lib/fakecni/nodename"


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
