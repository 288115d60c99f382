"""network-not-found, network-namespace-forbidden, network-config-invalid, default-network-override,
subnet-overlap."""

import pytest

from tests.webhook.rules.conftest import evaluate, hits, pod
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_nad, evaluate_pod
from webhook.policy import Policy
from webhook.rules.syntax import short_location

ISOLATED = Policy(namespace_isolation=True, global_namespaces=("kube-system",))

INVALID = [
    pytest.param(pod("nope"), {("network-not-found", "networks[0]")}, id="missing"),
    pytest.param(pod("ovn-net"), {("network-not-found", "networks[0]")}, id="wrong-namespace"),
    pytest.param(pod("broken"), {("network-config-invalid", "networks[0]")}, id="config-not-json"),
    pytest.param(pod(default="nope"), {("default-network-override", "default-network")}, id="default-missing"),
    pytest.param(pod(default="calico-net,ovn-net"), {("default-network-override", "default-network")},
                 id="default-two-networks"),
    pytest.param(pod(default='[{"name": "calico-net", "interface": "eth9"}]'),
                 {("default-network-override", "default-network")}, id="default-sets-interface"),
    pytest.param(pod(default="default/broken"), {("network-config-invalid", "default-network")},
                 id="default-config-invalid"),
    pytest.param(pod("bad-subnet"), {("network-config-invalid", "networks[0]")}, id="subnet-prefix-33"),
]


@pytest.mark.parametrize(("obj", "expected"), INVALID)
def test_network_errors(obj: dict, expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(obj)) == expected


def test_not_found_hint_names_the_namespace_that_has_it() -> None:
    finding = next(f for f in evaluate(pod("ovn-net")).findings if f.rule == "network-not-found")
    assert 'exists in namespace "kube-system"' in finding.hint
    assert '"kube-system/ovn-net"' in finding.hint


def test_unqualified_default_network_resolves_in_system_namespace() -> None:
    verdict = evaluate(pod(default="calico-net"))
    assert verdict.allowed
    assert [(m.key, m.value) for m in verdict.mutations] == [
        ("v1.multus-cni.io/default-network", "kube-system/calico-net")]


ISOLATION = [
    pytest.param(pod("team-b/shared"), {("network-namespace-forbidden", "networks[0].namespace")}, id="other-ns"),
    pytest.param(pod("kube-system/ovn-net"), set(), id="global-ns-allowed"),
    pytest.param(pod("plain"), set(), id="own-ns"),
    pytest.param(pod("shared", namespace="team-b"), set(), id="own-ns-b"),
    pytest.param(pod(default="team-b/shared"), {("default-network-override", "default-network")},
                 id="default-other-ns"),
    pytest.param(pod(default="team-b/shared", namespace="team-b"), set(), id="default-qualified-own-ns"),
    pytest.param(pod(default="calico-net", namespace="team-b"), set(), id="default-unqualified-system-ns-global"),
    pytest.param(pod("default/plain", namespace="team-b"), {("network-namespace-forbidden", "networks[0].namespace")},
                 id="default-ns-is-not-global"),
]


@pytest.mark.parametrize(("obj", "expected"), ISOLATION)
def test_namespace_isolation(obj: dict, expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(obj, ISOLATED)) == expected


def test_without_isolation_other_namespaces_are_fine() -> None:
    assert evaluate(pod("team-b/shared")).allowed


def test_overlapping_subnets_warn() -> None:
    verdict = evaluate(pod("macvlan-conf,overlap"))
    assert verdict.allowed
    assert hits(verdict, "warning") == {("subnet-overlap", "networks[1]")}


def test_same_nad_twice_is_not_an_overlap() -> None:
    assert evaluate(pod("macvlan-conf,macvlan-conf")).findings == ()


def test_unresolved_reference_is_carried_for_tools() -> None:
    findings = evaluate(pod("nope", default="ghost")).findings
    assert sorted((f.rule, f.unresolved) for f in findings) == [
        ("default-network-override", "kube-system/ghost"), ("network-not-found", "default/nope")]


def test_device_network_without_containers_is_denied() -> None:
    assert hits(evaluate(pod("kube-system/dpu", spec={"containers": []}))) == {("device-resource",
                                                                                  "spec.containers")}


def test_a_bad_subnet_names_the_nad_field() -> None:
    finding = next(f for f in evaluate(pod("bad-subnet")).findings if f.rule == "network-config-invalid")
    assert "spec.config.ipam.subnet" in finding.message and "10.1.0.0/33" in finding.message


def _without_config(name: str, spec: dict[str, object] | None) -> dict[str, object]:
    obj: dict[str, object] = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                              "metadata": {"name": name, "namespace": "default"}}
    if spec is not None:
        obj["spec"] = spec
    return obj


NO_CONFIG = [
    pytest.param(None, id="no-spec"),
    pytest.param({}, id="no-config-key"),
    pytest.param({"config": None}, id="config-null"),
    pytest.param({"config": ""}, id="config-empty"),
    pytest.param({"config": "  \n"}, id="config-blank"),
]


@pytest.mark.parametrize("spec", NO_CONFIG)
@pytest.mark.parametrize(("annotation", "path"), [("networks", "networks[0]"),
                                                  ("default", "default-network")])
def test_a_pod_using_a_nad_without_spec_config_is_denied(spec: dict[str, object] | None, annotation: str,
                                                        path: str) -> None:
    """The node never reads a config file by name (cni/plan.py refuses with code 7): an error for the pod, while
    the NAD alone only draws a warning (it may serve a Multus cluster too)."""
    catalog = MemoryCatalog.from_objects([_without_config("hollow", spec)])
    obj = pod("default/hollow") if annotation == "networks" else pod(default="default/hollow")
    verdict = evaluate_pod(obj, catalog=catalog, policy=Policy())
    assert not verdict.allowed
    [finding] = [f for f in verdict.errors if f.rule == "network-config-invalid"]
    assert short_location(finding.path) == path
    assert "NAD default/hollow has no spec.config" in finding.message and "inline" in finding.message
    assert "put the CNI config JSON" in finding.hint and "default/hollow" in finding.hint
    alone = evaluate_nad(_without_config("hollow", spec), policy=Policy())
    assert alone.allowed and [f.rule for f in alone.warnings] == ["network-config-invalid"]
