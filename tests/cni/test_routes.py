"""Route policy: one default per family, on its owner (per IP family) or eth0, cluster routes, source routing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni.plan import Attachment
from cni.routes import MAIN_TABLE, Route, Rule, default_dst, default_owners, drifted_families, plan_routes


def att(ifname: str, *, default: bool = False, route: tuple[str, ...] | None = None,
        source: bool = False) -> Attachment:
    return Attachment(network=f"ns/{ifname}", ifname=ifname, cni_version="1.0.0", plugins=({"type": "x"},),
                      is_default=default, default_route=route, source_routing=source)


def result(ifname: str, *addresses: tuple[str, str | None], routes: list[dict[str, str]] | None = None,
           ) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": "1.0.0", "interfaces": [{"name": ifname, "sandbox": "/x"}],
                           "ips": [{"interface": 0, "address": a, **({"gateway": g} if g else {})}
                                   for a, g in addresses]}
    if routes is not None:
        out["routes"] = routes
    return out


ETH0 = att("eth0", default=True)
RESULTS = {"eth0": result("eth0", ("10.244.0.5/24", "10.244.0.1"), ("fd00:244::5/64", "fd00:244::1")),
           "net1": result("net1", ("192.168.1.20/24", "192.168.1.1"), ("fd00:1::20/64", "fd00:1::1")),
           "net2": result("net2", ("192.168.2.20/24", "192.168.2.1"), ("fd00:2::20/64", "fd00:2::1")),
           "calico": result("calico", ("10.30.0.7/32", None)),          # Calico: no gateway in the result
           "v4only": result("v4only", ("192.168.4.20/24", "192.168.4.1"))}
ETH0_V4 = Route(4, "0.0.0.0/0", "eth0", "10.244.0.1")
ETH0_V6 = Route(6, "::/0", "eth0", "fd00:244::1")
NET1_V4 = Route(4, "0.0.0.0/0", "net1", "192.168.1.1")
NET1_V6 = Route(6, "::/0", "net1", "fd00:1::1")
NET2_V6 = Route(6, "::/0", "net2", "fd00:2::1")
CALICO_V4 = Route(4, "0.0.0.0/0", "calico", "169.254.1.1")              # installed after an on-link route
CALICO_ETH0 = Route(4, "0.0.0.0/0", "eth0", "169.254.1.1")
# What each delegate installed itself (attach takes them away before the next delegate runs).
INSTALLED = {"eth0": [ETH0_V4, ETH0_V6], "net1": [NET1_V4, NET1_V6], "calico": [CALICO_V4]}


@pytest.mark.parametrize(("attachments", "installed", "defaults"), [
    pytest.param([ETH0, att("net1")], INSTALLED, (ETH0_V4, ETH0_V6), id="unclaimed-families-stay-on-eth0"),
    pytest.param([ETH0, att("net1", route=("192.168.1.254",))], INSTALLED,
                 (Route(4, "0.0.0.0/0", "net1", "192.168.1.254"), ETH0_V6), id="explicit-v4-gateway-moves-v4-only"),
    pytest.param([ETH0, att("net1", route=())], INSTALLED, (NET1_V4, NET1_V6), id="empty-claims-both-families"),
    pytest.param([ETH0, att("net1", route=())], {"eth0": [ETH0_V4, ETH0_V6]}, (NET1_V4, NET1_V6),
                 id="empty-uses-the-result-gateway-when-the-delegate-installed-none"),
    pytest.param([ETH0, att("calico", route=())], INSTALLED, (CALICO_V4, ETH0_V6),
                 id="empty-uses-the-on-link-default-the-delegate-installed"),
    pytest.param([ETH0, att("v4only", route=())], INSTALLED,
                 (Route(4, "0.0.0.0/0", "v4only", "192.168.4.1"), ETH0_V6),
                 id="empty-on-a-v4-only-network-leaves-v6-on-eth0"),
    pytest.param([ETH0, att("net1", route=("192.168.1.254",)), att("net2", route=("fd00:2::1",))], INSTALLED,
                 (Route(4, "0.0.0.0/0", "net1", "192.168.1.254"), NET2_V6), id="one-owner-per-family"),
    pytest.param([ETH0, att("net1", route=("192.168.1.254",)), att("net2", route=("192.168.2.1",))], INSTALLED,
                 (Route(4, "0.0.0.0/0", "net1", "192.168.1.254"), ETH0_V6), id="first-claimant-of-a-family-wins"),
    pytest.param([ETH0, att("net1", route=("FD00:1:0::1",))], INSTALLED, (ETH0_V4, NET1_V6),
                 id="gateway-spelled-as-the-kernel-reads-it-back"),
    pytest.param([ETH0, att("net1")], {}, (), id="no-default-anywhere"),
    pytest.param([att("eth0", default=True, route=("10.244.0.254",)), att("net1")], INSTALLED,
                 (ETH0_V4, ETH0_V6), id="the-primary-never-claims-by-annotation"),
])
def test_defaults(attachments: list[Attachment], installed: dict[str, list[Route]],
                  defaults: tuple[Route, ...]) -> None:
    assert plan_routes(attachments, RESULTS, installed).defaults == defaults


@pytest.mark.parametrize(("results", "defaults"), [
    pytest.param({"eth0": result("eth0", ("10.244.0.5/24", "10.244.0.1"), routes=[{"dst": "0.0.0.0/0"}])},
                 (ETH0_V4,), id="result-default-via-the-ip-gateway"),
    pytest.param({"eth0": result("eth0", ("10.244.0.5/24", None), routes=[{"dst": "0.0.0.0/0", "gw": "10.244.0.9"}])},
                 (Route(4, "0.0.0.0/0", "eth0", "10.244.0.9"),), id="result-default-with-gw"),
    pytest.param({"eth0": result("eth0", ("10.244.0.5/32", None), routes=[{"dst": "0.0.0.0/0"}])},
                 (Route(4, "0.0.0.0/0", "eth0", None),), id="result-default-on-link"),
    pytest.param({"eth0": result("eth0", ("10.244.0.5/24", "10.244.0.1"))}, (), id="ip-gateway-alone-is-no-default"),
])
def test_eth0_default_comes_from_its_result_when_its_plugin_installed_none(
        results: dict[str, Any], defaults: tuple[Route, ...]) -> None:
    assert plan_routes([ETH0], results, {}).defaults == defaults


@pytest.mark.parametrize(("attachments", "installed", "routes"), [
    pytest.param([ETH0, att("net1", route=("192.168.1.254",))], INSTALLED,
                 (Route(4, "10.96.0.0/12", "eth0", "10.244.0.1"),), id="v4-moves-v4-cluster-routes-stay"),
    pytest.param([ETH0, att("net1", route=())], INSTALLED,
                 (Route(4, "10.96.0.0/12", "eth0", "10.244.0.1"), Route(6, "fd00:96::/108", "eth0", "fd00:244::1")),
                 id="both-move-both-stay"),
    pytest.param([ETH0, att("net1", route=())], {"eth0": [CALICO_ETH0], "net1": [NET1_V4]},
                 (Route(4, "10.96.0.0/12", "eth0", "169.254.1.1"), Route(6, "fd00:96::/108", "eth0", None)),
                 id="calico-primary-keeps-cluster-routes-via-its-on-link-gateway"),
    pytest.param([ETH0, att("net1")], INSTALLED, (), id="nothing-moves-no-cluster-routes"),
])
def test_cluster_routes_stay_on_eth0_when_the_default_moves(
        attachments: list[Attachment], installed: dict[str, list[Route]], routes: tuple[Route, ...]) -> None:
    plan = plan_routes(attachments, RESULTS, installed, cluster_routes=["10.96.0.0/12", "fd00:96::/108"])
    assert plan.routes == routes


def test_default_owners_per_family() -> None:
    v4, v6, both = att("net1", route=("192.168.1.254",)), att("net2", route=("fd00:2::1",)), att("net3", route=())
    assert default_owners([ETH0, v4, v6, both]) == {4: v4, 6: v6}
    assert default_owners([ETH0, both, v4]) == {4: both, 6: both}
    assert default_owners([ETH0, att("net1"), att("net2", route=("not-an-ip",))]) == {}


@pytest.mark.parametrize(("expected", "observed", "drifted"), [
    pytest.param([ETH0_V4, NET2_V6], [NET2_V6, ETH0_V4], (), id="same-set"),
    pytest.param([ETH0_V4], [ETH0_V4, Route(4, "0.0.0.0/0", "net1", "192.168.1.1")], (4,), id="stray-default"),
    pytest.param([ETH0_V4, ETH0_V6], [ETH0_V4], (6,), id="missing-default"),
    pytest.param([ETH0_V4], [Route(4, "0.0.0.0/0", "eth0", "10.244.0.9")], (4,), id="other-gateway"),
    pytest.param([ETH0_V4], [ETH0_V4, Route(4, "0.0.0.0/0", "net1", "192.168.1.1", 101)], (),
                 id="source-routing-tables-ignored"),
])
def test_drifted_families(expected: list[Route], observed: list[Route], drifted: tuple[int, ...]) -> None:
    assert drifted_families(expected, observed) == drifted


def test_route_cache_form_round_trips() -> None:
    for route in (ETH0_V4, NET2_V6, Route(4, "0.0.0.0/0", "eth0", None), Route(6, "fd00::/64", "net1", None, 101)):
        assert Route.from_json(route.to_json()) == route


def test_source_routing_builds_a_table_and_a_rule_per_address() -> None:
    plan = plan_routes([ETH0, att("net1", source=True)], RESULTS, INSTALLED)
    assert plan.routes == (
        Route(4, "192.168.1.0/24", "net1", None, 101), Route(4, "0.0.0.0/0", "net1", "192.168.1.1", 101),
        Route(6, "fd00:1::/64", "net1", None, 101), Route(6, "::/0", "net1", "fd00:1::1", 101))
    assert plan.rules == (Rule(4, "192.168.1.20/32", 101), Rule(6, "fd00:1::20/128", 101))


CLAIMS = st.sampled_from([None, (), ("v4",), ("v6",), ("v4", "v6")])


@st.composite
def pods(draw: st.DrawFn) -> tuple[list[Attachment], dict[str, Any], dict[str, list[Route]]]:
    """eth0 + up to four secondaries with any claims, results with or without gateways, any installed defaults."""
    attachments, results, installed = [ETH0], {"eth0": RESULTS["eth0"]}, {}
    for i in range(1, draw(st.integers(1, 4)) + 1):
        name, v4, v6 = f"net{i}", f"192.168.{i}.254", f"fd00:{i}::254"
        claim = draw(CLAIMS)
        route = None if claim is None else tuple(v4 if c == "v4" else v6 for c in claim)
        attachments.append(att(name, route=route))
        with_gw = draw(st.booleans())
        results[name] = result(name, (f"192.168.{i}.20/24", f"192.168.{i}.1" if with_gw else None),
                               (f"fd00:{i}::20/64", f"fd00:{i}::1" if with_gw else None))
        installed[name] = draw(st.sampled_from([[], [Route(4, "0.0.0.0/0", name, "169.254.1.1")]]))
    installed["eth0"] = draw(st.sampled_from([[], [ETH0_V4], [ETH0_V4, ETH0_V6], [CALICO_ETH0]]))
    return attachments, results, installed


@settings(max_examples=300, deadline=None)
@given(pods())
def test_property_one_default_per_family_on_its_owner_or_eth0(
        pod: tuple[list[Attachment], dict[str, Any], dict[str, list[Route]]]) -> None:
    attachments, results, installed = pod
    plan = plan_routes(attachments, results, installed, cluster_routes=["10.96.0.0/12", "fd00:96::/108"])
    owners = default_owners(attachments)
    for family in (4, 6):
        found = [r for r in plan.defaults if r.family == family]
        assert len(found) <= 1
        owner = owners.get(family)
        explicit = [g for g in (owner.default_route or ()) if (":" in g) == (family == 6)] if owner else []
        if owner is not None and explicit:
            assert found == [Route(family, default_dst(family), owner.ifname, explicit[0])]
        elif found and (owner is None or found[0].ifname != owner.ifname):
            assert found[0].ifname == "eth0"
        moved = bool(found) and found[0].ifname != "eth0"
        assert any(r.family == family and r.table == MAIN_TABLE for r in plan.routes) == moved
