"""Rules that know the plugins (cni.spec.plugins): Kube-OVN providers and QoS keys, OVN-Kubernetes
netAttachDefName, device-plugin resources, Calico as a secondary. Each checks a NAD (at NAD admission and in lint)
and every pod attachment that uses such a NAD."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from cni.spec import Nad, Problem
from cni.spec.plugins import PluginFamily, calico, kubeovn, ovnk, sriov
from cni.spec.problems import annotation_path
from webhook.catalog import NadCatalog
from webhook.rules.base import Attachment, Issue, PodContext

KUBE_OVN_PROVIDER = "kube-ovn-provider"
OVN_K_NAD_NAME = "ovn-k-net-attach-def-name"
OVN_K_NETWORK_CONFLICT = "ovn-k-network-conflict"
DEVICE_RESOURCE_MISSING = "device-resource-missing"

NadCheck = Callable[[Nad], Iterable[Problem]]
_PRIMARY_QOS = tuple((key, kubeovn.annotation_key(kubeovn.PRIMARY_PROVIDER, key)) for key in kubeovn.QOS_KEYS)


def _kube_ovn_nad(nad: Nad) -> Iterable[Problem]:
    return kubeovn.provider_problems(nad, secondary=False)


# Checks of a NAD on its own (NAD admission, lint of NAD manifests), by rule id.
NAD_CHECKS: tuple[tuple[str, NadCheck], ...] = (
    (KUBE_OVN_PROVIDER, _kube_ovn_nad),
    (OVN_K_NAD_NAME, ovnk.name_problems),
    (DEVICE_RESOURCE_MISSING, sriov.resource_problems),
)


def nad_plugin_issues(nad: Nad, *, catalog: NadCatalog | None = None) -> Iterator[tuple[str, Issue]]:
    """(rule id, issue) for everything the plugin knowledge finds wrong with one NAD."""
    for rule_id, check in NAD_CHECKS:
        for p in check(nad):
            yield rule_id, Issue(p.path, f"{p.path}: {p.message}", p.hint, p.severity)
    if catalog is not None:
        yield from ((OVN_K_NETWORK_CONFLICT, issue) for issue in ovn_k_conflicts(nad, catalog))


def ovn_k_conflicts(nad: Nad, catalog: NadCatalog) -> Iterator[Issue]:
    """Another NAD naming the same OVN-K network with different settings (ovn-kubernetes#3428)."""
    mine = ovnk.network_settings(nad)
    if mine is None or not isinstance(catalog, Iterable):  # the in-memory catalogs can list their NADs
        return
    name, settings = mine
    for other in catalog:
        if (other.namespace, other.name) == (nad.namespace, nad.name):
            continue
        theirs = ovnk.network_settings(other)
        if theirs is not None and theirs[0] == name and theirs[1] != settings:
            differ = ", ".join(k for (k, a), (_, b) in zip(settings, theirs[1], strict=True) if a != b)
            yield Issue("spec.config", f"spec.config: OVN-Kubernetes network {name!r} is also defined by NAD "
                        f"{other.key} with a different {differ}: pods on either hang (ovn-kubernetes#3428)",
                        f"give this network its own name, or the same {differ} as {other.key}")
            return


def _using(ctx: PodContext, family: PluginFamily) -> Iterator[tuple[Attachment, Nad]]:
    """The pod's attachments whose NAD runs a plugin (or IPAM) of the family: the only ones a family rule reads,
    found with two set lookups per attachment (these rules run on every admission)."""
    for att in ctx.all_attachments:
        conf = att.nad.config if att.nad is not None else None
        if conf is not None and att.nad is not None and not (
                family.plugin_types.isdisjoint(conf.plugin_types) and family.ipam_types.isdisjoint(conf.ipam_types)):
            yield att, att.nad


def _issues(att: Attachment, nad: Nad, problems: Iterable[Problem]) -> Iterator[Issue]:
    for p in problems:
        yield Issue(att.path, f"{att.label}: NAD {nad.key} {p.path}: {p.message}", p.hint, p.severity)


def kube_ovn_provider(ctx: PodContext) -> Iterator[Issue]:
    for att, nad in _using(ctx, kubeovn.FAMILY):
        yield from _issues(att, nad, kubeovn.provider_problems(nad, secondary=att is not ctx.default_attachment))


def ovn_k_net_attach_def_name(ctx: PodContext) -> Iterator[Issue]:
    for att, nad in _using(ctx, ovnk.FAMILY):
        yield from _issues(att, nad, ovnk.name_problems(nad))


def device_resource_missing(ctx: PodContext) -> Iterator[Issue]:
    for att, nad in _using(ctx, sriov.FAMILY):
        yield from _issues(att, nad, sriov.resource_problems(nad))


def ovn_k_network_conflict(ctx: PodContext) -> Iterator[Issue]:
    for att, nad in _using(ctx, ovnk.FAMILY):
        for issue in ovn_k_conflicts(nad, ctx.catalog):
            yield Issue(att.path, f"{att.label}: NAD {nad.key} {issue.message}", issue.hint)


def calico_secondary(ctx: PodContext) -> Iterator[Issue]:
    """Calico on a secondary interface (the default-network override is its supported place)."""
    for att in ctx.attachments:
        conf = att.nad.config if att.nad is not None else None
        if conf is not None and not conf.plugin_types.isdisjoint(calico.TYPES):
            yield Issue(att.path, f"{att.label}: {calico.FAMILY.secondary_note}; the pod may never start",
                        f'make it the primary network (v1.multus-cni.io/default-network: "{att.namespace}/'
                        f'{att.selection.name}") and attach the other network as the secondary')


def kube_ovn_qos_key(ctx: PodContext) -> Iterator[Issue]:
    """`ovn.kubernetes.io/<qos>` on a pod whose Kube-OVN network is a secondary: it shapes only the primary."""
    present = [key for key, primary_key in _PRIMARY_QOS if primary_key in ctx.annotations]
    providers = [(att, p) for att in ctx.attachments if (p := _provider(att)) is not None] if present else []
    for key in present if providers else ():
        primary_key = kubeovn.annotation_key(kubeovn.PRIMARY_PROVIDER, key)
        wanted = [(att, kubeovn.annotation_key(p, key)) for att, p in providers]
        if any(k in ctx.annotations for _, k in wanted):
            continue  # the pod sets the secondary's key as well: the primary one is meant for the primary
        names = " or ".join(f'"{k}" (for {att.label})' for att, k in wanted)
        yield Issue(annotation_path(primary_key, ctx.prefix),
                    f"{primary_key} shapes only the Kube-OVN primary network (provider {kubeovn.PRIMARY_PROVIDER}), "
                    "but the pod's Kube-OVN network is a secondary",
                    f"to shape the secondary interface write {names}")


def _provider(att: Attachment) -> str | None:
    conf = att.nad.config if att.nad is not None else None
    if conf is None or kubeovn.TYPE not in conf.plugin_types or att.nad is None:
        return None
    return kubeovn.provider_of(conf) or kubeovn.attachment_provider(att.nad.name, att.nad.namespace)
