"""A missing prerequisite (root, the CNI plugins, helm, setpriv, an IPv6 loopback): a skip on a developer's
machine, a failure under CI, which runs as root with everything installed — there a skip would hide a failure."""

from __future__ import annotations

import os

import pytest


def require(missing: str | None) -> None:
    """Skip (or, under CI, fail) with `missing` as the reason; nothing when it is None."""
    if missing:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(missing)
