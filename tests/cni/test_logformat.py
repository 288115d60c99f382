"""One JSON formatter for every node-side process (daemon, installer, standalone netweave-cni)."""

import json
import logging

import cni.__main__ as standalone
from cni.logformat import JsonFormatter
from cni.node import install, shim
from webhook.logs import logging_config


def test_standalone_plugin_reuses_the_node_formatter() -> None:
    assert standalone.JsonFormatter is JsonFormatter


def test_the_webhook_logs_with_the_node_formatter() -> None:
    assert logging_config("info")["formatters"]["json"]["()"] is JsonFormatter


def test_install_offers_exactly_the_shim_s_versions() -> None:
    assert install.SUPPORTED_VERSIONS is shim.SUPPORTED_VERSIONS


def test_formatter_writes_pid_and_set_extras_only() -> None:
    record = logging.LogRecord("cni.attach", logging.INFO, __file__, 1, "DEL done", None, None)
    record.__dict__.update({"container_id": "c1", "pod": None})
    out = json.loads(JsonFormatter().format(record))
    fields = (out["level"], out["logger"], out["message"], out["container_id"])
    assert fields == ("info", "cni.attach", "DEL done", "c1")
    assert isinstance(out["pid"], int) and "pod" not in out
