"""Waiting for something that happens in another thread or process, without a fixed sleep."""

import time
from collections.abc import Callable


def eventually(check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass; the last check decides."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
