"""The pod's network-status annotation (written after ADD, cleared at DEL) and its Events; failures are logged,
never fatal. Both go through the Api's client: the conflist's kubeconfig, else the node daemon's own."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from cni.context import Context
from cni.kube import Api
from cni.plan import Attachment
from cni.results import interface_ips
from cni.routes import Route
from cni.spec import NETWORK_STATUS_ANNOTATION
from cni.spec.status import NetworkStatus, dump_network_status, status_from_result, without_entries

logger = logging.getLogger(__name__)


def publish(ctx: Context, api: Api, pod: Mapping[str, Any] | None, attachments: Sequence[Attachment],
            results: Mapping[str, Mapping[str, Any]], defaults: Sequence[Route] = ()) -> None:
    """network-status + one AddedInterface event per interface; failures are logged and evented.

    `defaults`: the pod's default routes after ADD, which fill each entry's `gateway`."""
    if pod is None:
        return
    if write_status(ctx, api, pod, attachments, results, defaults):
        announce(ctx, api, pod, attachments, results)


def write_status(ctx: Context, api: Api, pod: Mapping[str, Any], attachments: Sequence[Attachment],
                 results: Mapping[str, Mapping[str, Any]], defaults: Sequence[Route] = ()) -> bool:
    """Replace network-status with these attachments' entries; False without a client (failures are evented)."""
    entries = status_entries(attachments, results, defaults)
    try:
        client = api.client
        if client is None:
            return False
        client.patch_network_status(pod, dump_network_status(entries))
    except Exception as e:  # status is informational: never fail an ADD that worked
        logger.warning("cannot write network-status: %s", e, extra={"pod": _pod_name(pod)})
        event(ctx, api, pod, "FailedWritingNetworkStatus", f"network-status not written: {e}", warning=True)
    return True


def announce(ctx: Context, api: Api, pod: Mapping[str, Any], attachments: Sequence[Attachment],
             results: Mapping[str, Mapping[str, Any]]) -> None:
    """One AddedInterface event per attachment."""
    for att in attachments:
        addresses = ",".join(str(ip.get("address")) for ip in interface_ips(results[att.ifname], att.ifname))
        event(ctx, api, pod, "AddedInterface", f"Add {att.ifname} [{addresses}] from {att.network}",
              warning=False)


def retract(api: Api, pod_ref: Mapping[str, str | None] | None, attachments: Sequence[Attachment],
            results: Mapping[str, Mapping[str, Any]]) -> None:
    """At DEL: remove this sandbox's entries from the pod's network-status (best-effort, logged).

    Leaves the pod alone when it was replaced (another uid) or holds none of these entries (a newer sandbox
    already rewrote it). A stale cached pod only costs a 409 and a re-read in the PATCH; kubelet runs one sandbox
    operation per pod at a time, so no ADD of a new sandbox races this read-modify-write.
    """
    if not pod_ref or not pod_ref.get("namespace") or not pod_ref.get("name"):
        return
    name = f"{pod_ref['namespace']}/{pod_ref['name']}"
    try:
        client = api.client
        if client is None:
            return
        pod = api.pod(str(pod_ref["namespace"]), str(pod_ref["name"]), pod_ref.get("uid"))
        meta = (pod or {}).get("metadata") or {}
        if pod is None or (pod_ref.get("uid") and meta.get("uid") and meta.get("uid") != pod_ref["uid"]):
            return
        current = (meta.get("annotations") or {}).get(NETWORK_STATUS_ANNOTATION)
        if not isinstance(current, str):
            return
        remaining = without_entries(current, status_entries(attachments, results))
        if remaining is not None:
            client.patch_network_status(pod, remaining)
    except Exception as e:  # DEL never fails because the API server is unreachable
        logger.warning("cannot clear network-status: %s", e, extra={"pod": name})


def status_entries(attachments: Sequence[Attachment], results: Mapping[str, Mapping[str, Any]],
                   defaults: Sequence[Route] = ()) -> list[NetworkStatus]:
    """The network-status elements of the attachments that have a result."""
    return [status_entry(att, results[att.ifname], defaults) for att in attachments if att.ifname in results]


def status_entry(att: Attachment, result: Mapping[str, Any], defaults: Sequence[Route] = ()) -> NetworkStatus:
    """The network-status element of one attachment; `gateway` from the default routes on its interface."""
    gateways = [r.gateway for r in defaults if r.ifname == att.ifname and r.gateway and r.is_default]
    return status_from_result(result, name=att.network, interface=att.ifname, default=att.is_default,
                              default_route=att.default_route, gateway=gateways, device_id=att.device_id)


def event(ctx: Context, api: Api, pod: Mapping[str, Any] | None, reason: str, message: str, *,
          warning: bool) -> None:
    """Post one Event about the pod (best-effort)."""
    if pod is None:
        return
    try:
        client = api.client
        if client is not None:
            client.create_event(pod, reason=reason, message=message, warning=warning, node=ctx.node_name)
    except Exception as e:  # an Event is best-effort
        logger.warning("cannot post event %s: %s", reason, e, extra={"pod": _pod_name(pod)})


def _pod_name(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
