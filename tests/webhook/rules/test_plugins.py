"""The plugin-knowledge rules (cni.spec.plugins), on NADs and pods written as the plugins' own documentation and
issue trackers show them: Kube-OVN (multi-nic docs, kube-ovn#604 #1055 #2783), OVN-Kubernetes (OpenShift
"secondary networks", ovnkube's NAD parser tests, ovn-kubernetes#3428), SR-IOV (sriov-cni README), Calico."""

from __future__ import annotations

from typing import Any

import pytest

from tests.paths import SEEDS
from tests.webhook.rules.conftest import nad, pod
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_nad, evaluate_pod
from webhook.findings import Verdict
from webhook.policy import Policy
from webhook.rules.syntax import short_location
from webhook.sources import read_file

KUBE_OVN_SOCKET = "/run/openvswitch/kube-ovn-daemon.sock"
RESOURCE = "k8s.v1.cni.cncf.io__resourceName"


def kube_ovn(name: str, provider: str | None, namespace: str = "default") -> dict[str, Any]:
    config: dict[str, Any] = {"cniVersion": "0.3.0", "type": "kube-ovn", "server_socket": KUBE_OVN_SOCKET}
    if provider is not None:
        config["provider"] = provider
    return nad(name, config, namespace)


def kube_ovn_ipam(name: str, provider: str | None, namespace: str = "default") -> dict[str, Any]:
    ipam: dict[str, Any] = {"type": "kube-ovn", "server_socket": KUBE_OVN_SOCKET}
    if provider is not None:
        ipam["provider"] = provider
    return nad(name, {"cniVersion": "0.3.0", "type": "macvlan", "master": "eth0", "mode": "bridge", "ipam": ipam},
               namespace)


def ovn_k(nad_name: str, namespace: str, **fields: Any) -> dict[str, Any]:
    return nad(nad_name, {"cniVersion": "0.3.1", "type": "ovn-k8s-cni-overlay", **fields}, namespace)


def sriov(name: str, resource: str | None = None, **fields: Any) -> dict[str, Any]:
    config = {"cniVersion": "0.3.1", "name": "sriov-network", "vlan": 1000,
              "ipam": {"type": "host-local", "subnet": "10.56.217.0/24", "gateway": "10.56.217.1"}, **fields}
    return nad(name, config, **({RESOURCE: resource} if resource else {}))


L2 = {"name": "l2-network", "topology": "layer2", "subnets": "10.100.200.0/24", "mtu": 1300}

NADS = [
    kube_ovn("attachnet", "attachnet.default.ovn"),
    kube_ovn("no-provider", None),
    kube_ovn("no-suffix", "no-suffix.default"),
    kube_ovn_ipam("macvlan", "macvlan.default"),
    kube_ovn_ipam("ovn-vpc-external-network", "ovn-vpc-external-network.kube-system.ovn", "kube-system"),
    ovn_k("l2-network", "ns1", **L2, netAttachDefName="ns1/l2-network"),
    nad("sriov-net1", {"cniVersion": "0.3.1", "type": "sriov", "name": "sriov-network"},
        **{RESOURCE: "intel.com/intel_sriov_netdevice"}),
    nad("sriov-bare", {"cniVersion": "0.3.1", "type": "sriov", "name": "sriov-network"}),
    nad("calico-net", {"cniVersion": "0.3.1", "type": "calico", "ipam": {"type": "calico-ipam"}}, "kube-system"),
]
CATALOG = MemoryCatalog.from_objects(NADS)


def nad_hits(obj: dict[str, Any], catalog: MemoryCatalog | None = None) -> set[tuple[str, str, str]]:
    verdict = evaluate_nad(obj, policy=Policy(), catalog=catalog)
    return {(f.rule, f.path, f.severity) for f in verdict.findings}


def pod_verdict(networks: str | None = None, default: str | None = None,
                annotations: dict[str, str] | None = None) -> Verdict:
    obj = pod(networks, default)
    obj["metadata"]["annotations"].update(annotations or {})
    return evaluate_pod(obj, catalog=CATALOG, policy=Policy())


def pod_hits(verdict: Verdict) -> set[tuple[str, str, str]]:
    return {(f.rule, short_location(f.path), f.severity) for f in verdict.findings}


# -- NAD admission (and lint of NAD manifests) ------------------------------------------------------------------
NAD_CLEAN = [
    pytest.param(kube_ovn("attachnet", "attachnet.default.ovn"), id="kube-ovn-docs-attachnet"),
    pytest.param(kube_ovn("default", None), id="kube-ovn-without-provider-may-be-a-default-network"),
    pytest.param(kube_ovn_ipam("macvlan", "macvlan.default"), id="kube-ovn-ipam-docs-macvlan"),
    pytest.param(ovn_k("l2-network", "ns1", **L2, netAttachDefName="ns1/l2-network"), id="ovn-k-layer2"),
    pytest.param(ovn_k("ovn-net", "kube-system", name="ovn-kubernetes"), id="ovn-k-default-network-no-topology"),
    pytest.param(sriov("sriov-net1", "intel.com/intel_sriov_netdevice", type="sriov"), id="sriov-with-resource"),
    pytest.param(sriov("sriov-static", None, type="sriov", deviceID="0000:af:06.0"), id="sriov-device-in-config"),
    pytest.param(nad("calico-net", {"cniVersion": "0.3.1", "type": "calico"}, "kube-system"), id="calico-nad"),
]


@pytest.mark.parametrize("obj", NAD_CLEAN)
def test_nads_the_plugins_accept_are_clean(obj: dict[str, Any]) -> None:
    assert nad_hits(obj) == set()


NAD_INVALID = [
    pytest.param(kube_ovn("attachnet", "attachnet.default"),
                 {("kube-ovn-provider", "spec.config.provider", "error")}, id="kube-ovn-provider-without-ovn-suffix"),
    pytest.param(kube_ovn("attachnet", "attachnet.kube-system.ovn"),
                 {("kube-ovn-provider", "spec.config.provider", "error")}, id="kube-ovn-provider-other-namespace"),
    pytest.param(kube_ovn_ipam("ovn-vpc-external-network", "ovn-vpc-external-network.kube-system.ovn",
                               "kube-system"),
                 {("kube-ovn-provider", "spec.config.ipam.provider", "error")}, id="kube-ovn-2783-ipam-ovn-suffix"),
    pytest.param(kube_ovn_ipam("macvlan", None),
                 {("kube-ovn-provider", "spec.config.ipam.provider", "error")}, id="kube-ovn-604-ipam-no-provider"),
    pytest.param(ovn_k("l2-network", "ns1", **L2, netAttachDefName="default/l2-network"),
                 {("ovn-k-net-attach-def-name", "spec.config.netAttachDefName", "error")}, id="ovn-k-other-namespace"),
    pytest.param(ovn_k("nad1", "ns1", name="tenantred", topology="localnet", vlanID=10),
                 {("ovn-k-net-attach-def-name", "spec.config.netAttachDefName", "error")},
                 id="ovn-k-localnet-without-netattachdefname"),
    pytest.param(ovn_k("nad1", "ns1", name="ovn-kubernetes", topology="layer2", netAttachDefName="ns1/nad1"),
                 {("ovn-k-net-attach-def-name", "spec.config.name", "error")}, id="ovn-k-reserved-network-name"),
    pytest.param(sriov("sriov-net1", None, type="sriov"),
                 {("device-resource-missing", 'metadata.annotations["k8s.v1.cni.cncf.io/resourceName"]', "error")},
                 id="sriov-without-resource-name"),
    pytest.param(nad("ib", {"cniVersion": "0.3.1", "plugins": [{"type": "ib-sriov"}, {"type": "tuning"}]}),
                 {("device-resource-missing", 'metadata.annotations["k8s.v1.cni.cncf.io/resourceName"]', "error")},
                 id="ib-sriov-conflist-without-resource-name"),
]


@pytest.mark.parametrize(("obj", "expected"), NAD_INVALID)
def test_nad_mistakes_the_plugins_refuse(obj: dict[str, Any], expected: set[tuple[str, str, str]]) -> None:
    assert nad_hits(obj) == expected


@pytest.mark.parametrize(("obj", "wanted"), [
    pytest.param(kube_ovn("attachnet", "attachnet.default"), '"provider": "attachnet.default.ovn"', id="kube-ovn"),
    pytest.param(kube_ovn_ipam("ext", "ext.kube-system.ovn", "kube-system"), '"provider": "ext.kube-system"',
                 id="kube-ovn-ipam"),
    pytest.param(ovn_k("l2-network", "ns1", **L2, netAttachDefName="l2-network"),
                 '"netAttachDefName": "ns1/l2-network"', id="ovn-k"),
    pytest.param(sriov("s", None, type="sriov"), "k8s.v1.cni.cncf.io/resourceName", id="sriov"),
])
def test_nad_hints_say_what_to_write(obj: dict[str, Any], wanted: str) -> None:
    (finding,) = evaluate_nad(obj, policy=Policy()).findings
    assert wanted in finding.hint


def test_ovn_k_nads_of_one_network_with_different_settings_conflict() -> None:
    other = ovn_k("l2-network", "ns2", **{**L2, "subnets": "10.100.0.0/16"}, netAttachDefName="ns2/l2-network")
    verdict = evaluate_nad(other, policy=Policy(), catalog=CATALOG)
    (finding,) = verdict.findings
    assert (finding.rule, finding.severity) == ("ovn-k-network-conflict", "error")
    assert "ns1/l2-network" in finding.message and "subnets" in finding.message
    same = ovn_k("l2-network", "ns2", **L2, netAttachDefName="ns2/l2-network")
    assert evaluate_nad(same, policy=Policy(), catalog=CATALOG).findings == ()


# -- pods that use such NADs -------------------------------------------------------------------------------------
POD_CASES = [
    pytest.param('[{"name": "attachnet", "ips": ["10.100.0.100/16"], "mac": "02:00:00:00:00:01"}]', {},
                 set(), id="kube-ovn-reads-ips-and-mac-itself"),
    pytest.param('[{"name": "macvlan", "ips": ["10.100.0.100/16"]}]', {},
                 {("capability-missing", "networks[0].ips", "error")}, id="kube-ovn-ipam-does-not-read-ips"),
    pytest.param("no-provider", {}, {("kube-ovn-provider", "networks[0]", "error")},
                 id="kube-ovn-secondary-without-provider"),
    pytest.param("no-suffix", {}, {("kube-ovn-provider", "networks[0]", "error")}, id="kube-ovn-bad-provider"),
    pytest.param("ns1/l2-network", {}, set(), id="ovn-k-layer2"),
    pytest.param("sriov-net1", {}, set(), id="sriov-with-resource"),
    pytest.param("sriov-bare", {}, {("device-resource-missing", "networks[0]", "error")}, id="sriov-no-resource"),
    pytest.param("kube-system/calico-net", {}, {("calico-secondary", "networks[0]", "warning")},
                 id="calico-secondary"),
    pytest.param("attachnet", {"ovn.kubernetes.io/ingress_rate": "1000"},
                 {("kube-ovn-qos-key", "ovn.kubernetes.io/ingress_rate", "warning")},
                 id="qos-key-of-the-primary"),
    pytest.param("attachnet", {"ovn.kubernetes.io/ingress_rate": "1000",
                               "attachnet.default.ovn.kubernetes.io/ingress_rate": "500"}, set(),
                 id="qos-keys-for-both-interfaces"),
    pytest.param("attachnet", {"attachnet.default.ovn.kubernetes.io/egress_rate": "500"}, set(),
                 id="qos-key-of-the-secondary"),
]


@pytest.mark.parametrize(("networks", "annotations", "expected"), POD_CASES)
def test_pods_using_plugin_nads(networks: str, annotations: dict[str, str],
                                expected: set[tuple[str, str, str]]) -> None:
    assert pod_hits(pod_verdict(networks, annotations=annotations)) == expected


def test_kube_ovn_default_network_needs_no_provider_and_calico_may_be_primary() -> None:
    assert pod_hits(pod_verdict(default="default/no-provider")) == set()
    assert pod_hits(pod_verdict("attachnet", default="kube-system/calico-net")) == set()


def test_pod_messages_name_the_nad_and_say_what_to_write() -> None:
    (provider,) = pod_verdict("no-suffix").findings
    assert 'NAD default/no-suffix spec.config.provider' in provider.message
    assert '"provider": "no-suffix.default.ovn"' in provider.hint
    (qos,) = pod_verdict("attachnet", annotations={"ovn.kubernetes.io/egress_rate": "1000"}).findings
    assert '"attachnet.default.ovn.kubernetes.io/egress_rate"' in qos.hint


def test_seed_004_static_ip_and_qos() -> None:
    """Seed post 004: the static-IP pod is admitted; the primary's QoS keys on a secondary say which key to use."""
    static = read_file(SEEDS / "019-kube-ovn-static-ip.yaml").objects
    catalog = MemoryCatalog.from_objects(o.obj for o in static)
    (pod_obj,) = [o.obj for o in static if o.kind == "Pod"]
    verdict = evaluate_pod(pod_obj, catalog=catalog, policy=Policy())
    assert verdict.allowed and {f.rule for f in verdict.findings} == {"annotation-syntax"}
    qos = read_file(SEEDS / "020-kube-ovn-qos-annotations.yaml").objects
    catalog = MemoryCatalog.from_objects(o.obj for o in qos)
    (pod_obj,) = [o.obj for o in qos if o.kind == "Pod"]
    verdict = evaluate_pod(pod_obj, catalog=catalog, policy=Policy())
    assert verdict.allowed
    assert sorted(f.hint.split('"')[1] for f in verdict.findings) == [
        "kube-ovn-vpc-network.default.ovn.kubernetes.io/egress_rate",
        "kube-ovn-vpc-network.default.ovn.kubernetes.io/ingress_rate"]


def test_plugin_rules_follow_policy_and_suppression() -> None:
    quiet = Policy.from_mapping({"rules": {"device-resource-missing": "warning"}}, source="t")
    verdict = evaluate_pod(pod("sriov-bare"), catalog=CATALOG, policy=quiet)
    assert verdict.allowed and [f.rule for f in verdict.warnings] == ["device-resource-missing"]
    verdict = pod_verdict("sriov-bare", annotations={
        "ignore-check.netweave.io/device-resource-missing": "the device comes from a DRA claim"})
    assert verdict.allowed and [s.finding.rule for s in verdict.suppressed] == ["device-resource-missing"]


def test_lint_flags_the_nad_manifest_and_the_pods_that_use_it(tmp_path: Any) -> None:
    import argparse
    import io
    import json

    import yaml

    from webhook.lint import add_arguments, run

    pod_obj = pod("attachnet")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump_all([kube_ovn("attachnet", "attachnet.default"), pod_obj]))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = io.StringIO()
    code = run(parser.parse_args(["--format", "sarif", str(tmp_path / "m.yaml")]), stdout=out, stderr=io.StringIO())
    sarif = json.loads(out.getvalue())["runs"][0]
    assert code == 1
    assert sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in
                  sarif["results"]) == [("kube-ovn-provider", 7), ("kube-ovn-provider", 14)]  # config, pod
    rules = {r["id"]: r["defaultConfiguration"]["level"] for r in sarif["tool"]["driver"]["rules"]}
    assert rules["kube-ovn-provider"] == "error" and rules["calico-secondary"] == "warning"
