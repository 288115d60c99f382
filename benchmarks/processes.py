"""What the benchmark scripts share about the servers they start (imported as a sibling module)."""

from __future__ import annotations

import signal
import subprocess


def stop(proc: subprocess.Popen[bytes], *, grace: float = 20.0) -> None:
    """SIGTERM (the server drains), then SIGKILL after `grace` seconds; always reaped."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
