"""Fixtures shared by the shim and daemon-server tests: a socket path and an installed shim pointing at it."""

from pathlib import Path

import pytest

from tests.cni.node.shims import install_shim


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "run" / "cni.sock"


@pytest.fixture
def shim_path(tmp_path: Path, sock: Path) -> Path:
    (tmp_path / "bin").mkdir()
    return install_shim(tmp_path / "bin", socket=sock)
