"""`netweave-cni`: the CNI plugin executable in standalone mode (the only place that writes stdout)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, Final

from cni.context import Context
from cni.execute import execute
from cni.logformat import JsonFormatter

QUIET_LOGGERS: Final = ("pyroute2", "urllib3", "kubernetes")


def configure_logging(stdin: bytes) -> None:
    """Log to the config's logFile (else stderr) at its logLevel; never to stdout."""
    settings = _peek(stdin)
    level = str(settings.get("logLevel") or "info").lower()
    level = {"verbose": "info", "panic": "error", "warn": "warning"}.get(level, level)
    handler: logging.Handler
    log_file = settings.get("logFile")
    try:
        handler = logging.FileHandler(log_file) if isinstance(log_file, str) and log_file else logging.StreamHandler(
            sys.stderr)
    except OSError:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in QUIET_LOGGERS:   # their debug output would drown ours
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


def _peek(stdin: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(stdin)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def main() -> int:
    """Read env + stdin, run the operation in-process, print the reply, return the exit code."""
    stdin = sys.stdin.buffer.read()
    configure_logging(stdin)
    outcome = execute(os.environ, stdin, context=Context())
    sys.stdout.buffer.write(outcome.stdout)
    sys.stdout.buffer.flush()
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
