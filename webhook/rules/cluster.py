"""Cluster-wide rules: what one object means for the other pods of the cluster (the webhook's pod index) or of
lint's inputs. Static IPs taken by another pod on the same NAD; a NAD deleted while pods use it; NAD subnets
that overlap other NADs of the namespace."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cni.spec import Nad
from cni.spec.values import parse_address
from webhook.podindex import PodLookup
from webhook.rules.base import Issue, PodContext

STATIC_IP_CONFLICT = "static-ip-conflict"
NETWORK_IN_USE = "network-in-use"
SUBNET_OVERLAP = "subnet-overlap"


def static_ip_conflict(ctx: PodContext) -> Iterator[Issue]:
    """A static IP another pod already requested on the same NAD: the second pod would never get it (or both
    would carry it); Kube-OVN's troubleshooting list calls it out."""
    for att in ctx.all_attachments:
        if not att.selection.ips:
            continue
        network = f"{att.namespace}/{att.selection.name}"
        for i, text in enumerate(att.selection.ips):
            address = parse_address(text)
            if address is None:
                continue  # static-ip reports it
            others = ctx.pods.claim(network, str(address), ctx.pod_key)
            if others:
                more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
                yield Issue(f"{att.path}.ips[{i}]", f"{att.label}: {address} is already requested on {network} "
                            f"by {others[0]}{more}",
                            f"choose a free address on {network}, or free it on {others[0]} first")


def network_in_use(ctx: PodContext) -> Iterable[Issue]:
    """Reported at NAD DELETE (see nad_in_use); a pod on its own never triggers it."""
    return ()


def nad_in_use(namespace: str, name: str, pods: PodLookup, *, changed: bool = False) -> Issue | None:
    """Deleting (or changing the config of) a NAD that running pods use: their DEL still works (the node's cache),
    but a restarted sandbox cannot attach again, or attaches differently from its siblings (multus-cni#199: the
    maintainers say admission should decide)."""
    shown, count = pods.users(f"{namespace}/{name}", limit=3)
    if not count:
        return None
    listed = ", ".join(shown) + (f" and {count - len(shown)} more" if count > len(shown) else "")
    if changed:
        return Issue("spec.config", f"spec.config of NAD {namespace}/{name} changes while {count} pod(s) use it: "
                     f"{listed}; they keep the old config until their sandbox restarts",
                     "create a new NAD and move the pods to it (policy rules.network-in-use: error denies the "
                     "change)")
    return Issue("metadata.name", f"NAD {namespace}/{name} is used by {count} pod(s): {listed}; a restarted "
                 "pod sandbox could not attach it again",
                 "delete or move those pods first (policy rules.network-in-use: error denies the delete)")


def namespace_subnet_overlaps(nad: Nad, others: Iterable[Nad]) -> Iterator[Issue]:
    """This NAD's IPAM subnets overlapping those of other NADs of its namespace (two networks, one range)."""
    if nad.config is None or not nad.config.subnets:
        return
    for other in sorted(others, key=lambda n: n.name):
        if other.namespace != nad.namespace or other.name == nad.name or other.config is None:
            continue
        for mine in nad.config.subnets:
            clash = next((s for s in other.config.subnets if s.version == mine.version and s.overlaps(mine)), None)
            if clash is not None:
                yield Issue("spec.config", f"spec.config: subnet {mine} overlaps {clash} of NAD {other.key} in the "
                            "same namespace: a pod attached to both gets two routes into one range",
                            "give each NAD of the namespace its own range", "warning")
                break
