"""Route policy: one default per family, on eth0 unless an element asks, cluster routes, source routing."""

from __future__ import annotations

from typing import Any

from cni.plan import Attachment
from cni.routes import Route, Rule, plan_routes


def att(ifname: str, *, default: bool = False, route: tuple[str, ...] | None = None,
        source: bool = False) -> Attachment:
    return Attachment(network=f"ns/{ifname}", ifname=ifname, cni_version="1.0.0", plugins=({"type": "x"},),
                      is_default=default, default_route=route, source_routing=source)


def result(ifname: str, *addresses: tuple[str, str | None]) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "interfaces": [{"name": ifname, "sandbox": "/x"}],
            "ips": [{"interface": 0, "address": a, **({"gateway": g} if g else {})} for a, g in addresses]}


RESULTS = {"eth0": result("eth0", ("10.244.0.5/24", "10.244.0.1"), ("fd00:244::5/64", "fd00:244::1")),
           "net1": result("net1", ("192.168.1.20/24", "192.168.1.1"), ("fd00:1::20/64", "fd00:1::1"))}
ETH0_V4 = Route(4, "0.0.0.0/0", "eth0", "10.244.0.1")
ETH0_V6 = Route(6, "::/0", "eth0", "fd00:244::1")
NET1_V4 = Route(4, "0.0.0.0/0", "net1", "192.168.1.1")
NET1_V6 = Route(6, "::/0", "net1", "fd00:1::1")


def test_only_eth0_default_left_untouched() -> None:
    plan = plan_routes([att("eth0", default=True), att("net1")], RESULTS, [ETH0_V4, ETH0_V6])
    assert plan.rewrite_families == ()
    assert plan.defaults == (ETH0_V4, ETH0_V6)


def test_a_secondary_default_is_removed_in_both_families() -> None:
    plan = plan_routes([att("eth0", default=True), att("net1")], RESULTS, [ETH0_V4, NET1_V4, ETH0_V6, NET1_V6])
    assert plan.rewrite_families == (4, 6)
    assert plan.defaults == (ETH0_V4, ETH0_V6)


def test_default_route_gateway_moves_the_default_and_keeps_cluster_routes_on_eth0() -> None:
    plan = plan_routes([att("eth0", default=True), att("net1", route=("192.168.1.254",))], RESULTS,
                       [ETH0_V4, ETH0_V6], cluster_routes=["10.96.0.0/12", "fd00:96::/108"])
    assert plan.rewrite_families == (4,)
    assert plan.defaults == (Route(4, "0.0.0.0/0", "net1", "192.168.1.254"), ETH0_V6)
    assert plan.routes == (Route(4, "10.96.0.0/12", "eth0", "10.244.0.1"),)


def test_empty_default_route_uses_the_network_gateway_per_family() -> None:
    plan = plan_routes([att("eth0", default=True), att("net1", route=())], RESULTS, [ETH0_V4, ETH0_V6])
    assert plan.defaults == (NET1_V4, NET1_V6)
    assert plan.rewrite_families == (4, 6)


def test_eth0_default_comes_from_its_result_when_the_plugin_installed_none() -> None:
    results = {**RESULTS, "eth0": {**RESULTS["eth0"], "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.0.1"}]}}
    plan = plan_routes([att("eth0", default=True), att("net1")], results, [NET1_V4])
    assert plan.defaults == (ETH0_V4,)
    assert plan.rewrite_families == (4,)


def test_no_default_anywhere_removes_stray_ones() -> None:
    plan = plan_routes([att("eth0", default=True), att("net1")], {"eth0": {}, "net1": {}}, [NET1_V4])
    assert (plan.rewrite_families, plan.defaults) == ((4,), ())


def test_source_routing_builds_a_table_and_a_rule_per_address() -> None:
    plan = plan_routes([att("eth0", default=True), att("net1", source=True)], RESULTS, [ETH0_V4, ETH0_V6])
    assert plan.routes == (
        Route(4, "192.168.1.0/24", "net1", None, 101), Route(4, "0.0.0.0/0", "net1", "192.168.1.1", 101),
        Route(6, "fd00:1::/64", "net1", None, 101), Route(6, "::/0", "net1", "fd00:1::1", 101))
    assert plan.rules == (Rule(4, "192.168.1.20/32", 101), Rule(6, "fd00:1::20/128", 101))
