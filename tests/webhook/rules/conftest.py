"""A catalog of real NADs (the captured fixtures plus a few made for edge cases) and a pod builder."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.paths import FIXTURES
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_pod
from webhook.findings import Verdict
from webhook.policy import Policy
from webhook.rules.syntax import short_location


def nad(name: str, config: dict[str, Any] | str, namespace: str = "default", **annotations: str) -> dict[str, Any]:
    text = config if isinstance(config, str) else json.dumps(config)
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = {k.replace("__", "/").replace("_", "."): v for k, v in annotations.items()}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": text}}


EXTRA_NADS = [
    nad("bridge-v6", {"cniVersion": "1.0.0", "type": "bridge", "ipam": {"type": "host-local", "ranges": [
        [{"subnet": "10.20.0.0/16", "gateway": "10.20.0.1"}], [{"subnet": "fd00:20::/64"}]]}}),
    nad("overlap", {"cniVersion": "1.0.0", "type": "bridge",
                    "ipam": {"type": "whereabouts", "range": "192.168.1.128/25"}}),
    nad("broken", "{not json"),
    nad("dpu", {"cniVersion": "0.4.0", "type": "ovn-k8s-cni-overlay"}, namespace="kube-system",
        **{"k8s.v1.cni.cncf.io__resourceName": "yusur.tech/sriov_dpu",
           "k8s.v1.cni.cncf.io__nodeSelector": "k8s.ovn.org/dpu-host"}),
    nad("zone-b", {"cniVersion": "0.4.0", "type": "macvlan"},
        **{"k8s.v1.cni.cncf.io__nodeSelector": "zone=b"}),
    nad("bad-selector", {"cniVersion": "0.4.0", "type": "macvlan"},
        **{"k8s.v1.cni.cncf.io__nodeSelector": "a=b,c=d"}),
    nad("plain", {"cniVersion": "1.0.0", "type": "ptp"}),
    nad("bad-subnet", {"cniVersion": "1.0.0", "type": "bridge",
                       "ipam": {"type": "host-local", "subnet": "10.1.0.0/33"}}),
    nad("shared", {"cniVersion": "1.0.0", "type": "ptp"}, namespace="team-b"),
]


def _nad_objects() -> list[Any]:
    with open(FIXTURES / "manifests" / "nads.yaml", encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc] + EXTRA_NADS


CATALOG = MemoryCatalog.from_objects(_nad_objects())
NS = "default"


def pod(networks: str | None = None, default: str | None = None, namespace: str = NS,
        spec: dict[str, Any] | None = None, **annotations: str) -> dict[str, Any]:
    ann = {k.replace("__", "/").replace("_", "."): v for k, v in annotations.items()}
    if networks is not None:
        ann["k8s.v1.cni.cncf.io/networks"] = networks
    if default is not None:
        ann["v1.multus-cni.io/default-network"] = default
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace, "annotations": ann},
            "spec": spec if spec is not None else {"containers": [{"name": "c", "image": "busybox"}]}}


def evaluate(obj: dict[str, Any], policy: Policy | None = None) -> Verdict:
    return evaluate_pod(obj, catalog=CATALOG, policy=policy or Policy())


def hits(verdict: Verdict, severity: str = "error") -> set[tuple[str, str]]:
    """(rule, short path) for every finding of a severity, e.g. ("mac-address", "networks[0].mac")."""
    return {(f.rule, short_location(f.path)) for f in verdict.findings if f.severity == severity}


@pytest.fixture
def catalog() -> MemoryCatalog:
    return CATALOG
