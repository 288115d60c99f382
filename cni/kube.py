"""Kubernetes API edge: pod and NAD GET, the network-status PATCH, Events (official client, imported lazily)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Final

from cni import errors
from cni.context import Context, Kube, KubeFactory
from cni.errors import CniError
from cni.kubeclient import KubeconfigError, api_client
from cni.request import Config
from cni.spec import NETWORK_STATUS_ANNOTATION

logger = logging.getLogger(__name__)

TIMEOUT: Final = (3.0, 10.0)   # connect, read (seconds)
NAD_PATH: Final = "/apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions/{name}"
POD_PATH: Final = "/api/v1/namespaces/{ns}/pods/{name}"
COMPONENT: Final = "netweave"
# The KubeFactory key for the process's own API credentials: the node daemon's service account (the daemon's
# factory serves every key with its own client); a standalone process has none.
OWN_CREDENTIALS: Final = ""


def kube_from_kubeconfig(path: str) -> Kube:
    """The default KubeFactory: the official client configured from `path` only."""
    return KubeClient.from_kubeconfig(path)


class Api:
    """Pod and NAD reads through the context's lookups, else the API client (built on first use)."""

    def __init__(self, ctx: Context, config: Config) -> None:
        self._ctx = ctx
        self._config = config
        self._client: Kube | None = None
        self._no_client = False
        self._factory: KubeFactory = ctx.kube or kube_from_kubeconfig

    @property
    def client(self) -> Kube | None:
        """The client of the conflist's kubeconfig, else the process's own (the node daemon's); None without."""
        if self._client is None and not self._no_client:
            if self._config.kubeconfig:
                self._client = self._factory(self._config.kubeconfig)
            else:
                try:
                    self._client = self._factory(OWN_CREDENTIALS)
                except CniError:
                    self._no_client = True
        return self._client

    @property
    def readable(self) -> bool:
        """Whether pods can be read at all (a lookup or a kubeconfig)."""
        return self._ctx.pod_lookup is not None or bool(self._config.kubeconfig)

    def pod(self, namespace: str, name: str, uid: str | None = None) -> Mapping[str, Any] | None:
        """The pod; a lookup miss, or a cached pod of another uid, falls through to a GET (a cache may lag
        behind a new or recreated pod)."""
        if self._ctx.pod_lookup is not None:
            found = self._ctx.pod_lookup(namespace, name)
            cached_uid = (found or {}).get("metadata", {}).get("uid") if found is not None else None
            if found is not None and (not uid or not cached_uid or cached_uid == uid):
                return found
        client = self.client
        return client.get_pod(namespace, name) if client else None

    def nad(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The NAD; a lookup miss falls through to a GET."""
        if self._ctx.nad_lookup is not None:
            found = self._ctx.nad_lookup(namespace, name)
            if found is not None:
                return found
        client = self.client
        if client is None:
            if self._ctx.nad_lookup is not None:
                return None
            raise CniError(errors.INVALID_CONFIG, f"network {namespace}/{name} needs a kubeconfig to be read")
        return client.get_nad(namespace, name)


class KubeClient:
    """The Kube protocol over kubernetes.client.ApiClient, with raw JSON in and out (no model decoding)."""

    def __init__(self, api_client: Any, *, retries: int = 5) -> None:
        self._api = api_client
        self._retries = retries

    @classmethod
    def from_kubeconfig(cls, path: str) -> KubeClient:
        """A client configured only from the kubeconfig file at `path` (never from KUBECONFIG); none for ""."""
        if path == OWN_CREDENTIALS:
            raise CniError(errors.INVALID_CONFIG, "no kubeconfig, and this process has no API credentials")
        try:
            return cls(api_client(path, retries=1))
        except KubeconfigError as e:
            raise CniError(errors.INVALID_CONFIG, f"cannot load kubeconfig {path}", e.reason) from e

    def get_pod(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._get(POD_PATH.format(ns=namespace, name=name))

    def get_nad(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._get(NAD_PATH.format(ns=namespace, name=name))

    def patch_network_status(self, pod: Mapping[str, Any], value: str) -> None:
        """Merge-patch the annotation on pods/status, re-reading the pod on 409 Conflict."""
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        version = meta.get("resourceVersion")
        for attempt in range(self._retries):
            body: dict[str, Any] = {"metadata": {"annotations": {NETWORK_STATUS_ANNOTATION: value}}}
            if version:
                body["metadata"]["resourceVersion"] = version
            status, reply = self._call("PATCH", POD_PATH.format(ns=namespace, name=name) + "/status",
                                       body=body, content_type="application/merge-patch+json")
            if status < 300:
                return
            if status != 409:
                raise CniError(errors.TRY_AGAIN_LATER, f"status PATCH of {namespace}/{name} failed: {status}",
                               str(reply.get("message", "")))
            logger.info("network-status conflict, retrying", extra={"pod": f"{namespace}/{name}",
                                                                    "attempt": attempt + 1})
            fresh = self.get_pod(namespace, name)
            if fresh is None:
                raise CniError(errors.POD_NOT_FOUND, f"pod {namespace}/{name} disappeared")
            version = (fresh.get("metadata") or {}).get("resourceVersion")
        raise CniError(errors.TRY_AGAIN_LATER, f"status PATCH of {namespace}/{name} kept conflicting")

    def create_event(self, pod: Mapping[str, Any], *, reason: str, message: str, warning: bool,
                     node: str) -> None:
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        involved = {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": namespace}
        if meta.get("uid"):
            involved["uid"] = str(meta["uid"])
        self._post_event(namespace, involved, reason=reason, message=message, warning=warning, node=node)

    def create_node_event(self, *, reason: str, message: str, warning: bool, node: str) -> None:
        """An Event about this Node itself (in "default", where the kubelet puts node events)."""
        involved = {"apiVersion": "v1", "kind": "Node", "name": node}
        self._post_event("default", involved, reason=reason, message=message, warning=warning, node=node)

    def _post_event(self, namespace: str, involved: Mapping[str, str], *, reason: str, message: str,
                    warning: bool, node: str) -> None:
        name = involved["name"]
        body = {
            "apiVersion": "v1", "kind": "Event", "metadata": {"generateName": f"{name}."},
            "involvedObject": involved, "reason": reason, "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT, "host": node},
            "reportingComponent": COMPONENT, "reportingInstance": node,
        }
        status, reply = self._call("POST", f"/api/v1/namespaces/{namespace}/events", body=body,
                                   content_type="application/json")
        if status >= 300:
            raise CniError(errors.TRY_AGAIN_LATER, f"event POST failed: {status}", str(reply.get("message", "")))

    def _get(self, path: str) -> Mapping[str, Any] | None:
        status, body = self._call("GET", path)
        if status == 404:
            return None
        if status >= 300:
            raise CniError(errors.TRY_AGAIN_LATER, f"GET {path} failed: {status}", str(body.get("message", "")))
        return body

    def _call(self, method: str, path: str, *, body: Any = None,
              content_type: str | None = None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, decoded body) of one request; CniError(11) when the server cannot be reached."""
        from kubernetes.client.rest import ApiException

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self._api.call_api(path, method, header_params=headers, body=body,
                                          auth_settings=["BearerToken"], _preload_content=False,
                                          _return_http_data_only=True, _request_timeout=TIMEOUT)
            status, data = int(response.status), response.data
        except ApiException as e:
            status, data = int(e.status or 0), (e.body or b"")
        except Exception as e:  # urllib3 connection and timeout errors
            raise CniError(errors.TRY_AGAIN_LATER, f"cannot reach the API server for {method} {path}",
                           str(e)) from e
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"message": data[:200].decode(errors="replace") if isinstance(data, bytes) else str(data)}
        return status, decoded if isinstance(decoded, dict) else {}
