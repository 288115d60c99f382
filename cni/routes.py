"""Pure route policy: results + observed default routes -> the pod's desired routes and rules.

Exactly one default route per IP family: on the primary interface unless an element asks for it with
`default-route` (NPWG v1.3 §4.1.2.1.9); default routes any other delegate installed are removed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from cni.plan import Attachment
from cni.results import interface_ips

Family = Literal[4, 6]
MAIN_TABLE: Final = 254
SOURCE_TABLE_BASE: Final = 100     # per-interface tables: 100 + position of the attachment
SOURCE_RULE_PRIORITY: Final = 1000


@dataclass(frozen=True, slots=True)
class Route:
    """One route (a multipath route is observed as one Route per next hop)."""

    family: Family
    dst: str                      # CIDR; "0.0.0.0/0" or "::/0" for a default route
    ifname: str
    gateway: str | None = None
    table: int = MAIN_TABLE

    @property
    def is_default(self) -> bool:
        return self.dst in ("0.0.0.0/0", "::/0")


@dataclass(frozen=True, slots=True)
class Rule:
    """`ip rule from <src> lookup <table>`."""

    family: Family
    src: str                      # CIDR, /32 or /128
    table: int
    priority: int = SOURCE_RULE_PRIORITY


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What netlink must make true in the pod."""

    rewrite_families: tuple[Family, ...]   # families whose main-table defaults get replaced by `defaults`
    defaults: tuple[Route, ...]
    routes: tuple[Route, ...]              # cluster routes and source-routing tables (replace semantics)
    rules: tuple[Rule, ...]


def default_dst(family: Family) -> str:
    return "0.0.0.0/0" if family == 4 else "::/0"


def family_of(address: str) -> Family:
    return 6 if ":" in address else 4


def plan_routes(
    attachments: Sequence[Attachment],
    results: Mapping[str, Mapping[str, Any]],
    observed_defaults: Sequence[Route],
    *,
    cluster_routes: Sequence[str] = (),
) -> RoutePlan:
    """The routes and rules that make the pod match the policy, given what the delegates left."""
    primary = next(a for a in attachments if a.is_default)
    requester = next((a for a in attachments if a.default_route is not None and not a.is_default), None)
    rewrite: list[Family] = []
    defaults: list[Route] = []
    extra: list[Route] = []
    for family in (4, 6):
        fam: Family = 4 if family == 4 else 6
        primary_gw = _primary_gateway(fam, primary, results, observed_defaults)
        wanted = _requested_default(fam, requester, results)
        moved = wanted is not None
        if wanted is None and primary_gw is not None:
            wanted = Route(fam, default_dst(fam), primary.ifname, primary_gw[0])
        present = [r for r in observed_defaults if r.family == fam and r.table == MAIN_TABLE]
        if present != ([wanted] if wanted else []):
            rewrite.append(fam)
        if wanted is not None:
            defaults.append(wanted)
        if moved:
            gw = primary_gw[0] if primary_gw else None
            extra.extend(Route(fam, str(ipaddress.ip_network(c, strict=False)), primary.ifname, gw)
                         for c in cluster_routes if family_of(c) == fam)
    rules: list[Rule] = []
    for position, att in enumerate(attachments):
        if att.source_routing:
            table_routes, table_rules = _source_routing(att, results.get(att.ifname, {}), position)
            extra.extend(table_routes)
            rules.extend(table_rules)
    return RoutePlan(tuple(rewrite), tuple(defaults), tuple(extra), tuple(rules))


def _primary_gateway(
    family: Family, primary: Attachment, results: Mapping[str, Mapping[str, Any]], observed: Sequence[Route]
) -> tuple[str | None] | None:
    """The primary's default next hop in `family` (observed first, else from its result)."""
    for route in observed:
        if route.family == family and route.ifname == primary.ifname and route.table == MAIN_TABLE:
            return (route.gateway,)
    result = results.get(primary.ifname, {})
    for route in result.get("routes") or []:
        if isinstance(route, Mapping) and route.get("dst") == default_dst(family):
            gw = route.get("gw") or _ip_gateway(result, primary.ifname, family)
            return (str(gw),) if gw else (None,)
    return None


def _requested_default(
    family: Family, requester: Attachment | None, results: Mapping[str, Mapping[str, Any]]
) -> Route | None:
    if requester is None or requester.default_route is None:
        return None
    gateways = [g for g in requester.default_route if family_of(g) == family]
    if not requester.default_route:   # "default-route": [] -> the network's own gateway
        found = _ip_gateway(results.get(requester.ifname, {}), requester.ifname, family)
        gateways = [found] if found else []
    if not gateways:
        return None
    return Route(family, default_dst(family), requester.ifname, gateways[0])


def _ip_gateway(result: Mapping[str, Any], ifname: str, family: Family) -> str | None:
    for ip in interface_ips(result, ifname):
        gw = ip.get("gateway")
        if gw and family_of(str(gw)) == family:
            return str(gw)
    return None


def _source_routing(att: Attachment, result: Mapping[str, Any], position: int) -> tuple[list[Route], list[Rule]]:
    """A table per interface: its subnets and a default via its gateway; a rule per address."""
    table = SOURCE_TABLE_BASE + position
    routes: list[Route] = []
    rules: list[Rule] = []
    for ip in interface_ips(result, att.ifname):
        iface = ipaddress.ip_interface(str(ip["address"]))
        fam: Family = 4 if iface.version == 4 else 6
        routes.append(Route(fam, str(iface.network), att.ifname, None, table))
        gw = ip.get("gateway") or next((g for g in att.default_route or () if family_of(g) == fam), None)
        if gw:
            routes.append(Route(fam, default_dst(fam), att.ifname, str(gw), table))
        rules.append(Rule(fam, f"{iface.ip}/{iface.max_prefixlen}", table))
    return routes, rules
