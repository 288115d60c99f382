"""Default-route ownership per IP family: the rule admission and the node share."""

import pytest

from cni.spec.routing import RouteConflict, claimed_families, default_route_owners

CLAIMS = [
    pytest.param(None, set(), id="no-default-route"),
    pytest.param([], {4, 6}, id="empty-claims-both"),
    pytest.param(["10.0.0.1"], {4}, id="v4"),
    pytest.param(["fd00::1", "10.0.0.1"], {4, 6}, id="dual"),
    pytest.param(["gw"], set(), id="not-an-ip"),
]


@pytest.mark.parametrize(("gateways", "families"), CLAIMS)
def test_claimed_families(gateways: list[str] | None, families: set[int]) -> None:
    assert claimed_families(gateways) == families


OWNERS = [
    pytest.param([None, None], {}, (), id="nobody"),
    pytest.param([None, ["10.0.0.1"]], {4: 1}, (), id="one-v4"),
    pytest.param([["10.0.0.1"], ["fd00::1"]], {4: 0, 6: 1}, (), id="v4-and-v6-on-two-elements"),
    pytest.param([[], None], {4: 0, 6: 0}, (), id="empty-owns-both"),
    pytest.param([["10.0.0.1"], ["10.0.1.1"]], {4: 0}, (RouteConflict(1, (4,), 0),), id="two-v4-claimants"),
    pytest.param([["10.0.0.1"], []], {4: 0, 6: 1}, (RouteConflict(1, (4,), 0),), id="empty-conflicts-on-v4"),
    pytest.param([[], []], {4: 0, 6: 0}, (RouteConflict(1, (4, 6), 0),), id="both-empty-one-conflict"),
    pytest.param([["10.0.0.1", "10.0.0.2"]], {4: 0}, (RouteConflict(0, (4,), None),), id="two-v4-gateways"),
    pytest.param([["10.0.0.1", "fd00::1"]], {4: 0, 6: 0}, (), id="one-gateway-per-family"),
]


@pytest.mark.parametrize(("claims", "owners", "conflicts"), OWNERS)
def test_default_route_owners(claims: list[list[str] | None], owners: dict[int, int],
                              conflicts: tuple[RouteConflict, ...]) -> None:
    ownership = default_route_owners(claims)
    assert dict(ownership.owners) == owners
    assert ownership.conflicts == conflicts
