"""Default routes: at most one claimant per IP family, and gateways that the network can reach."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from webhook.rules.base import Attachment, Issue, PodContext


def _families(att: Attachment) -> set[int]:
    """The IP families an element claims the default route for; `default-route: []` claims both."""
    gateways = att.selection.default_route
    if gateways is None:
        return set()
    families: set[int] = set()
    if not gateways:
        return {4, 6}
    for gateway in gateways:
        try:
            families.add(ipaddress.ip_address(gateway).version)
        except ValueError:
            continue
    return families


def default_route_conflict(ctx: PodContext) -> Iterator[Issue]:
    owner: dict[int, Attachment] = {}
    for att in ctx.attachments:
        gateways = att.selection.default_route or ()
        versions = [ipaddress.ip_address(g).version for g in gateways if _is_ip(g)]
        for twice in sorted({v for v in versions if versions.count(v) > 1}):
            yield Issue(f"{att.path}.default-route", f"{att.label}: more than one IPv{twice} default gateway",
                        f"keep a single IPv{twice} gateway in default-route")
        clashes: dict[str, list[str]] = {}  # earlier claimant's label -> families, so one mistake is one line
        for family in sorted(_families(att)):
            first = owner.setdefault(family, att)
            if first is not att:
                clashes.setdefault(first.label, []).append(f"IPv{family}")
        for label, families in clashes.items():
            routes = " and ".join(families)
            yield Issue(f"{att.path}.default-route",
                        f"{att.label}: the {routes} default route{'s are' if len(families) > 1 else ' is'} already "
                        f"claimed by {label}", "set default-route on one network per IP family only")


def default_route_gateway(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.attachments:
        gateways = att.selection.default_route
        if gateways is None:
            continue
        path = f"{att.path}.default-route"
        if not gateways:
            yield Issue(path, f"{att.label}: default-route is empty, so the default route goes through whatever "
                        "gateway the network's IPAM returns", "name the gateway, e.g. [\"10.1.0.1\"]", "warning")
        subnets = att.nad.config.subnets if att.nad is not None and att.nad.config is not None else ()
        for i, gateway in enumerate(gateways):
            if not _is_ip(gateway):
                yield Issue(f"{path}[{i}]", f'{att.label}: default-route gateway "{gateway}" is not an IP address',
                            "write the gateway as an IPv4 or IPv6 address without a prefix")
                continue
            address = ipaddress.ip_address(gateway)
            same_family = [s for s in subnets if s.version == address.version]
            if same_family and not any(address in s for s in same_family):
                listed = ", ".join(str(s) for s in same_family)
                yield Issue(f"{path}[{i}]", f"{att.label}: gateway {gateway} is outside the network's subnet "
                            f"({listed})", "use a gateway inside the subnet the NAD's IPAM assigns from")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
