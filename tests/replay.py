"""A local stand-in for kube-apiserver 1.24 that replays the responses captured in fixtures/apiserver/.

Usage::

    from tests.replay import ReplayServer

    with ReplayServer() as api:                       # 127.0.0.1, a free port, a daemon thread
        cfg = api.configuration()                     # kubernetes.client.Configuration(host=api.url)
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(cfg))
        core.read_namespaced_pod("busybox3", "default")
        api.write_kubeconfig(tmp_path / "kubeconfig")  # or a kubeconfig file (token "replay-token")
        api.requests                                   # every request, in order (RecordedRequest)

What it serves (paths as the real API server; JSON bodies; errors are the captured ``Status`` shapes):

- ``GET /api/v1/namespaces/{ns}/pods/{name}`` and
  ``GET /apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions/{name}``: 200 or 404.
- LIST pods (``/api/v1/pods``, ``/api/v1/namespaces/{ns}/pods``; ``fieldSelector`` on any field, e.g.
  ``spec.nodeName=X`` or ``metadata.name=Y``, with ``=``, ``==``, ``!=``) and NADs
  (all namespaces or one), with ``limit``/``continue`` (the real token format: base64 of
  ``{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\u0000"}``) and ``remainingItemCount``. Items are in etcd key
  order (namespace, name). ``metadata.resourceVersion`` of a list is the store's resourceVersion.
- WATCH (``watch=true`` on a list path) streams one JSON event per line, chunked, like the real server:
  events from the resource's log whose resourceVersion is greater than the request's ``resourceVersion``
  (BOOKMARK lines only with ``allowWatchBookmarks=true``; objects filtered by ``fieldSelector``); then events the
  test emits while the stream is open; the stream ends after ``timeoutSeconds`` or ``watch_hold`` seconds,
  whichever is shorter. Without ``resourceVersion`` (or ``"0"``) it first sends a synthetic ADDED per stored
  object. A ``resourceVersion`` older than ``compacted_rv`` gets the captured 410 ``Expired`` ERROR event.
  The log starts with the captured streams (``watch-nads.raw``, ``watch-pods-node.raw``); these recorded events
  are replayed to watchers but not applied to the store (the store is the captured LIST snapshot).
- ``PATCH /api/v1/namespaces/{ns}/pods/{name}/status`` (merge-patch or strategic-merge JSON): applies the patch
  as a JSON merge patch, bumps resourceVersion, 200 with the pod; 409 (captured Conflict body) when the patch
  carries a stale ``metadata.resourceVersion`` or after ``conflict_next_status_patch()``; 404 if no pod.
- ``POST /api/v1/namespaces/{ns}/events``: 201 with the event as stored (name from generateName, uid, rv);
  ``GET /api/v1/[namespaces/{ns}/]events`` lists them (``fieldSelector``, e.g. ``involvedObject.name=X``).
- Anything else: 404 ``the server could not find the requested resource``.

Initial store: the 7 NADs of ``list-nads-all.json`` (resourceVersion 354) and the pod ``default/busybox3`` of
``get-pod.json``; the pod list's resourceVersion is 367, the state just before the captured pod watch stream.

Test controls (all thread-safe, usable while clients are connected):

- ``add_pod(obj)``, ``add_nad(obj)``: store (or replace) an object at its real path; assigns a fresh
  resourceVersion and appends an ADDED/MODIFIED event to the watch log (open watches see it at once).
- ``delete_pod(ns, name)``, ``delete_nad(ns, name)``: remove and log DELETED.
- ``emit(resource, type, obj)``: append any event (``resource`` is ``"pods"`` or ``"nads"``) to the log.
- ``script_watch(resource, lines)``: the next WATCH of that resource gets exactly these lines (dicts are
  JSON-encoded, strings sent as-is) and then the stream closes. Queue several calls for several watches.
- ``compact(rv)``: watches from a resourceVersion below ``rv`` get 410 Expired.
- ``fail_next(method, path_prefix, status, body=None, times=1)``: the next matching requests fail.
- ``conflict_next_status_patch(times=1)``: the next pod status PATCHes get the captured 409.
- ``watch_hold``: seconds an idle watch stays open (default 0.5).
- ``requests`` / ``requests_for(method, path_prefix)``: ``RecordedRequest(method, path, query, headers, body)``
  with ``.json()``; ``events``: the Event objects POSTed; ``pod(ns, name)``/``nad(ns, name)``: stored copies;
  ``wait_for_request(method, path_prefix, count=1, timeout=5)``: block until that many were seen.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import http.server
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from tests.paths import FIXTURES

APISERVER = FIXTURES / "apiserver"
NAD_GROUP_PATH = "/apis/k8s.cni.cncf.io/v1"
NAD_PLURAL = "network-attachment-definitions"
Resource = Literal["pods", "nads"]

_TRUE = {"true", "1", "yes"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the replay server received."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Failure:
    method: str
    path_prefix: str
    status: int
    body: Mapping[str, Any]
    times: int


@dataclass
class _State:
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    nads: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"pods": [], "nads": []})
    list_rv: dict[str, int] = field(default_factory=lambda: {"pods": 367, "nads": 354})
    rv: int = 371
    compacted_rv: int = 220
    scripts: dict[str, deque[list[bytes]]] = field(default_factory=lambda: {"pods": deque(), "nads": deque()})
    failures: list[_Failure] = field(default_factory=list)
    conflicts: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)


def _load(name: str) -> Any:
    return json.loads((APISERVER / name).read_text())


def _raw_events(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (APISERVER / name).read_text().splitlines() if line.strip()]


def _rv_of(obj: Mapping[str, Any]) -> int:
    try:
        return int(obj.get("metadata", {}).get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return (str(meta.get("namespace", "default")), str(meta["name"]))


def status_body(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A metav1.Status failure body, as the API server writes it."""
    body: dict[str, Any] = {"apiVersion": "v1", "code": code, "kind": "Status", "message": message,
                            "metadata": {}, "reason": reason, "status": "Failure"}
    if details is not None:
        body["details"] = dict(details)
    return body


def _not_found(kind: str, name: str, group: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind, "name": name}
    qualified = kind
    if group:
        details = {"group": group, "kind": kind, "name": name}
        qualified = f"{kind}.{group}"
    return status_body(404, "NotFound", f'{qualified} "{name}" not found', details)


_NO_ROUTE = status_body(404, "NotFound", "the server could not find the requested resource", {})


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = _merge_patch(result.get(k), v)
    return result


def _continue_token(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    padded = token + "=" * (-len(token) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded))
    return int(data["rv"]), str(data["start"]).rstrip("\x00")


class ReplayServer:
    """Context manager running the replay API server on 127.0.0.1:<free port> (see the module docstring)."""

    def __init__(self, *, watch_hold: float = 0.5) -> None:
        self.watch_hold = watch_hold
        self._lock = threading.Condition()
        self._state = _State()
        self._stopping = threading.Event()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._load_captured()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> ReplayServer:
        handler = _make_handler(self)
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="replay-apiserver", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "use ReplayServer as a context manager"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configuration(self) -> Any:
        """A kubernetes.client.Configuration pointing at this server."""
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.url
        cfg.api_key = {"authorization": "replay-token"}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        return cfg

    def write_kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig (context "replay", bearer token "replay-token") and return its path."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "replay",
            "clusters": [{"name": "replay", "cluster": {"server": self.url}}],
            "users": [{"name": "replay", "user": {"token": "replay-token"}}],
            "contexts": [{"name": "replay", "context": {"cluster": "replay", "user": "replay"}}],
        }
        path.write_text(json.dumps(config))
        return path

    # -- store -----------------------------------------------------------------------------------------------
    def _load_captured(self) -> None:
        st = self._state
        for item in _load("list-nads-all.json")["response"]["body"]["items"]:
            st.nads[_key(item)] = item
        pod = _load("get-pod.json")["response"]["body"]
        st.pods[_key(pod)] = pod
        st.logs["nads"] = _raw_events("watch-nads.raw")
        st.logs["pods"] = _raw_events("watch-pods-node.raw")

    def _put(self, resource: Resource, obj: Mapping[str, Any], *, event: str | None) -> dict[str, Any]:
        stored = copy.deepcopy(dict(obj))
        with self._lock:
            st = self._state
            table = st.pods if resource == "pods" else st.nads
            key = _key(stored)
            st.rv += 1
            meta = stored.setdefault("metadata", {})
            meta.setdefault("namespace", key[0])
            meta["resourceVersion"] = str(st.rv)
            meta.setdefault("uid", str(uuid.uuid4()))
            kind = event or ("MODIFIED" if key in table else "ADDED")
            table[key] = stored
            st.list_rv[resource] = st.rv
            st.logs[resource].append({"type": kind, "object": copy.deepcopy(stored)})
            self._lock.notify_all()
            return copy.deepcopy(stored)

    def add_pod(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store a pod (ADDED or MODIFIED event); returns the stored copy with its resourceVersion."""
        return self._put("pods", obj, event=None)

    def add_nad(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store a NAD (ADDED or MODIFIED event); returns the stored copy with its resourceVersion."""
        return self._put("nads", obj, event=None)

    def _delete(self, resource: Resource, namespace: str, name: str) -> None:
        with self._lock:
            st = self._state
            table = st.pods if resource == "pods" else st.nads
            obj = table.pop((namespace, name))
            st.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(st.rv)
            st.list_rv[resource] = st.rv
            st.logs[resource].append({"type": "DELETED", "object": obj})
            self._lock.notify_all()

    def delete_pod(self, namespace: str, name: str) -> None:
        self._delete("pods", namespace, name)

    def delete_nad(self, namespace: str, name: str) -> None:
        self._delete("nads", namespace, name)

    def emit(self, resource: Resource, type_: str, obj: Mapping[str, Any]) -> None:
        """Append a raw watch event to the resource's log (open watches get it)."""
        with self._lock:
            self._state.logs[resource].append({"type": type_, "object": copy.deepcopy(dict(obj))})
            self._lock.notify_all()

    def script_watch(self, resource: Resource, lines: Iterable[Mapping[str, Any] | str]) -> None:
        """The next WATCH of ``resource`` streams exactly these lines, then ends."""
        encoded = [
            (line if isinstance(line, str) else json.dumps(line, separators=(",", ":"))).encode() + b"\n"
            for line in lines
        ]
        with self._lock:
            self._state.scripts[resource].append(encoded)

    def compact(self, rv: int) -> None:
        """Watches from a resourceVersion below ``rv`` get 410 Expired."""
        with self._lock:
            self._state.compacted_rv = rv

    def fail_next(self, method: str, path_prefix: str, status: int,
                  body: Mapping[str, Any] | None = None, *, times: int = 1) -> None:
        """The next ``times`` requests matching method and path prefix get ``status`` (a Status body)."""
        payload = body if body is not None else status_body(status, "InternalError", "injected failure")
        with self._lock:
            self._state.failures.append(_Failure(method.upper(), path_prefix, status, payload, times))

    def conflict_next_status_patch(self, times: int = 1) -> None:
        with self._lock:
            self._state.conflicts += times

    # -- inspection ------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    def requests_for(self, method: str, path_prefix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path.startswith(path_prefix)]

    def wait_for_request(self, method: str, path_prefix: str = "", *, count: int = 1,
                         timeout: float = 5.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.requests_for(method, path_prefix)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._state.events)

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._state.pods.get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._state.nads.get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    # -- request handling (called from handler threads) -------------------------------------------------------
    def _record(self, req: RecordedRequest) -> _Failure | None:
        with self._lock:
            self._state.requests.append(req)
            for failure in self._state.failures:
                if failure.times > 0 and failure.method == req.method and req.path.startswith(failure.path_prefix):
                    failure.times -= 1
                    return failure
        return None

    def _get_object(self, resource: Resource, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            table = self._state.pods if resource == "pods" else self._state.nads
            obj = table.get((namespace, name))
            if obj is not None:
                return 200, copy.deepcopy(obj)
        if resource == "pods":
            return 404, _not_found("pods", name)
        return 404, _not_found(NAD_PLURAL, name, "k8s.cni.cncf.io")

    def _selected(self, resource: Resource, namespace: str | None,
                  query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        table = self._state.pods if resource == "pods" else self._state.nads
        selector = _field_selector(query)
        items = [
            obj for (ns, _), obj in sorted(table.items())
            if (namespace is None or ns == namespace) and _fields_match(obj, selector)
        ]
        return copy.deepcopy(items)

    def _list(self, resource: Resource, namespace: str | None,
              query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            items = self._selected(resource, namespace, query)
            rv = self._state.list_rv[resource]
        token = (query.get("continue") or [""])[0]
        if token:
            try:
                rv, start = _decode_continue(token)
            except (ValueError, KeyError, json.JSONDecodeError):
                return 400, status_body(400, "BadRequest", "continue key is not valid: incorrect encoded start "
                                        "resourceVersion (version meta.k8s.io/v1)")
            items = [i for i in items if _list_key(i, namespace) > start]
        limit = int((query.get("limit") or ["0"])[0] or 0)
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit > 0 and len(items) > limit:
            rest = len(items) - limit
            items = items[:limit]
            meta = {"continue": _continue_token(rv, _list_key(items[-1], namespace)),
                    "remainingItemCount": rest, "resourceVersion": str(rv)}
        elif resource == "nads":
            meta = {"continue": "", "resourceVersion": str(rv)}
        if resource == "pods":
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}
        return 200, {"apiVersion": "k8s.cni.cncf.io/v1", "items": items,
                     "kind": "NetworkAttachmentDefinitionList", "metadata": meta}

    def _watch_lines(self, resource: Resource, namespace: str | None,
                     query: Mapping[str, list[str]]) -> Iterator[bytes]:
        with self._lock:
            scripted = self._state.scripts[resource].popleft() if self._state.scripts[resource] else None
        if scripted is not None:
            yield from scripted
            return
        rv_text = (query.get("resourceVersion") or [""])[0]
        bookmarks = (query.get("allowWatchBookmarks") or ["false"])[0].lower() in _TRUE
        timeout = float((query.get("timeoutSeconds") or [str(self.watch_hold)])[0])
        deadline = time.monotonic() + min(timeout, self.watch_hold)
        with self._lock:
            compacted = self._state.compacted_rv
            if rv_text in ("", "0"):
                start = self._state.list_rv[resource]
                initial = [{"type": "ADDED", "object": o} for o in self._selected(resource, namespace, query)]
            else:
                start, initial = int(rv_text), []
            position = 0
        if rv_text not in ("", "0") and start < compacted:
            gone = _raw_events(f"watch-{resource}-gone.raw")[0]
            gone["object"]["message"] = f"too old resource version: {start} ({compacted})"
            yield json.dumps(gone, separators=(",", ":")).encode() + b"\n"
            return
        for event in initial:
            yield _line(event)
        selector = _field_selector(query)
        while not self._stopping.is_set():
            with self._lock:
                log = self._state.logs[resource]
                pending, position = log[position:], len(log)
            for event in pending:
                if _wanted(event, start=start, namespace=namespace, selector=selector, bookmarks=bookmarks):
                    yield _line(event)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with self._lock:
                if len(self._state.logs[resource]) == position and not self._stopping.is_set():
                    self._lock.wait(timeout=remaining)

    def _patch_status(self, namespace: str, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            patch = json.loads(body)
        except json.JSONDecodeError as e:
            return 400, status_body(400, "BadRequest", f"error decoding patch: {e}")
        conflict = _load("patch-pod-status-conflict.json")["response"]["body"]
        conflict["message"] = conflict["message"].replace('"busybox3"', f'"{name}"')
        conflict["details"]["name"] = name
        with self._lock:
            st = self._state
            pod = st.pods.get((namespace, name))
            if pod is None:
                return 404, _not_found("pods", name)
            wanted_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
            if st.conflicts > 0 or (wanted_rv is not None and str(wanted_rv) != pod["metadata"]["resourceVersion"]):
                st.conflicts = max(0, st.conflicts - 1)
                return 409, conflict
            if isinstance(patch, dict) and isinstance(patch.get("metadata"), dict):
                patch["metadata"].pop("resourceVersion", None)
        updated = _merge_patch(pod, patch)
        return 200, self._put("pods", updated, event="MODIFIED")

    def _create_event(self, namespace: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            event = json.loads(body)
        except json.JSONDecodeError as e:
            return 400, status_body(400, "BadRequest", f"error decoding event: {e}")
        meta = event.setdefault("metadata", {})
        with self._lock:
            self._state.rv += 1
            rv = self._state.rv
        meta.setdefault("name", str(meta.get("generateName", "event.")) + uuid.uuid4().hex[:5])
        meta.update({"namespace": namespace, "resourceVersion": str(rv), "uid": str(uuid.uuid4()),
                     "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        for k in ("eventTime", "firstTimestamp", "lastTimestamp"):
            event.setdefault(k, None)
        with self._lock:
            self._state.events.append(copy.deepcopy(event))
        return 201, event

    def _list_events(self, namespace: str | None, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """The POSTed events (an EventList, creation order), filtered by namespace and fieldSelector."""
        selector = _field_selector(query)
        with self._lock:
            items = [copy.deepcopy(e) for e in self._state.events
                     if (namespace is None or e["metadata"]["namespace"] == namespace) and _fields_match(e, selector)]
            rv = self._state.rv
        return 200, {"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)},
                     "items": items}

    def _route(self, method: str, path: str, query: Mapping[str, list[str]],
               body: bytes) -> tuple[int, dict[str, Any]] | Iterator[bytes]:
        parts = [p for p in path.split("/") if p]
        watching = (query.get("watch") or ["false"])[0].lower() in _TRUE
        resource: Resource | None = None
        namespace: str | None = None
        name: str | None = None
        sub: str | None = None
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
            if len(rest) >= 2 and rest[0] == "namespaces":
                namespace, rest = rest[1], rest[2:]
            if rest and rest[0] == "events" and method == "POST" and namespace and len(rest) == 1:
                return self._create_event(namespace, body)
            if rest == ["events"] and method == "GET":
                return self._list_events(namespace, query)
            if rest and rest[0] == "pods":
                resource = "pods"
                name = rest[1] if len(rest) > 1 else None
                sub = rest[2] if len(rest) > 2 else None
                if len(rest) > 3:
                    return 404, _NO_ROUTE
        elif parts[:3] == ["apis", "k8s.cni.cncf.io", "v1"]:
            rest = parts[3:]
            if len(rest) >= 2 and rest[0] == "namespaces":
                namespace, rest = rest[1], rest[2:]
            if rest and rest[0] == NAD_PLURAL and len(rest) <= 2:
                resource = "nads"
                name = rest[1] if len(rest) > 1 else None
        if resource is None:
            return 404, _NO_ROUTE
        if method == "GET" and name is None:
            return self._watch_lines(resource, namespace, query) if watching else \
                self._list(resource, namespace, query)
        if method == "GET" and name is not None and namespace is not None and sub is None:
            return self._get_object(resource, namespace, name)
        if (method == "PATCH" and resource == "pods" and sub == "status" and name is not None
                and namespace is not None):
            return self._patch_status(namespace, name, body)
        return 405 if name else 404, status_body(405 if name else 404, "MethodNotAllowed" if name else "NotFound",
                                                 "the server does not allow this method on the requested resource")


def _line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _field_selector(query: Mapping[str, list[str]]) -> list[tuple[str, bool, str]]:
    """``fieldSelector`` terms as (dotted field, equal?, value): ``a=b``, ``a==b`` and ``a!=b``."""
    terms: list[tuple[str, bool, str]] = []
    for selector in query.get("fieldSelector", []):
        for term in filter(None, selector.split(",")):
            if "!=" in term:
                key, value = term.split("!=", 1)
                terms.append((key, False, value))
            else:
                key, _, value = term.partition("=")
                terms.append((key, True, value.removeprefix("=")))
    return terms


def _field(obj: Mapping[str, Any], dotted: str) -> str:
    node: Any = obj
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def _fields_match(obj: Mapping[str, Any], selector: list[tuple[str, bool, str]]) -> bool:
    return all((_field(obj, key) == value) == equal for key, equal, value in selector)


def _list_key(obj: Mapping[str, Any], namespace: str | None) -> str:
    ns, name = _key(obj)
    return name if namespace is not None else f"{ns}/{name}"


def _wanted(event: Mapping[str, Any], *, start: int, namespace: str | None,
            selector: list[tuple[str, bool, str]], bookmarks: bool) -> bool:
    obj = event.get("object", {})
    if event.get("type") == "BOOKMARK":
        return bookmarks and _rv_of(obj) > start
    if event.get("type") == "ERROR":
        return True
    if _rv_of(obj) <= start:
        return False
    if namespace is not None and obj.get("metadata", {}).get("namespace") != namespace:
        return False
    return _fields_match(obj, selector)


def _make_handler(server: ReplayServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "replay-apiserver/1.24"
        # Headers and body are written apart: without TCP_NODELAY every reply waits ~40 ms for a delayed ACK,
        # which a real kube-apiserver does not.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read server.requests
            return

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = RecordedRequest(self.command, split.path, parse_qs(split.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
            failure = server._record(req)
            if failure is not None:
                self._send_json(failure.status, failure.body)
                return
            result = server._route(self.command, split.path, req.query, body)
            if isinstance(result, tuple):
                self._send_json(*result)
            else:
                self._stream(result)

        def _send_json(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, lines: Iterator[bytes]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for line in lines:
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    return Handler
