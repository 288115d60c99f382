"""ADD+DEL of a pod with eth0 + two secondaries through netweave-cni, as a runtime runs it.

Reproduce (root, /usr/lib/cni plugins):  .venv/bin/python benchmarks/cni_attach.py [-n 50]
Reports min/median/max of ADD, DEL and ADD+DEL, and the share of time spent outside the delegate plugins
(netweave's own work: interpreter start, imports, API calls, planning, routes, cache), for the standalone
executable (one process per call) and for in-process cni.execute (what the node daemon runs per request).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cni.context import Context, kube_from_kubeconfig  # noqa: E402
from cni.execute import execute  # noqa: E402
from tests.replay import ReplayServer  # noqa: E402

NETWEAVE = Path(sys.executable).parent / "netweave-cni"  # installed beside this interpreter
PLUGINS = "/usr/lib/cni"
OS_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def setup(root: Path, api: ReplayServer, master: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ipam_dir = str(root / "ipam")
    cluster = root / "10-ptp.conflist"
    cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [
        {"type": "ptp", "ipam": {"type": "host-local", "dataDir": ipam_dir, "ranges": [[{"subnet": "10.249.0.0/24"}]],
                                 "routes": [{"dst": "0.0.0.0/0"}]}}]}))
    for i, name in enumerate(("bench-a", "bench-b")):
        conf = {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": master, "mode": "bridge",
                "ipam": {"type": "host-local", "dataDir": ipam_dir, "ranges": [[{"subnet": f"10.24{i}.0.0/24"}]]}}
        api.add_nad({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                     "metadata": {"name": name, "namespace": "default"}, "spec": {"config": json.dumps(conf)}})
    pod = api.add_pod({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "bench", "namespace": "default", "uid": str(uuid.uuid4()),
        "annotations": {"k8s.v1.cni.cncf.io/networks": "bench-a,bench-b"}}, "spec": {"containers": []}})
    config = {"cniVersion": "1.1.0", "name": "netweave", "type": "netweave",
              "kubeconfig": str(api.write_kubeconfig(root / "kubeconfig")), "clusterNetwork": str(cluster),
              "cacheDir": str(root / "cache"), "deviceCheckpoint": str(root / "none"), "logLevel": "debug",
              "logFile": str(root / "netweave.log")}
    return config, pod


def env_for(command: str, cid: str, netns: str, pod: dict[str, Any]) -> dict[str, str]:
    meta = pod["metadata"]
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
            "CNI_PATH": PLUGINS, "PATH": OS_PATH,
            "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={meta['namespace']};K8S_POD_NAME={meta['name']};"
                        f"K8S_POD_UID={meta['uid']}"}


def delegate_seconds(log: Path, offset: int) -> tuple[float, int]:
    """Sum of delegate_ms logged since `offset`, and the new offset."""
    with log.open("rb") as f:
        f.seek(offset)
        data = f.read()
    total = sum(json.loads(line).get("delegate_ms", 0.0) for line in data.splitlines() if line.strip())
    return total / 1000, offset + len(data)


def measure(n: int, call: Callable[[str, str], None], log: Path) -> dict[str, Any]:
    add, dele, delegates = [], [], []
    offset = log.stat().st_size if log.exists() else 0
    for i in range(n):
        cid = f"bench-{uuid.uuid4().hex[:8]}-{i}"
        t0 = time.perf_counter()
        call("ADD", cid)
        t1 = time.perf_counter()
        call("DEL", cid)
        t2 = time.perf_counter()
        spent, offset = delegate_seconds(log, offset)
        add.append(t1 - t0)
        dele.append(t2 - t1)
        delegates.append(spent)
    both = [a + d for a, d in zip(add, dele, strict=True)]
    return {"add": add, "del": dele, "both": both, "outside": 1 - sum(delegates) / sum(both),
            "delegate_median": statistics.median(delegates)}


def startup(n: int = 10) -> list[tuple[str, float]]:
    """Median wall time of a bare interpreter, of importing netweave's CNI entry, and of its lazy imports."""
    python = sys.executable
    out = []
    for label, code in (("interpreter only", "pass"), ("import cni.__main__ (VERSION/DEL path)", "import cni.__main__"),
                        ("+ kubernetes client (ADD reads the pod)", "import cni.__main__, kubernetes.config"),
                        ("+ pyroute2 (routes)", "import cni.__main__, kubernetes.config, pyroute2")):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run([python, "-c", code], check=True)
            times.append(time.perf_counter() - t0)
        out.append((label, statistics.median(times)))
    return out


def row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"| {name} | {min(ms):.1f} | {statistics.median(ms):.1f} | {max(ms):.1f} |"


def report(title: str, m: dict[str, Any], n: int) -> str:
    return "\n".join([
        f"### {title} ({n} iterations)", "", "| operation | min ms | median ms | max ms |", "|---|---|---|---|",
        row("ADD (eth0 + 2 secondaries)", m["add"]), row("DEL", m["del"]), row("ADD+DEL", m["both"]), "",
        f"Delegate plugins (ptp, 2 x macvlan, host-local) median per ADD+DEL: {m['delegate_median'] * 1000:.1f} ms; "
        f"time outside the delegates: **{m['outside'] * 100:.0f}%** of ADD+DEL.", ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--write", type=Path, default=REPO / "benchmarks" / "RESULTS-cni.md")
    args = parser.parse_args()
    load = os.getloadavg()
    netns = f"nwbench{uuid.uuid4().hex[:6]}"
    master = f"nwbm{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "link", "add", master, "type", "veth", "peer", "name", master + "p"], check=True)
    subprocess.run(["ip", "link", "set", master, "up"], check=True)
    try:
        with ReplayServer() as api, tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            config, pod = setup(root, api, master)
            stdin = json.dumps(config).encode()
            path = f"/var/run/netns/{netns}"
            log = Path(config["logFile"])

            def standalone(command: str, cid: str) -> None:
                proc = subprocess.run([str(NETWEAVE)], input=stdin, env=env_for(command, cid, path, pod),
                                      capture_output=True, check=False)
                if proc.returncode:
                    raise SystemExit(f"{command} failed: {proc.stdout!r} {proc.stderr[-500:]!r}")

            clients: dict[str, Any] = {}
            context = Context(kube=lambda p: clients.setdefault(p, kube_from_kubeconfig(p)))

            def in_process(command: str, cid: str) -> None:
                outcome = execute(env_for(command, cid, path, pod), stdin, context=context)
                if outcome.exit_code:
                    raise SystemExit(f"{command} failed: {outcome.stdout!r}")

            import logging

            from cni.__main__ import configure_logging

            configure_logging(stdin)
            standalone("ADD", "warmup")
            standalone("DEL", "warmup")
            first = measure(args.n, standalone, log)
            in_process("ADD", "warmup2")
            in_process("DEL", "warmup2")
            second = measure(args.n, in_process, log)
            logging.shutdown()
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
        subprocess.run(["ip", "link", "del", master], check=False)
    imports = startup()
    text = "\n".join([
        "# CNI attach benchmark", "",
        f"`.venv/bin/python benchmarks/cni_attach.py -n {args.n}` on {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load[0]:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after (a shared machine: medians move with the load). "
        "Pod: eth0 (ptp + host-local from a conflist file) "
        "+ two macvlan/host-local NADs read from the replay API server; ADD writes network-status and 3 Events.",
        "", report("Standalone: netweave-cni executable, one process per call", first, args.n),
        report("In-process cni.execute (the node daemon's path, kube client reused)", second, args.n),
        "### Where the standalone time goes: process start-up (median of 10)", "",
        "| step | median ms |", "|---|---|", *[f"| {label} | {t * 1000:.0f} |" for label, t in imports], "",
        "pyroute2 is imported in a background thread while the delegates run, so ADD pays only part of it.", ""])
    args.write.write_text(text)
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
