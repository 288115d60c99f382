"""Fixtures for the netns suite: a replay API server per module, a fresh node per test, cleanup always."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import PLUGINS, Node
from tests.prerequisites import require
from tests.replay import ReplayServer


def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not (PLUGINS / "ptp").exists():
        return f"needs the CNI plugins in {PLUGINS}"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


@pytest.fixture(scope="module")
def api() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.fixture()
def node(tmp_path: Path, api: ReplayServer) -> Iterator[Node]:
    require(_usable())
    n = Node(tmp_path, api)
    try:
        yield n
    finally:
        n.cleanup()
