"""A node for end-to-end tests: the replay API server, real plugins, real netns, netweave run as a runtime does."""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from tests.paths import PYTHON as PYTHON  # re-exported: the e2e modules import it from here
from tests.paths import console_script
from tests.replay import ReplayServer

PLUGINS = Path("/usr/lib/cni")
NETWEAVE = console_script("netweave-cni")
OS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
def unique(prefix: str) -> str:
    """A short unique name (link names must stay within 15 bytes)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Run:
    """One netweave invocation: exit status, stdout decoded, stderr text."""

    rc: int
    out: Any
    stderr: str


@dataclass
class Netns:
    name: str

    @property
    def path(self) -> str:
        return f"/var/run/netns/{self.name}"

    def ipr(self) -> IPRoute:
        return IPRoute(netns=self.path, flags=0)

    def links(self) -> dict[str, dict[str, Any]]:
        """ifname -> {"mac", "addresses": [cidr...]} inside the netns (lo excluded)."""
        with self.ipr() as ipr:
            out: dict[str, dict[str, Any]] = {}
            names = {}
            for link in ipr.get_links():
                name = link.get_attr("IFLA_IFNAME")
                names[link["index"]] = name
                if name != "lo":
                    out[name] = {"mac": link.get_attr("IFLA_ADDRESS"), "addresses": []}
            for addr in ipr.get_addr():
                name = names.get(addr["index"])
                ip = addr.get_attr("IFA_ADDRESS")
                if name in out and not ip.startswith("fe80"):
                    out[name]["addresses"].append(f"{ip}/{addr['prefixlen']}")
            return out

    def default_routes(self, family: int = 4) -> list[tuple[str | None, str]]:
        """(gateway, ifname) of every main-table default next hop."""
        from cni.netlink import read_defaults

        with self.ipr() as ipr:
            return [(r.gateway, r.ifname) for r in read_defaults(ipr) if r.family == family]

    def route_get(self, dst: str, src: str | None = None) -> str:
        """The output interface the kernel picks for dst (optionally from src)."""
        cmd = ["ip", "netns", "exec", self.name, "ip", "route", "get", dst]
        if src:
            cmd += ["from", src]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        words = out.split()
        return words[words.index("dev") + 1]


@dataclass
class Node:
    """Temp dirs, kubeconfig and CNI_PATH of one test node; runs netweave-cni like a container runtime."""

    root: Path
    api: ReplayServer
    # Random prefixes: another test process (the daemon suite shares this harness) may run at the same time,
    # and ptp puts the cluster network's addresses and routes in the root netns.
    v4: str = field(default_factory=lambda: f"10.{random.randrange(100, 249)}")             # "10.X"
    cluster4: str = field(default_factory=lambda: Node.random_net())                       # "10.X.Y"
    v6: str = field(default_factory=lambda: f"fd9{random.randrange(10)}:{random.randrange(1, 0xffff):x}")
    netns: list[Netns] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for d in ("bin", "cache", "ipam", "net.d", "log"):
            (self.root / d).mkdir(exist_ok=True)
        self.kubeconfig = self.api.write_kubeconfig(self.root / "kubeconfig")
        self.cluster_conf = self.root / "net.d" / "10-ptp.conflist"
        self.write_cluster(dual_stack=False)

    @property
    def cni_path(self) -> str:
        return f"{self.root / 'bin'}:{PLUGINS}"

    def ipam(self, ranges: list[list[dict[str, Any]]], routes: list[dict[str, Any]] | None = None,
             ) -> dict[str, Any]:
        ipam: dict[str, Any] = {"type": "host-local", "dataDir": str(self.root / "ipam"), "ranges": ranges}
        if routes is not None:
            ipam["routes"] = routes
        return ipam

    def write_cluster(self, *, dual_stack: bool) -> None:
        """The primary CNI: ptp + host-local, default route(s) via the host side."""
        ranges = [[{"subnet": f"{self.cluster4}.0/24"}]]
        routes = [{"dst": "0.0.0.0/0"}]
        if dual_stack:
            ranges.append([{"subnet": f"{self.v6}::/64"}])
            routes.append({"dst": "::/0"})
        ptp = {"type": "ptp", "ipam": self.ipam(ranges, routes)}
        conf = {"cniVersion": "1.0.0", "name": "cluster", "plugins": [ptp]}
        self.cluster_conf.write_text(json.dumps(conf))

    def config(self, **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "cniVersion": "1.1.0", "name": "netweave", "type": "netweave", "kubeconfig": str(self.kubeconfig),
            "clusterNetwork": str(self.cluster_conf), "cacheDir": str(self.root / "cache"),
            "deviceCheckpoint": str(self.root / "kubelet_internal_checkpoint"), "logLevel": "debug",
            "logFile": str(self.root / "log" / "netweave.log"),
        }
        base.update(extra)
        return base

    @staticmethod
    def random_net() -> str:
        """A random "10.X.Y" /24 prefix (for networks whose plugin routes through the root netns)."""
        return f"10.{random.randrange(100, 249)}.{random.randrange(3, 250)}"

    def make_netns(self) -> Netns:
        ns = Netns(unique("nwt"))
        subprocess.run(["ip", "netns", "add", ns.name], check=True)
        subprocess.run(["ip", "netns", "exec", ns.name, "ip", "link", "set", "lo", "up"], check=True)
        self.netns.append(ns)
        return ns

    def make_master(self) -> str:
        """A veth end in the root netns, up, to serve as macvlan master (the kernel has no dummy)."""
        name = unique("nwm")
        subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
        for n in (name, name + "p"):
            subprocess.run(["ip", "link", "set", n, "up"], check=True)
        self.links.append(name)
        return name

    def nad(self, name: str, config: Mapping[str, Any], *, namespace: str = "default",
            annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        obj = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
               "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
               "spec": {"config": json.dumps(config)}}
        return self.api.add_nad(obj)

    def pod(self, name: str, annotations: Mapping[str, str] | None = None, *,
            namespace: str = "default") -> dict[str, Any]:
        obj = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                            "annotations": dict(annotations or {})},
               "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "node-1"}}
        return self.api.add_pod(obj)

    def run(self, command: str, *, container_id: str, netns: Netns | str | None = None, ifname: str = "eth0",
            pod: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
            args: str | None = None, timeout: float = 60) -> Run:
        """netweave-cni exactly as a runtime runs it: env with CNI_* and PATH only, config on stdin."""
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_IFNAME": ifname,
               "CNI_PATH": self.cni_path, "PATH": OS_PATH,
               "CNI_NETNS": netns.path if isinstance(netns, Netns) else (netns or "")}
        if pod is not None:
            meta = pod["metadata"]
            env["CNI_ARGS"] = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={meta['namespace']};"
                               f"K8S_POD_NAME={meta['name']};K8S_POD_INFRA_CONTAINER_ID={container_id};"
                               f"K8S_POD_UID={meta['uid']}")
        if args is not None:
            env["CNI_ARGS"] = args
        stdin = json.dumps(dict(config) if config is not None else self.config()).encode()
        proc = subprocess.run([str(NETWEAVE)], input=stdin, env=env, capture_output=True, timeout=timeout,
                              check=False)
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
        return Run(proc.returncode, out, proc.stderr.decode())

    def reservations(self) -> list[str]:
        """host-local reservation files (one per allocated address) left in the IPAM dir."""
        found = []
        for path in (self.root / "ipam").rglob("*"):
            if path.is_file() and not path.name.startswith(("last_reserved_ip", "lock")):
                found.append(path.name)
        return sorted(found)

    def cache_records(self) -> list[str]:
        return sorted(p.name for p in (self.root / "cache").glob("*.json"))

    def cleanup(self) -> None:
        for ns in self.netns:
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)


def root_links() -> set[str]:
    """Link names in the root netns (to prove nothing leaked)."""
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                yield json.loads(line)


def fake_plugin(node: Node, name: str, script: str) -> Path:
    """A tiny executable delegate in the node's bin dir (first in CNI_PATH)."""
    path = node.root / "bin" / name
    path.write_text("#!/bin/sh\n" + script)
    os.chmod(path, 0o755)
    return path
