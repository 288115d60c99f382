"""Every seed manifest case (tests/fixtures/seeds, see its README) linted end to end with its expected outcome."""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from tests.paths import SEEDS
from webhook.lint import add_arguments, run
from webhook.sources import read_file

DPU = "yusur.tech/sriov_dpu"
DPU_HOST = "k8s.ovn.org/dpu-host"
E, W = "error", "warning"


def lint_json(file: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([*extra, "--format", "json", "--show-mutations", str(file)])
    out, err = io.StringIO(), io.StringIO()
    code = run(args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return code, json.loads(out.getvalue())


def findings(doc: dict[str, Any]) -> Counter[tuple[str, str]]:
    return Counter((f["rule"], f["severity"]) for f in doc["findings"])


# file -> (exit code, findings as (rule, severity) with multiplicity)
CASES = [
    ("001-calico-default-network.yaml", 0, {}),
    ("002-ovn-default-network-dpu-preset.yaml", 0, {}),
    ("003-ovn-default-network-dpu-injected.yaml", 0, {}),
    ("004-calico-primary-ovn-secondary-ovn-route.yaml", 0, {}),
    ("005-calico-primary-ovn-secondary-calico-route.yaml", 0, {}),
    ("006-ovn-primary-calico-secondary-calico-route.yaml", 0, {("calico-secondary", W): 1}),
    ("007-ovn-primary-calico-secondary-ovn-route.yaml", 0, {("calico-secondary", W): 1}),
    ("008-key-fields-missing-comma.yaml", 1, {("annotation-syntax", E): 1}),
    ("009-yusur-ovn-secondary.yaml", 0, {}),
    ("010-yusur-ovn-secondary-comments-in-json.yaml", 1, {("annotation-syntax", E): 1}),
    ("011-yusur-ovn-secondary-eth0.yaml", 1, {("interface-name-reserved", E): 1}),
    ("012-macvlan-samplepod.yaml", 0, {}),
    ("013-macvlan-static-ip-mac.yaml", 0, {}),
    ("014-multus-thick-daemonset.yaml", 0, {}),
    ("015-kube-ovn-attachment.yaml", 0, {}),
    ("016-kube-ovn-network-segmentation.yaml", 0, {("annotation-syntax", W): 2}),
    ("017-kube-ovn-multi-tenant.yaml", 0, {}),
    ("018-kube-ovn-multiple-providers.yaml", 0, {("annotation-syntax", W): 2}),
    ("019-kube-ovn-static-ip.yaml", 0, {("annotation-syntax", W): 1}),
    ("020-kube-ovn-qos-annotations.yaml", 0, {("kube-ovn-qos-key", W): 2}),
    ("021-deployment-calico-primary-ovn-secondary.yaml", 0, {}),
    ("022-yusur-ovn-secondary-nad-elsewhere.yaml", 0, {("network-not-found", W): 1}),
    ("023-ovn-secondary-namespace-omitted.yaml", 1, {("network-not-found", E): 1}),
]


def test_every_seed_file_has_a_case_and_a_readme_row() -> None:
    files = sorted(p.name for p in SEEDS.glob("*.yaml"))
    assert files == sorted(name for name, _, _ in CASES)
    readme = (SEEDS / "README.md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in readme for name in files)


@pytest.mark.parametrize(("name", "code", "expected"), [pytest.param(*c, id=c[0][:-5]) for c in CASES])
def test_seed_lint_outcome(name: str, code: int, expected: dict[tuple[str, str], int]) -> None:
    exit_code, doc = lint_json(SEEDS / name)
    assert findings(doc) == Counter(expected)
    assert exit_code == code


STRICT = [
    pytest.param("022-yusur-ovn-secondary-nad-elsewhere.yaml", {("network-not-found", E): 1}, 1, id="022-strict"),
    pytest.param("009-yusur-ovn-secondary.yaml", {}, 0, id="009-strict-nad-present"),
]


@pytest.mark.parametrize(("name", "expected", "code"), STRICT)
def test_seed_lint_strict(name: str, expected: dict[tuple[str, str], int], code: int) -> None:
    exit_code, doc = lint_json(SEEDS / name, "--strict")
    assert (findings(doc), exit_code) == (Counter(expected), code)


def mutated(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed's only pod-bearing object, and the same object with the lint's JSONPatch applied."""
    _, doc = lint_json(SEEDS / name)
    (mutation,) = doc["mutations"]
    (source,) = [o.obj for o in read_file(SEEDS / name).objects if o.name == mutation["name"]
                 and o.kind == mutation["kind"]]
    return dict(source), jsonpatch.apply_patch(dict(source), mutation["patch"])


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"] if obj["kind"] == "Deployment" else obj


INJECTED = [
    "003-ovn-default-network-dpu-injected.yaml",
    "005-calico-primary-ovn-secondary-calico-route.yaml",
    "007-ovn-primary-calico-secondary-ovn-route.yaml",
    "021-deployment-calico-primary-ovn-secondary.yaml",
]


@pytest.mark.parametrize("name", INJECTED)
def test_dpu_pods_get_the_device_and_the_dpu_host_selector(name: str) -> None:
    _, after = mutated(name)
    pod = pod_of(after)
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"][DPU] == "1" and resources["limits"][DPU] == "1"
    assert pod["spec"]["nodeSelector"][DPU_HOST] == ""


PRESET = [
    "002-ovn-default-network-dpu-preset.yaml",
    "004-calico-primary-ovn-secondary-ovn-route.yaml",
    "006-ovn-primary-calico-secondary-calico-route.yaml",
]


@pytest.mark.parametrize("name", PRESET)
def test_pods_that_already_set_the_device_and_selector_are_left_alone(name: str) -> None:
    before, after = mutated(name)
    assert after["spec"]["containers"] == before["spec"]["containers"]
    assert after["spec"]["nodeSelector"] == before["spec"]["nodeSelector"]


def test_unqualified_default_network_from_default_resolves_to_kube_system() -> None:
    before, after = mutated("001-calico-default-network.yaml")
    assert before["metadata"]["namespace"] == "default"
    assert after["metadata"]["annotations"]["v1.multus-cni.io/default-network"] == "kube-system/calico-net"


def test_eth0_secondary_is_reported_at_the_interface_with_its_line() -> None:
    _, doc = lint_json(SEEDS / "011-yusur-ovn-secondary-eth0.yaml")
    (finding,) = doc["findings"]
    assert finding["path"] == 'metadata.annotations["k8s.v1.cni.cncf.io/networks"][0].interface'
    text = (SEEDS / "011-yusur-ovn-secondary-eth0.yaml").read_text(encoding="utf-8").splitlines()
    assert text[finding["line"] - 1].strip().startswith("k8s.v1.cni.cncf.io/networks:")
    assert doc["mutations"] == []


def test_missing_namespace_hint_names_kube_system() -> None:
    _, doc = lint_json(SEEDS / "023-ovn-secondary-namespace-omitted.yaml")
    (finding,) = doc["findings"]
    assert "kube-system/ovn-net" in finding["hint"]
