"""`kubectl netweave` (console script kubectl-netweave, found by kubectl as a plugin): status, why, lint, plan.

Talks to the cluster of the kubeconfig as kubectl does: --kubeconfig, else $KUBECONFIG (a list of files), else
~/.kube/config; --context, else the current context; -n, else the context's namespace, else "default".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from cni.spec import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORK_STATUS_ANNOTATION,
    NETWORKS_ANNOTATION,
    NetworkStatus,
    default_network_namespace,
    interface_names,
    network_namespace,
    parse_network_status,
    parse_networks,
)
from webhook.catalog import MemoryCatalog
from webhook.cluster import Cluster, ClusterError, connect
from webhook.engine import evaluate_pod
from webhook.lint import Options, lint, load_policy
from webhook.manifests import read_paths
from webhook.plan import UNKNOWN_CLUSTER, cluster_network, plan_pod, plan_sources, render_json, render_text
from webhook.policy import Policy, PolicyError
from webhook.report import FORMATS, render
from webhook.sources import SourceObject, Sources

EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2
# Events that say why a sandbox has no network: the node's own, and the kubelet's when the CNI ADD failed.
STUCK_REASONS = ("FailedAddingInterface", "FailedCreatePodSandBox")


# --- status ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """What the pod asked for on one interface, beside what the node reported for it."""

    requested: str
    interface: str
    status: NetworkStatus | None


def status_rows(pod: Mapping[str, Any], *, policy: Policy) -> tuple[list[Row], list[str]]:
    """Rows for eth0 and each requested network, then any status entry nothing asked for; and problems."""
    annotations = _annotations(pod)
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    entries, problems = parse_network_status(str(annotations.get(NETWORK_STATUS_ANNOTATION) or "[]"))
    by_interface = {e.interface: e for e in entries if e.interface}
    default = parse_networks(str(annotations.get(DEFAULT_NETWORK_ANNOTATION) or ""))
    primary = "(cluster network)"
    if default.elements:
        first = default.elements[0]
        primary = f"{default_network_namespace(first.namespace, system_namespace=policy.system_namespace)}/" \
                  f"{first.name}"
    rows = [Row(primary, policy.primary_interface, by_interface.get(policy.primary_interface)
                or next((e for e in entries if e.default), None))]
    networks = parse_networks(str(annotations.get(NETWORKS_ANNOTATION) or ""))
    found = [*problems, *(f"{p.path}: {p.message}" for p in networks.problems if p.severity == "error")]
    names = interface_names(networks.elements, primary=policy.primary_interface)
    for element, ifname in zip(networks.elements, names, strict=True):
        ns = network_namespace(element.namespace, pod_namespace=namespace)
        rows.append(Row(f"{ns}/{element.name}", ifname, by_interface.get(ifname)))
    shown = {id(r.status) for r in rows if r.status is not None}
    rows += [Row("(not requested)", e.interface or "-", e) for e in entries if id(e) not in shown]
    return rows, found


def render_status(pod: Mapping[str, Any], *, policy: Policy) -> str:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    rows, problems = status_rows(pod, policy=policy)
    head = (f"Pod {meta.get('namespace')}/{meta.get('name')}: {status.get('phase', 'Unknown')}"
            + (f" on {(pod.get('spec') or {}).get('nodeName')}" if (pod.get("spec") or {}).get("nodeName") else ""))
    table = [("REQUESTED", "INTERFACE", "ATTACHED", "NETWORK", "IPS", "MAC", "DEFAULT")]
    for r in rows:
        s = r.status
        table.append((r.requested, r.interface, "yes" if s else "no", s.name if s else "-",
                      ",".join(s.ips) if s and s.ips else "-", s.mac if s and s.mac else "-",
                      "yes" if s and s.default else "-"))
    lines = [head, *_table(table)]
    if NETWORK_STATUS_ANNOTATION not in _annotations(pod):
        lines.append(f"No {NETWORK_STATUS_ANNOTATION} annotation yet: the node has not attached the pod's "
                     "networks (kubectl netweave why POD says why)")
    lines += [f"problem: {p}" for p in problems]
    return "\n".join(lines) + "\n"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


# --- why ------------------------------------------------------------------------------------------------------


Listed = Sequence[Mapping[str, Any]] | str  # the objects, or why they could not be listed


def explain_pod(pod: Mapping[str, Any], events: Listed, nads: Listed, *, policy: Policy) -> str:
    """Why a pod has no network: its state, the node's and the kubelet's events, and what netweave sees now."""
    meta = pod.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
    lines = [f"Pod {namespace}/{name}: {_state(pod)}"]
    if isinstance(events, str):
        lines.append(f"Cannot list the pod's events: {events}")
        events = ()
    stuck = sorted((e for e in events if e.get("reason") in STUCK_REASONS),
                   key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or
                                     (e.get("metadata") or {}).get("creationTimestamp") or ""))
    if stuck:
        lines.append("Events that say why:")
        for e in stuck[-5:]:
            count = f" (x{e['count']})" if isinstance(e.get("count"), int) and e["count"] > 1 else ""
            source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or "?"
            lines.append(f"  {e.get('type', 'Warning')} {e.get('reason')} from {source}{count}: "
                         f"{_one_line(str(e.get('message', '')))}")
    elif not lines[-1].startswith("Cannot list"):
        lines.append("No FailedAddingInterface or FailedCreatePodSandBox events for this pod (events expire after "
                     "an hour by default).")
    annotations = _annotations(pod)
    for key in (DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION):
        if key in annotations:
            lines.append(f"{key}: {_one_line(str(annotations[key]))}")
    if isinstance(nads, str):
        lines.append(f"Cannot list the cluster's NetworkAttachmentDefinitions, so the rules did not run: {nads}")
    else:
        lines += list(_what_netweave_sees(pod, namespace, nads, policy=policy))
    return "\n".join(lines) + "\n"


def _what_netweave_sees(pod: Mapping[str, Any], namespace: str, nads: Sequence[Mapping[str, Any]], *,
                        policy: Policy) -> Iterator[str]:
    """The admission rules and the node's plan against the cluster's NADs as they are now."""
    catalog = MemoryCatalog.from_objects(nads)
    verdict = evaluate_pod(pod, catalog=catalog, policy=policy, namespace=namespace, canonical=False)
    findings = [f for f in verdict.findings if f.rule != "network-status-spoof"]
    if findings:
        yield "netweave's rules, against the cluster's NADs now:"
        yield from (f"  {f.severity}: {f.text()}" for f in findings)
        for f in findings:
            if f.unresolved:
                yield f"  fix: create NetworkAttachmentDefinition {f.unresolved}, or correct the name " \
                      f"(kubectl get net-attach-def -A lists them)"
    plan = plan_pod(pod, namespace=namespace, catalog=catalog, policy=policy, cluster=UNKNOWN_CLUSTER,
                    where=("cluster", 0, "Pod", str((pod.get("metadata") or {}).get("name") or "")))
    if plan.node_error:
        yield f"The node's plan fails: {plan.node_error}"
    elif not findings and not plan.denial:
        names = ", ".join(f"{i.ifname} ({i.network})" for i in plan.interfaces)
        yield f"netweave sees no problem now; the node would attach {names}. If the events above are older than " \
              "a NAD change, the kubelet retries the sandbox: wait, or delete the pod."


def in_namespace(sources: Sources, namespace: str) -> Sources:
    """Objects without a namespace land in the context's (or -n's), as `kubectl apply -f` puts them there."""
    def placed(source: SourceObject) -> SourceObject:
        if source.namespace is not None or not isinstance(source.obj.get("metadata"), Mapping):
            return source
        obj = {**source.obj, "metadata": {**source.obj["metadata"], "namespace": namespace}}
        return replace(source, obj=obj)

    return replace(sources, objects=tuple(placed(s) for s in sources.objects))


def _listed(read: Callable[[], list[Mapping[str, Any]]]) -> Listed:
    """A list the explanation can do without (RBAC may forbid events or NADs): the error becomes a line."""
    try:
        return read()
    except ClusterError as err:
        return str(err)


def _state(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    waiting = [((c.get("state") or {}).get("waiting") or {}).get("reason")
               for c in status.get("containerStatuses") or [] if isinstance(c, Mapping)]
    reasons = sorted({w for w in waiting if w})
    return str(status.get("phase") or "Unknown") + (f" ({', '.join(reasons)})" if reasons else "")


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    annotations = (pod.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, Mapping) else {}


# --- command line ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl netweave", description="netweave for a live cluster.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    common.add_argument("--context", default=None, help="kubeconfig context (default: the current context)")
    common.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's, or default)")
    common.add_argument("--config", default=None, help="netweave policy file (default: ./.netweave.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = sub.add_parser("status", parents=[common], help="network-status beside what the pod asked for")
    status.add_argument("pod", metavar="POD")
    why = sub.add_parser("why", parents=[common], help="why a pod has no network (stuck in ContainerCreating)")
    why.add_argument("pod", metavar="POD")
    for name, what in (("lint", "check manifests with the cluster's NADs"),
                       ("plan", "the attachments the node will create, with the cluster's NADs")):
        cmd = sub.add_parser(name, parents=[common], help=what)
        cmd.add_argument("paths", nargs="+", metavar="PATH", help="manifests (files, directories, - for stdin)")
        formats = FORMATS if name == "lint" else ("text", "json")
        cmd.add_argument("--format", choices=formats, default="text")
        if name == "plan":
            cmd.add_argument("--cluster-network", default=None, metavar="FILE|NS/NAME",
                             help="the node's cluster network: a CNI config file or a NAD")
    return parser


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None,
         stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        policy = load_policy(None if args.config is None else Path(args.config))
        cluster = connect(args.kubeconfig, args.context, args.namespace, os.environ if environ is None else environ)
        return _run(args, cluster, policy, stdin or sys.stdin, out, err)
    except (ClusterError, PolicyError) as exc:
        err.write(f"kubectl netweave {args.command}: {exc}\n")
        return EXIT_USAGE


def _run(args: argparse.Namespace, cluster: Cluster, policy: Policy, stdin: TextIO, out: TextIO,
         err: TextIO) -> int:
    if args.command == "status":
        out.write(render_status(cluster.pod(cluster.namespace, args.pod), policy=policy))
        return EXIT_OK
    if args.command == "why":
        pod = cluster.pod(cluster.namespace, args.pod)
        events, nads = _listed(lambda: cluster.events_of(cluster.namespace, args.pod)), _listed(cluster.nads)
        out.write(explain_pod(pod, events, nads, policy=policy))
        return EXIT_OK
    sources = in_namespace(read_paths(args.paths, stdin=stdin), cluster.namespace)
    nads = cluster.nads()
    for error in sources.errors:
        err.write(error.text() + "\n")
    if args.command == "lint":
        # The catalog is the cluster's: a NAD missing from it is missing (lint's --strict).
        report = lint(sources, options=Options(policy=policy, strict=True), catalog_objects=nads)
        out.write(render(report, args.format))
        failed = any(e.severity == "error" for e in report.findings)
        return EXIT_USAGE if sources.errors else (EXIT_FOUND if failed else EXIT_OK)
    catalog = MemoryCatalog.from_objects([*nads, *(o.obj for o in sources.objects)])
    chosen = cluster_network(args.cluster_network, catalog, policy)
    if isinstance(chosen, str):
        err.write(f"kubectl netweave plan: --cluster-network {args.cluster_network}: {chosen}\n")
        return EXIT_USAGE
    plans = plan_sources(sources.objects, catalog=catalog, policy=policy, cluster=chosen)
    out.write(render_json(plans, sources.errors) if args.format == "json" else render_text(plans))
    return EXIT_USAGE if sources.errors else (EXIT_OK if all(p.ok for p in plans) else EXIT_FOUND)


if __name__ == "__main__":
    sys.exit(main())
