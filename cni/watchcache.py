"""The node daemon's watch cache: one list+watch of the pods on this node and one of all NADs, shared by all requests.

A lookup answers from the cache; on a miss (not synced yet, or created a moment ago) it returns None and
cni.attach falls back to one GET through the (per-process, memoized) client of the conflist's kubeconfig.
Each watch resumes from its last resourceVersion, relists on 410 Expired and backs off on errors, the way
client-go's reflector does.
"""

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

logger = logging.getLogger(__name__)

POD_LIST: Final = "/api/v1/pods"
NAD_LIST: Final = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
PAGE_SIZE: Final = 500
MAX_EVENT_BYTES: Final = 16 << 20


class Gone(Exception):
    """The watch's resourceVersion is too old (410 Expired): relist."""


class Transport(Protocol):
    """The HTTP calls the cache makes; cni.daemon implements it on the kubernetes client."""

    def get_json(self, path: str, query: Mapping[str, str], *, timeout: float) -> Mapping[str, Any] | None:
        """The decoded body, or None for 404; raises on other errors."""
        ...

    def stream(self, path: str, query: Mapping[str, str], *, timeout: float) -> "Stream":
        """An open watch response."""
        ...


class Stream(Protocol):
    def chunks(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


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

    def replace(self, items: list[Mapping[str, Any]]) -> None:
        fresh: dict[tuple[str, str], Mapping[str, Any]] = {_key(item): _slim(item) for item in items}
        with self.lock:
            self.objects = fresh
        self.synced.set()

    def apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        with self.lock:
            if event_type == "DELETED":
                self.objects.pop(_key(obj), None)
            else:
                self.objects[_key(obj)] = _slim(obj)

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        with self.lock:
            return self.objects.get((namespace, name))

    def __len__(self) -> int:
        with self.lock:
            return len(self.objects)


def split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Watch events (one JSON document per line) from a chunked body; bounded line length."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if line.strip())
        if len(pending) > MAX_EVENT_BYTES:
            raise ValueError(f"watch event larger than {MAX_EVENT_BYTES} bytes")
    if pending.strip():
        yield pending


@dataclass(slots=True)
class Reflector:
    """Keeps one Store in step with the API server: list, then watch from the list's resourceVersion."""

    transport: Transport
    store: Store
    path: str
    stop: threading.Event
    selector: Mapping[str, str] = field(default_factory=dict)
    watch_timeout: int = 300
    backoff_max: float = 30.0
    on_event: Callable[[], None] = lambda: None
    _stream: Stream | None = None

    def run(self) -> None:
        """The thread body: until `stop` is set."""
        backoff = 0.5
        while not self.stop.is_set():
            try:
                version = self._list()
                backoff = 0.5
                while not self.stop.is_set():
                    version = self._watch(version)
            except Gone:
                logger.info("watch expired; relisting", extra={"resource": self.store.kind})
            except Exception as err:
                if self.stop.is_set():
                    break
                logger.warning("watch failed", extra={"resource": self.store.kind, "error": repr(err),
                                                      "retry_in": backoff})
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)

    def close(self) -> None:
        """Interrupt an open watch (after setting `stop`)."""
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _list(self) -> str:
        items: list[Mapping[str, Any]] = []
        query = dict(self.selector, limit=str(PAGE_SIZE))
        while True:
            body = self.transport.get_json(self.path, query, timeout=60.0) or {}
            items.extend(body.get("items") or [])
            meta = body.get("metadata") or {}
            if not meta.get("continue"):
                break
            query = dict(query, **{"continue": str(meta["continue"])})
        self.store.replace(items)
        self.on_event()
        logger.info("listed", extra={"resource": self.store.kind, "objects": len(items)})
        return str(meta.get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        query = dict(self.selector, watch="true", allowWatchBookmarks="true", resourceVersion=version,
                     timeoutSeconds=str(self.watch_timeout))
        self._stream = stream = self.transport.stream(self.path, query, timeout=self.watch_timeout + 30.0)
        try:
            for line in split_lines(stream.chunks()):
                version = self._apply(json.loads(line)) or version
        finally:
            self._stream = None
            stream.close()
        return version

    def _apply(self, event: Mapping[str, Any]) -> str | None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone(str(obj.get("message")))
            raise RuntimeError(f"watch error: {obj.get('message')}")
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.store.apply(str(kind), obj)
            self.on_event()
        version = (obj.get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None


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
            Reflector(transport, self.pods, POD_LIST, self._stop, selector=selector, on_event=on_change),
            Reflector(transport, self.nads, NAD_LIST, self._stop, on_event=on_change),
        )
        self._threads: list[threading.Thread] = []
        self._counts = {"hits": 0, "misses": 0}
        self._count_lock = threading.Lock()

    def start(self) -> None:
        for reflector in self._reflectors:
            thread = threading.Thread(target=reflector.run, name=f"watch-{reflector.store.kind}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop both watches; wait for their threads at most `timeout` seconds in all (they are daemon threads)."""
        self._stop.set()
        for reflector in self._reflectors:
            reflector.close()
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
