"""The one JSON log format of netweave: one object per line on stderr, for the node daemon, installer and
netweave-cni (stdout stays free, as on every CNI path) and for the admission webhook (webhook.logs uses it)."""

import json
import logging
import sys
import time
from typing import Any, Final

# Attributes every LogRecord has; anything else came from `extra=` and goes into the JSON object.
# uvicorn adds color_message: a duplicate of the message with ANSI codes.
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "pid", ...extra, "exception"}` on one line; extras that are None
    or start with "_" are left out."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        out.update((k, v) for k, v in vars(record).items()
                   if k not in _STANDARD and not k.startswith("_") and v is not None)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def configure_logging(level: str = "info") -> None:
    """Send the root logger's records to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
