"""The NAD catalog backed by the cluster: list + watch over all namespaces with the official kubernetes client.

The list+watch loop is cni.reflector's (the one the node uses too): list (paged), watch from the list's
resourceVersion (with bookmarks), resume, relist on 410, back off with jitter. Every change swaps in a new
immutable `MemoryCatalog`; admission reads `snapshot()` and never calls the API. Ready (`state().synced`) once the
first list has been applied.

`PodWatch` is the same over pods (one watch, all namespaces), kept as a `PodIndex` of the multi-network pods only,
for the cluster-wide rules.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cni.kubeclient import api_client
from cni.reflector import Backoff as Backoff  # re-exported: the catalogs' option
from cni.reflector import Reflector, ResponseStream
from cni.spec import parse_nad
from cni.spec.namespaces import SYSTEM_NAMESPACE
from webhook.catalog import MemoryCatalog
from webhook.metrics import CatalogState
from webhook.podindex import DEFAULT_MAX_PODS, PodEntry, PodIndex, pod_entry, pod_key

logger = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
CONNECT_TIMEOUT = 10.0
LIST_TIMEOUT = 60.0

ApiClientFactory = Callable[[], Any]


def api_client_factory(kubeconfig: Path | None) -> ApiClientFactory:
    """A factory of kubernetes ApiClients: the kubeconfig file, else in-cluster, else the default kubeconfig."""

    def build() -> Any:
        return api_client(str(kubeconfig) if kubeconfig is not None else None)

    return build


class ClusterCatalog:
    """A NAD catalog source kept in sync with the cluster by a background cni.reflector.Reflector thread.

    This class is the reflector's Source (`list_page`, `open_watch`) and Sink (`keep`, `install`, `upsert`,
    `delete`, `size`); PodWatch overrides them for pods.
    """

    what = "NAD catalog"

    def __init__(self, client_factory: ApiClientFactory, *, page_size: int = 500, watch_timeout: int = 300,
                 backoff: Backoff | None = None, min_watch_seconds: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._factory = client_factory
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._clock = clock
        self._snapshot = MemoryCatalog()
        self._synced = threading.Event()
        self._last_sync: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._api: Any = None
        self._reflector = Reflector(self, self, what=self.what, stop=self._stopping, backoff=backoff,
                                    min_watch_seconds=min_watch_seconds, on_sync=self._mark_synced)

    # -- the NadCatalog source the app reads (never blocks, never calls the API) --------------------------------
    def snapshot(self) -> MemoryCatalog:
        return self._snapshot

    def state(self) -> CatalogState:
        return CatalogState(size=self.size(), synced=self._synced.is_set(), last_sync=self._last_sync)

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    @property
    def lists(self) -> int:
        """Full lists done (a relist after 410 or an error counts)."""
        return self._reflector.lists

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run, name=self.what.replace(" ", "-"), daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._reflector.cut()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        """List, then watch; forever until stop()."""
        self._reflector.run()

    def relist(self) -> str:
        """List every object (paged) and swap in a fresh state; returns the list's resourceVersion."""
        return self._reflector.relist()

    def watch(self, rv: str) -> tuple[str, int, float]:
        """Apply watch events from ``rv`` until the stream ends; returns (last rv, events, seconds)."""
        return self._reflector.watch(rv)

    # -- the reflector's Source: what is listed and watched (overridden by PodWatch) ----------------------------
    def _custom(self) -> Any:
        from kubernetes import client

        if self._api is None:
            self._api = client.CustomObjectsApi(self._factory())
        return self._api

    def list_page(self, token: str | None) -> Mapping[str, Any]:
        return dict(self._custom().list_cluster_custom_object(
            GROUP, VERSION, PLURAL, limit=self._page_size, _continue=token,
            _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT)))

    def open_watch(self, version: str) -> ResponseStream:
        return ResponseStream(self._custom().list_cluster_custom_object(
            GROUP, VERSION, PLURAL, watch=True, resource_version=version, allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout, _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, self._watch_timeout + 30)))

    # -- the reflector's Sink: what is kept (overridden by PodWatch) --------------------------------------------
    def keep(self, obj: Mapping[str, Any]) -> Any:
        return parse_nad(obj)

    def install(self, kept: list[Any]) -> None:
        self._snapshot = MemoryCatalog(kept)

    def upsert(self, obj: Mapping[str, Any]) -> None:
        self._snapshot = self._snapshot.with_nad(parse_nad(obj))

    def delete(self, obj: Mapping[str, Any]) -> None:
        namespace, name = _namespace_name(obj)
        self._snapshot = self._snapshot.without(namespace, name)

    def size(self) -> int:
        return len(self._snapshot)

    def _mark_synced(self) -> None:
        self._last_sync = self._clock()
        self._synced.set()


class PodWatch(ClusterCatalog):
    """The pods of all namespaces, list + watch like the NAD catalog, kept as a bounded PodIndex of the pods that
    carry network annotations (namespace, NADs, static IPs); admission reads `index` (never the API)."""

    what = "pod index"

    def __init__(self, client_factory: ApiClientFactory, *, max_pods: int = DEFAULT_MAX_PODS,
                 system_namespace: str = SYSTEM_NAMESPACE, **kwargs: Any) -> None:
        super().__init__(client_factory, **kwargs)
        self.index = PodIndex(max_pods=max_pods)
        self._system_namespace = system_namespace
        self._core_api: Any = None

    def _core(self) -> Any:
        from kubernetes import client

        if self._core_api is None:
            self._core_api = client.CoreV1Api(self._factory())
        return self._core_api

    def list_page(self, token: str | None) -> Mapping[str, Any]:
        # Raw JSON, not the client's models: 50,000 V1Pod objects would cost seconds and hundreds of MB.
        response = self._core().list_pod_for_all_namespaces(
            limit=self._page_size, _continue=token, _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT))
        page: Mapping[str, Any] = json.loads(response.data)
        return page

    def open_watch(self, version: str) -> ResponseStream:
        return ResponseStream(self._core().list_pod_for_all_namespaces(
            watch=True, resource_version=version, allow_watch_bookmarks=True, timeout_seconds=self._watch_timeout,
            _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, self._watch_timeout + 30)))

    def keep(self, obj: Mapping[str, Any]) -> tuple[str, PodEntry] | None:
        entry = pod_entry(obj, system_namespace=self._system_namespace)
        return (pod_key(obj), entry) if entry is not None else None

    def install(self, kept: list[Any]) -> None:
        self.index.replace_all(kept)
        if not self.index.complete:
            logger.warning("pod index full: %d multi-network pods not indexed", self.index.dropped,
                           extra={"pods": len(self.index)})

    def upsert(self, obj: Mapping[str, Any]) -> None:
        self.index.put(pod_key(obj), pod_entry(obj, system_namespace=self._system_namespace))

    def delete(self, obj: Mapping[str, Any]) -> None:
        namespace, name = _namespace_name(obj)
        self.index.put(pod_key({"metadata": {"namespace": namespace, "name": name}}), None)

    def size(self) -> int:
        return len(self.index)


def _namespace_name(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or "default"), str(metadata["name"])
