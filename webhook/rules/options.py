"""Runtime options (portMappings, bandwidth, infiniband-guid) and whether the NAD's plugins can receive them."""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec.plugins import receives
from cni.spec.values import element_value_problems
from webhook.rules.base import Attachment, Issue, PodContext

# Plugins that read CNI_ARGS IP= / MAC= (the node sets them, as Multus does), or whose controller reads the
# networks annotation itself (Kube-OVN), need no capability: cni.spec.plugins knows which.
# Fields whose values reach a delegate and have no rule of their own (cni.spec.values checks them).
_OPTION_FIELDS = frozenset({"portMappings", "bandwidth", "infiniband-guid", "cni-args", "deviceID"})


def attachment_options(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        for found in element_value_problems(att.selection, att.path, _OPTION_FIELDS):
            yield Issue(found.problem.path, f"{att.label}: {found.problem.message}", found.problem.hint)


def _missing(att: Attachment) -> Iterator[tuple[str, str, str]]:
    """(field, what the plugin lacks, hint) for each request none of the NAD's plugins can receive."""
    conf = att.nad.config if att.nad is not None else None
    if conf is None:
        return
    caps = conf.capabilities
    sel = att.selection
    if sel.ips is not None and "ips" not in caps and not receives(conf, "ips"):
        yield "ips", 'the "ips" capability', 'declare "capabilities": {"ips": true} on a plugin that supports it'
    if sel.mac is not None and "mac" not in caps and not receives(conf, "mac"):
        yield "mac", 'the "mac" capability', 'declare "capabilities": {"mac": true}, or add the tuning plugin'
    for field, cap, value in (("portMappings", "portMappings", sel.port_mappings),
                              ("bandwidth", "bandwidth", sel.bandwidth),
                              ("infiniband-guid", "infinibandGUID", sel.infiniband_guid)):
        if value is not None and cap not in caps:
            yield field, f'the "{cap}" capability', f'add a plugin declaring "capabilities": {{"{cap}": true}}'


def capability_missing(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        for field, lack, hint in _missing(att):
            yield Issue(f"{att.path}.{field}", f"{att.label}: {field} would be silently dropped: no plugin of "
                        f"{att.nad.key if att.nad else att.selection.name} has {lack}", hint)
