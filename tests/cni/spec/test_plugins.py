"""Plugin knowledge as data (cni.spec.plugins): which configs take ips/mac without a capability, and the naming
rules, on configs as the plugins' documentation writes them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cni.spec import parse_nad, parse_netconf
from cni.spec.plugins import FAMILIES, families_of, kubeovn, ovnk, receives, sriov


def conf(config: dict[str, Any]) -> Any:
    parsed, problems = parse_netconf(json.dumps(config))
    assert parsed is not None, problems
    return parsed


def nad_of(name: str, namespace: str, config: dict[str, Any], **annotations: str) -> Any:
    return parse_nad({"metadata": {"name": name, "namespace": namespace, "annotations": annotations},
                      "spec": {"config": json.dumps(config)}})


RECEIVES = [
    pytest.param({"type": "kube-ovn", "provider": "a.default.ovn"}, "ips", True, id="kube-ovn-reads-ips"),
    pytest.param({"type": "kube-ovn", "provider": "a.default.ovn"}, "mac", True, id="kube-ovn-reads-mac"),
    pytest.param({"type": "macvlan", "ipam": {"type": "kube-ovn", "provider": "a.default"}}, "ips", False,
                 id="kube-ovn-ipam-does-not"),
    pytest.param({"type": "macvlan", "ipam": {"type": "kube-ovn"}}, "mac", True, id="macvlan-reads-MAC-arg"),
    pytest.param({"type": "bridge", "ipam": {"type": "host-local", "subnet": "10.1.0.0/24"}}, "ips", True,
                 id="host-local-reads-IP-arg"),
    pytest.param({"type": "ipvlan", "ipam": {"type": "static"}}, "ips", True, id="static-reads-IP-arg"),
    pytest.param({"type": "ipvlan", "ipam": {"type": "static"}}, "mac", False, id="ipvlan-has-no-mac"),
    pytest.param({"type": "ovn-k8s-cni-overlay", "ipam": {}}, "ips", False, id="ovn-k-needs-the-capability"),
    pytest.param({"type": "calico", "ipam": {"type": "calico-ipam"}}, "ips", False, id="calico-needs-it"),
]


@pytest.mark.parametrize(("config", "field", "expected"), RECEIVES)
def test_fields_that_reach_a_plugin_without_a_capability(config: dict[str, Any], field: Any, expected: bool) -> None:
    assert receives(conf({"cniVersion": "0.3.1", **config}), field) is expected


def test_families_are_known_by_type() -> None:
    names = [f.name for f in families_of(conf({"cniVersion": "0.3.1", "plugins": [
        {"type": "sriov"}, {"type": "tuning"}]}))]
    assert names == ["reference plugins", "SR-IOV"]
    assert all(f.sources for f in FAMILIES)
    assert [f.name for f in FAMILIES if not f.secondary_supported] == ["Calico"]


NAMES = [
    pytest.param(lambda: kubeovn.attachment_provider("attachnet", "default"), "attachnet.default.ovn", id="kube-ovn"),
    pytest.param(lambda: kubeovn.ipam_provider("macvlan", "default"), "macvlan.default", id="kube-ovn-ipam"),
    pytest.param(lambda: kubeovn.annotation_key("attachnet.default.ovn", "ingress_rate"),
                 "attachnet.default.ovn.kubernetes.io/ingress_rate", id="kube-ovn-qos-key"),
    pytest.param(lambda: ovnk.net_attach_def_name(nad_of("l2-network", "ns1", {"type": "ovn-k8s-cni-overlay"})),
                 "ns1/l2-network", id="ovn-k"),
]


@pytest.mark.parametrize(("make", "expected"), NAMES)
def test_naming_rules(make: Any, expected: str) -> None:
    assert make() == expected


def test_problems_carry_paths_inside_a_conflist() -> None:
    nad = nad_of("ext", "kube-system", {"cniVersion": "0.3.1", "plugins": [
        {"type": "macvlan", "ipam": {"type": "kube-ovn", "provider": "ext.kube-system.ovn"}}, {"type": "tuning"}]})
    (problem,) = kubeovn.provider_problems(nad, secondary=True)
    assert problem.path == "spec.config.plugins[0].ipam.provider" and "no .ovn suffix" in problem.message
    assert not list(sriov.resource_problems(nad_of("s", "default", {"type": "sriov"},
                                                   **{"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"})))
