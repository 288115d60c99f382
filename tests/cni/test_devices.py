"""Kubelet device-plugin checkpoint -> device ids per resource for one pod."""

from __future__ import annotations

import json
from pathlib import Path

from cni.devices import devices_of, pod_devices

CHECKPOINT = {"Data": {"PodDeviceEntries": [
    {"PodUID": "p1", "ContainerName": "a", "ResourceName": "intel.com/vf", "DeviceIDs": {"1": ["0000:af:00.3"],
                                                                                       "0": ["0000:3b:00.2"]}},
    {"PodUID": "p1", "ContainerName": "b", "ResourceName": "intel.com/vf", "DeviceIDs": {"0": ["0000:3b:00.4"]}},
    {"PodUID": "p1", "ContainerName": "a", "ResourceName": "old.io/dev", "DeviceIDs": ["x", "y"]},
    {"PodUID": "p2", "ContainerName": "a", "ResourceName": "intel.com/vf", "DeviceIDs": {"0": ["0000:3b:00.9"]}},
], "RegisteredDevices": {}}, "Checksum": 12}


def test_devices_of_a_pod_in_numa_then_container_order() -> None:
    assert devices_of(CHECKPOINT, "p1") == {"intel.com/vf": ("0000:3b:00.2", "0000:af:00.3", "0000:3b:00.4"),
                                            "old.io/dev": ("x", "y")}
    assert devices_of(CHECKPOINT, "nope") == {}


def test_missing_or_broken_checkpoint_means_no_devices(tmp_path: Path) -> None:
    assert pod_devices(str(tmp_path / "missing"), "p1") == {}
    (tmp_path / "bad").write_text("{")
    assert pod_devices(str(tmp_path / "bad"), "p1") == {}
    (tmp_path / "ok").write_text(json.dumps(CHECKPOINT))
    assert pod_devices(str(tmp_path / "ok"), "p2") == {"intel.com/vf": ("0000:3b:00.9",)}
