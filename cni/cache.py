"""The ADD record DEL, CHECK and GC rely on: one JSON file per attachment key, written atomically."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cni import errors
from cni.atomicfile import write_atomic
from cni.errors import CniError
from cni.plan import Attachment
from cni.routes import Route, Rule

logger = logging.getLogger(__name__)

RECORD_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Record:
    """Everything an ADD did, keyed by container id + runtime ifname (the CNI attachment key)."""

    container_id: str
    ifname: str
    netns: str
    cni_version: str
    pod: Mapping[str, str | None] | None
    attachments: tuple[Attachment, ...]
    results: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)   # ifname -> delegate result
    rules: tuple[Rule, ...] = ()
    defaults: tuple[Route, ...] | None = None   # the default routes ADD left (CHECK); None: not recorded
    complete: bool = False     # False while the ADD is still running (a crash leaves an incomplete record)
    # For hot-plug (cni.hotplug): the runtime's request (config, CNI_PATH, CNI_ARGS, PATH) to run delegates again,
    # the default routes each delegate installed itself, and the pod state the attachments were planned from.
    request: Mapping[str, Any] | None = None
    installed: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    planned_from: Mapping[str, str | None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION, "containerID": self.container_id, "ifname": self.ifname,
            "netns": self.netns, "cniVersion": self.cni_version, "pod": dict(self.pod) if self.pod else None,
            "attachments": [a.to_json() for a in self.attachments],
            "results": {k: dict(v) for k, v in self.results.items()},
            "rules": [{"family": r.family, "src": r.src, "table": r.table, "priority": r.priority}
                      for r in self.rules],
            "defaults": [r.to_json() for r in self.defaults] if self.defaults is not None else None,
            "complete": self.complete, "request": dict(self.request) if self.request is not None else None,
            "installed": {k: [r.to_json() for r in v] for k, v in self.installed.items()},
            "plannedFrom": dict(self.planned_from) if self.planned_from is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        return cls(
            container_id=str(data["containerID"]), ifname=str(data["ifname"]), netns=str(data.get("netns", "")),
            cni_version=str(data["cniVersion"]), pod=data.get("pod"),
            attachments=tuple(Attachment.from_json(a) for a in data["attachments"]),
            results=data.get("results") or {},
            rules=tuple(Rule(r["family"], r["src"], r["table"], r["priority"]) for r in data.get("rules", [])),
            defaults=(tuple(Route.from_json(r) for r in data["defaults"])
                      if isinstance(data.get("defaults"), list) else None),
            complete=bool(data.get("complete")), request=data.get("request"),
            installed={str(k): tuple(Route.from_json(r) for r in v) for k, v in (data.get("installed") or {}).items()},
            planned_from=data.get("plannedFrom"),
        )


def record_path(cache_dir: str, container_id: str, ifname: str) -> Path:
    return Path(cache_dir) / f"{container_id}-{ifname}.json"


def write(cache_dir: str, record: Record) -> None:
    """Write the record atomically: temp file in the same directory, fsync, rename."""
    path = record_path(cache_dir, record.container_id, record.ifname)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, json.dumps(record.to_json(), separators=(",", ":")).encode(), mode=0o600)
    except OSError as e:
        raise CniError(errors.CACHE_FAILED, f"cannot write the attachment record {path}", str(e)) from e


def create(cache_dir: str, record: Record) -> None:
    """Write the first record of an ADD; CniError(ATTACHMENT_EXISTS) when the key already has one.

    Exclusive: the record is written to a temp file and hard-linked into place, which fails if the path exists,
    so two ADDs of one container id + ifname cannot both proceed (CNI SPEC: a runtime must not ADD twice).
    """
    path = record_path(cache_dir, record.container_id, record.ifname)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(record.to_json(), separators=(",", ":")).encode())
                out.flush()
                os.fchmod(out.fileno(), 0o600)
                os.fsync(out.fileno())
            os.link(temp, path)
        finally:
            os.unlink(temp)
    except FileExistsError as e:
        existing = read(cache_dir, record.container_id, record.ifname)
        state = "an attachment" if existing is None or existing.complete else "an unfinished ADD"
        raise CniError(errors.ATTACHMENT_EXISTS,
                       f"container {record.container_id} interface {record.ifname} already has {state}",
                       "a runtime must DEL an attachment before it ADDs the same container id and interface "
                       "again; the existing attachment was left untouched") from e
    except OSError as e:
        raise CniError(errors.CACHE_FAILED, f"cannot write the attachment record {path}", str(e)) from e


def read(cache_dir: str, container_id: str, ifname: str) -> Record | None:
    """The record, or None when there is none (or it cannot be read, which is logged)."""
    path = record_path(cache_dir, container_id, ifname)
    try:
        return Record.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("unreadable attachment record %s: %s", path, e)
        return None


def remove(cache_dir: str, container_id: str, ifname: str) -> None:
    record_path(cache_dir, container_id, ifname).unlink(missing_ok=True)


def age(cache_dir: str, container_id: str, ifname: str) -> float | None:
    """Seconds since the record was last written (wall clock), or None when there is none."""
    try:
        mtime = record_path(cache_dir, container_id, ifname).stat().st_mtime
    except OSError:
        return None
    return time.time() - mtime


def keys(cache_dir: str) -> Iterator[tuple[str, str]]:
    """(container id, ifname) of every record in the cache."""
    directory = Path(cache_dir)
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            yield str(data["containerID"]), str(data["ifname"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("unreadable attachment record %s: %s", path, e)
