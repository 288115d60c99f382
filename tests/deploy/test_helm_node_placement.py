"""The chart's node side beyond the kustomize base: placement values, the uninstall DaemonSet (uninstall.enabled),
and the webhook's PodDisruptionBudget with one replica. Rendered with the real helm (tests/deploy/test_helm_chart.py
says where it comes from)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.test_helm_chart import CHART, VERSIONS, helm, keyed
from tests.deploy.uninstall_pod import check_uninstall_pod

UNINSTALL = ["--set", "uninstall.enabled=true", "--set", "node.cniConfDir=/etc/cni/other",
             "--set", "node.cniBinDir=/home/kubernetes/bin"]


def render(*values: str, namespace: str = "cni") -> dict[tuple[str, str], dict[str, Any]]:
    done = helm("template", "netweave", str(CHART), "--namespace", namespace, *values)
    assert done.returncode == 0, done.stderr
    return keyed(tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc))


def pod(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = objects[("DaemonSet", name)]["spec"]["template"]["spec"]
    return spec


def test_uninstall_replaces_the_node_daemon_with_node_uninstall_on_the_chart_s_directories() -> None:
    objects = render(*UNINSTALL)
    assert [name for kind, name in objects if kind == "DaemonSet"] == ["netweave-node-uninstall"]
    daemonset = objects[("DaemonSet", "netweave-node-uninstall")]
    assert daemonset["metadata"]["namespace"] == "cni"
    installed = pod(render("--set", "node.cniConfDir=/etc/cni/other"), "netweave-node")
    [node] = installed["containers"]
    socket = node["args"][node["args"].index("--socket") + 1]
    check_uninstall_pod(daemonset, bin_dir="/home/kubernetes/bin", conf_dir="/etc/cni/other", socket=socket)
    uninstall = daemonset["spec"]["template"]["spec"]
    for field in ("tolerations", "nodeSelector", "priorityClassName"):
        assert uninstall[field] == installed[field], field
    images = {c["image"] for c in uninstall["initContainers"] + uninstall["containers"]}
    assert images == {node["image"]}


def test_uninstall_keeps_everything_but_the_node_daemon() -> None:
    """The webhook, RBAC and the rest stay until `helm uninstall`; only the DaemonSet is swapped."""
    before, after = set(render()), set(render(*UNINSTALL))
    assert before - after == {("DaemonSet", "netweave-node")}
    assert after - before == {("DaemonSet", "netweave-node-uninstall")}


@pytest.mark.parametrize("version", VERSIONS)
def test_uninstall_render_matches_the_kubernetes_schema(version: str) -> None:
    for obj in render(*UNINSTALL, "--set", "certificates.mode=external").values():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")


@pytest.mark.parametrize("name", ["netweave-node", "netweave-node-uninstall"])
def test_node_placement_values_reach_both_daemonsets(name: str) -> None:
    values = ["--set", "node.nodeSelector.pool=cni", "--set-json",
              'node.affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":'
              '[{"matchExpressions":[{"key":"gpu","operator":"DoesNotExist"}]}]}}}']
    if name == "netweave-node-uninstall":
        values += ["--set", "uninstall.enabled=true"]
    spec = pod(render(*values), name)
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "cni"}
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}]


def test_default_placement_is_linux_only_without_affinity() -> None:
    spec = pod(render(), "netweave-node")
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"} and "affinity" not in spec


@pytest.mark.parametrize(("replicas", "budget"), [(1, False), (2, True), (3, True)])
def test_the_webhook_budget_exists_only_when_a_drain_can_honour_it(replicas: int, budget: bool) -> None:
    """minAvailable 1 of one replica: no eviction is ever allowed, `kubectl drain` of its node waits forever."""
    objects = render("--set", f"webhook.replicas={replicas}")
    pdb = objects.get(("PodDisruptionBudget", "netweave-webhook"))
    assert (pdb is not None) == budget
    if pdb is not None:
        assert pdb["spec"]["minAvailable"] == 1 < replicas


@pytest.mark.parametrize("uninstall", [False, True])
def test_notes_give_the_removal_steps_for_the_release(uninstall: bool, tmp_path: Path) -> None:
    """NOTES.txt, rendered by helm (wrapped in a define, since `helm template` does not print NOTES)."""
    chart = tmp_path / "netweave"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "notes.yaml").write_text(
        '{{- define "notes" }}' + notes + '{{- end }}\nnotes: {{ include "notes" . | toJson }}\n')
    done = helm("template", "rel", str(chart), "--namespace", "cni", "--show-only", "templates/notes.yaml",
                "--set", f"uninstall.enabled={str(uninstall).lower()}")
    assert done.returncode == 0, done.stderr
    text = yaml.safe_load(done.stdout)["notes"]
    steps = ["kubectl -n cni rollout status ds/netweave-node-uninstall", "helm uninstall rel -n cni"]
    if not uninstall:
        steps.insert(0, "helm upgrade rel deploy/helm/netweave -n cni --reuse-values --set uninstall.enabled=true")
    lines = [line.strip() for line in text.splitlines()]
    assert [line for line in lines if line in steps] == steps
