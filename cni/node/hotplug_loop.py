"""The node daemon's hot-plug loop: pod watch events wake it, and every sandbox record whose pod's network
annotations changed is reconciled (cni.hotplug.reconcile) under that container's lock.

One thread, one sandbox at a time. The first pass after a start looks at every record, so a daemon restarted in
the middle of a hot-plug converges. A failed reconcile is not retried on every pod event (the Event already told
the user); it is retried on the next resync tick, or when the annotation changes again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cni import cache
from cni.attach import planned_from
from cni.context import Context
from cni.hotplug import Reconciled, reconcile

logger = logging.getLogger(__name__)

PodLookup = Callable[[str, str], Mapping[str, Any] | None]
RunLocked = Callable[[str, Callable[[], Reconciled]], Reconciled]   # container id, work -> its result
RecordKey = tuple[str, str, str]   # cache dir, container id, ifname


class HotplugLoop:
    """Watches for changed network annotations of the pods that have sandboxes on this node."""

    def __init__(self, *, cache_dirs: Sequence[str], pods: PodLookup, context: Context, run_locked: RunLocked,
                 observe: Callable[[str], None] = lambda outcome: None, resync: float = 60.0) -> None:
        self._cache_dirs = tuple(dict.fromkeys(cache_dirs))
        self._pods = pods
        self._context = context
        self._run_locked = run_locked
        self._observe = observe
        self._resync = resync
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._seen: dict[RecordKey, tuple[Any, ...]] = {}   # record -> the pod state last reconciled
        self._failed: set[RecordKey] = set()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Something in the watch cache changed (the WatchCache on_change callback)."""
        self._changed.set()

    def start(self) -> None:
        self._changed.set()   # the first pass: every record (convergence after a restart)
        self._thread = threading.Thread(target=self._run, name="hotplug", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._changed.wait(self._resync):
                self._seen = {k: v for k, v in self._seen.items() if k not in self._failed}   # resync tick
            if self._stop.is_set():
                return
            self._changed.clear()
            try:
                self.run_once()
            except Exception:  # one bad record must not end the loop
                logger.exception("hot-plug pass failed")

    def run_once(self) -> list[Reconciled]:
        """One pass over every record; the reconciles it ran."""
        done: list[Reconciled] = []
        present: set[RecordKey] = set()
        for cache_dir in self._cache_dirs:
            for container_id, ifname in list(cache.keys(cache_dir)):
                key = (cache_dir, container_id, ifname)
                present.add(key)
                outcome = self._visit(key)
                if outcome is not None:
                    done.append(outcome)
        self._seen = {k: v for k, v in self._seen.items() if k in present}
        self._failed &= present
        return done

    def _visit(self, key: RecordKey) -> Reconciled | None:
        cache_dir, container_id, ifname = key
        record = cache.read(cache_dir, container_id, ifname)
        if record is None or not record.complete or not record.pod or record.request is None:
            return None
        namespace, name, uid = (record.pod.get(k) for k in ("namespace", "name", "uid"))
        pod = self._pods(str(namespace), str(name))
        if pod is None or (uid and (pod.get("metadata") or {}).get("uid") != uid):
            return None
        state = _state(pod)
        if self._seen.get(key) == state:
            return None
        result = self._run_locked(container_id, lambda: self._reconcile(key, pod))
        if result.outcome != "skipped":   # skipped (an ADD still running): look again at the next event
            self._seen[key] = state
        (self._failed.add if result.outcome == "failed" else self._failed.discard)(key)
        self._observe(result.outcome)
        if result.outcome != "unchanged":
            logger.info("hot-plug %s", result.outcome, extra={"container_id": container_id, "pod": f"{namespace}/"
                        f"{name}", "detail": result.message})
        return result

    def _reconcile(self, key: RecordKey, pod: Mapping[str, Any]) -> Reconciled:
        cache_dir, container_id, ifname = key
        try:
            return reconcile(self._context, cache_dir, container_id, ifname, pod)
        except Exception as e:  # a reconcile that breaks is a failed reconcile, not a dead loop
            logger.exception("hot-plug reconcile failed", extra={"container_id": container_id})
            return Reconciled("failed", repr(e))


def _state(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a reconcile depends on: the pod's uid, its network annotations and whether it is being deleted."""
    meta = pod.get("metadata") or {}
    wanted = planned_from(pod) or {}
    return meta.get("uid"), wanted.get("networks"), wanted.get("defaultNetwork"), bool(meta.get("deletionTimestamp"))
