"""Values that reach a delegate: one table per check, the same functions admission and the node call."""

import ipaddress
from typing import Any

import pytest

from cni.spec import NetworkSelection, parse_networks
from cni.spec.values import (
    address_fit_problem,
    cni_arg_problem,
    element_value_problems,
    json_text_problems,
    mac_problem,
    parse_address,
    text_problem,
)

P = "networks[0]"

MACS = [
    pytest.param("02:00:00:00:00:01", None, id="local-unicast"),
    pytest.param("0A-58-0A-01-01-05", None, id="dashes-upper"),
    pytest.param("01:00:5e:00:00:01", "is a multicast address", id="multicast"),
    pytest.param("ff:ff:ff:ff:ff:ff", "is a multicast address", id="broadcast"),
    pytest.param("00:00:00:00:00:00", "is the all-zero address", id="zero"),
    pytest.param("02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system", "is not a 6-byte MAC address",
                 id="cni-args-injection"),
    pytest.param("02:00:00:00:00:01\n", "is not a 6-byte MAC address", id="trailing-newline"),
    pytest.param("02:00-00:00:00:01", "is not a 6-byte MAC address", id="mixed-separators"),
    pytest.param("02:00:00:00:00:01:02:03", "is not a 6-byte MAC address", id="eight-bytes"),
]


@pytest.mark.parametrize(("mac", "reason"), MACS)
def test_mac(mac: str, reason: str | None) -> None:
    assert mac_problem(mac) == reason


ADDRESSES = [
    pytest.param("10.1.0.5", "10.1.0.5", id="v4"),
    pytest.param("10.1.0.5/24", "10.1.0.5", id="v4-prefix"),
    pytest.param("fd00::5/64", "fd00::5", id="v6-prefix"),
    pytest.param("10.1.0.5/33", None, id="prefix-too-long"),
    pytest.param("10.1.0.5/024", None, id="prefix-leading-zero"),
    pytest.param("10.1.0.5/\u0662\u0664", None, id="prefix-arabic-digits"),
    pytest.param("10.1.0.5;MAC=x", None, id="injection"),
    pytest.param("300.1.1.1", None, id="octet-out-of-range"),
    pytest.param("", None, id="empty"),
]


@pytest.mark.parametrize(("text", "address"), ADDRESSES)
def test_parse_address(text: str, address: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed is not None else None) == address


V4 = ipaddress.ip_network("10.1.0.0/24")
V6 = ipaddress.ip_network("fd00:1::/64")
FITS = [
    pytest.param("10.1.0.5", (V4,), None, id="inside"),
    pytest.param("10.2.0.5", (V4,), "is outside the network's subnet (10.1.0.0/24)", id="outside"),
    pytest.param("fd00:2::5", (V4,), "is IPv6, but the network's IPAM serves only 10.1.0.0/24", id="other-family"),
    pytest.param("fd00:1::5", (V4, V6), None, id="dual-stack"),
    pytest.param("10.9.9.9", (), None, id="ipam-unknown"),
]


@pytest.mark.parametrize(("text", "subnets", "reason"), FITS)
def test_address_fit(text: str, subnets: tuple[Any, ...], reason: str | None) -> None:
    assert address_fit_problem(ipaddress.ip_address(text), subnets) == reason


CNI_ARGS = [
    pytest.param("IP", "10.1.0.5/24,fd00::5/64", None, id="ips"),
    pytest.param("MAC", "02:00:00:00:00:01", None, id="mac"),
    pytest.param("", "x", "has an empty key", id="empty-key"),
    pytest.param("MAC", "02;K8S_POD_NAME=x", "value \"02;K8S_POD_NAME=x\" contains ';', which would split CNI_ARGS",
                 id="semicolon-value"),
    pytest.param("MAC", "a=b", "value \"a=b\" contains '=', which would split CNI_ARGS", id="equals-value"),
    pytest.param("A=B", "x", "key \"A=B\" contains '=', which would split CNI_ARGS", id="equals-key"),
    pytest.param("K", "a\x00b", 'value "a\\u0000b" contains the control character U+0000', id="nul"),
    pytest.param("K", "a\x85", 'value "a\\u0085" contains the control character U+0085', id="c1-control"),
]


@pytest.mark.parametrize(("key", "value", "reason"), CNI_ARGS)
def test_cni_arg(key: str, value: str, reason: str | None) -> None:
    assert cni_arg_problem(key, value) == reason


def test_text_problem_names_the_first_control_character() -> None:
    assert text_problem("ok text, with ; and =") is None
    assert text_problem("a\x1bb\x07") == "contains the control character U+001B"
    assert text_problem("a\ud800") == "contains the control character U+D800"


def test_json_text_problems_walk_keys_and_strings() -> None:
    found = json_text_problems({"a": ["ok", "b\x07"], "": 1, "k\n": {"x": 2}}, "cni-args")
    assert [p.path for p in found] == ['cni-args["a"][1]', 'cni-args[""]', 'cni-args["k\\n"]']


def element(text: str) -> NetworkSelection:
    parsed = parse_networks(text)
    assert parsed.problems == () or all(p.severity == "warning" for p in parsed.problems)
    return parsed.elements[0]


ELEMENTS = [
    pytest.param('[{"name":"n","interface":"a\\u0000b"}]', [("interface", f"{P}.interface")], id="nul-ifname"),
    pytest.param('[{"name":"n","interface":"a\\u00e0"}]', [("interface", f"{P}.interface")], id="c3-a0-ifname"),
    pytest.param('[{"name":"n","mac":"02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system"}]', [("mac", f"{P}.mac")],
                 id="mac-injection"),
    pytest.param('[{"name":"n","ips":[]}]', [("ips", f"{P}.ips")], id="ips-empty"),
    pytest.param('[{"name":"n","ips":["10.1.0.5","10.1.0.6;MAC=x"]}]', [("ips", f"{P}.ips[1]")], id="ip-injection"),
    pytest.param('[{"name":"n","ipam-claim-reference":"Bad_Name"}]',
                 [("ipam-claim-reference", f"{P}.ipam-claim-reference")], id="claim-name"),
    pytest.param('[{"name":"n","default-route":["10.0.0.1","gw"]}]', [("default-route", f"{P}.default-route[1]")],
                 id="gateway-not-ip"),
    pytest.param('[{"name":"n","cni-args":{"k":"v\\u0007"}}]', [("cni-args", f'{P}.cni-args["k"]')],
                 id="cni-args-bell"),
    pytest.param('[{"name":"n","portMappings":[{"hostPort":0,"containerPort":80,"protocol":"icmp"}]}]',
                 [("portMappings", f"{P}.portMappings[0].hostPort"), ("portMappings", f"{P}.portMappings[0].protocol")],
                 id="port-mapping"),
    pytest.param('[{"name":"n","bandwidth":{"ingressBurst":5}}]', [("bandwidth", f"{P}.bandwidth.ingressBurst")],
                 id="burst-without-rate"),
    pytest.param('[{"name":"n","infiniband-guid":"c2:11"}]', [("infiniband-guid", f"{P}.infiniband-guid")],
                 id="guid"),
    pytest.param('[{"name":"n","deviceID":"0000:3b:00.2\\n"}]', [("deviceID", f"{P}.deviceID")], id="device-id"),
]


@pytest.mark.parametrize(("text", "expected"), ELEMENTS)
def test_element_value_problems_name_field_and_path(text: str, expected: list[tuple[str, str]]) -> None:
    found = element_value_problems(element(text), P)
    assert [(f.field, f.problem.path) for f in found] == expected
    assert all(f.problem.hint for f in found)


def test_a_valid_element_has_no_value_problems() -> None:
    text = ('[{"name":"n","interface":"net1","ips":["10.1.0.5/24"],"mac":"02:00:00:00:00:01",'
            '"default-route":["10.1.0.1"],"cni-args":{"k":"v; with = signs"},"ipam-claim-reference":"claim-1",'
            '"portMappings":[{"hostPort":80,"containerPort":8080,"protocol":"TCP"}],"bandwidth":{"ingressRate":1},'
            '"infiniband-guid":"c2:11:22:33:44:55:66:77"}]')
    assert element_value_problems(element(text), P) == ()
