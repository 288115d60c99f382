"""Rules that know the plugins (cni.spec.plugins): Kube-OVN providers and QoS keys, OVN-Kubernetes
netAttachDefName, device-plugin resources, Calico as a secondary. Each checks a NAD (at NAD admission and in lint)
and every pod attachment that uses such a NAD."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from cni.spec import Nad, Problem
from cni.spec.plugins import calico, kubeovn, ovnk, sriov
from cni.spec.problems import annotation_path
from webhook.catalog import NadCatalog
from webhook.rules.base import Attachment, Issue, PodContext

KUBE_OVN_PROVIDER = "kube-ovn-provider"
KUBE_OVN_QOS_KEY = "kube-ovn-qos-key"
OVN_K_NAD_NAME = "ovn-k-net-attach-def-name"
OVN_K_NETWORK_CONFLICT = "ovn-k-network-conflict"
DEVICE_RESOURCE_MISSING = "device-resource-missing"
CALICO_SECONDARY = "calico-secondary"

NadCheck = Callable[[Nad], Iterable[Problem]]


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


def _attachment_issues(ctx: PodContext, check: Callable[[Attachment], Iterable[Problem]]) -> Iterator[Issue]:
    for att in ctx.all_attachments:
        if att.nad is None:
            continue
        for p in check(att):
            yield Issue(att.path, f"{att.label}: NAD {att.nad.key} {p.path}: {p.message}", p.hint, p.severity)


def kube_ovn_provider(ctx: PodContext) -> Iterator[Issue]:
    yield from _attachment_issues(ctx, lambda att: kubeovn.provider_problems(
        att.nad, secondary=att is not ctx.default_attachment) if att.nad else ())


def ovn_k_net_attach_def_name(ctx: PodContext) -> Iterator[Issue]:
    yield from _attachment_issues(ctx, lambda att: ovnk.name_problems(att.nad) if att.nad else ())


def device_resource_missing(ctx: PodContext) -> Iterator[Issue]:
    yield from _attachment_issues(ctx, lambda att: sriov.resource_problems(att.nad) if att.nad else ())


def ovn_k_network_conflict(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.all_attachments:
        if att.nad is not None:
            for issue in ovn_k_conflicts(att.nad, ctx.catalog):
                yield Issue(att.path, f"{att.label}: NAD {att.nad.key} {issue.message}", issue.hint)


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
    providers = [(att, p) for att in ctx.attachments if (p := _provider(att)) is not None]
    if not providers:
        return
    for key in kubeovn.QOS_KEYS:
        primary_key = kubeovn.annotation_key(kubeovn.PRIMARY_PROVIDER, key)
        if primary_key not in ctx.annotations:
            continue
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
