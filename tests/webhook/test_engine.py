"""The engine on the AdmissionReview objects captured from a real API server: verdicts and patches."""

import json
from typing import Any

import jsonpatch
import pytest

from tests.paths import FIXTURES
from tests.webhook.rules.conftest import CATALOG
from webhook.engine import evaluate_nad, evaluate_pod
from webhook.patch import make_patch
from webhook.policy import Policy
from webhook.workloads import pod_targets


def request(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "admission" / name).read_text())
    return data["request"]


def verdict_of(name: str):  # type: ignore[no-untyped-def]
    req = request(name)
    return evaluate_pod(req["object"], catalog=CATALOG, policy=Policy(), namespace=req["namespace"])


PODS = [
    pytest.param("006-create-pod-nginx2-calico-ovn.json", True, set(), id="calico-default-ovn-secondary"),
    pytest.param("007-create-pod-nginx2-ovn-calico.json", True, {"calico-secondary"},
                 id="ovn-default-calico-secondary"),
    pytest.param("011-create-pod-frontend.json", True, {"annotation-syntax"}, id="kube-ovn-ns-in-name"),
    pytest.param("012-create-pod-eth0-conflict.json", False, {"interface-name-reserved"}, id="eth0-secondary"),
    pytest.param("013-create-pod-broken-json.json", False, {"annotation-syntax"}, id="broken-json"),
    pytest.param("014-create-pod-plain.json", True, set(), id="plain-pod"),
    pytest.param("015-create-pod-status-spoof.json", True, {"network-status-spoof"}, id="status-spoof"),
]


@pytest.mark.parametrize(("name", "allowed", "rules"), PODS)
def test_captured_pods(name: str, allowed: bool, rules: set[str]) -> None:
    verdict = verdict_of(name)
    assert verdict.allowed is allowed
    assert {f.rule for f in verdict.findings} == rules


def test_patch_applies_to_the_captured_pod_and_canonicalises() -> None:
    req = request("007-create-pod-nginx2-ovn-calico.json")
    verdict = verdict_of("007-create-pod-nginx2-ovn-calico.json")
    patched = jsonpatch.apply_patch(req["object"], make_patch(req["object"], verdict.mutations))
    annotations = patched["metadata"]["annotations"]
    assert annotations["v1.multus-cni.io/default-network"] == "kube-system/ovn-net"
    assert json.loads(annotations["k8s.v1.cni.cncf.io/networks"]) == [
        {"name": "calico-net", "namespace": "kube-system", "interface": "eth1", "default-route": ["169.254.1.1"]}]


def test_canonical_annotation_is_a_fixed_point() -> None:
    req = request("018-update-pod-samplepod.json")
    first = evaluate_pod(req["object"], catalog=CATALOG, policy=Policy(), namespace="default")
    patched = jsonpatch.apply_patch(req["object"], make_patch(req["object"], first.mutations))
    again = evaluate_pod(patched, catalog=CATALOG, policy=Policy(), namespace="default")
    assert again.mutations == ()


def test_plain_pod_patch_is_empty() -> None:
    assert make_patch(request("014-create-pod-plain.json")["object"], verdict_of("014-create-pod-plain.json")
                      .mutations) == []


WORKLOADS = [
    pytest.param("019-create-deployment-web-dual.json", "spec.template.", id="deployment"),
    pytest.param("020-create-statefulset-db.json", "spec.template.", id="statefulset"),
    pytest.param("021-create-daemonset-agent.json", "spec.template.", id="daemonset"),
    pytest.param("022-create-replicaset-rs1.json", "spec.template.", id="replicaset"),
    pytest.param("023-create-job-job1.json", "spec.template.", id="job"),
    pytest.param("024-create-cronjob-cron1.json", "spec.jobTemplate.spec.template.", id="cronjob"),
]


@pytest.mark.parametrize(("name", "prefix"), WORKLOADS)
def test_workload_templates_are_found_and_paths_prefixed(name: str, prefix: str) -> None:
    req = request(name)
    (target,) = pod_targets(req["object"])
    assert target.path_prefix == prefix
    verdict = evaluate_pod(target.pod, catalog=CATALOG, policy=Policy(), namespace=req["namespace"],
                           path_prefix=target.path_prefix)
    assert all(f.path.startswith(prefix) for f in verdict.findings)


def test_nad_requests_validate() -> None:
    for name in ("001-create-networkattachmentdefinition-calico-net.json",
                 "025-update-networkattachmentdefinition-macvlan-conf.json"):
        assert evaluate_nad(request(name)["object"], policy=Policy()).findings == ()


def test_nad_with_bad_config_and_annotations_is_denied() -> None:
    nad = {"kind": "NetworkAttachmentDefinition", "metadata": {"name": "x", "annotations": {
        "k8s.v1.cni.cncf.io/resourceName": "nodomain", "k8s.v1.cni.cncf.io/nodeSelector": "a=b=c"}},
        "spec": {"config": '{"cniVersion": "1.0.0"}'}}
    verdict = evaluate_nad(nad, policy=Policy())
    assert {f.rule for f in verdict.errors} == {"network-config-invalid", "device-resource", "node-selector"}


def test_findings_only_mode_skips_the_canonical_rewrite() -> None:
    req = request("015-create-pod-status-spoof.json")
    full = evaluate_pod(req["object"], catalog=CATALOG, policy=Policy(), namespace="default")
    lean = evaluate_pod(req["object"], catalog=CATALOG, policy=Policy(), namespace="default", canonical=False)
    assert lean.findings == full.findings
    assert [m.op for m in lean.mutations] == ["remove-annotation"]
    assert "set-annotation" in [m.op for m in full.mutations]
