"""Properties of the rendered node side: RBAC, the DaemonSet and the uninstall DaemonSet."""

import argparse
from typing import Any

import pytest

from tests.deploy.rendered import BASE, UNINSTALL, find, render
from tests.deploy.uninstall_pod import check_uninstall_pod

IMAGE = "ghcr.io/netweave/netweave:0.1.0"


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = find(render(BASE), "DaemonSet", "netweave-node")["spec"]["template"]["spec"]
    return spec


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    return {volumes[m["name"]]["hostPath"]["path"]: m for m in container["volumeMounts"]
            if "hostPath" in volumes[m["name"]]}


def _mounts_at(container: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """mountPath -> (host path, mount): a host directory may be mounted at several paths."""
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    return {m["mountPath"]: (volumes[m["name"]].get("hostPath", {}).get("path", ""), m)
            for m in container["volumeMounts"]}


def test_node_role_is_exactly_what_the_daemon_needs() -> None:
    role = find(render(BASE), "ClusterRole", "netweave-node")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("", "pods", "get"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "pods/status", "patch"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "get"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "list"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "watch"),
        ("", "events", "create"),
        ("events.k8s.io", "events", "create"),
    }


def test_daemonset_runs_on_every_node_in_the_host_network() -> None:
    pod = _pod()
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["serviceAccountName"] == "netweave-node"
    assert pod["priorityClassName"] == "system-node-critical"
    # Linux nodes only: a Windows node would hold a pod that never starts and stall every rolling update.
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_init_container_installs_the_cni() -> None:
    [install] = _pod()["initContainers"]
    assert install["image"] == IMAGE
    assert [*install["command"], *install["args"]] == [
        "netweave", "node-install", "--cni-bin-dir", "/host/opt/cni/bin", "--cni-conf-dir", "/host/etc/cni/net.d",
        "--host-cni-conf-dir", "/etc/cni/net.d", "--socket", "/run/netweave/cni.sock", "--shim", "static",
    ]  # fmt: skip
    mounts = _mounts(install)
    assert mounts["/opt/cni/bin"]["mountPath"] == "/host/opt/cni/bin"
    assert mounts["/etc/cni/net.d"]["mountPath"] == "/host/etc/cni/net.d"


def test_daemon_container_serves_the_socket() -> None:
    [node] = _pod()["containers"]
    assert node["image"] == IMAGE
    assert [*node["command"], *node["args"]] == [
        "netweave", "node", "--socket", "/run/netweave/cni.sock", "--metrics", "$(NODE_IP):9653",
        "--request-timeout", "120", "--shutdown-grace", "150",
        "--chroot-dir", "/hostroot", "--guard-cni-conf-dir", "/host/etc/cni/net.d",
        "--host-cni-conf-dir", "/etc/cni/net.d", "--policy", "/etc/netweave/netweave.yaml",
        "--hot-plug", "--cache-dir", "/var/lib/cni/netweave",
    ]  # fmt: skip
    assert node["securityContext"]["privileged"] is True
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in node["env"]


@pytest.mark.parametrize(
    ("host_path", "mount_path", "read_only", "propagation"),
    [
        # Delegates run chrooted in the node's root (--chroot-dir): writable, later mounts propagate in.
        pytest.param("/", "/hostroot", None, "HostToContainer", id="host-root"),
        # Writable: the config guard (--guard-cni-conf-dir) puts 00-netweave.conflist back.
        pytest.param("/etc/cni/net.d", "/host/etc/cni/net.d", None, None, id="cni-conf"),
        # The conflist names the cluster network and kubeconfig by host path (install --host-cni-conf-dir).
        pytest.param("/etc/cni/net.d", "/etc/cni/net.d", True, None, id="cni-conf-at-host-path"),
        pytest.param("/var/lib/cni", "/var/lib/cni", None, None, id="cni-state"),
        pytest.param("/run/netweave", "/run/netweave", None, None, id="socket-dir"),
        pytest.param("/var/lib/kubelet/device-plugins", "/var/lib/kubelet/device-plugins", True, None, id="devices"),
        pytest.param("/var/run/netns", "/var/run/netns", None, "HostToContainer", id="netns"),
    ],
)
def test_daemon_host_mounts(host_path: str, mount_path: str, read_only: bool | None, propagation: str | None) -> None:
    [node] = _pod()["containers"]
    mounted_from, mount = _mounts_at(node)[mount_path]
    assert mounted_from == host_path
    assert mount.get("readOnly") == read_only
    assert mount.get("mountPropagation") == propagation


def test_the_daemon_does_not_share_the_host_pid_namespace() -> None:
    """As PID 1 of its own PID namespace, the daemon takes every delegate and IPAM process with it when it dies."""
    assert not _pod().get("hostPID")


def test_the_image_builds_the_static_shim_where_node_install_finds_it() -> None:
    from cni.node.install import STATIC_SHIM_IMAGE
    from tests.paths import REPO

    dockerfile = (REPO / "Dockerfile").read_text()
    assert "gcc -static" in dockerfile
    assert f"COPY --from=shim /netweave-shim {STATIC_SHIM_IMAGE}" in dockerfile


def test_no_pre_stop_uninstall_on_the_daemon() -> None:
    """Uninstalling on every restart would let pods start without their networks during upgrades."""
    [node] = _pod()["containers"]
    assert "lifecycle" not in node


def test_uninstall_daemonset_runs_node_uninstall() -> None:
    daemonset = find(render(UNINSTALL), "DaemonSet", "netweave-node-uninstall")
    pod = daemonset["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["initContainers"]] == [IMAGE, IMAGE]
    assert daemonset["metadata"]["namespace"] == "netweave-system"
    check_uninstall_pod(daemonset, bin_dir="/opt/cni/bin", conf_dir="/etc/cni/net.d", socket=_daemon_args().socket)
    # Wherever the node daemon runs, and only there.
    assert (pod["tolerations"], pod["nodeSelector"]) == (_pod()["tolerations"], _pod()["nodeSelector"])


def test_webhook_and_node_read_the_one_policy_configmap() -> None:
    """deploy/policy: the same ConfigMap file is the webhook's --config and the node's --policy."""
    objects = render(BASE)
    configmap = find(objects, "ConfigMap", "netweave-policy")
    assert set(configmap["data"]) == {"netweave.yaml"}
    webhook = find(objects, "Deployment", "netweave-webhook")["spec"]["template"]["spec"]
    readers = {"webhook": (webhook, "--config"), "node": (_pod(), "--policy")}
    for pod, flag in readers.values():
        [container] = pod["containers"]
        path = container["args"][container["args"].index(flag) + 1]
        volumes = {v["name"]: v for v in pod["volumes"]}
        [mount] = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
        assert volumes[mount["name"]]["configMap"] == {"name": "netweave-policy"}
        assert path == f"{mount['mountPath']}/netweave.yaml" and mount["readOnly"] is True


def _daemon_args() -> argparse.Namespace:
    """The daemon container's args, read by the daemon's own parser."""
    from cni.node import daemon

    [node] = _pod()["containers"]
    parser = argparse.ArgumentParser()
    daemon.add_arguments(parser)
    return parser.parse_args(node["args"][1:])


def test_grace_periods_nest_pod_over_drain_over_request() -> None:
    """SIGKILL never lands mid-ADD: the kubelet waits longer than the daemon drains, which waits longer than a
    request may run, which the shim waits for."""
    from cni.node import shim

    args = _daemon_args()
    assert _pod()["terminationGracePeriodSeconds"] > args.shutdown_grace > args.request_timeout
    assert args.request_timeout < shim.REPLY_TIMEOUT


def test_probes_are_the_daemons_http_endpoints_on_the_node_ip() -> None:
    [node] = _pod()["containers"]
    host, port = _daemon_args().metrics
    assert host == "$(NODE_IP)"
    assert {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}} in node["env"]
    assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in node["ports"]
    assert node["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert node["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    # Liveness gives up later than readiness: a slow start or a busy moment must not restart the daemon.
    live, ready = node["livenessProbe"], node["readinessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > ready["periodSeconds"] * ready.get("failureThreshold", 3)


def test_the_node_pod_has_guaranteed_qos() -> None:
    """requests == limits for cpu and memory in every container, init containers included (what the kubelet
    requires for the Guaranteed class)."""
    pod = _pod()
    for container in [*pod["initContainers"], *pod["containers"]]:
        resources = container["resources"]
        assert set(resources["limits"]) == {"cpu", "memory"}, container["name"]
        assert resources["requests"] == resources["limits"], container["name"]
