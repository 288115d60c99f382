"""After ADD: the pod's network-status annotation and its Events; failures are logged, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from cni.context import Context
from cni.kube import Api
from cni.plan import Attachment
from cni.results import interface_ips
from cni.spec.status import NetworkStatus, dump_network_status, status_from_result

logger = logging.getLogger(__name__)


def publish(ctx: Context, api: Api, pod: Mapping[str, Any] | None, attachments: Sequence[Attachment],
            results: Mapping[str, Mapping[str, Any]]) -> None:
    """network-status + one AddedInterface event per interface; failures are logged and evented."""
    if pod is None:
        return
    entries = [status_entry(att, results[att.ifname]) for att in attachments]
    try:
        client = api.client
        if client is None:
            return
        client.patch_network_status(pod, dump_network_status(entries))
    except Exception as e:  # status is informational: never fail an ADD that worked
        logger.error("cannot write network-status: %s", e, extra={"pod": _pod_name(pod)})
        event(ctx, api, pod, "FailedWritingNetworkStatus", f"network-status not written: {e}", warning=True)
    for att in attachments:
        addresses = ",".join(str(ip.get("address")) for ip in interface_ips(results[att.ifname], att.ifname))
        event(ctx, api, pod, "AddedInterface", f"Add {att.ifname} [{addresses}] from {att.network}",
              warning=False)


def status_entry(att: Attachment, result: Mapping[str, Any]) -> NetworkStatus:
    """The network-status element of one attachment."""
    return status_from_result(result, name=att.network, interface=att.ifname, default=att.is_default,
                              default_route=att.default_route, device_id=att.device_id)


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
