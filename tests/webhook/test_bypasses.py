"""Issue 10, bypasses: each reproduced request, rebuilt as an AdmissionReview, gets the safe outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from webhook.admission import Admission, admit
from webhook.catalog import MemoryCatalog
from webhook.policy import Policy
from webhook.review import decode_review

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT = "v1.multus-cni.io/default-network"
IGNORE = "ignore-check.netweave.io/"
USER = {"username": "dev", "groups": ["system:authenticated"]}


def _nad(namespace: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "NetworkAttachmentDefinition", "metadata": {"name": name, "namespace": namespace},
            "spec": {"config": json.dumps(config)}}


CATALOG = MemoryCatalog.from_objects([
    _nad("team-a", "macvlan", {"cniVersion": "1.0.0", "type": "macvlan", "capabilities": {"mac": True, "ips": True},
                               "ipam": {"type": "static"}}),
    _nad("secret-ns", "secret-net", {"cniVersion": "1.0.0", "type": "ptp"}),
])
ISOLATED = Policy(namespace_isolation=True, global_namespaces=("kube-system",))


def create(annotations: dict[str, str], policy: Policy = ISOLATED) -> Admission:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team-a",
                                                          "annotations": annotations},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    doc = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": "CREATE",
        "namespace": "team-a", "object": pod, "oldObject": None, "userInfo": USER}}
    return admit(decode_review(json.dumps(doc).encode()), catalog=CATALOG, policy=policy, mutate=True)


INJECTED_MAC = "02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=x"

DENIED = [
    pytest.param({DEFAULT: "secret-ns/secret-net", f"{IGNORE}default-network-override": "need it"},
                 "[default-network-override]", id="default-network-of-another-namespace"),
    pytest.param({NETWORKS: json.dumps([{"name": "macvlan", "mac": INJECTED_MAC}]),
                  f"{IGNORE}mac-address": "x", f"{IGNORE}static-ip": "x"}, "[mac-address]",
                 id="cni-args-injection-through-a-suppressed-mac"),
    pytest.param({NETWORKS: ",".join(["macvlan"] * 7_000), f"{IGNORE}network-limit": "x"}, "[network-limit]",
                 id="limit-lifted-per-object"),
    pytest.param({NETWORKS: ",".join(["macvlan"] * 33)}, "policy allows at most 32", id="no-limit-by-default"),
]


@pytest.mark.parametrize(("annotations", "reason"), DENIED)
def test_bypass_is_denied_and_the_suppression_attempt_is_named(annotations: dict[str, str], reason: str) -> None:
    decision = create(annotations).decision
    assert not decision.allowed
    assert any(reason in error for error in decision.errors)
    tried = [key for key in annotations if key.startswith(IGNORE)]
    refused = [w for w in decision.warnings if "[suppression-refused]" in w]
    assert len(refused) == len(tried)


def test_a_huge_network_list_is_denied_in_one_line() -> None:
    decision = create({NETWORKS: ",".join(["macvlan"] * 10_000)}).decision
    assert len(decision.errors) == 1 and len(decision.errors[0]) < 300
