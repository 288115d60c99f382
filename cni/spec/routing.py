"""Default-route ownership: which element of the networks annotation owns the default route of each IP family.

One rule for admission and the node: an element claims the families of the gateways it names in `default-route`;
`default-route: []` claims both families (the network's own gateways). One element may own IPv4 and another IPv6
(Multus-compatible dual-stack); a family no element claims stays on the primary interface (eth0).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
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
