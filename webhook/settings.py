"""The admission server's settings: defaults, the NETWEAVE_* environment (the only reader of it) and checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "NETWEAVE_"
CLUSTER = "cluster"
MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's own request limit is 3 MiB


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `netweave serve` needs to start, resolved once in main and passed down."""

    listen: str = "127.0.0.1:8443"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    dev_cert_dir: Path = Path(".dev-certs")
    catalog: str = ""  # "cluster", a directory/file of NAD manifests, or "" (no NADs: works from any directory)
    config: Path = Path(".netweave.yaml")
    config_required: bool = False  # True when the user named the file (a missing file is then an error)
    workers: int = 1
    kubeconfig: Path | None = None
    log_level: str = "info"
    max_body_bytes: int = MAX_BODY_BYTES
    cert_poll_seconds: float = 2.0
    watch_timeout_seconds: int = 300
    list_page_size: int = 500

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Defaults overridden by NETWEAVE_<FIELD> variables (e.g. NETWEAVE_TLS_CERT); raises SettingsError."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw)
        return cls(**values).checked()

    def to_env(self) -> dict[str, str]:
        """The NETWEAVE_* variables that make `from_env` rebuild these settings (for worker processes)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[ENV_PREFIX + f.name.upper()] = _render(value)
        return out

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the non-None values of ``changes`` applied, checked."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).checked()

    def checked(self) -> Settings:
        """Self, or SettingsError naming the first unusable value."""
        self.listen_address()
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key go together: give both or neither")
        if self.workers < 1:
            raise SettingsError(f"workers must be at least 1, got {self.workers}")
        if self.max_body_bytes < 1024:
            raise SettingsError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"log level must be debug, info, warning or error, got {self.log_level!r}")
        return self

    @property
    def cluster_catalog(self) -> bool:
        return self.catalog == CLUSTER

    def listen_address(self) -> tuple[str, int]:
        """``(host, port)`` from ``listen``: ``host:port``, ``[v6]:port`` or ``:port`` (all interfaces)."""
        host, sep, port_text = self.listen.rpartition(":")
        if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise SettingsError(f"listen address {self.listen!r} is not host:port (e.g. 127.0.0.1:8443)")
        host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
        return host, int(port_text)


def _convert(name: str, raw: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return raw.strip().lower() in {"1", "true", "yes", "on"}
    except ValueError as err:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected a number ({kind})") from err
    if "Path" in str(kind):
        return Path(raw)
    return raw


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
