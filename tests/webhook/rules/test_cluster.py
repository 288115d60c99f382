"""Cluster-wide rules: static IPs already taken on a NAD (pod index / lint inputs), a NAD deleted while pods use
it, NAD subnets overlapping in one namespace. Cases follow the Kube-OVN "multi-nic" troubleshooting list (static IP
conflicts, overlapping subnets) and multus-cni#199 (deleting a NAD in use)."""

from __future__ import annotations

import argparse
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.paths import FIXTURES
from tests.webhook.rules.conftest import nad, pod
from webhook.admission import admit
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_nad, evaluate_pod
from webhook.lint import add_arguments, run
from webhook.podindex import PodIndex, pod_entry, pod_key
from webhook.policy import Policy
from webhook.review import decode_review

MACVLAN = {"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0", "ipam": {"type": "static"}}
NADS = [nad("macvlan-conf", MACVLAN), nad("macvlan-conf", MACVLAN, "team-b"), nad("other", MACVLAN),
        nad("ip-192", {**MACVLAN, "ipam": {"type": "host-local", "subnet": "192.168.1.0/24"}}),
        nad("dual", {**MACVLAN, "ipam": {"type": "host-local", "subnet": "fd00:1::/64"}})]
CATALOG = MemoryCatalog.from_objects(NADS)


def named(name: str, networks: str, namespace: str = "default", phase: str | None = None) -> dict[str, Any]:
    obj = pod(networks, namespace=namespace)
    obj["metadata"]["name"] = name
    if phase:
        obj["status"] = {"phase": phase}
    return obj


def indexed(*pods: dict[str, Any], max_pods: int = 1000) -> PodIndex:
    index = PodIndex(max_pods=max_pods)
    for obj in pods:
        index.put(pod_key(obj), pod_entry(obj))
    return index


FIRST = named("first", '[{"name": "macvlan-conf", "ips": ["192.168.1.200/24"]}]')


# -- the index ---------------------------------------------------------------------------------------------------
ENTRIES = [
    pytest.param(FIRST, (("default/macvlan-conf",), (("default/macvlan-conf", "192.168.1.200"),)), id="static-ip"),
    pytest.param(named("v6", '[{"name": "dual", "ips": ["fd00:1:0::0001/64"]}]'),
                 (("default/dual",), (("default/dual", "fd00:1::1"),)), id="ipv6-canonical"),
    pytest.param(named("x", "team-b/macvlan-conf@net5, other"), (("team-b/macvlan-conf", "default/other"), ()),
                 id="short-form-no-ips"),
    pytest.param({**named("d", "other"), "metadata": {"name": "d", "namespace": "default", "annotations": {
        "v1.multus-cni.io/default-network": "calico-net"}}}, (("kube-system/calico-net",), ()),
                 id="default-network-in-system-namespace"),
    pytest.param(named("done", '[{"name": "macvlan-conf", "ips": ["192.168.1.200/24"]}]', phase="Succeeded"), None,
                 id="finished-pod-holds-nothing"),
    pytest.param({"metadata": {"name": "plain", "namespace": "default"}}, None, id="no-networks"),
]


@pytest.mark.parametrize(("obj", "expected"), ENTRIES)
def test_pod_entries(obj: dict[str, Any], expected: tuple[Any, Any] | None) -> None:
    entry = pod_entry(obj)
    assert entry == expected


def test_index_add_replace_remove_and_bound() -> None:
    index = indexed(FIRST, named("second", '[{"name": "macvlan-conf", "ips": ["192.168.1.200"]}]'))
    assert index.holders("default/macvlan-conf", "192.168.1.200") == ("Pod default/first", "Pod default/second")
    assert index.users("default/macvlan-conf") == (("Pod default/first", "Pod default/second"), 2)
    index.put("Pod default/first", pod_entry(named("first", "other")))  # MODIFIED: moved to another NAD
    assert index.holders("default/macvlan-conf", "192.168.1.200") == ("Pod default/second",)
    index.put("Pod default/second", None)  # DELETED
    assert (index.holders("default/macvlan-conf", "192.168.1.200"), index.users("default/macvlan-conf")) == (
        (), ((), 0))
    assert len(index) == 1 and index.complete
    small = indexed(FIRST, named("b", "other"), named("c", "other"), max_pods=2)
    assert (len(small), small.dropped, small.complete) == (2, 1, False)


# -- static-ip-conflict ------------------------------------------------------------------------------------------
CONFLICTS = [
    pytest.param('[{"name": "macvlan-conf", "ips": ["192.168.1.200/24"]}]', "default",
                 "192.168.1.200 is already requested on default/macvlan-conf by Pod default/first", id="same-ip"),
    pytest.param('[{"name": "macvlan-conf", "namespace": "default", "ips": ["10.0.0.9/24", "192.168.1.200/24"]}]',
                 "team-b", "by Pod default/first", id="other-namespace-same-nad"),
]


@pytest.mark.parametrize(("networks", "namespace", "message"), CONFLICTS)
def test_second_pod_with_a_taken_ip_is_denied_naming_the_first(networks: str, namespace: str, message: str) -> None:
    verdict = evaluate_pod(named("second", networks, namespace), catalog=CATALOG, policy=Policy(),
                           pods=indexed(FIRST))
    (error,) = verdict.errors
    assert error.rule == "static-ip-conflict" and message in error.message
    assert error.path.endswith(".ips[0]") or error.path.endswith(".ips[1]")


NO_CONFLICT = [
    pytest.param('[{"name": "macvlan-conf", "ips": ["192.168.1.201/24"]}]', "default", id="other-ip"),
    pytest.param('[{"name": "other", "ips": ["192.168.1.200/24"]}]', "default", id="other-nad"),
    pytest.param('[{"name": "macvlan-conf", "ips": ["192.168.1.200/24"]}]', "team-b", id="same-name-other-ns"),
]


@pytest.mark.parametrize(("networks", "namespace"), NO_CONFLICT)
def test_free_addresses_are_admitted(networks: str, namespace: str) -> None:
    verdict = evaluate_pod(named("second", networks, namespace), catalog=CATALOG, policy=Policy(),
                           pods=indexed(FIRST))
    assert verdict.findings == ()


def test_a_pod_never_conflicts_with_itself() -> None:
    assert evaluate_pod(FIRST, catalog=CATALOG, policy=Policy(), pods=indexed(FIRST)).findings == ()


def test_static_ip_conflict_cannot_be_suppressed() -> None:
    second = named("second", '[{"name": "macvlan-conf", "ips": ["192.168.1.200/24"]}]')
    second["metadata"]["annotations"]["ignore-check.netweave.io/static-ip-conflict"] = "mine now"
    verdict = evaluate_pod(second, catalog=CATALOG, policy=Policy(), pods=indexed(FIRST))
    assert {f.rule for f in verdict.errors} == {"static-ip-conflict"}


def lint_files(*files: Path) -> tuple[int, dict[str, Any]]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run(parser.parse_args(["--format", "json", *map(str, files)]), stdout=out, stderr=err)
    return code, json.loads(out.getvalue())


def test_lint_reports_the_later_of_two_pods_across_files(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([NADS[0], FIRST]))
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"template": {"metadata": {"annotations": FIRST["metadata"]["annotations"]},
                                        "spec": FIRST["spec"]}}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(deployment))
    code, doc = lint_files(tmp_path / "a.yaml", tmp_path / "b.yaml")
    assert code == 1
    (finding,) = doc["findings"]
    assert (finding["kind"], finding["name"], finding["rule"]) == ("Deployment", "web", "static-ip-conflict")
    assert "by Pod default/first" in finding["message"]


# -- NAD DELETE while pods use it ------------------------------------------------------------------------------
def nad_delete(name: str = "macvlan-conf") -> Any:
    doc = json.loads((FIXTURES / "admission" / "025-update-networkattachmentdefinition-macvlan-conf.json").read_text())
    request = doc["request"]
    request.update(operation="DELETE", name=name, oldObject=request["object"], object=None)
    return decode_review(json.dumps(doc).encode())


USERS = indexed(FIRST, named("b", "macvlan-conf"), named("c", "macvlan-conf"), named("d", "macvlan-conf"))

DELETES = [
    pytest.param(Policy(), USERS, True, ("warning", "used by 4 pod(s): Pod default/b, Pod default/c, Pod default/d "
                                         "and 1 more"), id="warn-by-default"),
    pytest.param(Policy.from_mapping({"rules": {"network-in-use": "error"}}, source="t"), USERS, False,
                 ("error", "used by 4 pod(s)"), id="deny-by-policy"),
    pytest.param(Policy.from_mapping({"rules": {"network-in-use": "off"}}, source="t"), USERS, True, None, id="off"),
    pytest.param(Policy.from_mapping({"rules": {"network-in-use": "error"}}, source="t"), indexed(), True, None,
                 id="unused"),
]


@pytest.mark.parametrize(("policy", "pods", "allowed", "finding"), DELETES)
def test_nad_delete_while_pods_use_it(policy: Policy, pods: PodIndex, allowed: bool,
                                      finding: tuple[str, str] | None) -> None:
    result = admit(nad_delete(), catalog=CATALOG, policy=policy, mutate=False, pods=pods)
    assert result.decision.allowed is allowed
    if finding is None:
        assert result.findings == ()
    else:
        (found,) = result.findings
        assert (found.rule, found.severity) == ("network-in-use", finding[0]) and finding[1] in found.message


# -- subnets overlapping across NADs of one namespace ------------------------------------------------------------
OVERLAPS = [
    pytest.param(nad("wide", {**MACVLAN, "ipam": {"type": "whereabouts", "range": "192.168.0.0/16"}}),
                 "overlaps 192.168.1.0/24 of NAD default/ip-192", id="wider-range"),
    pytest.param(nad("ip-192", {**MACVLAN, "ipam": {"type": "host-local", "subnet": "192.168.1.0/25"}}), None,
                 id="update-of-itself"),
    pytest.param(nad("elsewhere", {**MACVLAN, "ipam": {"type": "host-local", "subnet": "192.168.1.0/24"}},
                     "team-b"), None, id="other-namespace"),
    pytest.param(nad("v6", {**MACVLAN, "ipam": {"type": "host-local", "subnet": "fd00:1::/48"}}),
                 "overlaps fd00:1::/64 of NAD default/dual", id="ipv6"),
]


@pytest.mark.parametrize(("obj", "message"), OVERLAPS)
def test_nad_subnets_overlapping_in_the_namespace(obj: dict[str, Any], message: str | None) -> None:
    verdict = evaluate_nad(copy.deepcopy(obj), policy=Policy(), catalog=CATALOG)
    if message is None:
        assert verdict.findings == ()
    else:
        (finding,) = verdict.findings
        assert (finding.rule, finding.severity) == ("subnet-overlap", "warning") and message in finding.message


def nad_update(config: str | None) -> Any:
    doc = json.loads((FIXTURES / "admission" / "025-update-networkattachmentdefinition-macvlan-conf.json").read_text())
    request = doc["request"]
    request["oldObject"] = copy.deepcopy(request["object"])
    if config is not None:
        request["object"]["spec"]["config"] = config
    else:
        request["object"]["metadata"]["labels"] = {"team": "b"}
    return decode_review(json.dumps(doc).encode())


NEW_CONFIG = json.dumps({**MACVLAN, "master": "ens224"})
UPDATES = [
    pytest.param(NEW_CONFIG, Policy(), True, "warning", id="config-changed-warns"),
    pytest.param(NEW_CONFIG, Policy.from_mapping({"rules": {"network-in-use": "error"}}, source="t"), False, "error",
                 id="config-changed-denied-by-policy"),
    pytest.param(None, Policy.from_mapping({"rules": {"network-in-use": "error"}}, source="t"), True, None,
                 id="label-only-update"),
]


@pytest.mark.parametrize(("config", "policy", "allowed", "severity"), UPDATES)
def test_nad_config_change_while_pods_use_it(config: str | None, policy: Policy, allowed: bool,
                                             severity: str | None) -> None:
    result = admit(nad_update(config), catalog=CATALOG, policy=policy, mutate=False, pods=USERS)
    assert result.decision.allowed is allowed
    found = [(f.rule, f.severity) for f in result.findings if f.rule != "subnet-overlap"]  # ip-192 overlaps it
    assert found == ([] if severity is None else [("network-in-use", severity)])
    if severity:
        assert any("keep the old config until their sandbox restarts" in f.message for f in result.findings)
