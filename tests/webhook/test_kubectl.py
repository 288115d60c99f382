"""`kubectl netweave` against the replayed API server: pods and Events shaped as the real API returns them."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO, SEEDS, console_script
from tests.replay import ReplayServer
from webhook.kubectl import main

NETWORKS = "k8s.v1.cni.cncf.io/networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"
SANDBOX = "3f1c0d9a2b7e4c55a1d0e8f6b9c2d4e7a5b3c1d9e0f2a4b6c8d0e2f4a6b8c0d2"


@pytest.fixture()
def api() -> Iterator[ReplayServer]:
    with ReplayServer(watch_hold=0.2) as server:
        yield server


@pytest.fixture()
def kubeconfig(api: ReplayServer, tmp_path: Path) -> Path:
    return api.write_kubeconfig(tmp_path / "kubeconfig")


def pod(name: str, annotations: dict[str, str], *, phase: str = "Running",
        waiting: str | None = None) -> dict[str, Any]:
    """A pod as GET returns it (the fields these commands read, and the usual noise around them)."""
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": "2026-11-22T08:05:47Z"}}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "400",
                     "creationTimestamp": "2026-11-22T08:05:40Z", "annotations": annotations},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox:1.28"}]},
        "status": {"phase": phase, "containerStatuses": [
            {"name": "c", "ready": waiting is None, "restartCount": 0, "image": "busybox:1.28", "imageID": "",
             "state": state}]},
    }


def post_event(api: ReplayServer, event: dict[str, Any]) -> None:
    """Through the API's own POST, so the stored object carries what the server adds (name, uid, rv)."""
    ns = event["involvedObject"]["namespace"]
    request = urllib.request.Request(f"{api.url}/api/v1/namespaces/{ns}/events", data=json.dumps(event).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 201


def kubelet_event(pod_name: str, message: str, *, count: int = 7) -> dict[str, Any]:
    """The kubelet's FailedCreatePodSandBox (core/v1 Event, as `kubectl get events -o json` shows it)."""
    return {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{pod_name}.1879a1b2c3d4e5f6"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "namespace": "default",
                           "uid": f"uid-{pod_name}", "resourceVersion": "400"},
        "reason": "FailedCreatePodSandBox", "type": "Warning", "count": count,
        "message": f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for '
                   f'sandbox "{SANDBOX}": plugin type="netweave" name="netweave" failed (add): {message}',
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-22T08:05:41Z", "lastTimestamp": "2026-11-22T08:11:02Z",
        "reportingComponent": "kubelet", "reportingInstance": "node-1",
    }


def node_event(pod_name: str, message: str) -> dict[str, Any]:
    """netweave's own FailedAddingInterface, in the shape cni/kube.py posts it (captured create-event.json)."""
    captured = json.loads((REPO / "tests/fixtures/apiserver/create-event.json").read_text())["request"]["body"]
    event = copy.deepcopy(captured)
    event["metadata"] = {"generateName": f"{pod_name}."}
    event["involvedObject"].update(name=pod_name, uid=f"uid-{pod_name}")
    event.update(reason="FailedAddingInterface", type="Warning", message=message)
    return event


def run(*args: str, kubeconfig: Path | None = None, env: dict[str, str] | None = None,
        stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = [*args, *(["--kubeconfig", str(kubeconfig)] if kubeconfig else [])]
    code = main(argv, environ=env or {}, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


STATUS_TEXT = json.dumps([
    {"name": "k8s-pod-network", "interface": "eth0", "ips": ["10.244.1.7"], "mac": "0a:58:0a:f4:01:07",
     "default": True, "dns": {}},
    {"name": "default/macvlan-conf", "interface": "net1", "ips": ["192.168.1.200"], "mac": "c2:b0:57:49:47:f1",
     "dns": {}},
], indent=4)


def test_status_shows_network_status_beside_what_the_pod_asked_for(api: ReplayServer, kubeconfig: Path) -> None:
    api.add_pod(pod("web", {NETWORKS: "macvlan-conf@net1,kube-ovn-vpc-network", STATUS: STATUS_TEXT}))

    code, out, err = run("status", "web", kubeconfig=kubeconfig)

    assert (code, err) == (0, "")
    assert [line.split() for line in out.splitlines()] == [
        ["Pod", "default/web:", "Running", "on", "node-1"],
        ["REQUESTED", "INTERFACE", "ATTACHED", "NETWORK", "IPS", "MAC", "DEFAULT"],
        ["(cluster", "network)", "eth0", "yes", "k8s-pod-network", "10.244.1.7", "0a:58:0a:f4:01:07", "yes"],
        ["default/macvlan-conf", "net1", "yes", "default/macvlan-conf", "192.168.1.200", "c2:b0:57:49:47:f1", "-"],
        ["default/kube-ovn-vpc-network", "net2", "no", "-", "-", "-", "-"],
    ]


def test_status_of_the_captured_pending_pod_says_nothing_is_attached_yet(kubeconfig: Path) -> None:
    code, out, _ = run("status", "busybox3", kubeconfig=kubeconfig)
    assert code == 0
    assert "default/macvlan-conf  eth1" in out and "No k8s.v1.cni.cncf.io/network-status annotation yet" in out


def test_why_explains_a_pod_stuck_in_container_creating(api: ReplayServer, kubeconfig: Path) -> None:
    api.add_pod(pod("stuck", {NETWORKS: '[{"name": "sriov-net", "interface": "net1"}]'}, phase="Pending",
                    waiting="ContainerCreating"))
    post_event(api, node_event("stuck", "network-attachment-definition default/sriov-net not found"))
    post_event(api, kubelet_event("stuck", "network-attachment-definition default/sriov-net not found"))
    post_event(api, kubelet_event("other-pod", "unrelated"))

    code, out, err = run("why", "stuck", kubeconfig=kubeconfig)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "Pod default/stuck: Pending (ContainerCreating)"
    assert lines[1] == "Events that say why:"
    # Oldest first: the kubelet's last retry was stamped before the node's event (created now).
    assert lines[2].startswith("  Warning FailedCreatePodSandBox from kubelet (x7): Failed to create pod sandbox")
    assert lines[3] == ("  Warning FailedAddingInterface from netweave: network-attachment-definition "
                        "default/sriov-net not found")
    assert "other-pod" not in out and "unrelated" not in out
    assert f'{NETWORKS}: [{{"name": "sriov-net", "interface": "net1"}}]' in lines
    assert any(line.startswith("  error: networks[0] \"default/sriov-net\": NetworkAttachmentDefinition not found")
               for line in lines)
    assert "  fix: create NetworkAttachmentDefinition default/sriov-net, or correct the name" in out


def test_why_of_a_pod_whose_nad_now_exists_says_the_kubelet_will_retry(api: ReplayServer,
                                                                      kubeconfig: Path) -> None:
    api.add_pod(pod("late", {NETWORKS: "macvlan-conf"}, phase="Pending", waiting="ContainerCreating"))
    post_event(api, kubelet_event("late", "network-attachment-definition default/macvlan-conf not found"))
    code, out, _ = run("why", "late", kubeconfig=kubeconfig)
    assert code == 0
    assert "netweave sees no problem now; the node would attach eth0 (cluster-network), net1 " \
           "(default/macvlan-conf)" in out


def test_why_without_events(kubeconfig: Path) -> None:
    code, out, _ = run("why", "busybox3", kubeconfig=kubeconfig)
    assert code == 0 and "No FailedAddingInterface or FailedCreatePodSandBox events" in out


def test_a_missing_pod_is_the_api_servers_message_and_exit_2(kubeconfig: Path) -> None:
    code, out, err = run("status", "nope", kubeconfig=kubeconfig)
    assert (code, out) == (2, "")
    assert err == 'kubectl netweave status: pods "nope" not found (404 NotFound)\n'


def test_kubeconfig_from_the_environment_with_its_context_namespace(api: ReplayServer, tmp_path: Path) -> None:
    config = json.loads(api.write_kubeconfig(tmp_path / "base").read_text())
    config["contexts"].append({"name": "lab", "context": {"cluster": "replay", "user": "replay", "namespace": "lab"}})
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    api.add_pod(pod("in-lab", {NETWORKS: "macvlan-a"}) | {"metadata": {"name": "in-lab", "namespace": "lab",
                                                                        "annotations": {NETWORKS: "macvlan-a"}}})
    env = {"KUBECONFIG": f"{tmp_path / 'absent'}:{path}"}

    code, out, err = run("status", "in-lab", "--context", "lab", env=env)
    assert (code, err) == (0, ""), err
    assert "lab/macvlan-a" in out
    assert run("status", "in-lab", "--context", "nope", env=env)[2].startswith(
        "kubectl netweave status: context 'nope' not found in")
    assert run("status", "busybox3", "-n", "default", env=env)[0] == 0


def test_lint_and_plan_use_the_clusters_nads(kubeconfig: Path) -> None:
    # seed 012's pod without its NAD: the cluster has default/macvlan-conf.
    manifest = (SEEDS / "012-macvlan-samplepod.yaml").read_text()
    pod_only = "\n---\n".join(p for p in manifest.split("\n---") if "kind: Pod" in p)

    code, out, _ = run("lint", "-", "--format", "json", kubeconfig=kubeconfig, stdin=pod_only)
    assert code == 0 and json.loads(out)["findings"] == []
    code, out, _ = run("plan", "-", "--format", "json", kubeconfig=kubeconfig, stdin=pod_only)
    (planned,) = json.loads(out)["pods"]
    assert code == 0 and [i["network"] for i in planned["interfaces"]] == ["cluster-network", "default/macvlan-conf"]

    missing = pod_only.replace("macvlan-conf", "no-such-net")
    code, out, _ = run("lint", "-", kubeconfig=kubeconfig, stdin=missing)
    assert code == 1 and "[network-not-found]" in out


def test_an_unreachable_cluster_is_one_clear_line(tmp_path: Path) -> None:
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
              "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
              "users": [{"name": "x", "user": {"token": "t"}}],
              "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    code, _, err = run("status", "p", kubeconfig=path)
    assert code == 2 and err.startswith("kubectl netweave status: cannot reach the API server at http://127.0.0.1:9")
    assert len(err.splitlines()) == 1


def test_kubectl_finds_the_plugin_and_runs_it(kubeconfig: Path) -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-netweave"] == "webhook.kubectl:main"
    kubectl = console_script("kubectl")
    plugin = console_script("kubectl-netweave")
    env = {**os.environ, "PATH": f"{plugin.parent}:{os.environ.get('PATH', '')}", "KUBECONFIG": str(kubeconfig),
           "HOME": str(kubeconfig.parent)}
    done = subprocess.run([str(kubectl), "netweave", "status", "busybox3"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Pod default/busybox3: Pending")


def forbidden(resource: str, group: str = "") -> dict[str, Any]:
    """The API server's 403 for a list RBAC does not allow (metav1.Status, as kube-apiserver writes it)."""
    qualified = f"{resource}.{group}" if group else resource
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden",
            "code": 403, "details": {"kind": resource, **({"group": group} if group else {})},
            "message": f'{qualified} is forbidden: User "alice" cannot list resource "{resource}" in API group '
                       f'"{group}" in the namespace "default"'}


def test_why_without_rights_to_events_or_nads_says_so_and_still_explains(api: ReplayServer,
                                                                        kubeconfig: Path) -> None:
    api.add_pod(pod("stuck", {NETWORKS: "sriov-net"}, phase="Pending", waiting="ContainerCreating"))
    api.fail_next("GET", "/api/v1/namespaces/default/events", 403, forbidden("events"))
    api.fail_next("GET", "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions", 403,
                  forbidden("network-attachment-definitions", "k8s.cni.cncf.io"))

    code, out, err = run("why", "stuck", kubeconfig=kubeconfig)

    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Pod default/stuck: Pending (ContainerCreating)",
        'Cannot list the pod\'s events: events is forbidden: User "alice" cannot list resource "events" in API '
        'group "" in the namespace "default" (403 Forbidden)',
        f"{NETWORKS}: sriov-net",
        "Cannot list the cluster's NetworkAttachmentDefinitions, so the rules did not run: "
        'network-attachment-definitions.k8s.cni.cncf.io is forbidden: User "alice" cannot list resource '
        '"network-attachment-definitions" in API group "k8s.cni.cncf.io" in the namespace "default" (403 Forbidden)',
    ]


def test_manifests_without_a_namespace_land_in_the_chosen_one(kubeconfig: Path) -> None:
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  annotations:\n"
                "    k8s.v1.cni.cncf.io/networks: macvlan-a\nspec:\n  containers: [{name: c, image: busybox}]\n")
    code, out, _ = run("plan", "-", "-n", "lab", "--format", "json", kubeconfig=kubeconfig, stdin=manifest)
    (planned,) = json.loads(out)["pods"]
    assert (code, planned["namespace"], planned["interfaces"][1]["network"]) == (0, "lab", "lab/macvlan-a")
    code, out, _ = run("lint", "-", "--format", "json", kubeconfig=kubeconfig, stdin=manifest)  # context: default
    assert code == 1 and [(f["namespace"], f["rule"]) for f in json.loads(out)["findings"]] == [
        ("default", "network-not-found")]
