"""Pure route policy: results + the default routes each delegate installed -> the pod's desired routes and rules.

Exactly one default route per IP family: the owner of a family is the first non-default element whose
`default-route` claims it (cni.spec.routing.default_route_owners, NPWG v1.3 §4.1.2.1.9); a family nobody claims
stays on the primary interface. Delegates that install their own default (Calico, OVN-Kubernetes) never see one to
collide with: attach takes every default away after each delegate and installs the plan's at the end.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cni.plan import Attachment
from cni.results import interface_ips
from cni.spec.routing import FAMILIES, Family, default_route_owners

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

    def to_json(self) -> dict[str, Any]:
        """The cache form."""
        return {"family": self.family, "dst": self.dst, "ifname": self.ifname, "gateway": self.gateway,
                "table": self.table}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Route:
        """Inverse of to_json."""
        family: Family = 6 if data["family"] == 6 else 4
        gateway = data.get("gateway")
        return cls(family, str(data["dst"]), str(data["ifname"]), str(gateway) if gateway else None,
                   int(data.get("table", MAIN_TABLE)))


@dataclass(frozen=True, slots=True)
class Rule:
    """`ip rule from <src> lookup <table>`."""

    family: Family
    src: str                      # CIDR, /32 or /128
    table: int
    priority: int = SOURCE_RULE_PRIORITY


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What netlink must make true in the pod after the last delegate."""

    defaults: tuple[Route, ...]            # the only main-table default routes, at most one per family
    routes: tuple[Route, ...]              # cluster routes and source-routing tables (replace semantics)
    rules: tuple[Rule, ...]


Installed = Mapping[str, Sequence[Route]]   # ifname of a delegate -> the default routes it installed itself


def default_dst(family: Family) -> str:
    return "0.0.0.0/0" if family == 4 else "::/0"


def family_of(address: str) -> Family:
    return 6 if ":" in address else 4


def default_owners(attachments: Sequence[Attachment]) -> dict[Family, Attachment]:
    """Family -> the non-default attachment that owns its default route (unclaimed: absent), by the one rule
    admission applies (cni.spec.routing.default_route_owners; plan.py has already refused its conflicts)."""
    secondaries = [a for a in attachments if not a.is_default]
    ownership = default_route_owners([a.default_route for a in secondaries])
    return {family: secondaries[position] for family, position in ownership.owners.items()}


def plan_routes(
    attachments: Sequence[Attachment],
    results: Mapping[str, Mapping[str, Any]],
    installed: Installed,
    *,
    cluster_routes: Sequence[str] = (),
) -> RoutePlan:
    """The routes and rules that make the pod match the policy, given what each delegate returned and installed."""
    primary = next(a for a in attachments if a.is_default)
    owners = default_owners(attachments)
    defaults: list[Route] = []
    extra: list[Route] = []
    for family in FAMILIES:
        own = _network_default(family, primary, results, installed, ip_gateway=False)
        owner = owners.get(family)
        claimed = _claimed_default(family, owner, results, installed) if owner is not None else None
        if claimed is not None:
            defaults.append(claimed)
            gateway = own.gateway if own is not None else None
            extra.extend(Route(family, str(ipaddress.ip_network(c, strict=False)), primary.ifname, gateway)
                         for c in cluster_routes if family_of(c) == family)
        elif own is not None:
            defaults.append(own)
    rules: list[Rule] = []
    for position, att in enumerate(attachments):
        if att.source_routing:
            table_routes, table_rules = _source_routing(att, results.get(att.ifname, {}), position)
            extra.extend(table_routes)
            rules.extend(table_rules)
    return RoutePlan(tuple(defaults), tuple(extra), tuple(rules))


def drifted_families(expected: Sequence[Route], observed: Sequence[Route]) -> tuple[Family, ...]:
    """The families whose main-table default routes differ from `expected` (for CHECK)."""
    def main(routes: Sequence[Route], family: Family) -> set[Route]:
        return {r for r in routes if r.family == family and r.table == MAIN_TABLE and r.is_default}

    return tuple(f for f in FAMILIES if main(expected, f) != main(observed, f))


def _claimed_default(family: Family, owner: Attachment, results: Mapping[str, Mapping[str, Any]],
                     installed: Installed) -> Route | None:
    """The owner's default: its explicit gateway, else (`default-route: []`) its network's own default."""
    gateways = [g for g in owner.default_route or () if family_of(g) == family]
    if gateways:
        return Route(family, default_dst(family), owner.ifname, _canonical(gateways[0]))
    if owner.default_route:   # explicit gateways, none in this family
        return None
    return _network_default(family, owner, results, installed, ip_gateway=True)


def _network_default(family: Family, att: Attachment, results: Mapping[str, Mapping[str, Any]],
                     installed: Installed, *, ip_gateway: bool) -> Route | None:
    """The default route the network itself wants on `att`: the one its delegate installed (an on-link
    169.254.1.1 included), else a default route in its result, else (when asked) its IP config's gateway."""
    for route in installed.get(att.ifname, ()):
        if route.family == family and route.ifname == att.ifname and route.is_default:
            return Route(family, default_dst(family), att.ifname, route.gateway)
    result = results.get(att.ifname, {})
    for route in result.get("routes") or []:
        if isinstance(route, Mapping) and _is_default_dst(route.get("dst"), family):
            gw = route.get("gw") or _ip_gateway(result, att.ifname, family)
            return Route(family, default_dst(family), att.ifname, _canonical(str(gw)) if gw else None)
    found = _ip_gateway(result, att.ifname, family) if ip_gateway else None
    return Route(family, default_dst(family), att.ifname, found) if found else None


def _is_default_dst(dst: Any, family: Family) -> bool:
    try:
        net = ipaddress.ip_network(str(dst), strict=False)
    except ValueError:
        return False
    return net.prefixlen == 0 and net.version == family


def _canonical(address: str) -> str:
    """The kernel's spelling of an address (what netlink reads back), so CHECK compares like with like."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def _ip_gateway(result: Mapping[str, Any], ifname: str, family: Family) -> str | None:
    for ip in interface_ips(result, ifname):
        gw = ip.get("gateway")
        if gw and family_of(str(gw)) == family:
            return _canonical(str(gw))
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
