"""NAD spec.config parsing: single configs, conflists, capabilities, and the IPAM facts rules rely on."""

import ipaddress
import json
from typing import Any

import pytest
import yaml

from cni.spec import parse_nad, parse_netconf
from tests.paths import FIXTURES


def _fixture_nads() -> dict[str, Any]:
    with open(FIXTURES / "manifests" / "nads.yaml", encoding="utf-8") as handle:
        return {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(handle) if doc}


NADS = _fixture_nads()

FACTS = [
    pytest.param("calico-net", ("calico", "portmap", "bandwidth"), {"portMappings", "bandwidth"}, [], id="calico"),
    pytest.param("macvlan-conf", ("macvlan",), set(), ["192.168.1.0/24"], id="macvlan-host-local"),
    pytest.param("ip-192", ("macvlan",), {"ips"}, [], id="static-ips-capability"),
    pytest.param("ovn-net", ("ovn-k8s-cni-overlay",), set(), [], id="ovn"),
]


@pytest.mark.parametrize(("name", "types", "caps", "subnets"), FACTS)
def test_fixture_nads(name: str, types: tuple[str, ...], caps: set[str], subnets: list[str]) -> None:
    nad = parse_nad(NADS[name])
    assert nad.config is not None and nad.config_problems == ()
    assert nad.config.types == types
    assert set().union(*(p.capabilities for p in nad.config.plugins)) == caps
    assert [str(s) for s in nad.config.subnets] == subnets


def test_dpu_nad_annotations() -> None:
    nad = parse_nad(NADS["ovn-net"])
    assert (nad.namespace, nad.resource_name) == ("kube-system", "yusur.tech/sriov_dpu")


IPAM = [
    pytest.param({"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/16", "gateway": "10.1.0.1"}],
                                                    [{"subnet": "fd00::/64"}]]},
                 ["10.1.0.0/16", "fd00::/64"], ["10.1.0.1"], id="host-local-ranges"),
    pytest.param({"type": "static", "addresses": [{"address": "10.10.0.5/24", "gateway": "10.10.0.1"}]},
                 ["10.10.0.0/24"], ["10.10.0.1"], id="static-addresses"),
    pytest.param({"type": "whereabouts", "range": "192.168.2.225/28"}, ["192.168.2.224/28"], [], id="whereabouts"),
    pytest.param({"type": "whereabouts", "range": "10.0.0.10-10.0.0.20/24"}, ["10.0.0.0/24"], [],
                 id="whereabouts-start-end"),
    pytest.param({"type": "dhcp"}, [], [], id="dhcp-unknown"),
]


@pytest.mark.parametrize(("ipam", "subnets", "gateways"), IPAM)
def test_ipam_facts(ipam: dict[str, Any], subnets: list[str], gateways: list[str]) -> None:
    conf, problems = parse_netconf(json.dumps({"cniVersion": "1.0.0", "type": "bridge", "ipam": ipam}))
    assert problems == () and conf is not None
    assert list(conf.subnets) == [ipaddress.ip_network(s) for s in subnets]
    assert [str(g) for g in conf.gateways] == gateways


INVALID = [
    pytest.param("{nope", "spec.config", id="not-json"),
    pytest.param("[1]", "spec.config", id="not-object"),
    pytest.param('{"cniVersion": "1.0.0"}', "spec.config.type", id="no-type"),
    pytest.param('{"plugins": []}', "spec.config.plugins", id="empty-plugins"),
    pytest.param('{"plugins": [{"type": "bridge"}, {"type": 3}]}', "spec.config.plugins[1].type", id="bad-type"),
    pytest.param('{"type": "bridge", "ipam": "host-local"}', "spec.config.ipam", id="ipam-not-object"),
]


@pytest.mark.parametrize(("text", "path"), INVALID)
def test_invalid_configs(text: str, path: str) -> None:
    conf, problems = parse_netconf(text)
    assert conf is None
    assert [p.path for p in problems] == [path]


def test_empty_config_is_a_warning() -> None:
    nad = parse_nad({"kind": "NetworkAttachmentDefinition", "metadata": {"name": "x"}, "spec": {}})
    assert [p.severity for p in nad.config_problems] == ["warning"]


IPAM_VALUES = [
    pytest.param({"type": "host-local", "subnet": "10.1.0.0/33"}, ["spec.config.ipam.subnet"], id="prefix-33"),
    pytest.param({"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/24", "gateway": "10.1.0.300"}]]},
                 ["spec.config.ipam.ranges[0][0].gateway"], id="bad-gateway"),
    pytest.param({"type": "static", "addresses": [{"address": "10.1.0.5/40"}]},
                 ["spec.config.ipam.addresses[0].address"], id="static-address"),
    pytest.param({"type": "whereabouts", "range": "10.1.0.10-10.1.0.20/99"}, ["spec.config.ipam.range"],
                 id="whereabouts-range"),
    pytest.param({"type": "whereabouts", "ipRanges": [{"range": "fd00::/129"}]}, ["spec.config.ipam.ipRanges[0].range"],
                 id="whereabouts-ip-ranges"),
    pytest.param({"type": "host-local", "subnet": "usePodCidr"}, [], id="calico-host-local-words"),
    pytest.param({"type": "whereabouts", "range": "10.1.0.10-10.1.0.20/24"}, [], id="whereabouts-dash-form"),
    pytest.param({"type": "some-ipam", "subnet": "auto"}, [], id="unknown-ipam-not-judged"),
]


@pytest.mark.parametrize(("ipam", "paths"), IPAM_VALUES)
def test_declarative_ipam_subnets_and_gateways_must_parse(ipam: dict[str, Any], paths: list[str]) -> None:
    conf, problems = parse_netconf(json.dumps({"cniVersion": "1.0.0", "type": "bridge", "ipam": ipam}))
    assert [p.path for p in problems] == paths
    assert all(p.severity == "error" and "is not" in p.message for p in problems)
    assert (conf is None) == bool(paths)


def test_a_bad_subnet_in_a_conflist_names_the_plugin() -> None:
    _, problems = parse_netconf(json.dumps({"cniVersion": "1.0.0", "name": "l", "plugins": [
        {"type": "tuning"}, {"type": "macvlan", "ipam": {"type": "host-local", "subnet": "10.1.0.0/33"}}]}))
    assert [(p.path, p.message) for p in problems] == [
        ("spec.config.plugins[1].ipam.subnet", 'subnet "10.1.0.0/33" is not a CIDR')]
