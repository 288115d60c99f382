"""CNI result -> network-status entries, and the annotation's JSON both ways."""

from __future__ import annotations

import json

import pytest

from cni.spec.status import (
    NetworkStatus,
    dump_network_status,
    parse_network_status,
    status_from_result,
    without_entries,
)
from tests.paths import FIXTURES

CALICO = {"cniVersion": "0.3.1", "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
          "ips": [{"version": "4", "interface": 0, "address": "10.244.83.250/32"}], "dns": {}}
MACVLAN = {"cniVersion": "1.0.0",
           "interfaces": [{"name": "eth1", "mac": "0a:58:0a:90:00:1f", "sandbox": "/var/run/netns/x"}],
           "ips": [{"interface": 0, "address": "192.168.1.200/24", "gateway": "192.168.1.1"}], "dns": {}}


def test_entries_match_the_captured_status_patch() -> None:
    captured = json.loads((FIXTURES / "apiserver" / "patch-pod-status.json").read_text())
    expected = captured["request"]["body"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"]
    entries = [
        status_from_result(CALICO, name="kube-system/calico-net", interface="eth0", default=True),
        status_from_result(MACVLAN, name="default/macvlan-conf", interface="eth1", default=False,
                           default_route=["192.168.1.1"]),
    ]
    assert dump_network_status(entries) == expected


def test_dns_and_pci_device_info_are_reported() -> None:
    result = {**MACVLAN, "dns": {"nameservers": ["10.96.0.10"], "search": []}}
    entry = status_from_result(result, name="ns/sriov", interface="eth1", default=False,
                               device_id="0000:03:00.2")
    assert entry.to_json()["dns"] == {"nameservers": ["10.96.0.10"]}
    assert entry.to_json()["device-info"] == {"type": "pci", "version": "1.1.0",
                                              "pci": {"pci-address": "0000:03:00.2"}}


def test_ips_of_other_interfaces_are_not_reported() -> None:
    result = {"cniVersion": "1.0.0", "interfaces": [{"name": "veth0"}, {"name": "net1", "sandbox": "/x"}],
              "ips": [{"interface": 0, "address": "169.254.1.1/32"}, {"interface": 1, "address": "10.1.1.2/24"}]}
    assert status_from_result(result, name="a/b", interface="net1", default=False).ips == ("10.1.1.2",)


def test_parse_round_trips_and_reports_bad_elements() -> None:
    entries, problems = parse_network_status(
        '[{"name":"a/b","interface":"net1","ips":["10.0.0.1"],"default":false,"default-route":["10.0.0.254"]},'
        '{"interface":"net2"},{"name":"c/d","ips":["not-an-ip"]}]')
    assert entries == (NetworkStatus(name="a/b", interface="net1", ips=("10.0.0.1",),
                                     default_route=("10.0.0.254",)),)
    assert len(problems) == 2
    assert parse_network_status("{}") == ((), ("not a JSON list",))


@pytest.mark.parametrize("element", [
    pytest.param({"name": "a", "default": "false"}, id="default-string"),
    pytest.param({"name": "a", "gateway": "10.0.0.1"}, id="gateway-string"),
    pytest.param({"name": "a", "dns": ["x"]}, id="dns-list"),
    pytest.param({"name": "a", "mtu": "big"}, id="mtu-string"),
    pytest.param({"name": "a", "ips": ["10.0.0.300"]}, id="bad-ip"),
])
def test_mistyped_status_elements_are_problems_not_wrong_values(element: dict) -> None:
    entries, problems = parse_network_status(json.dumps([element]))
    assert (entries, len(problems)) == ((), 1)


SPEC_KEYS = {"name", "interface", "ips", "mac", "mtu", "default", "dns", "gateway", "default-route", "device-info"}


def test_only_schema_keys_are_written_whatever_the_result_carries() -> None:
    result = {"cniVersion": "1.1.0",
              "interfaces": [{"name": "net1", "mac": "0a:58:0a:90:00:1f", "mtu": 9000, "sandbox": "/x",
                              "socketPath": "/run/s", "pciID": "0000:01:00.0"}],
              "ips": [{"interface": 0, "address": "10.1.1.2/24", "gateway": "10.1.1.1"}],
              "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}],
              "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local", "search": ["a.svc"],
                      "options": ["ndots:5"], "x-vendor": ["y"], "sortlist": "bad"}}
    entry = status_from_result(result, name="a/b", interface="net1", default=False, default_route=[],
                               gateway=["10.1.1.1"], device_id="0000:03:00.2").to_json()
    assert set(entry) == SPEC_KEYS
    assert entry["dns"] == {"nameservers": ["10.96.0.10"], "domain": "cluster.local", "search": ["a.svc"],
                            "options": ["ndots:5"]}
    assert (entry["gateway"], entry["default-route"], entry["mtu"]) == (["10.1.1.1"], ["10.1.1.1"], 9000)


@pytest.mark.parametrize(("default_route", "gateway", "expected"), [
    pytest.param(None, ["10.0.0.1"], {"gateway": ["10.0.0.1"]}, id="owner-without-default-route-key"),
    pytest.param(None, [], {}, id="no-default-route-on-this-interface"),
    pytest.param([], ["10.0.0.1", "fd00::1"], {"gateway": ["10.0.0.1", "fd00::1"],
                                               "default-route": ["10.0.0.1", "fd00::1"]}, id="empty-request"),
    pytest.param(["10.0.0.254"], [], {"default-route": ["10.0.0.254"]}, id="requested-not-installed"),
])
def test_gateway_lists_the_installed_default_routes(default_route: list[str] | None, gateway: list[str],
                                                    expected: dict[str, list[str]]) -> None:
    entry = status_from_result(MACVLAN, name="a/b", interface="eth1", default=False, default_route=default_route,
                               gateway=gateway).to_json()
    assert {k: v for k, v in entry.items() if k in ("gateway", "default-route")} == expected


def test_ips_come_from_the_first_sandbox_interface_when_none_has_the_requested_name() -> None:
    result = {"cniVersion": "1.0.0", "interfaces": [{"name": "veth0"}, {"name": "eth9", "sandbox": "/x"}],
              "ips": [{"interface": 0, "address": "169.254.1.1/32"}, {"interface": 1, "address": "10.1.1.2/24"},
                      {"interface": -1, "address": "10.1.1.3/24"}]}
    entry = status_from_result(result, name="a/b", interface="net1", default=False)
    assert (entry.interface, entry.ips) == ("eth9", ("10.1.1.2", "10.1.1.3"))


def test_without_entries_removes_only_this_sandbox_s_elements() -> None:
    mine = status_from_result(MACVLAN, name="default/macvlan-conf", interface="eth1", default=False)
    newer = {"name": "default/macvlan-conf", "interface": "eth1", "ips": ["192.168.1.201"], "default": False}
    other = {"name": "x/y", "interface": "net2", "default": False, "org.example.key": 1}
    text = json.dumps([mine.to_json(), newer, other])
    assert json.loads(without_entries(text, [mine]) or "") == [newer, other]
    assert without_entries(json.dumps([newer]), [mine]) is None
    assert without_entries(json.dumps([mine.to_json()]), [mine]) == "[]"
    assert without_entries("not json", [mine]) is None
