"""The NADs a pod names: they exist, the pod may use them, their configs are usable, their subnets are apart."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from cni.spec import IPNetwork, isolation_denial, namespace_forbidden
from webhook.rules.base import Attachment, Issue, PodContext


def _not_found(ctx: PodContext, att: Attachment) -> Issue:
    elsewhere = [ns for ns in ctx.catalog.namespaces_of(att.selection.name) if ns != att.namespace]
    if elsewhere:
        hint = f'a NAD named "{att.selection.name}" exists in namespace "{elsewhere[0]}": write ' \
               f'"{elsewhere[0]}/{att.selection.name}" (or set "namespace")'
    else:
        hint = f'create NetworkAttachmentDefinition "{att.selection.name}" in namespace "{att.namespace}", ' \
               "or fix the name"
    return Issue(att.path, f"{att.label}: NetworkAttachmentDefinition not found", hint,
                 unresolved=f"{att.namespace}/{att.selection.name}")


def network_not_found(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.attachments:
        if att.nad is None:
            yield _not_found(ctx, att)


def _forbidden(ctx: PodContext, att: Attachment) -> bool:
    return namespace_forbidden(att.namespace, pod_namespace=ctx.namespace, isolation=ctx.policy.namespace_isolation,
                               global_namespaces=ctx.policy.global_namespaces)


def network_namespace_forbidden(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.attachments:
        if _forbidden(ctx, att):
            yield Issue(f"{att.path}.namespace" if att.selection.namespace else att.path,
                        f"{att.label}: {isolation_denial(att.namespace, pod_namespace=ctx.namespace)}",
                        f'use a NAD in "{ctx.namespace}" or in a global namespace '
                        f'({", ".join(ctx.policy.global_namespaces) or "none"})')


def network_config_invalid(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.all_attachments:
        nad = att.nad
        if nad is None:
            continue
        # The node delegates only a NAD with a usable inline config (cni/plan.py _usable_nad, code 7): for a pod
        # that uses one without, what is a warning on the NAD alone is an error.
        usable = nad.config is not None and bool(nad.config.plugins)
        if not usable and all(p.severity == "warning" for p in nad.config_problems):  # spec.config empty
            yield Issue(att.path, f"{att.label}: NAD {nad.key} has no spec.config; netweave's node needs the CNI "
                        "config inline (it does not look up a config file by the NAD's name as Multus does)",
                        f"put the CNI config JSON (a config or conflist) in spec.config of "
                        f"NetworkAttachmentDefinition {nad.key}", "error")
            continue
        for problem in nad.config_problems:
            yield Issue(att.path, f"{att.label}: the NAD's {problem.path}: {problem.message}",
                        f"fix NetworkAttachmentDefinition {nad.key}: {problem.hint}",
                        problem.severity if usable else "error")


def default_network_override(ctx: PodContext) -> Iterator[Issue]:
    parsed = ctx.default_network
    att = ctx.default_attachment
    if parsed is None or att is None:
        return
    if len(parsed.elements) > 1:
        yield Issue(ctx.default_path, f"default-network: names {len(parsed.elements)} networks; a pod has exactly "
                    "one default network", "name a single NAD, e.g. kube-system/calico-net")
    if att.selection.interface is not None:
        yield Issue(ctx.default_path, f"{att.label}: sets interface \"{att.selection.interface}\", but the default "
                    f"network is always {ctx.policy.primary_interface}", "remove the interface from default-network")
    if att.nad is None:
        yield _not_found(ctx, att)
    elif _forbidden(ctx, att):
        yield Issue(ctx.default_path, f"{att.label}: {isolation_denial(att.namespace, pod_namespace=ctx.namespace)}",
                    "use a default network in a global namespace")


def subnet_overlap(ctx: PodContext) -> Iterator[Issue]:
    # Each distinct NAD once, its subnets as integer spans: this rule runs on every admission.
    networks: dict[str, tuple[Attachment, list[tuple[int, int, int, IPNetwork]]]] = {}
    for att in ctx.all_attachments:
        if att.nad is None or att.nad.config is None or not att.nad.config.subnets or att.nad.key in networks:
            continue
        spans: list[tuple[int, int, int, IPNetwork]] = [
            (s.version, int(s.network_address), int(s.broadcast_address), s) for s in att.nad.config.subnets]
        networks[att.nad.key] = (att, spans)
    for (first, first_spans), (second, second_spans) in combinations(networks.values(), 2):
        clash = next(((a, b) for a in first_spans for b in second_spans
                      if a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]), None)
        if clash is not None:
            yield Issue(second.path, f"{second.label}: subnet {clash[1][3]} overlaps {clash[0][3]} of {first.label}",
                        "routes to the overlapping range become ambiguous; use disjoint subnets")
