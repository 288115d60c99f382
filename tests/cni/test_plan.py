"""Planning: pod annotations + NADs + cluster network -> ordered attachments with their runtimeConfig."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cni.errors import CniError
from cni.plan import Attachment, ClusterNetwork, NadKey, plan_attachments, wanted_nads
from cni.request import Config, PodRef
from cni.spec import Nad, parse_nad, parse_netconf

CONFIG = Config(cni_version="1.1.0", name="netweave", cluster_network="/etc/cni/net.d/10-calico.conflist")
REF = PodRef("default", "web", "uid-1")
CALICO, _ = parse_netconf(json.dumps({"cniVersion": "0.3.1", "name": "k8s-pod-network", "plugins": [
    {"type": "calico", "ipam": {"type": "calico-ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": True}}]}))
assert CALICO is not None
CLUSTER = ClusterNetwork("k8s-pod-network", CALICO)


def nad(namespace: str, name: str, config: dict[str, Any], resource: str | None = None) -> Nad:
    annotations = {"k8s.v1.cni.cncf.io/resourceName": resource} if resource else {}
    return parse_nad({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                      "metadata": {"namespace": namespace, "name": name, "annotations": annotations},
                      "spec": {"config": json.dumps(config)}})


MACVLAN = {"cniVersion": "1.0.0", "name": "mv", "type": "macvlan", "master": "eth1",
           "capabilities": {"ips": True}, "ipam": {"type": "static"}}
NADS: dict[NadKey, Nad | None] = {
    ("default", "mv"): nad("default", "mv", MACVLAN),
    ("kube-system", "ovn-net"): nad("kube-system", "ovn-net", {"cniVersion": "0.4.0", "type": "ovn-k8s-cni-overlay"},
                                    resource="yusur.tech/sriov_dpu"),
    ("default", "list"): nad("default", "list", {"cniVersion": "0.4.0", "name": "list", "plugins": [
        {"type": "bridge", "bridge": "br1"}, {"type": "tuning", "capabilities": {"mac": True}}]}),
}


def pod(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": "web", "uid": "uid-1", "annotations": annotations}}


def plan(p: dict[str, Any], *, config: Config = CONFIG,
         devices: dict[str, tuple[str, ...]] | None = None) -> tuple[Attachment, ...]:
    return plan_attachments(config=config, pod_ref=REF, pod=p, cluster=CLUSTER, nads=NADS,
                            devices=devices or {}, primary_ifname="eth0")


def test_eth0_first_then_auto_and_explicit_names() -> None:
    out = plan(pod(**{"k8s.v1.cni.cncf.io/networks": "mv,default/list@data0"}))
    assert [(a.network, a.ifname, a.is_default) for a in out] == [
        ("k8s-pod-network", "eth0", True), ("default/mv", "net1", False), ("default/list", "data0", False)]


def test_conflist_plugins_inherit_name_and_version_from_the_list() -> None:
    out = plan(pod(**{"k8s.v1.cni.cncf.io/networks": "list"}))
    assert [(p["type"], p["name"], p["cniVersion"]) for p in out[1].plugins] == [
        ("bridge", "list", "0.4.0"), ("tuning", "list", "0.4.0")]


def test_selection_fields_become_runtime_config_legacy_args_and_cni_args() -> None:
    element = {"name": "mv", "ips": ["10.1.1.5/24"], "mac": "0a:58:0a:01:01:05", "cni-args": {"a": "b"},
               "portMappings": [{"hostPort": 80, "containerPort": 8080}], "default-route": ["10.1.1.1"]}
    out = plan(pod(**{"k8s.v1.cni.cncf.io/networks": json.dumps([element])}))[1]
    assert out.runtime_config == {"ips": ["10.1.1.5/24"], "mac": "0a:58:0a:01:01:05",
                                  "portMappings": [{"hostPort": 80, "containerPort": 8080}]}
    assert out.cni_args == (("IP", "10.1.1.5/24"), ("MAC", "0a:58:0a:01:01:05"))
    assert out.plugins[0]["args"] == {"cni": {"a": "b"}}
    assert out.default_route == ("10.1.1.1",)


def test_default_network_override_resolves_in_the_system_namespace_and_gets_a_device() -> None:
    out = plan(pod(**{"v1.multus-cni.io/default-network": "ovn-net"}),
               devices={"yusur.tech/sriov_dpu": ("0000:3b:00.2",)})
    assert (out[0].network, out[0].ifname, out[0].device_id) == ("kube-system/ovn-net", "eth0", "0000:3b:00.2")
    assert out[0].plugins[0]["deviceID"] == "0000:3b:00.2"


def test_nth_attachment_of_a_resource_gets_the_nth_device() -> None:
    annotation = "kube-system/ovn-net@a, kube-system/ovn-net@b"
    out = plan(pod(**{"k8s.v1.cni.cncf.io/networks": annotation}),
               devices={"yusur.tech/sriov_dpu": ("0000:3b:00.2", "0000:3b:00.3")})
    assert [a.device_id for a in out] == [None, "0000:3b:00.2", "0000:3b:00.3"]


def test_wanted_nads_lists_the_override_first() -> None:
    p = pod(**{"v1.multus-cni.io/default-network": "ovn-net", "k8s.v1.cni.cncf.io/networks": "mv,other/x"})
    assert wanted_nads(p, REF, CONFIG) == (("kube-system", "ovn-net"), ("default", "mv"), ("other", "x"))


def test_no_pod_means_the_cluster_network_only() -> None:
    out = plan_attachments(config=CONFIG, pod_ref=None, pod=None, cluster=CLUSTER, nads={}, devices={},
                           primary_ifname="eth0")
    assert [a.ifname for a in out] == ["eth0"]


def test_attachment_round_trips_through_the_cache_form() -> None:
    out = plan(pod(**{"k8s.v1.cni.cncf.io/networks": json.dumps([{"name": "mv", "default-route": []}])}))
    assert [Attachment.from_json(a.to_json()) for a in out] == list(out)


@pytest.mark.parametrize(("annotations", "config", "code"), [
    pytest.param({"k8s.v1.cni.cncf.io/networks": "missing"}, CONFIG, 102, id="nad-missing"),
    pytest.param({"k8s.v1.cni.cncf.io/networks": "[{]"}, CONFIG, 105, id="annotation-syntax"),
    pytest.param({"k8s.v1.cni.cncf.io/networks": "mv@eth0"}, CONFIG, 105, id="eth0-reserved"),
    pytest.param({"k8s.v1.cni.cncf.io/networks": "mv@a,list@a"}, CONFIG, 105, id="duplicate-ifname"),
    pytest.param({"k8s.v1.cni.cncf.io/networks": json.dumps([
        {"name": "mv", "default-route": ["10.0.0.1"]}, {"name": "list", "default-route": ["10.0.1.1"]}])},
        CONFIG, 105, id="two-default-routes"),
    pytest.param({"k8s.v1.cni.cncf.io/networks": json.dumps([
        {"name": "mv", "default-route": ["10.0.0.1", "10.0.0.2"]}])}, CONFIG, 105, id="two-v4-gateways"),
    pytest.param({"v1.multus-cni.io/default-network": "ovn-net@eth9"}, CONFIG, 105, id="override-interface"),
    pytest.param({"k8s.v1.cni.cncf.io/networks": "kube-system/ovn-net"},
                 Config(cni_version="1.1.0", name="n", cluster_network="/x", namespace_isolation=True,
                        global_namespaces=()), 104, id="isolation"),
    pytest.param({"k8s.v1.cni.cncf.io/networks": "kube-system/ovn-net"}, CONFIG, 108, id="no-device-left"),
])
def test_plan_errors_carry_netweave_codes(annotations: dict[str, str], config: Config, code: int) -> None:
    p = pod(**annotations)
    ovn = NADS[("kube-system", "ovn-net")]
    assert ovn is not None
    with pytest.raises(CniError) as caught:
        plan(p, config=config)
    assert caught.value.code == code


def test_the_runtimes_runtime_config_goes_to_the_cluster_network_only() -> None:
    config = Config(cni_version="1.1.0", name="n", cluster_network="/x",
                    runtime_config={"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "tcp"}]})
    out = plan(pod(**{"k8s.v1.cni.cncf.io/networks": "mv"}), config=config)
    assert out[0].runtime_config == {"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "tcp"}]}
    assert out[1].runtime_config == {}


# --- the node validates for itself, with the same cni.spec functions admission uses ---------------------------

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT = "v1.multus-cni.io/default-network"
TEAM_A = PodRef("team-a", "web", "uid-2")
PRIMARY = nad("team-a", "primary", {"cniVersion": "1.0.0", "type": "ptp"})
ISOLATED = Config(cni_version="1.1.0", name="n", cluster_network="/x", namespace_isolation=True)


REFUSED = [
    pytest.param([{"name": "mv", "interface": "a\u0000b"}], "[0].interface", "contains a NUL byte", id="nul-ifname"),
    pytest.param([{"name": "mv", "interface": "a\u00e0"}], "[0].interface", "byte 0xa0", id="c3-a0-ifname"),
    pytest.param([{"name": "mv", "mac": "02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system"}], "[0].mac",
                 "is not a 6-byte MAC address", id="semicolon-mac"),
    pytest.param([{"name": "mv", "ips": ["10.1.1.5/24;K8S_POD_NAME=x"]}], "[0].ips[0]", "is not an IP address",
                 id="semicolon-ip"),
    pytest.param([{"name": "mv", "ips": []}], "[0].ips", "ips is empty", id="ips-empty"),
    pytest.param([{"name": "mv", "cni-args": {"k": "\u001b]0;x\u0007"}}], '[0].cni-args["k"]', "U+001B",
                 id="cni-args-escape"),
    pytest.param([{"name": "mv", "default-route": ["10.1.1.1;x"]}], "[0].default-route[0]", "not an IP address",
                 id="gateway-not-ip"),
    pytest.param([{"name": "mv", "interface": "lo"}], "[0].interface", "reserved for the loopback device",
                 id="lo-reserved"),
    pytest.param([{"name": "mv", "default-route": ["10.1.1.1"]}, {"name": "list", "default-route": []}],
                 "[1].default-route", "IPv4 default route is already claimed by", id="empty-claims-v4-too"),
]


@pytest.mark.parametrize(("elements", "field", "why"), REFUSED)
def test_values_that_would_break_a_delegate_are_refused_before_any_runs(
        elements: list[dict[str, Any]], field: str, why: str) -> None:
    with pytest.raises(CniError) as caught:
        plan(pod(**{NETWORKS: json.dumps(elements)}))
    assert caught.value.code == 105
    assert caught.value.msg.startswith(f'metadata.annotations["{NETWORKS}"]{field}: ')
    assert why in caught.value.msg


def test_default_network_element_values_are_checked_too() -> None:
    with pytest.raises(CniError) as caught:
        plan(pod(**{DEFAULT: json.dumps([{"name": "ovn-net", "namespace": "kube-system", "mac": "02:00;X=y"}])}),
             devices={"yusur.tech/sriov_dpu": ("0000:3b:00.2",)})
    assert (caught.value.code, caught.value.msg.split(":")[0]) == (105, f'metadata.annotations["{DEFAULT}"].mac')


def test_automatic_names_skip_later_explicit_names_without_the_mutating_patch() -> None:
    out = plan(pod(**{NETWORKS: '[{"name":"mv"},{"name":"list","interface":"net1"}]'}))
    assert [a.ifname for a in out] == ["eth0", "net2", "net1"]


def test_one_element_may_own_ipv4_and_another_ipv6() -> None:
    out = plan(pod(**{NETWORKS: json.dumps([{"name": "mv", "default-route": ["10.1.1.1"]},
                                            {"name": "list", "default-route": ["fd00::1"]}])}))
    assert [a.default_route for a in out] == [None, ("10.1.1.1",), ("fd00::1",)]


def test_a_qualified_default_network_resolves_in_its_own_namespace() -> None:
    p = {"metadata": {"namespace": "team-a", "name": "web", "annotations": {DEFAULT: "team-a/primary"}}}
    nads = {("team-a", "primary"): PRIMARY}
    out = plan_attachments(config=ISOLATED, pod_ref=TEAM_A, pod=p, cluster=CLUSTER, nads=nads, devices={},
                           primary_ifname="eth0")
    assert (out[0].network, out[0].is_default) == ("team-a/primary", True)
    assert wanted_nads(p, TEAM_A, ISOLATED) == (("team-a", "primary"),)


def test_an_unqualified_default_network_outside_the_global_namespaces_is_forbidden_like_admission() -> None:
    p = {"metadata": {"namespace": "team-a", "name": "web", "annotations": {DEFAULT: "ovn-net"}}}
    config = Config(cni_version="1.1.0", name="n", cluster_network="/x", namespace_isolation=True,
                    global_namespaces=())
    with pytest.raises(CniError) as caught:
        plan_attachments(config=config, pod_ref=TEAM_A, pod=p, cluster=CLUSTER, nads=NADS, devices={},
                         primary_ifname="eth0")
    assert caught.value.code == 104
