"""device-resource, node-selector and network-status-spoof: what admission adds to or removes from the pod."""

from typing import Any

import pytest

from tests.webhook.rules.conftest import evaluate, hits, pod
from webhook.findings import Mutation
from webhook.patch import apply_mutations
from webhook.policy import Policy


def container(resources: dict[str, Any] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "busybox"}
    if resources is not None:
        c["resources"] = resources
    return c


DPU = "yusur.tech/sriov_dpu"


def test_dpu_network_injects_resource_and_node_selector() -> None:
    verdict = evaluate(pod("kube-system/dpu"))
    assert verdict.allowed
    assert Mutation("add-resource", DPU, "1", 0) in verdict.mutations
    assert Mutation("set-node-selector", "k8s.ovn.org/dpu-host", "") in verdict.mutations
    mutated = apply_mutations(pod("kube-system/dpu"), verdict.mutations)
    assert mutated["spec"]["containers"][0]["resources"] == {"requests": {DPU: "1"}, "limits": {DPU: "1"}}
    assert mutated["spec"]["nodeSelector"] == {"k8s.ovn.org/dpu-host": ""}


def test_one_device_per_attachment_default_network_included() -> None:
    verdict = evaluate(pod("kube-system/dpu@net1,kube-system/dpu@net2", default="kube-system/ovn-net"))
    assert Mutation("add-resource", DPU, "3", 0) in verdict.mutations


def test_matching_user_request_needs_no_mutation() -> None:
    spec = {"containers": [container({"requests": {DPU: "1"}, "limits": {DPU: 1}})]}
    verdict = evaluate(pod("kube-system/dpu", spec=spec))
    assert verdict.allowed
    assert not [m for m in verdict.mutations if m.op == "add-resource"]


ACCEPTED_DEVICE_REQUESTS = [
    pytest.param([container({"limits": {DPU: "1"}})], id="limits-only"),
    pytest.param([container({"limits": {DPU: 1}, "requests": {"cpu": "1"}})], id="limits-only-with-other-requests"),
    pytest.param([container({"requests": {DPU: "1"}, "limits": {DPU: "1"}})], id="both"),
]


@pytest.mark.parametrize("containers", ACCEPTED_DEVICE_REQUESTS)
def test_user_device_requests_that_kubernetes_completes_are_accepted(containers: list[Any]) -> None:
    verdict = evaluate(pod("kube-system/dpu", spec={"containers": containers}))
    assert hits(verdict) == set()
    assert not [m for m in verdict.mutations if m.op == "add-resource"]


def test_limits_only_split_over_containers_counts_every_container() -> None:
    spec = {"containers": [container({"limits": {DPU: "1"}}), container({"limits": {DPU: "1"}})]}
    assert hits(evaluate(pod("kube-system/dpu@net1,kube-system/dpu@net2", spec=spec))) == set()


def test_limits_only_with_the_wrong_count_is_reported_once() -> None:
    spec = {"containers": [container({"limits": {DPU: "2"}})]}
    assert hits(evaluate(pod("kube-system/dpu", spec=spec))) == {
        ("device-resource", 'spec.containers[0].resources.limits["yusur.tech/sriov_dpu"]')}


CONFLICTS = [
    pytest.param({"containers": [container({"requests": {DPU: "2"}, "limits": {DPU: "2"}})]},
                 {("device-resource", 'spec.containers[0].resources.requests["yusur.tech/sriov_dpu"]'),
                  ("device-resource", 'spec.containers[0].resources.limits["yusur.tech/sriov_dpu"]')},
                 id="resource-count-differs"),
    pytest.param({"containers": [container()], "nodeSelector": {"k8s.ovn.org/dpu-host": "no"}},
                 {("node-selector", 'spec.nodeSelector["k8s.ovn.org/dpu-host"]')}, id="selector-value-differs"),
]


@pytest.mark.parametrize(("spec", "expected"), CONFLICTS)
def test_conflicting_user_values_are_denied(spec: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(pod("kube-system/dpu", spec=spec))) == expected


def test_nads_demanding_different_values_cannot_share_a_pod() -> None:
    policy = Policy(resource_node_selectors={DPU: "zone=a"})
    verdict = evaluate(pod("kube-system/dpu,zone-b"), policy)
    assert ("node-selector", "networks[1]") in hits(verdict)


def test_policy_maps_resource_to_selector() -> None:
    verdict = evaluate(pod("kube-system/dpu"), Policy(resource_node_selectors={DPU: "dpu=true"}))
    assert Mutation("set-node-selector", "dpu", "true") in verdict.mutations


def test_malformed_nad_selector_fails_every_pod_that_uses_it() -> None:
    assert hits(evaluate(pod("bad-selector"))) == {("node-selector", "networks[0]")}


def test_user_network_status_is_removed_with_a_warning() -> None:
    obj = pod("plain", **{"k8s.v1.cni.cncf.io__network-status": '[{"name": "fake"}]'})
    verdict = evaluate(obj)
    assert verdict.allowed
    assert Mutation("remove-annotation", "k8s.v1.cni.cncf.io/network-status") in verdict.mutations
    assert {f.rule for f in verdict.warnings} == {"network-status-spoof"}


def test_requests_without_limits_in_another_container_are_denied_not_doubled() -> None:
    spec = {"containers": [container(), container({"requests": {DPU: "1"}})]}
    verdict = evaluate(pod("kube-system/dpu", spec=spec))
    assert hits(verdict) == {("device-resource", 'spec.containers[0].resources.limits["yusur.tech/sriov_dpu"]')}
    assert not [m for m in verdict.mutations if m.op == "add-resource"]


def test_policy_can_downgrade_and_disable_rules() -> None:
    assert hits(evaluate(pod("nope"), Policy(severities={"network-not-found": "warning"})), "warning") == {
        ("network-not-found", "networks[0]")}
    assert evaluate(pod("nope"), Policy(severities={"network-not-found": "off"})).findings == ()
