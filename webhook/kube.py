"""The NAD catalog backed by the cluster: list + watch over all namespaces with the official kubernetes client.

A background thread lists (paged), then watches from the list's resourceVersion (with bookmarks), resumes from
the last resourceVersion when a watch ends, relists on 410 Gone, and relists with exponential backoff on any
other error. Every change swaps in a new immutable `MemoryCatalog`; admission reads `snapshot()` and never calls the
API. Ready (`state().synced`) once the first list has been applied.

`PodWatch` is the same reflector over pods (one watch, all namespaces), kept as a `PodIndex` of the multi-network
pods only, for the cluster-wide rules.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cni.kubeclient import api_client
from cni.spec import parse_nad
from webhook.catalog import MemoryCatalog
from webhook.metrics import CatalogState
from webhook.podindex import DEFAULT_MAX_PODS, PodEntry, PodIndex, pod_entry, pod_key

logger = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
HTTP_GONE = 410
CONNECT_TIMEOUT = 10.0
LIST_TIMEOUT = 60.0

ApiClientFactory = Callable[[], Any]


class WatchExpired(Exception):
    """410 Gone: the resourceVersion is too old (compacted); the only way on is a fresh list."""


class WatchFailed(Exception):
    """The watch stream carried an ERROR event other than 410."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delay between attempts after consecutive failures."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.initial * self.factor ** (failures - 1)))


def api_client_factory(kubeconfig: Path | None) -> ApiClientFactory:
    """A factory of kubernetes ApiClients: the kubeconfig file, else in-cluster, else the default kubeconfig."""

    def build() -> Any:
        return api_client(str(kubeconfig) if kubeconfig is not None else None)

    return build


class ClusterCatalog:
    """A NAD catalog source kept in sync with the cluster by a background list + watch thread.

    The reflector (list, watch, resume, relist, backoff) is this class; what is listed and how objects are kept
    are the hooks `_list_page`, `_open_watch`, `_parse`, `_install`, `_upsert`, `_delete` and `_size`.
    """

    what = "NAD catalog"

    def __init__(self, client_factory: ApiClientFactory, *, page_size: int = 500, watch_timeout: int = 300,
                 backoff: Backoff | None = None, min_watch_seconds: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._factory = client_factory
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._backoff = backoff or Backoff()
        self._min_watch_seconds = min_watch_seconds
        self._clock = clock
        self._snapshot = MemoryCatalog()
        self._synced = threading.Event()
        self._last_sync: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None  # the open watch stream, so stop() can cut it
        self._response_lock = threading.Lock()
        self._api: Any = None
        self.lists = 0  # full lists done (a relist after 410 or an error counts)

    # -- the NadCatalog source the app reads (never blocks, never calls the API) --------------------------------
    def snapshot(self) -> MemoryCatalog:
        return self._snapshot

    def state(self) -> CatalogState:
        return CatalogState(size=self._size(), synced=self._synced.is_set(), last_sync=self._last_sync)

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run, name=self.what.replace(" ", "-"), daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._response_lock:
            if self._response is not None:
                _shutdown(self._response)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        """List, then watch; forever until stop(). Errors are logged here, where they are handled."""
        rv: str | None = None
        failures = 0  # consecutive failed rounds: the backoff exponent
        expired = 0  # consecutive 410s: the first relists at once, repeated ones back off
        while not self._stopping.is_set():
            try:
                if rv is None:
                    rv = self.relist()
                rv, events, seconds = self.watch(rv)
                expired = 0
                quick_empty = events == 0 and seconds < self._min_watch_seconds
                failures = failures + 1 if quick_empty else 0
            except WatchExpired as err:
                logger.info("%s watch expired (%s); relisting", self.what, err)
                rv = None
                expired += 1
                failures = expired - 1
            except Exception as err:
                if self._stopping.is_set():
                    break
                failures += 1
                rv = None
                logger.warning("%s sync failed; relisting in %.1fs: %s", self.what,
                               self._backoff.delay(failures), _describe(err),
                               extra={"failures": failures, "objects": self._size()})
            self._stopping.wait(self._backoff.delay(failures))

    # -- one list, one watch -----------------------------------------------------------------------------------
    def _custom(self) -> Any:
        from kubernetes import client

        if self._api is None:
            self._api = client.CustomObjectsApi(self._factory())
        return self._api

    # -- what is listed and kept (overridden by PodWatch) -----------------------------------------------------------
    def _list_page(self, token: str | None) -> Mapping[str, Any]:
        return dict(self._custom().list_cluster_custom_object(
            GROUP, VERSION, PLURAL, limit=self._page_size, _continue=token,
            _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT)))

    def _open_watch(self, rv: str) -> Any:
        return self._custom().list_cluster_custom_object(
            GROUP, VERSION, PLURAL, watch=True, resource_version=rv, allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout, _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, self._watch_timeout + 30))

    def _parse(self, obj: Mapping[str, Any]) -> Any:
        """What is kept of one listed object (None: nothing)."""
        return parse_nad(obj)

    def _install(self, parsed: list[Any]) -> None:
        self._snapshot = MemoryCatalog(parsed)

    def _upsert(self, obj: Mapping[str, Any]) -> None:
        self._snapshot = self._snapshot.with_nad(parse_nad(obj))

    def _delete(self, namespace: str, name: str) -> None:
        self._snapshot = self._snapshot.without(namespace, name)

    def _size(self) -> int:
        return len(self._snapshot)

    # -- the reflector ---------------------------------------------------------------------------------------------
    def relist(self) -> str:
        """List every object (paged) and swap in a fresh state; returns the list's resourceVersion."""
        from kubernetes.client.exceptions import ApiException

        parsed: list[Any] = []  # parsed page by page: only what is kept stays in memory
        token: str | None = None
        rv = ""
        while True:
            try:
                page = self._list_page(token)
            except ApiException as err:
                if err.status == HTTP_GONE:  # the continue token expired: start over
                    raise WatchExpired("list continue token expired") from err
                raise
            for obj in page.get("items") or []:
                kept = self._parse(obj) if _named(obj) else None
                if kept is not None:
                    parsed.append(kept)
            metadata = page.get("metadata") or {}
            rv = rv or str(metadata.get("resourceVersion") or "")
            token = metadata.get("continue") or None
            if token is None:
                break
        self._install(parsed)
        self._mark_synced()
        self.lists += 1
        logger.info("%s listed", self.what, extra={"objects": self._size(), "resource_version": rv})
        return rv

    def watch(self, rv: str) -> tuple[str, int, float]:
        """Apply watch events from ``rv`` until the stream ends; returns (last rv, events, seconds)."""
        started = time.monotonic()
        response = self._open_watch(rv)
        with self._response_lock:
            self._response = response
        if self._stopping.is_set():
            _shutdown(response)
        events = 0
        try:
            for line in _lines(response):
                rv = self._apply(json.loads(line), rv)
                events += 1
        finally:
            with self._response_lock:
                self._response = None
            response.release_conn()
        return rv, events, time.monotonic() - started

    def _apply(self, event: Mapping[str, Any], rv: str) -> str:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, Mapping):
            raise WatchFailed(f"watch event without an object: {str(event)[:200]}")
        if kind == "ERROR":
            if obj.get("code") == HTTP_GONE:
                raise WatchExpired(str(obj.get("message") or "410 Gone"))
            raise WatchFailed(f"watch ERROR {obj.get('code')} {obj.get('reason')}: {obj.get('message')}")
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
        assert isinstance(metadata, Mapping)
        new_rv = str(metadata.get("resourceVersion") or rv)
        if kind in ("ADDED", "MODIFIED") and _named(obj):
            self._upsert(obj)
        elif kind == "DELETED" and _named(obj):
            self._delete(str(metadata.get("namespace") or "default"), str(metadata["name"]))
        elif kind != "BOOKMARK":
            logger.warning("ignored a %s watch event of type %r", self.what, kind)
            return new_rv
        self._mark_synced()
        return new_rv

    def _mark_synced(self) -> None:
        self._last_sync = self._clock()
        self._synced.set()


class PodWatch(ClusterCatalog):
    """The pods of all namespaces, list + watch like the NAD catalog, kept as a bounded PodIndex of the pods that
    carry network annotations (namespace, NADs, static IPs); admission reads `index` (never the API)."""

    what = "pod index"

    def __init__(self, client_factory: ApiClientFactory, *, max_pods: int = DEFAULT_MAX_PODS,
                 system_namespace: str = "kube-system", **kwargs: Any) -> None:
        super().__init__(client_factory, **kwargs)
        self.index = PodIndex(max_pods=max_pods)
        self._system_namespace = system_namespace
        self._core_api: Any = None

    def _core(self) -> Any:
        from kubernetes import client

        if self._core_api is None:
            self._core_api = client.CoreV1Api(self._factory())
        return self._core_api

    def _list_page(self, token: str | None) -> Mapping[str, Any]:
        # Raw JSON, not the client's models: 50,000 V1Pod objects would cost seconds and hundreds of MB.
        response = self._core().list_pod_for_all_namespaces(
            limit=self._page_size, _continue=token, _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT))
        page: Mapping[str, Any] = json.loads(response.data)
        return page

    def _open_watch(self, rv: str) -> Any:
        return self._core().list_pod_for_all_namespaces(
            watch=True, resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=self._watch_timeout,
            _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, self._watch_timeout + 30))

    def _parse(self, obj: Mapping[str, Any]) -> tuple[str, PodEntry] | None:
        entry = pod_entry(obj, system_namespace=self._system_namespace)
        return (pod_key(obj), entry) if entry is not None else None

    def _install(self, parsed: list[Any]) -> None:
        self.index.replace_all(parsed)
        if not self.index.complete:
            logger.warning("pod index full: %d multi-network pods not indexed", self.index.dropped,
                           extra={"pods": len(self.index)})

    def _upsert(self, obj: Mapping[str, Any]) -> None:
        self.index.put(pod_key(obj), pod_entry(obj, system_namespace=self._system_namespace))

    def _delete(self, namespace: str, name: str) -> None:
        self.index.put(pod_key({"metadata": {"namespace": namespace, "name": name}}), None)

    def _size(self) -> int:
        return len(self.index)


def _lines(response: Any) -> Iterator[bytes]:
    """The newline-delimited JSON events of a watch response body, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _named(obj: Mapping[str, Any]) -> bool:
    metadata = obj.get("metadata")
    return isinstance(metadata, Mapping) and isinstance(metadata.get("name"), str) and bool(metadata["name"])


def _shutdown(response: Any) -> None:
    try:
        response.shutdown()
    except Exception as err:  # best effort: the thread also sees the stop flag
        logger.debug("could not cut the watch stream: %s", err)


def _describe(err: Exception) -> str:
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    return f"{type(err).__name__}: {err}"
