"""Hot-plug admission: a running pod's networks change only under policy hotPlug, and only by whole attachments.

Each case is the captured pod UPDATE review (tests/fixtures/admission/018) with the old and new networks
annotations replaced; the NADs are the seed manifests (macvlan-conf, ip-192; kube-system/ovn-net is backed by
the device-plugin resource yusur.tech/sriov_dpu).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.paths import FIXTURES
from webhook.admission import admit
from webhook.manifests import read_catalog
from webhook.podindex import PodIndex, pod_entry, pod_key
from webhook.policy import Policy, PolicyError
from webhook.review import decode_review

CATALOG = read_catalog(str(FIXTURES / "manifests" / "nads.yaml"))
NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
HOT = Policy.from_mapping({"hotPlug": True}, source="test")
IP192 = {"name": "ip-192", "ips": ["192.168.1.11/24"]}


def update(old: dict[str, str], new: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "admission" / "018-update-pod-samplepod.json").read_text())
    request = doc["request"]
    for side, values in (("oldObject", old), ("object", new)):
        request[side] = copy.deepcopy(request["oldObject"])
        request[side]["metadata"]["annotations"] = values
    return doc


def decide(old: dict[str, str], new: dict[str, str], policy: Policy = HOT) -> tuple[bool, list[str]]:
    result = admit(decode_review(json.dumps(update(old, new)).encode()), catalog=CATALOG, policy=policy,
                   mutate=True)
    return result.decision.allowed, [f.rule for f in result.findings if f.severity == "error"]


def nets(*elements: dict[str, Any] | str) -> dict[str, str]:
    return {NETWORKS: json.dumps([{"name": e} if isinstance(e, str) else e for e in elements])}


ALLOWED = [
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", IP192), HOT, id="hotplug-add-a-network"),
    pytest.param(nets("macvlan-conf", IP192), nets("macvlan-conf"), HOT, id="hotplug-remove-the-last-network"),
    pytest.param(nets("macvlan-conf", {**IP192, "interface": "net2"}), nets({**IP192, "interface": "net2"}), HOT,
                 id="hotplug-remove-the-first-when-the-rest-keep-explicit-names"),
    pytest.param({}, nets("macvlan-conf"), HOT, id="hotplug-first-network-of-a-pod-without-any"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", {**IP192, "default-route": ["192.168.1.1"]}),
                 Policy.from_mapping({"hotPlug": {"defaultRoute": True}}, source="test"),
                 id="hotplug-default-route-moves-when-the-policy-allows"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", IP192),
                 Policy.from_mapping({"hotPlug": {"namespaces": ["default"]}}, source="test"),
                 id="hotplug-namespace-listed"),
]

DENIED = [
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", IP192), Policy(), ["networks-immutable"],
                 id="hotplug-off-by-default"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", IP192),
                 Policy.from_mapping({"hotPlug": {"namespaces": ["lab"]}}, source="test"), ["networks-immutable"],
                 id="hotplug-namespace-not-listed"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", IP192),
                 Policy.from_mapping({"hotPlug": {"enabled": False, "namespaces": ["default"]}}, source="test"),
                 ["networks-immutable"], id="hotplug-disabled-explicitly"),
    pytest.param(nets("macvlan-conf", IP192), nets(IP192), HOT, ["hotplug-change"],
                 id="hotplug-auto-name-would-shift-in-place"),
    pytest.param(nets({"name": "macvlan-conf", "interface": "lan0"}), nets({"name": "macvlan-conf",
                                                                            "interface": "lan1"}), HOT,
                 ["hotplug-change"], id="hotplug-rename-in-place"),
    pytest.param(nets("macvlan-conf", IP192), nets("macvlan-conf", {**IP192, "ips": ["192.168.1.12/24"]}), HOT,
                 ["hotplug-change"], id="hotplug-readdress-in-place"),
    pytest.param(nets("macvlan-conf"), {**nets("macvlan-conf"), DEFAULT_NETWORK: "default/macvlan-conf"}, HOT,
                 ["hotplug-change"], id="hotplug-default-network-moves"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", {**IP192, "default-route": ["192.168.1.1"]}), HOT,
                 ["hotplug-change"], id="hotplug-default-route-moves-without-the-policy"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", {"name": "ovn-net", "namespace": "kube-system"}), HOT,
                 ["hotplug-device"], id="hotplug-device-backed-network"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", "no-such-net"), HOT, ["network-not-found"],
                 id="hotplug-every-rule-runs-on-the-new-value-missing-nad"),
    pytest.param(nets("macvlan-conf"), nets("macvlan-conf", {**IP192, "interface": "eth0"}), HOT,
                 ["interface-name-reserved"], id="hotplug-every-rule-runs-on-the-new-value-eth0"),
    pytest.param(nets("macvlan-conf"), {NETWORKS: "macvlan-conf,,"}, HOT, ["annotation-syntax"],
                 id="hotplug-every-rule-runs-on-the-new-value-syntax"),
]


@pytest.mark.parametrize(("old", "new", "policy"), ALLOWED)
def test_hotplug_change_is_allowed(old: dict[str, str], new: dict[str, str], policy: Policy) -> None:
    assert decide(old, new, policy) == (True, [])


@pytest.mark.parametrize(("old", "new", "policy", "rules"), DENIED)
def test_hotplug_change_is_denied(old: dict[str, str], new: dict[str, str], policy: Policy,
                                  rules: list[str]) -> None:
    allowed, found = decide(old, new, policy)
    assert (allowed, sorted(set(found))) == (False, rules)


def test_hotplug_device_denial_says_why_and_what_to_do() -> None:
    doc = update(nets("macvlan-conf"), nets("macvlan-conf", {"name": "ovn-net", "namespace": "kube-system"}))
    (error,) = admit(decode_review(json.dumps(doc).encode()), catalog=CATALOG, policy=HOT,
                     mutate=True).decision.errors
    assert error == ('networks[1] "kube-system/ovn-net": "kube-system/ovn-net" is backed by the device-plugin '
                     'resource "yusur.tech/sriov_dpu"; a running pod has no such device allocated, so the network '
                     "cannot be hot-added; add the network to the pod template and recreate the pod (the scheduler "
                     "then allocates the device) [hotplug-device]")


def test_hotplug_shifted_auto_name_denial_names_the_fix() -> None:
    doc = update(nets("macvlan-conf", IP192), nets(IP192))
    (error,) = admit(decode_review(json.dumps(doc).encode()), catalog=CATALOG, policy=HOT,
                     mutate=True).decision.errors
    assert error == ('networks[0] "default/ip-192": "default/ip-192" is attached as "net2"; it cannot be renamed '
                     'to "net1" in place; keep the name (write ip-192@net2), or remove the attachment and add it again '
                     "under a new interface name, or recreate the pod [hotplug-change]")


def test_hotplug_repointed_interface_denial_names_both_networks() -> None:
    doc = update(nets("macvlan-conf"), nets(IP192))
    (error,) = admit(decode_review(json.dumps(doc).encode()), catalog=CATALOG, policy=HOT,
                     mutate=True).decision.errors
    assert error.startswith('networks[0] "default/ip-192": interface "net1" is attached to "default/macvlan-conf"; '
                            'it cannot be re-pointed to "default/ip-192" in place;')
    assert error.endswith("[hotplug-change]")


def test_hotplug_rules_follow_the_policy_levels() -> None:
    policy = Policy.from_mapping({"hotPlug": True, "rules": {"hotplug-change": "warning"}}, source="test")
    allowed, errors = decide(nets("macvlan-conf", IP192), nets(IP192), policy)
    assert (allowed, errors) == (True, [])


@pytest.mark.parametrize("value", [
    pytest.param("yes", id="string"),
    pytest.param({"enabled": True, "namespace": ["lab"]}, id="misspelt-key"),
    pytest.param({"defaultRoute": "true"}, id="string-boolean"),
    pytest.param({"namespaces": "lab"}, id="namespaces-not-a-list"),
])
def test_hotplug_policy_errors_name_the_setting(value: Any) -> None:
    with pytest.raises(PolicyError, match="hotPlug"):
        Policy.from_mapping({"hotPlug": value}, source="p")


def test_hotplug_static_ips_the_pod_already_holds_are_not_its_own_conflict() -> None:
    old, new = nets("macvlan-conf", IP192), nets("macvlan-conf", IP192, {"name": "macvlan-conf", "interface": "lan9"})
    doc = update(old, new)
    running = doc["request"]["oldObject"]
    index = PodIndex()
    index.put(pod_key(running), pod_entry(running))
    other = copy.deepcopy(running)
    other["metadata"]["name"] = "another"
    result = admit(decode_review(json.dumps(doc).encode()), catalog=CATALOG, policy=HOT, mutate=True, pods=index)
    assert result.decision.allowed, result.decision.errors
    index.put(pod_key(other), pod_entry(other))
    result = admit(decode_review(json.dumps(doc).encode()), catalog=CATALOG, policy=HOT, mutate=True, pods=index)
    assert [f.rule for f in result.findings if f.severity == "error"] == ["static-ip-conflict"]
