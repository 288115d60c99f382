"""Result conversion between CNI versions (CNI SPEC §Result; libcni's convert rules)."""

from __future__ import annotations

from typing import Any

import pytest

from cni.errors import CniError
from cni.results import convert, interface_ips

V1: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "interfaces": [{"name": "veth1", "mac": "aa:aa:aa:aa:aa:aa"},
                   {"name": "eth0", "mac": "0a:58:0a:00:00:02", "sandbox": "/run/netns/x", "pciID": "0000:01:00.0"}],
    "ips": [{"interface": 1, "address": "10.0.0.2/24", "gateway": "10.0.0.1"},
            {"interface": 1, "address": "fd00::2/64"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1", "table": 100, "priority": 5}],
    "dns": {"nameservers": ["10.96.0.10"]},
}


@pytest.mark.parametrize(("version", "ip_versions"), [
    pytest.param("0.3.0", ["4", "6"], id="0.3.0"),
    pytest.param("0.3.1", ["4", "6"], id="0.3.1"),
    pytest.param("0.4.0", ["4", "6"], id="0.4.0"),
    pytest.param("1.0.0", [None, None], id="1.0.0"),
    pytest.param("1.1.0", [None, None], id="1.1.0"),
])
def test_down_and_across_conversion_sets_ip_versions(version: str, ip_versions: list[str | None]) -> None:
    out = convert(V1, version)
    assert out["cniVersion"] == version
    assert [ip.get("version") for ip in out["ips"]] == ip_versions
    assert out["dns"] == V1["dns"]


def test_fields_added_in_1_1_0_are_dropped_for_older_readers() -> None:
    out = convert(V1, "1.0.0")
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]
    assert "pciID" not in out["interfaces"][1]
    assert convert(V1, "1.1.0")["routes"][0]["table"] == 100


def test_up_conversion_from_0_3_drops_ip_version() -> None:
    old = {"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.2/24"}]}
    assert convert(old, "1.0.0") == {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}


def test_0_2_0_results_are_lifted() -> None:
    old = {"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1",
                                          "routes": [{"dst": "0.0.0.0/0"}]}}
    assert convert(old, "0.4.0") == {"cniVersion": "0.4.0", "ips": [
        {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1"}], "routes": [{"dst": "0.0.0.0/0"}]}


@pytest.mark.parametrize(("source", "target"), [("9.9.9", "1.0.0"), ("1.0.0", "0.2.0")])
def test_unknown_versions_are_incompatible(source: str, target: str) -> None:
    with pytest.raises(CniError) as caught:
        convert({**V1, "cniVersion": source}, target)
    assert caught.value.code == 1


def test_interface_ips_follow_the_interface_index() -> None:
    assert [ip["address"] for ip in interface_ips(V1, "eth0")] == ["10.0.0.2/24", "fd00::2/64"]
    assert interface_ips(V1, "net9") == []
