"""Kubelet device-plugin checkpoint -> device ids a pod was allocated, per resource name."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def pod_devices(checkpoint: str, pod_uid: str | None) -> dict[str, tuple[str, ...]]:
    """resourceName -> device ids of the pod, in checkpoint order (empty when unknown or unreadable)."""
    if not pod_uid:
        return {}
    try:
        data = json.loads(Path(checkpoint).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        logger.warning("unreadable device checkpoint %s: %s", checkpoint, e)
        return {}
    return devices_of(data, pod_uid)


def devices_of(data: Mapping[str, Any], pod_uid: str) -> dict[str, tuple[str, ...]]:
    """Pure part: kubelet's PodDeviceEntries for one pod (DeviceIDs is a list, or {numa node: list})."""
    entries = (data.get("Data") or {}).get("PodDeviceEntries") or []
    out: dict[str, list[str]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("PodUID") != pod_uid:
            continue
        ids = entry.get("DeviceIDs")
        if isinstance(ids, Mapping):
            flat = [d for node in sorted(ids, key=str) for d in ids[node] or []]
        else:
            flat = list(ids or [])
        bucket = out.setdefault(str(entry.get("ResourceName", "")), [])
        bucket.extend(str(d) for d in flat if str(d) not in bucket)
    return {k: tuple(v) for k, v in out.items()}
