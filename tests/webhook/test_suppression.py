"""Per-object suppression: what an ignore-check annotation can and cannot switch off (issue 10, bypasses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import FIXTURES, SEEDS
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_nad, evaluate_pod
from webhook.findings import Verdict
from webhook.policy import ADMISSION_RULE_IDS, ALWAYS_PROTECTED, SUPPRESSIBLE, Policy, known_rule_ids
from webhook.rules import RULE_IDS
from webhook.workloads import pod_targets

IGNORE = "ignore-check.netweave.io/"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT = "v1.multus-cni.io/default-network"


def nad(namespace: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"config": json.dumps(config)}}


MACVLAN = {"cniVersion": "1.0.0", "type": "macvlan", "capabilities": {"ips": True, "mac": True},
           "ipam": {"type": "static", "addresses": [{"address": "10.1.0.2/24"}]}}
CATALOG = MemoryCatalog.from_objects([
    nad("team-a", "a-net", MACVLAN),
    nad("team-a", "plain-net", {"cniVersion": "1.0.0", "type": "ptp"}),  # no mac capability
    {**nad("team-a", "empty-net", {}), "spec": {"config": ""}},  # no inline config: the node refuses it (code 7)
    nad("secret-ns", "secret-net", {"cniVersion": "1.0.0", "type": "ptp"}),
    nad("kube-system", "calico", {"cniVersion": "1.0.0", "type": "ptp"}),
])
ISOLATED = Policy(namespace_isolation=True, global_namespaces=("kube-system",))


def pod(annotations: dict[str, str], namespace: str = "team-a") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace,
                                                           "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def evaluate(annotations: dict[str, str], policy: Policy = ISOLATED) -> Verdict:
    return evaluate_pod(pod(annotations), catalog=CATALOG, policy=policy)


def ignoring(*rules: str, reason: str = "the author insists") -> dict[str, str]:
    return {f"{IGNORE}{rule}": reason for rule in rules}


MAC_INJECTION = '[{"name":"a-net","mac":"02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=x"}]'
IP_INJECTION = '[{"name":"a-net","ips":["10.1.0.5/24;K8S_POD_NAME=x"]}]'
# capability-missing: the pod author's own business (ptp without the mac capability drops the MAC, nothing else).
DROPPED_MAC = '[{"name":"plain-net","mac":"02:00:00:00:00:01"}]'


@pytest.mark.parametrize(("annotations", "rule"), [
    pytest.param({DEFAULT: "secret-ns/secret-net", **ignoring("default-network-override")},
                 "default-network-override", id="foreign-default-network-stays-forbidden"),
    pytest.param({NETWORKS: "secret-ns/secret-net", **ignoring("network-namespace-forbidden")},
                 "network-namespace-forbidden", id="foreign-secondary-stays-forbidden"),
    pytest.param({NETWORKS: MAC_INJECTION, **ignoring("mac-address", "static-ip")},
                 "mac-address", id="cni-args-injection-through-mac"),
    pytest.param({NETWORKS: IP_INJECTION, **ignoring("mac-address", "static-ip")},
                 "static-ip", id="cni-args-injection-through-ips"),
    pytest.param({NETWORKS: ",".join(["a-net"] * 33), **ignoring("network-limit")},
                 "network-limit", id="limit-not-liftable"),
    pytest.param({NETWORKS: '[{"name":"a-net","interface":"net\\u00a0"}]', **ignoring("interface-name-invalid")},
                 "interface-name-invalid", id="kernel-whitespace-in-ifname"),
    pytest.param({NETWORKS: '[{"name":"a-net","portMappings":[{"hostPort":0,"containerPort":80}]}]',
                  **ignoring("attachment-options")}, "attachment-options", id="bad-port-mapping"),
    pytest.param({NETWORKS: '[{"name":"a-net","default-route":["not-an-ip"]}]', **ignoring("default-route-gateway")},
                 "default-route-gateway", id="bad-gateway"),
    pytest.param({NETWORKS: "nope", **ignoring("network-not-found")}, "network-not-found",
                 id="unresolved-nad-skips-injection"),
    pytest.param({NETWORKS: "a-net,", **ignoring("annotation-syntax")}, "annotation-syntax", id="syntax"),
])
def test_protected_rules_cannot_be_suppressed_per_object(annotations: dict[str, str], rule: str) -> None:
    verdict = evaluate(annotations)
    assert not verdict.allowed
    assert rule in {f.rule for f in verdict.errors}
    refused = [f for f in verdict.warnings if f.rule == "suppression-refused"]
    assert refused and all("cannot be suppressed per object" in f.message for f in refused)


def test_a_suppressible_rule_is_suppressed_with_a_reason_and_recorded() -> None:
    assert "capability-missing" in {f.rule for f in evaluate({NETWORKS: DROPPED_MAC}).errors}
    verdict = evaluate({NETWORKS: DROPPED_MAC, **ignoring("capability-missing", reason="the MAC is a hint")})
    assert verdict.allowed
    assert verdict.findings == ()
    assert [(s.finding.rule, s.reason) for s in verdict.suppressed] == [("capability-missing", "the MAC is a hint")]


@pytest.mark.parametrize(("annotations", "allowed", "says"), [
    pytest.param({NETWORKS: DROPPED_MAC, f"{IGNORE}capability-missing": "  "}, False,
                 "a suppression needs a reason", id="empty-reason-not-honoured"),
    pytest.param({NETWORKS: "a-net", f"{IGNORE}interface-name-reservd": "typo"}, True,
                 '"interface-name-reservd" is not a netweave rule id', id="unknown-id"),
    pytest.param({NETWORKS: "a-net", f"{IGNORE}mac-address": "x"}, True,
                 'rule "mac-address" protects the cluster', id="protected-id"),
])
def test_suppressions_without_effect_are_reported_as_warnings(annotations: dict[str, str], allowed: bool,
                                                               says: str) -> None:
    verdict = evaluate(annotations)
    assert verdict.allowed is allowed
    [warning] = [f for f in verdict.warnings if f.rule == "suppression-refused"]
    assert says in warning.message
    assert warning.path.startswith('metadata.annotations["ignore-check.netweave.io/')


def test_the_feedback_itself_cannot_be_suppressed() -> None:
    verdict = evaluate({NETWORKS: "a-net", f"{IGNORE}nope": "x", **ignoring("suppression-refused")})
    messages = sorted(f.message for f in verdict.warnings if f.rule == "suppression-refused")
    assert len(messages) == 2
    assert messages[0].startswith('ignore-check.netweave.io/: "nope" is not a netweave rule id')
    assert messages[1].startswith('ignore-check.netweave.io/suppression-refused: rule "suppression-refused" protects')


def test_policy_protection_is_additive() -> None:
    policy = Policy.from_mapping({"protectedRules": ["subnet-overlap"]}, source="p")
    assert policy.protected_rules == ALWAYS_PROTECTED | {"subnet-overlap"}
    assert Policy.from_mapping({"protectedRules": []}, source="p").protected_rules == ALWAYS_PROTECTED


def test_policy_extra_protection_refuses_a_suppression() -> None:
    policy = Policy(extra_protected=frozenset({"capability-missing"}))
    verdict = evaluate({NETWORKS: DROPPED_MAC, **ignoring("capability-missing")}, policy)
    assert not verdict.allowed


NODE_REFUSES = [
    pytest.param("interface-name-reserved", {NETWORKS: "a-net@eth0"}, id="interface-name-reserved"),
    pytest.param("interface-name-duplicate", {NETWORKS: "a-net@net1,plain-net@net1"}, id="interface-name-duplicate"),
    pytest.param("default-route-conflict", {NETWORKS: '[{"name":"a-net","interface":"net1","default-route":'
                                                      '["10.1.0.1"]},{"name":"a-net","interface":"net2",'
                                                      '"default-route":["10.1.0.1"]}]'}, id="default-route-conflict"),
    pytest.param("network-config-invalid", {NETWORKS: "empty-net"}, id="network-config-invalid-empty"),
]


@pytest.mark.parametrize(("rule", "annotations"), NODE_REFUSES)
def test_what_the_node_refuses_cannot_be_suppressed_per_object(rule: str, annotations: dict[str, str]) -> None:
    """The node (cni/plan.py) refuses these too: a suppression would admit a pod that then fails ADD."""
    assert rule in ALWAYS_PROTECTED and rule not in SUPPRESSIBLE
    verdict = evaluate({**annotations, **ignoring(rule, reason="the author insists")})
    assert not verdict.allowed
    assert rule in {f.rule for f in verdict.errors} and verdict.suppressed == ()
    [refused] = [f for f in verdict.warnings if f.rule == "suppression-refused"]
    assert f'rule "{rule}" protects' in refused.message and "cannot be suppressed per object" in refused.message


def test_every_rule_is_deliberately_protected_or_suppressible() -> None:
    assert ALWAYS_PROTECTED.isdisjoint(SUPPRESSIBLE)
    assert ALWAYS_PROTECTED | SUPPRESSIBLE == known_rule_ids() == RULE_IDS | ADMISSION_RULE_IDS


def test_the_limit_has_a_default_and_stops_the_other_rules() -> None:
    verdict = evaluate({NETWORKS: ",".join(["nope@eth0"] * 5000)}, Policy())
    assert [f.rule for f in verdict.findings] == ["network-limit"]
    assert "5000 networks" in verdict.findings[0].message and "at most 32" in verdict.findings[0].message


def test_the_limit_is_inclusive() -> None:
    verdict = evaluate({NETWORKS: ",".join(f"a-net@n{i}" for i in range(32))}, Policy())
    assert "network-limit" not in {f.rule for f in verdict.findings}


def test_nad_suppressions_get_the_same_feedback() -> None:
    obj = nad("team-a", "x", {"cniVersion": "1.0.0", "type": "sriov"})  # no resourceName: device-resource-missing
    obj["metadata"]["annotations"] = {f"{IGNORE}device-resource-missing": "", f"{IGNORE}bogus": "r"}
    verdict = evaluate_nad(obj, policy=Policy())
    assert "device-resource-missing" in {f.rule for f in verdict.errors}
    assert len([f for f in verdict.warnings if f.rule == "suppression-refused"]) == 2
    obj["metadata"]["annotations"] = {f"{IGNORE}device-resource-missing": "the device comes from a DRA claim"}
    honoured = evaluate_nad(obj, policy=Policy())
    assert honoured.allowed and [s.finding.rule for s in honoured.suppressed] == ["device-resource-missing"]


def test_a_nad_cannot_suppress_its_own_invalid_config() -> None:
    obj = nad("team-a", "x", {"cniVersion": "1.0.0"})  # no type: the node could not delegate it
    obj["metadata"]["annotations"] = {f"{IGNORE}network-config-invalid": "vendor plugin without type"}
    verdict = evaluate_nad(obj, policy=Policy())
    assert not verdict.allowed and "network-config-invalid" in {f.rule for f in verdict.errors}
    assert [f.rule for f in verdict.warnings] == ["suppression-refused"]



def _documents(*paths: Path) -> list[dict[str, Any]]:
    return [d for path in paths for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]


FIXTURE_DOCS = _documents(FIXTURES / "manifests" / "nads.yaml", FIXTURES / "manifests" / "pods.yaml",
                          FIXTURES / "manifests" / "workloads.yaml", *sorted(SEEDS.glob("*.yaml")))
FIXTURE_CATALOG = MemoryCatalog.from_objects(FIXTURE_DOCS)
FIXTURE_PODS = [
    pytest.param(target.pod, target.namespace, id=f"{doc.get('kind')}-{i}")
    for i, doc in enumerate(FIXTURE_DOCS) if doc.get("kind") != "NetworkAttachmentDefinition"
    for target in pod_targets(doc)]


@pytest.mark.parametrize(("obj", "namespace"), FIXTURE_PODS)
def test_suppressing_every_protected_rule_changes_no_decision(obj: dict[str, Any], namespace: str | None) -> None:
    """Over every captured pod and seed: ignore-check annotations for all protected rules change nothing but the
    warnings that name them."""
    for policy in (Policy(), ISOLATED):
        plain = evaluate_pod(obj, catalog=FIXTURE_CATALOG, policy=policy, namespace=namespace)
        metadata = dict(obj.get("metadata") or {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **ignoring(*sorted(ALWAYS_PROTECTED))}
        tried = evaluate_pod({**obj, "metadata": metadata}, catalog=FIXTURE_CATALOG, policy=policy,
                             namespace=namespace)
        assert tried.errors == plain.errors
        assert tried.mutations == plain.mutations
        if plain.findings or plain.mutations:  # pods without networks are not evaluated at all
            refused = [f for f in tried.warnings if f.rule == "suppression-refused"]
            assert len(refused) == len(ALWAYS_PROTECTED)
