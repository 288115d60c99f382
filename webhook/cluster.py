"""The API server of one kubeconfig context, read as raw JSON: pods, their events, every NAD.

Used by `kubectl netweave` and by `netweave lint|plan --cluster`; the kubernetes client is imported only when a
cluster is actually reached, so commands that never ask for one do not pay for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cni.kubeclient import KubeconfigError, api_client

NAD_PATH = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
TIMEOUT = 15.0


class ClusterError(Exception):
    """The cluster cannot be reached or refuses a request; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """The API server of one kubeconfig context, read as raw JSON (the shape the API returns)."""

    client: Any  # kubernetes.client.ApiClient
    namespace: str
    server: str

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            response = self.client.call_api(path, "GET", query_params=list(query), header_params={
                "Accept": "application/json"}, auth_settings=["BearerToken"], _preload_content=False,
                _return_http_data_only=True, _request_timeout=TIMEOUT)
        except ApiException as err:
            raise ClusterError(_api_message(err)) from err
        except (HTTPError, OSError) as err:  # connection refused, TLS, timeouts (urllib3 wraps most)
            raise ClusterError(f"cannot reach the API server at {self.server}: {err}") from err
        try:
            return json.loads(response.data)
        except ValueError as err:
            raise ClusterError(f"{self.server}{path}: the answer is not JSON: {err}") from err

    def pod(self, namespace: str, name: str) -> Mapping[str, Any]:
        return dict(self.get(f"/api/v1/namespaces/{namespace}/pods/{name}"))

    def events_of(self, namespace: str, name: str) -> list[Mapping[str, Any]]:
        selector = f"involvedObject.kind=Pod,involvedObject.name={name},involvedObject.namespace={namespace}"
        items = self.get(f"/api/v1/namespaces/{namespace}/events", [("fieldSelector", selector)]).get("items")
        return list(items or [])

    def nads(self) -> list[Mapping[str, Any]]:
        """Every NetworkAttachmentDefinition of the cluster, in pages."""
        out: list[Mapping[str, Any]] = []
        token = ""
        while True:
            query = [("limit", "500")] + ([("continue", token)] if token else [])
            page = self.get(NAD_PATH, query)
            out.extend({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", **item}
                       for item in page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return out


def _api_message(err: Any) -> str:
    try:
        body = json.loads(err.body)
        return f"{body.get('message') or err.reason} ({err.status} {body.get('reason', '')})".replace(" )", ")")
    except (TypeError, ValueError, AttributeError):
        return f"{err.status} {err.reason}"


def connect(kubeconfig: str | None, context: str | None, namespace: str | None,
            environ: Mapping[str, str]) -> Cluster:
    """An API client for the kubeconfig's context, as kubectl picks it."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    path = kubeconfig or environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
        if chosen is None:
            raise ClusterError(f"context {context!r} not found in {path}; contexts: "
                               f"{', '.join(str(c.get('name')) for c in contexts)}")
        client = api_client(path, context=chosen.get("name"))
    except ConfigException as err:
        raise ClusterError(f"kubeconfig {path}: {err}") from err
    except OSError as err:
        raise ClusterError(f"kubeconfig {path}: {err.strerror}") from err
    except KubeconfigError as err:
        raise ClusterError(str(err)) from err
    ns = namespace or (chosen.get("context") or {}).get("namespace") or "default"
    return Cluster(client, ns, str(client.configuration.host))
