"""What the benchmark scripts share: stopping the servers they start, publishing results (a sibling module)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any


def stop(proc: subprocess.Popen[bytes], *, grace: float = 20.0) -> None:
    """SIGTERM (the server drains), then SIGKILL after `grace` seconds; always reaped."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def publish(results: dict[str, Any], path: Path | None) -> None:
    """The results with the load average after the run (a noisy machine shows there), on stdout and in `path`."""
    results["load_average_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if path is not None:
        path.write_text(text + "\n")
