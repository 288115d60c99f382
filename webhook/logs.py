"""Structured logs for the webhook and uvicorn, in the one JSON format of cni.logformat."""

from __future__ import annotations

from typing import Any

from cni.logformat import JsonFormatter


def logging_config(level: str) -> dict[str, Any]:
    """A dictConfig for the app and uvicorn: JSON to stderr; uvicorn's access log off (we log decisions)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            "kubernetes": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
        },
    }
