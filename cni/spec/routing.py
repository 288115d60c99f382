"""Default-route ownership: which element of the networks annotation owns the default route of each IP family.

One rule for admission and the node: an element claims the families of the gateways it names in `default-route`;
`default-route: []` claims both families (the network's own gateways). One element may own IPv4 and another IPv6
(Multus-compatible dual-stack); a family no element claims stays on the primary interface (eth0).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Family = Literal[4, 6]
FAMILIES: tuple[Family, Family] = (4, 6)


def claimed_families(default_route: Sequence[str] | None) -> frozenset[Family]:
    """The IP families an element's `default-route` claims; values that are not IPs claim nothing."""
    if default_route is None:
        return frozenset()
    if not default_route:
        return frozenset(FAMILIES)
    families: set[Family] = set()
    for gateway in default_route:
        try:
            version = ipaddress.ip_address(gateway).version
        except ValueError:
            continue
        families.add(4 if version == 4 else 6)
    return frozenset(families)


@dataclass(frozen=True, slots=True)
class RouteConflict:
    """An element whose `default-route` cannot be honoured as written."""

    position: int                  # the element (index into the claims given)
    families: tuple[Family, ...]
    owner: int | None              # the earlier element owning these families; None: two gateways of one family


@dataclass(frozen=True, slots=True)
class RouteOwnership:
    """Family -> position of the element that owns its default route (unclaimed: absent), and the conflicts."""

    owners: Mapping[Family, int]
    conflicts: tuple[RouteConflict, ...]


def default_route_owners(claims: Sequence[Sequence[str] | None]) -> RouteOwnership:
    """Who owns each family's default route: the first element claiming it. A later claimant of an owned family
    and an element naming two gateways of one family are conflicts (admission denies, the node refuses)."""
    owners: dict[Family, int] = {}
    conflicts: list[RouteConflict] = []
    for position, gateways in enumerate(claims):
        versions = [_family(g) for g in gateways or ()]
        for family in FAMILIES:
            if versions.count(family) > 1:
                conflicts.append(RouteConflict(position, (family,), None))
        clashes: dict[int, list[Family]] = {}  # earlier owner -> families, so one mistake is one conflict
        for family in sorted(claimed_families(gateways)):
            first = owners.setdefault(family, position)
            if first != position:
                clashes.setdefault(first, []).append(family)
        conflicts.extend(RouteConflict(position, tuple(fams), owner) for owner, fams in clashes.items())
    return RouteOwnership(owners, tuple(conflicts))


def _family(gateway: str) -> Family | None:
    try:
        return 4 if ipaddress.ip_address(gateway).version == 4 else 6
    except ValueError:
        return None
