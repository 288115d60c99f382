"""The node daemon's watch cache: one list+watch of the pods on this node and one of all NADs, shared by all requests.

A lookup answers from the cache; on a miss (not synced yet, or created a moment ago) it returns None and
cni.attach falls back to one GET through the (per-process, memoized) client of the conflist's kubeconfig.
Each watch is a cni.reflector.Reflector (the loop the webhook uses too): it resumes from its last resourceVersion,
relists on 410 Expired and backs off with jitter on errors, the way client-go's reflector does.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from cni.reflector import Reflector, Stream
from cni.reflector import split_lines as split_lines  # re-exported: the watch body's framing

logger = logging.getLogger(__name__)

POD_LIST: Final = "/api/v1/pods"
NAD_LIST: Final = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
PAGE_SIZE: Final = 500
WATCH_TIMEOUT: Final = 300


class Transport(Protocol):
    """The HTTP calls the cache makes; cni.node.daemon implements it on the kubernetes client."""

    def get_json(self, path: str, query: Mapping[str, str], *, timeout: float) -> Mapping[str, Any] | None:
        """The decoded body, or None for 404; raises on other errors."""
        ...

    def stream(self, path: str, query: Mapping[str, str], *, timeout: float) -> Stream:
        """An open watch response."""
        ...


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without managedFields (large, never read on the node)."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


@dataclass(slots=True)
class Store:
    """Objects by (namespace, name), thread-safe; `synced` is set after the first complete list."""

    kind: str
    objects: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    synced: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the reflector's Sink ---------------------------------------------------------------------------------
    def keep(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return _slim(obj)

    def install(self, kept: list[Any]) -> None:
        fresh: dict[tuple[str, str], Mapping[str, Any]] = {_key(item): item for item in kept}
        with self.lock:
            self.objects = fresh
        self.synced.set()

    def upsert(self, obj: Mapping[str, Any]) -> None:
        with self.lock:
            self.objects[_key(obj)] = _slim(obj)

    def delete(self, obj: Mapping[str, Any]) -> None:
        with self.lock:
            self.objects.pop(_key(obj), None)

    def size(self) -> int:
        return len(self)

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        with self.lock:
            return self.objects.get((namespace, name))

    def __len__(self) -> int:
        with self.lock:
            return len(self.objects)


@dataclass(frozen=True, slots=True)
class _Resource:
    """The reflector's Source for one path of the Transport."""

    transport: Transport
    path: str
    selector: Mapping[str, str]

    def list_page(self, token: str | None) -> Mapping[str, Any]:
        query = dict(self.selector, limit=str(PAGE_SIZE), **({"continue": token} if token else {}))
        return self.transport.get_json(self.path, query, timeout=60.0) or {}

    def open_watch(self, version: str) -> Stream:
        query = dict(self.selector, watch="true", allowWatchBookmarks="true", resourceVersion=version,
                     timeoutSeconds=str(WATCH_TIMEOUT))
        return self.transport.stream(self.path, query, timeout=WATCH_TIMEOUT + 30.0)


@dataclass(frozen=True, slots=True)
class LookupStats:
    hits: int
    misses: int


class WatchCache:
    """Pods on `node_name` and all NADs, watched in two threads; lookups with a GET fallback."""

    def __init__(self, transport: Transport, *, node_name: str, on_change: Callable[[], None] = lambda: None):
        self._transport = transport
        self._stop = threading.Event()
        self.pods = Store("pods")
        self.nads = Store("nads")
        selector = {"fieldSelector": f"spec.nodeName={node_name}"}
        self._reflectors = (
            Reflector(_Resource(transport, POD_LIST, selector), self.pods, what="pods", stop=self._stop,
                      on_sync=on_change),
            Reflector(_Resource(transport, NAD_LIST, {}), self.nads, what="nads", stop=self._stop,
                      on_sync=on_change),
        )
        self._threads: list[threading.Thread] = []
        self._counts = {"hits": 0, "misses": 0}
        self._count_lock = threading.Lock()

    def start(self) -> None:
        for reflector in self._reflectors:
            thread = threading.Thread(target=reflector.run, name=f"watch-{reflector.what}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop both watches; wait for their threads at most `timeout` seconds in all (they are daemon threads)."""
        self._stop.set()
        for reflector in self._reflectors:
            reflector.cut()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_synced(self, timeout: float) -> bool:
        """True when both stores completed their first list within `timeout`."""
        return self.pods.synced.wait(timeout) and self.nads.synced.wait(timeout)

    @property
    def stats(self) -> LookupStats:
        with self._count_lock:
            return LookupStats(self._counts["hits"], self._counts["misses"])

    def pod(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The pod from the cache (None on a miss: cni.attach then GETs it with the conflist's kubeconfig)."""
        return self._lookup(self.pods, namespace, name)

    def nad(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The NAD from the cache (None on a miss: cni.attach then GETs it)."""
        return self._lookup(self.nads, namespace, name)

    def _lookup(self, store: Store, namespace: str, name: str) -> Mapping[str, Any] | None:
        found = store.get(namespace, name)
        with self._count_lock:
            self._counts["hits" if found is not None else "misses"] += 1
        return found
