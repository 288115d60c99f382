"""network-status protection through admission: removed on CREATE, denied on UPDATE, unless the node writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from webhook.admission import Admission, admit
from webhook.catalog import MemoryCatalog
from webhook.policy import Policy
from webhook.review import ReviewError, decode_review

STATUS = "k8s.v1.cni.cncf.io/network-status"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NODE = {"username": "system:serviceaccount:netweave-system:netweave-node",
        "groups": ["system:serviceaccounts", "system:authenticated"]}
ALICE = {"username": "alice", "groups": ["system:authenticated", "system:masters"]}
SPOOF = '[{"name":"kube-system/secret","interface":"net1","ips":["10.0.0.9"]}]'
REAL = '[{"name":"default/calico","interface":"eth0","ips":["10.244.1.5"],"default":true}]'


def pod(**annotations: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def review(operation: str, obj: dict[str, Any], old: dict[str, Any] | None, user: dict[str, Any],
           *, mutate: bool = True, policy: Policy | None = None) -> Admission:
    doc = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": operation,
        "namespace": "default", "name": "p", "object": obj, "oldObject": old, "userInfo": user}}
    return admit(decode_review(json.dumps(doc).encode()), catalog=MemoryCatalog(), policy=policy or Policy(),
                 mutate=mutate)


def test_status_only_pod_created_by_a_user_loses_the_annotation() -> None:
    result = review("CREATE", pod(**{STATUS: SPOOF}), None, ALICE)
    assert result.decision.allowed
    assert result.decision.patch == (
        {"op": "remove", "path": "/metadata/annotations/k8s.v1.cni.cncf.io~1network-status"},)
    assert any("[network-status-spoof]" in w for w in result.decision.warnings)


def test_status_set_by_the_node_identity_on_create_is_kept() -> None:
    result = review("CREATE", pod(**{STATUS: REAL}), None, NODE)
    assert (result.decision.allowed, result.decision.patch, result.decision.warnings) == (True, (), ())


@pytest.mark.parametrize(("old", "new", "verb"), [
    pytest.param({}, {STATUS: SPOOF}, "adds", id="added"),
    pytest.param({STATUS: REAL}, {STATUS: SPOOF}, "changes", id="replaced"),
    pytest.param({NETWORKS: "calico", STATUS: REAL}, {NETWORKS: "calico", STATUS: SPOOF}, "changes",
                 id="replaced-beside-networks"),
])
def test_update_by_a_user_that_writes_status_is_denied(old: dict[str, str], new: dict[str, str], verb: str) -> None:
    result = review("UPDATE", pod(**new), pod(**old), ALICE)
    assert not result.decision.allowed
    [error] = [e for e in result.decision.errors if "[network-status-spoof]" in e]
    assert f"alice {verb} the network-status annotation" in error


@pytest.mark.parametrize(("old", "new"), [
    pytest.param({STATUS: REAL}, {STATUS: REAL, "team": "x"}, id="unchanged-status-other-annotation"),
    pytest.param({STATUS: REAL}, {}, id="status-removed"),
])
def test_update_by_a_user_that_leaves_status_alone_is_allowed(old: dict[str, str], new: dict[str, str]) -> None:
    assert review("UPDATE", pod(**new), pod(**old), ALICE).decision.allowed


def test_update_by_the_node_identity_may_write_status() -> None:
    assert review("UPDATE", pod(**{STATUS: REAL}), pod(), NODE).decision.allowed


def test_status_writers_come_from_policy() -> None:
    multus = Policy(status_writer_users=(), status_writer_groups=("multus-writers",))
    assert review("UPDATE", pod(**{STATUS: REAL}), pod(), {"username": "m", "groups": ["multus-writers"]},
                  policy=multus).decision.allowed
    assert not review("UPDATE", pod(**{STATUS: REAL}), pod(), NODE, policy=multus).decision.allowed


def test_update_removing_the_networks_annotation_is_denied_by_old_object() -> None:
    result = review("UPDATE", pod(), pod(**{NETWORKS: "calico"}), ALICE)
    assert not result.decision.allowed
    assert any("[networks-immutable]" in e and "was 'calico', now unset" in e for e in result.decision.errors)


def test_malformed_user_info_is_a_bad_request_not_a_trusted_writer() -> None:
    with pytest.raises(ReviewError, match="userInfo"):
        review("UPDATE", pod(**{STATUS: SPOOF}), pod(), {"username": NODE["username"], "groups": "system:masters"})
