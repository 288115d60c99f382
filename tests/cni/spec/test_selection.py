"""The networks annotation parser: both forms, every NPWG field, canonical output."""

import json

import pytest

from cni.spec import NetworkSelection, dump_networks, interface_names, parse_networks

SHORT = [
    pytest.param("net-a", [NetworkSelection("net-a", index=0)], id="name"),
    pytest.param("ns1/net-a", [NetworkSelection("net-a", "ns1", index=0)], id="namespace"),
    pytest.param("ns1/net-a@eth5", [NetworkSelection("net-a", "ns1", "eth5", index=0)], id="namespace-ifname"),
    pytest.param(" a , b@x ", [NetworkSelection("a", index=0), NetworkSelection("b", interface="x", index=1)],
                 id="spaces-trimmed"),
]


@pytest.mark.parametrize(("text", "expected"), SHORT)
def test_short_form(text: str, expected: list[NetworkSelection]) -> None:
    parsed = parse_networks(text)
    assert (parsed.form, list(parsed.elements), parsed.problems) == ("short", expected, ())


def test_json_form_reads_every_npwg_field() -> None:
    element = {
        "name": "n", "namespace": "ns", "interface": "net9", "ips": ["10.0.0.2/24"], "mac": "02:00:00:00:00:01",
        "default-route": ["10.0.0.1"], "cni-args": {"k": "v"},
        "portMappings": [{"hostPort": 80, "containerPort": 8080, "protocol": "TCP"}],
        "bandwidth": {"ingressRate": 1000}, "infiniband-guid": "c2:11:22:33:44:55:66:77",
        "ipam-claim-reference": "claim-1", "example.org/x": [1],
    }
    parsed = parse_networks(json.dumps([element]))
    assert parsed.problems == ()
    assert parsed.elements[0].to_json() == element


def test_problems_are_all_reported_at_once_with_paths() -> None:
    parsed = parse_networks('[{"name": 1}, {"name": "ok", "mac": 5, "ips": "x"}, 3]')
    paths = sorted(p.path.split('"]', 1)[1] for p in parsed.problems)
    assert paths == ["[0].name", "[1].ips", "[1].mac", "[2]"]


def test_problem_path_names_the_annotation() -> None:
    (problem,) = parse_networks('[{"name": "a", "mac": 5}]').problems
    assert problem.path == 'metadata.annotations["k8s.v1.cni.cncf.io/networks"][0].mac'


def test_empty_annotation_requests_nothing() -> None:
    assert parse_networks("  ").form == "empty"


def test_dump_is_compact_and_round_trips() -> None:
    parsed = parse_networks('[{"name": "a", "interface": "x", "ips": ["10.0.0.1"]}]')
    text = dump_networks(parsed.elements)
    assert text == '[{"name":"a","interface":"x","ips":["10.0.0.1"]}]'
    assert parse_networks(text).elements == parsed.elements


NAMES = [
    pytest.param("a,b,c", ("net1", "net2", "net3"), id="positional"),
    pytest.param("a@net2,b,c", ("net2", "net3", "net4"), id="skip-explicit"),
    pytest.param("a@eth1,b", ("eth1", "net2"), id="explicit-other"),
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_interface_names(text: str, expected: tuple[str, ...]) -> None:
    assert interface_names(parse_networks(text).elements) == expected
