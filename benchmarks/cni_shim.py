"""Shim + node daemon vs standalone netweave-cni: median ADD+DEL of one pod (eth0 + two secondaries), and each
shim's (static C and Python) own start-to-exit cost against a server that answers at once and against the real
daemon (VERSION). Needs root and /usr/lib/cni.

    .venv/bin/python benchmarks/cni_shim.py [--rounds 30] [--shim-runs 300] [--out benchmarks/RESULTS-node.md]
    .venv/bin/python benchmarks/cni_shim.py --shim-only     # the shim tables only, printed, no file written
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cni.node.server import Limits  # noqa: E402
from tests.cni.node.serving import INTERPRETER, serving  # noqa: E402
from tests.cni.node.shims import IMPLEMENTATIONS, install_shim  # noqa: E402
from tests.e2e.daemon_node import Daemon, run_via_shim  # noqa: E402
from tests.e2e.harness import Netns, Node, Run, unique  # noqa: E402
from tests.replay import ReplayServer  # noqa: E402

STDIN = json.dumps({"cniVersion": "1.0.0", "name": "netweave", "type": "netweave", "clusterNetwork": "/x"}).encode()
ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bench", "CNI_NETNS": "/var/run/netns/bench", "CNI_IFNAME": "eth0",
       "CNI_PATH": "/opt/cni/bin", "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def time_process(argv: list[str], *, env: dict[str, str], stdin: bytes, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(argv, input=stdin, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        assert proc.returncode == 0, proc.stdout
    return times


def shim_overhead(runs: int) -> dict[str, list[float]]:
    """Each shim against an in-process server whose handler returns at once; plus the bare interpreter."""
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "run" / "cni.sock"
        with serving(lambda env, stdin: (b'{"cniVersion":"1.0.0"}', 0), sock, limits=Limits()):
            for implementation in IMPLEMENTATIONS:
                (Path(tmp) / implementation).mkdir()
                shim = install_shim(Path(tmp) / implementation, socket=sock, implementation=implementation)
                time_process([str(shim)], env=ENV, stdin=STDIN, runs=10)  # warm the page cache
                results[f"{implementation} shim"] = time_process([str(shim)], env=ENV, stdin=STDIN, runs=runs)
        results["python -IS -c pass"] = time_process([INTERPRETER, "-IS", "-c", "pass"], env=ENV, stdin=b"",
                                                     runs=runs)
        # What subprocess.run itself costs from this (large) Python process: the floor under every row.
        results["/bin/true (harness floor)"] = time_process(["/bin/true"], env=ENV, stdin=b"", runs=runs)
    return results


def delegate_launch(runs: int) -> dict[str, list[float]]:
    """One delegate exec (loopback VERSION) as the daemon makes it: bare, bound to our life, and host-rooted."""
    from cni.context import run_subprocess

    argv, env, stdin = ["/usr/lib/cni/loopback"], {"CNI_COMMAND": "VERSION"}, b'{"cniVersion":"1.0.0"}'
    cases: dict[str, Callable[[], object]] = {
        "delegate: bare subprocess.run": lambda: subprocess.run(argv, input=stdin, env=env, capture_output=True,
                                                                check=True),
        "delegate: run_subprocess (setpriv --pdeathsig, own group)": lambda: run_subprocess(
            argv, env=env, stdin=stdin, timeout=10),
        "delegate: run_subprocess --chroot-dir / (+ chroot)": lambda: run_subprocess(
            argv, env=env, stdin=stdin, timeout=10, root="/"),
    }
    results: dict[str, list[float]] = {}
    for name, launch in cases.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            launch()
            times.append(time.perf_counter() - started)
        results[name] = times
    return results


def version_via_daemon(runs: int) -> dict[str, list[float]]:
    """VERSION through each shim to the real `netweave node` (the full request path, no delegate)."""
    results: dict[str, list[float]] = {}
    stdin = json.dumps({"cniVersion": "1.0.0"}).encode()
    with ReplayServer() as api, tempfile.TemporaryDirectory() as tmp:
        node = Node(Path(tmp), api)
        daemon = Daemon(node).start()
        try:
            for implementation in IMPLEMENTATIONS:
                bin_dir = node.root / f"shim-{implementation}"
                bin_dir.mkdir()
                shim = install_shim(bin_dir, socket=daemon.socket, implementation=implementation)
                env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
                time_process([str(shim)], env=env, stdin=stdin, runs=10)
                results[f"{implementation} shim, VERSION via the daemon"] = time_process(
                    [str(shim)], env=env, stdin=stdin, runs=runs)
        finally:
            daemon.stop()
            node.cleanup()
    return results


def pod_with_two_secondaries(node: Node) -> dict[str, object]:
    names = []
    for octet in (1, 2):
        name = unique("b")
        node.nad(name, {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": node.make_master(),
                        "mode": "bridge", "ipam": node.ipam([[{"subnet": f"{node.v4}.{octet}.0/24"}]])})
        names.append(name)
    return node.pod(unique("p"), {"k8s.v1.cni.cncf.io/networks": ",".join(names)})


def add_del_rounds(rounds: int, invoke: Callable[[str, str, Netns], Run], ns: Netns) -> list[float]:
    times = []
    for i in range(rounds + 2):
        started = time.perf_counter()
        add = invoke("ADD", f"r{i}", ns)
        delete = invoke("DEL", f"r{i}", ns)
        elapsed = time.perf_counter() - started
        assert add.rc == 0 and delete.rc == 0, (add.out, delete.out)
        if i >= 2:  # the first rounds warm caches
            times.append(elapsed)
    return times


def add_del(rounds: int) -> dict[str, list[float]]:
    """Same pod, same netns: standalone netweave-cni vs shim + daemon, with and without host-rooted delegates."""
    results: dict[str, list[float]] = {}
    with ReplayServer() as api, tempfile.TemporaryDirectory() as tmp:
        node = Node(Path(tmp), api)
        try:
            pod = pod_with_two_secondaries(node)
            ns = node.make_netns()
            results["standalone netweave-cni"] = add_del_rounds(
                rounds, lambda cmd, cid, netns: node.run(cmd, container_id=cid, netns=netns, pod=pod), ns)
            for name, extra in (("static shim + daemon", []), ("static shim + daemon --chroot-dir /",
                                                                ["--chroot-dir", "/"])):
                daemon = Daemon(node)
                daemon.argv += extra
                daemon.start()
                try:
                    bin_dir = node.root / f"shim-bin{len(results)}"
                    bin_dir.mkdir()
                    shim = install_shim(bin_dir, socket=daemon.socket, implementation="static")
                    time.sleep(0.5)  # the watch has the pod and NADs
                    results[name] = add_del_rounds(
                        rounds, lambda cmd, cid, netns, shim=shim: run_via_shim(
                            shim, node, cmd, container_id=cid, netns=netns, pod=pod), ns)
                finally:
                    daemon.stop()
        finally:
            node.cleanup()
    return results


def report(overhead: dict[str, list[float]], attach: dict[str, list[float]], *, rounds: int, runs: int) -> str:
    lines = [
        "# Node side: shim + daemon vs standalone",
        "",
        f"`.venv/bin/python benchmarks/cni_shim.py` on {platform.node()} ({os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average at the end {os.getloadavg()[0]:.1f}).",
        "",
        f"## ADD+DEL of one pod: eth0 (ptp) + two macvlan secondaries, real plugins, {rounds} rounds",
        "",
        "| path | median ms | p90 ms | min ms |",
        "|---|---:|---:|---:|",
    ]
    for name, values in attach.items():
        lines.append(f"| {name} | {ms(statistics.median(values))} | {ms(percentile(values, 0.9))} | "
                     f"{ms(min(values))} |")
    saved = statistics.median(attach["standalone netweave-cni"]) - statistics.median(attach["static shim + daemon"])
    lines += [
        "",
        f"The daemon saves {ms(saved)} ms per ADD+DEL pair (two process starts with the kubernetes client and "
        "pyroute2 imports, and the API GETs that the watch cache answers).",
        "",
        f"## The shim's own cost, start to exit, against a daemon that answers at once ({runs} runs)",
        "",
        "| process | p50 ms | p90 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    lines += shim_table(overhead)
    own = statistics.median(overhead["python shim"]) - statistics.median(overhead["python -IS -c pass"])
    lines += [
        "",
        f"The Python shim's cost above a bare interpreter start: {ms(own)} ms at p50 (reading stdin, connecting, one "
        "request/reply round trip, writing stdout). The static shim (`gcc -static -Os`, no interpreter, no dynamic "
        "loader) is the default that node-install writes; target p50 <= 2 ms.",
        "",
    ]
    return "\n".join(lines)


def shim_table(results: dict[str, list[float]]) -> list[str]:
    lines = []
    for name, values in results.items():
        p50, p90, p99 = (statistics.median(values), percentile(values, 0.9), percentile(values, 0.99))
        lines.append(f"| {name} | {p50 * 1000:.2f} | {p90 * 1000:.2f} | {p99 * 1000:.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--shim-runs", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS-node.md")
    parser.add_argument("--shim-only", action="store_true", help="only the shim tables, printed")
    args = parser.parse_args()
    overhead = shim_overhead(args.shim_runs) | version_via_daemon(args.shim_runs)
    if args.shim_only:
        overhead |= delegate_launch(args.shim_runs)
        print("| process | p50 ms | p90 ms | p99 ms |\n|---|---:|---:|---:|")
        print("\n".join(shim_table(overhead)))
        return 0
    attach = add_del(args.rounds)
    text = report(overhead, attach, rounds=args.rounds, runs=args.shim_runs)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
