"""cni.node.hotplug_loop: which records a pass reconciles, under which lock, and when it looks again (no root: the
reconciles here end before any netns work — unchanged annotations, or a sandbox whose netns is gone)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cni import cache
from cni.cache import Record
from cni.context import Context
from cni.hotplug import Reconciled
from cni.node.hotplug_loop import HotplugLoop
from cni.plan import Attachment

ETH0 = Attachment(network="cluster", ifname="eth0", cni_version="1.0.0", plugins=({"type": "ptp"},),
                  is_default=True)
CONFIG = {"cniVersion": "1.1.0", "name": "netweave", "clusterNetwork": "/etc/cni/net.d/10-ptp.conflist"}


def pod(networks: str, *, uid: str = "u1", version: str = "10") -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": "p", "uid": uid, "resourceVersion": version,
                         "annotations": {"k8s.v1.cni.cncf.io/networks": networks}}}


def record(tmp_path: Path, *, netns: Path, request: bool = True) -> Record:
    rec = Record("c1", "eth0", str(netns), "1.1.0", {"namespace": "default", "name": "p", "uid": "u1"}, (ETH0,),
                 results={"eth0": {}}, complete=True,
                 request={"config": {**CONFIG, "cacheDir": str(tmp_path / "cache")}, "path": [], "args": {}}
                 if request else None,
                 planned_from={"resourceVersion": "10", "networks": "a", "defaultNetwork": None})
    cache.write(str(tmp_path / "cache"), rec)
    return rec


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.pods: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.locked: list[str] = []
        self.outcomes: list[str] = []
        self.loop = HotplugLoop(cache_dirs=[str(tmp_path / "cache")], pods=lambda ns, n: self.pods.get((ns, n)),
                                context=Context(), run_locked=self.run_locked, observe=self.outcomes.append)

    def run_locked(self, key: str, work: Callable[[], Reconciled]) -> Reconciled:
        self.locked.append(key)
        return work()


def test_hotplug_loop_reconciles_each_pod_state_once_under_the_container_lock(tmp_path: Path) -> None:
    netns = tmp_path / "netns"
    netns.touch()
    record(tmp_path, netns=netns)
    h = Harness(tmp_path)
    h.pods[("default", "p")] = pod("a")

    assert [r.outcome for r in h.loop.run_once()] == ["unchanged"]
    assert h.loop.run_once() == []   # the same pod state is not looked at again
    assert (h.locked, h.outcomes) == (["c1"], ["unchanged"])


def test_hotplug_loop_skips_a_torn_down_sandbox_and_looks_again_later(tmp_path: Path) -> None:
    record(tmp_path, netns=tmp_path / "gone")
    h = Harness(tmp_path)
    h.pods[("default", "p")] = pod("a,b", version="11")

    assert [(r.outcome, r.message) for r in h.loop.run_once()] == [("skipped", "the sandbox is being torn down")]
    assert [r.outcome for r in h.loop.run_once()] == ["skipped"]


def test_hotplug_loop_leaves_alone_records_of_other_pods_and_of_old_versions(tmp_path: Path) -> None:
    netns = tmp_path / "netns"
    netns.touch()
    record(tmp_path, netns=netns)
    h = Harness(tmp_path)
    h.pods[("default", "p")] = pod("a,b", uid="another-pod-of-that-name")
    assert h.loop.run_once() == []
    record(tmp_path, netns=netns, request=False)   # written before hot-plug existed
    h.pods[("default", "p")] = pod("a,b")
    assert h.loop.run_once() == [] and h.locked == []
