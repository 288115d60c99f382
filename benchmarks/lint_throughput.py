"""Lint throughput: objects per second on a generated corpus, through the whole lint path and the engine alone.

    .venv/bin/python benchmarks/lint_throughput.py            # 10,000 pods, writes benchmarks/RESULTS-lint.md
    .venv/bin/python benchmarks/lint_throughput.py --profile  # also a cProfile of the lint path

One process, pinned to one core when the OS allows it. The corpus is deterministic (--seed): pods with 1-8
networks each (short form and JSON, interface names, static IPs, MACs, default routes), plus the NADs they use.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_pod
from webhook.lint import Options, add_arguments, lint, run
from webhook.policy import Policy
from webhook.report import render
from webhook.sources import parse_text, without_cyclic_gc

TARGET = 5000.0  # objects per second, the lint path
RESULTS = Path(__file__).resolve().parent / "RESULTS-lint.md"
REPO = Path(__file__).resolve().parents[1]


def nad_documents() -> list[dict[str, Any]]:
    """16 macvlan networks with host-local subnets, OVN, a DPU network and Calico."""
    nads: list[dict[str, Any]] = []
    for i in range(16):
        config = {"cniVersion": "0.3.1", "name": f"macvlan-{i}", "type": "macvlan", "master": "ens192",
                  "ipam": {"type": "host-local", "subnet": f"10.{i}.0.0/16", "gateway": f"10.{i}.0.1"}}
        nads.append(_nad(f"macvlan-{i}", "default", config))
    nads.append(_nad("ovn-net", "kube-system", {"cniVersion": "0.4.0", "type": "ovn-k8s-cni-overlay", "ipam": {}}))
    nads.append(_nad("ovn-dpu", "kube-system", {"cniVersion": "0.4.0", "type": "ovn-k8s-cni-overlay", "ipam": {}},
                     {"k8s.v1.cni.cncf.io/resourceName": "yusur.tech/sriov_dpu",
                      "k8s.v1.cni.cncf.io/nodeSelector": "k8s.ovn.org/dpu-host"}))
    nads.append(_nad("calico-net", "kube-system", {"cniVersion": "0.3.1", "name": "calico-net", "plugins": [
        {"type": "calico", "ipam": {"type": "calico-ipam"}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}))
    return nads


def _nad(name: str, namespace: str, config: dict[str, Any], annotations: dict[str, str] | None = None
         ) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": metadata,
            "spec": {"config": json.dumps(config, indent=2)}}


def pod_document(rng: random.Random, index: int) -> dict[str, Any]:
    """One pod with 1-8 attachments; about one in ten carries a mistake (so findings are reported too)."""
    count = rng.randint(1, 8)
    subnets = rng.sample(range(16), k=min(count, 16))
    elements: list[dict[str, Any]] = []
    for position, i in enumerate(subnets[:count]):
        element: dict[str, Any] = {"name": f"macvlan-{i}", "interface": f"net{position + 1}"}
        if rng.random() < 0.3:
            element["ips"] = [f"10.{i}.{rng.randint(1, 250)}.{rng.randint(2, 250)}/16"]
        if rng.random() < 0.2:
            element["mac"] = f"02:00:00:{index >> 8 & 255:02x}:{index & 255:02x}:{position:02x}"
        elements.append(element)
    if rng.random() < 0.3:
        elements[0]["default-route"] = [f"10.{subnets[0]}.0.1"]
    if rng.random() < 0.1:
        elements[-1]["interface"] = "eth0"  # interface-name-reserved
    annotations: dict[str, str] = {}
    if rng.random() < 0.5 and all(set(e) == {"name", "interface"} for e in elements):
        annotations["k8s.v1.cni.cncf.io/networks"] = ",".join(f"{e['name']}@{e['interface']}" for e in elements)
    else:
        annotations["k8s.v1.cni.cncf.io/networks"] = json.dumps(elements)
    if rng.random() < 0.2:
        annotations["v1.multus-cni.io/default-network"] = rng.choice(["calico-net", "kube-system/ovn-dpu"])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{index}", "namespace": "default", "annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "nginx",
                                     "ports": [{"containerPort": 80, "name": "http"}]}]}}


def corpus(pods: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    rng = random.Random(seed)
    nads = nad_documents()
    pod_docs = [pod_document(rng, i) for i in range(pods)]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump_all([*nads, *pod_docs], Dumper=dumper, sort_keys=False)
    return nads, pod_docs, text


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The median CPU time of `repeat` runs, in seconds (CPU time, so other load on the machine matters less)."""
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        runs.append(time.process_time() - start)
    return statistics.median(runs)


def lint_path(text: str) -> str:
    """`netweave lint --format json -` with the corpus on stdin: sources -> engine -> report, the real CLI."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run(parser.parse_args(["--format", "json", "--config", os.devnull, "-"]), stdin=io.StringIO(text),
               stdout=out, stderr=err)
    if code == 2:
        raise RuntimeError(err.getvalue())
    return out.getvalue()


def engine_only(pods: list[dict[str, Any]], catalog: MemoryCatalog, policy: Policy) -> None:
    for pod in pods:
        evaluate_pod(pod, catalog=catalog, policy=policy)


def profile(text: str, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    lint_path(text)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def hot_spots(fn: Callable[[], object], top: int) -> list[str]:
    """A markdown table of the functions with the most own time under cProfile (profiler overhead included)."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    lines = ["| function | calls | own s | cumulative s | own % |", "|---|---:|---:|---:|---:|"]
    for (file, line, name), (_, calls, own, cumulative, _) in rows:
        where = re.sub(r"^.*/lib/python3\.\d+/(site-packages/)?", "", file.removeprefix(f"{REPO}/"))
        share = 100 * own / total
        lines.append(f"| `{where}:{line} {name}` | {calls:,} | {own:.2f} | {cumulative:.2f} | {share:.0f}% |")
    return lines


def rule_costs(pods: list[dict[str, Any]], catalog: MemoryCatalog, policy: Policy) -> list[str]:
    """CPU seconds per engine stage over the corpus: building the context, each rule, the canonical rewrite."""
    from webhook import engine
    from webhook.rules import RULES, build_context

    with without_cyclic_gc():  # the 10,000 contexts are kept; see webhook.sources.without_cyclic_gc
        return _rule_costs(pods, catalog, policy, RULES, build_context, engine._canonical)


def _rule_costs(pods: list[dict[str, Any]], catalog: MemoryCatalog, policy: Policy, rules: Any, build: Any,
                canonical: Any) -> list[str]:
    contexts = []
    start = time.process_time()
    for pod in pods:
        contexts.append(build(pod, catalog=catalog, policy=policy, namespace=None, prefix=""))
    costs = [("build_context (parse annotations, resolve NADs)", time.process_time() - start)]
    for rule in rules:
        start = time.process_time()
        for ctx in contexts:
            for _ in rule.check(ctx):
                pass
        costs.append((f"rule {rule.id}", time.process_time() - start))
    start = time.process_time()
    for ctx in contexts:
        canonical(ctx)
    costs.append(("_canonical (rewrite both annotations)", time.process_time() - start))
    total = sum(t for _, t in costs)
    lines = ["| engine stage | CPU s | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {t:.3f} | {100 * t / total:.0f}% |" for name, t in sorted(costs, key=lambda c: -c[1])]
    return lines


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the lint path")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args(argv)

    pinned = pin_one_core()
    nads, pods, text = corpus(args.pods, args.seed)
    objects = len(nads) + len(pods)
    catalog = MemoryCatalog.from_objects(nads)
    policy = Policy()
    parsed = parse_text(text, file="<stdin>")
    report = lint(parsed, options=Options())
    networks = sum(len(json.loads(p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]))
                   if p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"].startswith("[")
                   else p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"].count(",") + 1 for p in pods)

    t_sources = timed(lambda: parse_text(text, file="<stdin>"), args.repeat)
    t_lint = timed(lambda: lint_path(text), args.repeat)
    t_engine = timed(lambda: engine_only(pods, catalog, policy), args.repeat)
    t_report = timed(lambda: render(report, "json"), args.repeat)

    rows = [
        ("lint path (sources → engine → JSON report)", objects, t_lint),
        ("engine alone (evaluate_pod, pre-parsed pods)", len(pods), t_engine),
        ("sources alone (YAML → objects with lines)", objects, t_sources),
        ("report alone (JSON of the findings)", objects, t_report),
    ]
    table = ["| path | objects | seconds | objects/s |", "|---|---:|---:|---:|"]
    table += [f"| {name} | {n:,} | {t:.3f} | {n / t:,.0f} |" for name, n, t in rows]
    verdict = "meets" if objects / t_lint >= TARGET else "MISSES"
    summary = (f"{len(pods):,} pods ({networks:,} attachments, 1-8 per pod) + {len(nads)} NADs, "
               f"{len(text) / 1e6:.1f} MB of YAML; {report.errors:,} errors and {report.warnings:,} warnings "
               f"found; median of {args.repeat} runs; {pinned}.")
    lines = [*table, "", summary, f"Lint path: {objects / t_lint:,.0f} objects/s, {verdict} the target of "
             f"{TARGET:,.0f} objects/s."]
    lines += ["", "Where the engine's time goes (each stage run alone over the 10,000 pods, no profiler):", "",
              *rule_costs(pods, catalog, policy),
              "", "Engine hot spots (cProfile of the engine-alone run, by own time; profiler overhead included):", "",
              *hot_spots(lambda: engine_only(pods, catalog, policy), 15)]
    sys.stdout.write("\n".join(lines) + "\n")
    if args.profile:
        sys.stdout.write(profile(text, 25))
    if not args.no_write:
        write_results(lines, args)
    return 0


def write_results(lines: list[str], args: argparse.Namespace) -> None:
    loader = "libyaml (CSafeLoader)" if getattr(yaml, "__with_libyaml__", False) else "pure-Python PyYAML"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    text = [
        "# Lint throughput",
        "",
        "Command: `.venv/bin/python benchmarks/lint_throughput.py` (add `--profile` for a cProfile of the lint path).",
        "",
        f"Machine: {cpu or platform.machine()}, Python {platform.python_version()}, YAML via {loader}, "
        f"seed {args.seed}, {time.strftime('%Y-%m-%d', time.gmtime())}.",
        "",
        *lines,
        "",
    ]
    RESULTS.write_text("\n".join(text), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
