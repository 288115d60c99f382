"""What every uninstall DaemonSet (kustomize's deploy/uninstall, the chart's uninstall.enabled) must be, checked on
the rendered object: `netweave node-uninstall` reads exactly the node's directories, after the daemon has exited."""

import argparse
from pathlib import Path
from typing import Any

from cni.node import install


def uninstall_args(container: dict[str, Any]) -> argparse.Namespace:
    """The uninstall container's args, read by node-uninstall's own parser."""
    parser = argparse.ArgumentParser()
    install.add_uninstall_arguments(parser)
    assert container["command"] == ["netweave"] and container["args"][0] == "node-uninstall"
    return parser.parse_args(container["args"][1:])


def host_paths(pod: dict[str, Any], container: dict[str, Any]) -> dict[Path, str]:
    """mountPath -> the node directory mounted there."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {Path(m["mountPath"]): volumes[m["name"]]["hostPath"]["path"] for m in container["volumeMounts"]}


def check_uninstall_pod(daemonset: dict[str, Any], *, bin_dir: str, conf_dir: str, socket: str) -> None:
    """Fails naming what is wrong: the directories node-uninstall works on are the node's bin_dir and conf_dir."""
    pod = daemonset["spec"]["template"]["spec"]
    # Its own sandbox must not go through the shim it removes.
    assert pod["hostNetwork"] is True
    wait, uninstall = pod["initContainers"]
    args = uninstall_args(uninstall)
    mounts = host_paths(pod, uninstall)
    assert mounts[args.cni_bin_dir] == bin_dir, "--cni-bin-dir is not the node's CNI bin directory"
    assert mounts[args.cni_conf_dir] == conf_dir, "--cni-conf-dir is not the node's CNI config directory"
    assert str(args.host_cni_conf_dir) == conf_dir, "--host-cni-conf-dir is not the node's path"
    # The old daemon's config guard would restore the conflist: node-uninstall runs after its socket is gone.
    socket_dir = str(Path(socket).parent)
    assert host_paths(pod, wait)[Path(socket_dir)] == socket_dir, "the wait does not see the daemon's socket"
    assert f'"{socket}"' in wait["command"][-1], "the wait polls another socket than the daemon's --socket"
