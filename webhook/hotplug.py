"""Hot-plug admission (pure): which changes of a running pod's networks annotation the node can apply in place.

Under policy `hotPlug`, a running pod may add and remove whole attachments. What an existing attachment is — its
network, its interface name, its addresses — never changes in place (the node would have to tear it down under
the application's feet), the cluster default network (eth0) never moves, the default route moves only when the
policy says `defaultRoute: true`, and a device-plugin network cannot be hot-added (no device was allocated).
Interface names are the node's (cni.spec.interface_names), so an auto-named `net<N>` that would shift is caught.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cni.spec import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORKS_ANNOTATION,
    NetworkSelection,
    annotation_path,
    default_route_owners,
    interface_names,
    network_namespace,
    parse_networks,
)
from webhook.catalog import NadCatalog
from webhook.findings import Finding
from webhook.policy import Policy

HOTPLUG_CHANGE = "hotplug-change"
HOTPLUG_DEVICE = "hotplug-device"
# (id, default severity, summary), as webhook.catalogue lists admission rules.
HOTPLUG_RULES = (
    (HOTPLUG_CHANGE, "error", "hot-plug adds or removes whole attachments; none is renamed or re-addressed"),
    (HOTPLUG_DEVICE, "error", "device-plugin networks are not hot-added (the pod has no device for them)"),
)
# Element fields that make an attachment what it is on the node (address, identity, options given to its ADD).
_IN_PLACE_FIELDS = ("ips", "mac", "cni_args", "port_mappings", "bandwidth", "infiniband_guid",
                    "ipam_claim_reference", "device_id", "extra")
_RECREATE = "remove the attachment and add it again under a new interface name, or recreate the pod"


@dataclass(frozen=True, slots=True)
class _Attached:
    """One element with the interface name the node gives it and the NAD it resolves to."""

    ifname: str
    network: str  # "namespace/name"
    selection: NetworkSelection


def hotplug_findings(new: Mapping[str, str], old: Mapping[str, str], *, namespace: str, catalog: NadCatalog,
                     policy: Policy) -> tuple[Finding, ...]:
    """Why the change from `old` to `new` annotations cannot be applied to a running pod (empty: it can)."""
    findings: list[Finding] = []
    if new.get(DEFAULT_NETWORK_ANNOTATION) != old.get(DEFAULT_NETWORK_ANNOTATION):
        findings.append(_change(annotation_path(DEFAULT_NETWORK_ANNOTATION),
                                f"{annotation_path(DEFAULT_NETWORK_ANNOTATION)}: the cluster default network "
                                f"({policy.primary_interface}) cannot change on a running pod",
                                "recreate the pod to move its default network", policy))
    before = _attached(old.get(NETWORKS_ANNOTATION, ""), namespace, policy)
    after = _attached(new.get(NETWORKS_ANNOTATION, ""), namespace, policy)
    if before is None or after is None:  # unparsable: annotation-syntax reports the new value
        return _leveled(findings, policy)
    findings.extend(_in_place(before, after, policy))
    findings.extend(_renamed(before, after, policy))
    if not policy.hot_plug.default_route:
        findings.extend(_route_moved(before, after, policy))
    findings.extend(_device_backed(before, after, catalog, policy))
    return _leveled(findings, policy)


def _attached(text: str, namespace: str, policy: Policy) -> tuple[_Attached, ...] | None:
    if not text.strip():
        return ()
    parsed = parse_networks(text)
    if parsed.problems:
        return None
    names = interface_names(parsed.elements, primary=policy.primary_interface)
    return tuple(_Attached(ifname, f"{network_namespace(sel.namespace, pod_namespace=namespace)}/{sel.name}", sel)
                 for sel, ifname in zip(parsed.elements, names, strict=True))


def _in_place(before: Sequence[_Attached], after: Sequence[_Attached], policy: Policy) -> list[Finding]:
    """An interface that stays but would get another network or other addresses."""
    was = {a.ifname: a for a in before}
    out: list[Finding] = []
    for now in after:
        old = was.get(now.ifname)
        if old is None:
            continue
        where = _where(now)
        previous = _previous_name(now, before, after)
        if old.network != now.network:
            out.append(_renaming(now, previous, policy) if previous is not None else _change(
                _path(now), f'{where}: interface "{now.ifname}" is attached to "{old.network}"; it cannot be '
                f're-pointed to "{now.network}" in place', f"{_RECREATE}; give kept attachments explicit names "
                f"(name@{old.ifname}) so that removing one does not shift the auto-named net<N> after it", policy))
            continue
        changed = [f for f in _IN_PLACE_FIELDS if getattr(old.selection, f) != getattr(now.selection, f)]
        if changed:
            fields = ", ".join(f.replace("_", "-") for f in changed)
            out.append(_change(_path(now), f'{where}: interface "{now.ifname}" is attached; its {fields} cannot '
                               "change in place", _RECREATE, policy))
    return out


def _renamed(before: Sequence[_Attached], after: Sequence[_Attached], policy: Policy) -> list[Finding]:
    """A network attached once before and once after, under another interface name (the old one gone)."""
    was = {a.ifname for a in before}
    out: list[Finding] = []
    for now in after:
        previous = _previous_name(now, before, after)
        if previous is not None and now.ifname not in was:   # an ifname kept is _in_place's to report
            out.append(_renaming(now, previous, policy))
    return out


def _previous_name(now: _Attached, before: Sequence[_Attached], after: Sequence[_Attached]) -> str | None:
    """The other interface name `now`'s network had, when it is attached once before and after and that name
    is gone."""
    olds = [a for a in before if a.network == now.network]
    if len(olds) != 1 or sum(a.network == now.network for a in after) != 1 or olds[0].ifname == now.ifname:
        return None
    return None if any(a.ifname == olds[0].ifname for a in after) else olds[0].ifname


def _renaming(now: _Attached, previous: str, policy: Policy) -> Finding:
    return _change(_path(now), f'{_where(now)}: "{now.network}" is attached as "{previous}"; it cannot be renamed '
                   f'to "{now.ifname}" in place',
                   f"keep the name (write {now.selection.name}@{previous}), or {_RECREATE}", policy)


def _route_moved(before: Sequence[_Attached], after: Sequence[_Attached], policy: Policy) -> list[Finding]:
    """The default route of a family would change owner or gateway (policy hotPlug.defaultRoute is false)."""
    def owners(items: Sequence[_Attached]) -> dict[int, tuple[str, tuple[str, ...]]]:
        found = default_route_owners([a.selection.default_route for a in items]).owners
        return {family: (items[i].ifname, tuple(items[i].selection.default_route or ()))
                for family, i in found.items()}

    was, now = owners(before), owners(after)
    out: list[Finding] = []
    for family in sorted(set(was) | set(now)):
        if was.get(family) != now.get(family):
            old_on = was[family][0] if family in was else policy.primary_interface
            new_on = now[family][0] if family in now else policy.primary_interface
            out.append(_change(annotation_path(NETWORKS_ANNOTATION),
                               f"{annotation_path(NETWORKS_ANNOTATION)}: the IPv{family} default route of the "
                               f'running pod would move (from "{old_on}" to "{new_on}", or to another gateway)',
                               "keep every default-route as it is, or set hotPlug.defaultRoute: true in the policy",
                               policy))
    return out


def _device_backed(before: Sequence[_Attached], after: Sequence[_Attached], catalog: NadCatalog,
                   policy: Policy) -> list[Finding]:
    was = {a.ifname for a in before}
    out: list[Finding] = []
    for now in after:
        if now.ifname in was:
            continue
        namespace, _, name = now.network.partition("/")
        nad = catalog.get(namespace, name)
        if nad is not None and nad.resource_name:
            out.append(Finding(
                HOTPLUG_DEVICE, _path(now),
                f'{_where(now)}: "{now.network}" is backed by the device-plugin resource "{nad.resource_name}"; '
                "a running pod has no such device allocated, so the network cannot be hot-added",
                "add the network to the pod template and recreate the pod (the scheduler then allocates the device)",
                "warning" if policy.level(HOTPLUG_DEVICE, "error") == "warning" else "error"))
    return out


def _change(path: str, message: str, hint: str, policy: Policy) -> Finding:
    level = policy.level(HOTPLUG_CHANGE, "error")
    return Finding(HOTPLUG_CHANGE, path, message, hint, "warning" if level == "warning" else "error")


def _leveled(findings: Sequence[Finding], policy: Policy) -> tuple[Finding, ...]:
    """Drop the findings of rules the policy turned off."""
    return tuple(f for f in findings if policy.level(f.rule, "error") != "off")


def _path(att: _Attached) -> str:
    return f"{annotation_path(NETWORKS_ANNOTATION)}[{att.selection.index}]"


def _where(att: _Attached) -> str:
    return f'networks[{att.selection.index}] "{att.network}"'
