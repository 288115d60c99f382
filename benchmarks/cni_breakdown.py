"""Where the node daemon's ADD+DEL time goes: shim + socket, the daemon's own work, plugins, netns/routes, API
calls, the ADD record — for one pod (eth0 ptp + two macvlan NADs, real plugins, a real netns), beside the same
three plugins run by hand (what a runtime would exec without any meta-plugin). Needs root and /usr/lib/cni.

    .venv/bin/python benchmarks/cni_breakdown.py [-n 20]

The daemon's path as deployed: the static shim exec'd per call, a real CniServer (its thread hand-off included),
cni.execute fed by the real watch cache of the replay API server (pod and NADs looked up in memory, status
patch and Events through the API). Each category is timed around the functions that do that work (outermost
call only); "daemon, other" is the handler's time minus every category (parsing, planning, JSON, logging).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.cni_attach import OS_PATH, PLUGINS, env_for, setup  # noqa: E402
from cni import cache as record_cache  # noqa: E402
from cni import netlink  # noqa: E402
from cni.context import run_subprocess  # noqa: E402
from cni.execute import execute  # noqa: E402
from cni.kube import KubeClient  # noqa: E402
from cni.node import daemon  # noqa: E402
from cni.node.server import Limits  # noqa: E402
from cni.node.watchcache import WatchCache  # noqa: E402
from tests.cni.node.serving import run_shim, serving  # noqa: E402
from tests.cni.node.shims import install_shim  # noqa: E402
from tests.replay import ReplayServer  # noqa: E402

CATEGORIES = ("plugins", "netns open/close (pyroute2)", "route ops (netlink)", "API calls", "ADD record (cache)")


class Timers:
    """Seconds per category for the current request; only the outermost call of a category counts."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
        self._depth = threading.local()

    def wrap(self, category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, category, 0)
            setattr(self._depth, category, depth + 1)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(self._depth, category, depth)
                if depth == 0:
                    self.spent[category] += time.perf_counter() - started
        return timed

    def take(self) -> dict[str, float]:
        out, self.spent = self.spent, dict.fromkeys(CATEGORIES, 0.0)
        return out


def instrument(timers: Timers) -> None:
    """Time the functions each category's work goes through (this benchmark's process only)."""
    for name in ("get_pod", "get_nad", "patch_network_status", "create_event"):
        setattr(KubeClient, name, timers.wrap("API calls", getattr(KubeClient, name)))
    netlink.PodNetns.ipr = timers.wrap("netns open/close (pyroute2)", netlink.PodNetns.ipr)  # type: ignore[method-assign]
    netlink.PodNetns.__exit__ = timers.wrap("netns open/close (pyroute2)",  # type: ignore[method-assign]
                                            netlink.PodNetns.__exit__)
    original_pod_netns = netlink.pod_netns

    @contextlib.contextmanager
    def pod_netns(path: str) -> Iterator[Any]:
        manager = original_pod_netns(path)
        ipr = timers.wrap("netns open/close (pyroute2)", manager.__enter__)()
        try:
            yield ipr
        finally:
            timers.wrap("netns open/close (pyroute2)", manager.__exit__)(None, None, None)

    netlink.pod_netns = pod_netns  # type: ignore[assignment]
    for name in ("take_defaults", "apply_plan", "read_defaults", "remove_rules"):
        setattr(netlink, name, timers.wrap("route ops (netlink)", getattr(netlink, name)))
    for name in ("create", "write", "read", "remove", "delete"):
        if hasattr(record_cache, name):
            setattr(record_cache, name, timers.wrap("ADD record (cache)", getattr(record_cache, name)))


def bare_plugins(root: Path, netns: str, master: str, rounds: int) -> list[float]:
    """ptp (eth0) + macvlan (net1, net2) ADD then DEL, each plugin exec'd directly as a runtime would."""
    ipam = {"type": "host-local", "dataDir": str(root / "bare-ipam")}
    confs = [("eth0", {"cniVersion": "1.0.0", "name": "bare-cluster", "type": "ptp",
                       "ipam": {**ipam, "ranges": [[{"subnet": "10.239.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}),
             ("net1", {"cniVersion": "1.0.0", "name": "bare-a", "type": "macvlan", "master": master, "mode": "bridge",
                       "ipam": {**ipam, "ranges": [[{"subnet": "10.238.0.0/24"}]]}}),
             ("net2", {"cniVersion": "1.0.0", "name": "bare-b", "type": "macvlan", "master": master, "mode": "bridge",
                       "ipam": {**ipam, "ranges": [[{"subnet": "10.237.0.0/24"}]]}})]
    out = []
    for i in range(rounds):
        cid = f"bare-{i}-{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        for command, items in (("ADD", confs), ("DEL", list(reversed(confs)))):
            for ifname, conf in items:
                env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
                       "CNI_PATH": PLUGINS, "PATH": OS_PATH}
                proc = subprocess.run([f"{PLUGINS}/{conf['type']}"], input=json.dumps(conf).encode(), env=env,
                                      capture_output=True, check=False)
                if proc.returncode:
                    raise SystemExit(f"bare {conf['type']} {command} failed: {proc.stdout!r}")
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    load = os.getloadavg()
    netns_name, master = f"nwbd{uuid.uuid4().hex[:6]}", f"nwbdm{uuid.uuid4().hex[:5]}"
    subprocess.run(["ip", "netns", "add", netns_name], check=True)
    subprocess.run(["ip", "link", "add", master, "type", "veth", "peer", "name", master + "p"], check=True)
    subprocess.run(["ip", "link", "set", master, "up"], check=True)
    netns = f"/var/run/netns/{netns_name}"
    timers = Timers()
    instrument(timers)
    rows: list[dict[str, float]] = []
    try:
        with ReplayServer() as api, tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            config, pod = setup(root, api, master)
            pod["spec"]["nodeName"] = "bench-node"
            api.add_pod(pod)
            del config["logFile"]
            config["logLevel"] = "info"
            stdin = json.dumps(config).encode()
            transport = daemon.KubeTransport.connect(config["kubeconfig"])
            cache = WatchCache(transport, node_name="bench-node")
            cache.start()
            assert cache.wait_synced(10), "watch cache did not sync"
            context = daemon.daemon_context(cache, "bench-node", transport.api_client)
            context = dataclasses.replace(context, exec=timers.wrap("plugins", run_subprocess))
            handler_time: list[float] = []

            def handler(env: dict[str, str], body: bytes) -> tuple[bytes, int]:
                started = time.perf_counter()
                outcome = execute(env, body, context=context)
                handler_time.append(time.perf_counter() - started)
                return outcome.stdout, outcome.exit_code

            socket = root / "cni.sock"
            shim = install_shim(root, socket=socket, implementation="static")
            with serving(handler, socket, limits=Limits()):
                def call(command: str, cid: str) -> dict[str, float]:
                    handler_time.clear()
                    timers.take()
                    started = time.perf_counter()
                    run = run_shim(shim, env_for(command, cid, netns, pod), stdin)
                    wall = time.perf_counter() - started
                    if run.returncode:
                        raise SystemExit(f"{command} failed: {run.stdout!r}")
                    spent = timers.take()
                    handled = handler_time[0]
                    return {"total": wall, "shim + socket + server hand-off": wall - handled,
                            **spent, "daemon, other": handled - sum(spent.values())}

                for warm in range(2):
                    call("ADD", f"warm{warm}")
                    call("DEL", f"warm{warm}")
                for i in range(args.n):
                    cid = f"bd-{uuid.uuid4().hex[:8]}-{i}"
                    add, dele = call("ADD", cid), call("DEL", cid)
                    rows.append({**{f"ADD {k}": v for k, v in add.items()}, **{f"DEL {k}": v for k, v in dele.items()},
                                 "ADD+DEL": add["total"] + dele["total"]})
            cache.stop(timeout=0.5)
            bare = bare_plugins(root, netns, master, args.n)
    finally:
        subprocess.run(["ip", "netns", "del", netns_name], check=False)
        subprocess.run(["ip", "link", "del", master], check=False)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows) * 1000

    parts = ["shim + socket + server hand-off", *CATEGORIES, "daemon, other"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"`.venv/bin/python benchmarks/cni_breakdown.py -n {args.n}`, {when}, "
             f"load average {load[0]:.1f} before / {os.getloadavg()[0]:.1f} after; medians of {args.n} rounds.", "",
             "| part | ADD ms | DEL ms |", "|---|---:|---:|",
             *[f"| {p} | {med('ADD ' + p):.1f} | {med('DEL ' + p):.1f} |" for p in parts],
             f"| **total (shim exec to exit)** | **{med('ADD total'):.1f}** | **{med('DEL total'):.1f}** |", "",
             f"ADD+DEL through shim + daemon: median **{med('ADD+DEL'):.1f} ms**; the same three plugins exec'd by "
             f"hand (ADD+DEL, no meta-plugin): median **{statistics.median(bare) * 1000:.1f} ms** "
             f"(ratio {med('ADD+DEL') / (statistics.median(bare) * 1000):.2f}).", ""]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
