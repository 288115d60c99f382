"""`netweave plan`: for each pod, the attachments the node will create, by the code the node and admission run.

Admission (webhook.engine) decides first: a denied pod shows the denial exactly as kubectl would; an admitted pod
is mutated as admission would (canonical annotations, device requests, node selector) and then planned by
cni.plan.plan_attachments, with the NADs parsed by cni.spec, as the node plans it at sandbox creation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from cni.errors import CniError
from cni.plan import Attachment, ClusterNetwork, NadKey, plan_attachments, wanted_nads
from cni.request import Config, PodRef
from cni.routes import default_owners
from cni.spec import IPAddress, Nad, NetConf, parse_netconf
from cni.spec.namespaces import default_network_namespace
from cni.spec.routing import FAMILIES, claimed_families
from webhook.catalog import NAD_KIND, MemoryCatalog, NadCatalog
from webhook.engine import evaluate_pod
from webhook.lint import cluster_nads, command_policy
from webhook.manifests import read_paths
from webhook.patch import apply_mutations
from webhook.policy import Policy
from webhook.precheck import precheck
from webhook.review import denial_message
from webhook.sources import SourceError, SourceObject
from webhook.workloads import pod_targets

WEBHOOK = "pods.netweave.io"
EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2
# Without --cluster-network the node's own CNI config is unknown: eth0 is shown, its plugins are not.
UNKNOWN_CLUSTER = ClusterNetwork("cluster-network", NetConf(name="cluster-network", cni_version=None, plugins=(),
                                                             is_list=False, subnets=(), gateways=(), raw={}))


@dataclass(frozen=True, slots=True)
class Interface:
    """One attachment as the node will create it."""

    ifname: str
    network: str
    plugins: tuple[str, ...]
    ips: tuple[str, ...]
    mac: str | None
    device: str | None  # the n-th device of a resource, as the kubelet will allocate it
    is_default: bool


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    """Who owns one IP family's default route, and through which gateway."""

    family: int
    ifname: str
    network: str
    gateway: str | None  # None: whatever gateway the delegate's result returns
    source: str  # "default-route", "the NAD's IPAM gateway", "the delegate's result"


@dataclass(frozen=True, slots=True)
class PodPlan:
    """The outcome for one pod or pod template."""

    file: str
    line: int
    kind: str
    namespace: str
    name: str
    denial: tuple[str, ...] = ()  # admission errors, one line each (as the denial prints them)
    node_error: str | None = None  # the node's CNI error, when admission allows what the node refuses
    warnings: tuple[str, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    default_routes: tuple[DefaultRoute, ...] = ()
    devices: tuple[tuple[str, str, bool], ...] = ()  # (resource, count, added by admission)
    node_selector: tuple[tuple[str, str, bool], ...] = ()  # (key, value, added by admission)

    @property
    def ok(self) -> bool:
        return not self.denial and self.node_error is None


def plan_pod(pod: Mapping[str, Any], *, namespace: str | None, catalog: NadCatalog, policy: Policy,
             cluster: ClusterNetwork, where: tuple[str, int, str, str] = ("-", 0, "Pod", "")) -> PodPlan:
    """Admission's verdict, then the node's plan of the mutated pod."""
    file, line, kind, name = where
    pod_ns = namespace or _metadata(pod).get("namespace") or "default"
    base = PodPlan(file, line, kind, str(pod_ns), name)
    unfit = precheck(pod)
    if unfit is not None:
        return replace(base, denial=(unfit.text(),))
    verdict = evaluate_pod(pod, catalog=catalog, policy=policy, namespace=str(pod_ns))
    warnings = tuple(f.text() for f in verdict.warnings)
    if not verdict.allowed:
        return replace(base, denial=tuple(f.text() for f in verdict.errors), warnings=warnings)
    mutated = apply_mutations(pod, verdict.mutations)
    config = Config(cni_version="1.0.0", name="netweave", cluster_network=cluster.name,
                    system_namespace=policy.system_namespace, namespace_isolation=policy.namespace_isolation,
                    global_namespaces=policy.global_namespaces)
    ref = PodRef(str(pod_ns), name or "pod", _metadata(pod).get("uid"))
    try:
        nads = {key: catalog.get(*key) for key in wanted_nads(mutated, ref, config)}
        attachments = plan_attachments(config=config, pod_ref=ref, pod=mutated, cluster=cluster, nads=nads,
                                       devices=_devices(nads, cluster), primary_ifname=policy.primary_interface)
    except CniError as err:
        details = f" ({err.details})" if err.details else ""
        return replace(base, node_error=f"CNI error {err.code}: {err.msg}{details}", warnings=warnings)
    added_resources = {m.key for m in verdict.mutations if m.op == "add-resource"}
    added_selectors = {m.key for m in verdict.mutations if m.op == "set-node-selector"}
    resources = {nad.resource_name for nad in nads.values() if nad is not None and nad.resource_name}
    resources |= {cluster.resource_name} if cluster.resource_name else set()
    return replace(base, warnings=warnings, interfaces=tuple(_interface(a) for a in attachments),
                    default_routes=_default_routes(attachments, nads, cluster),
                    devices=_requested(mutated, sorted(resources), added_resources),
                    node_selector=tuple((str(k), str(v), k in added_selectors)
                                        for k, v in sorted(_node_selector(mutated).items())))


def _devices(nads: Mapping[NadKey, Nad | None], cluster: ClusterNetwork) -> dict[str, list[str]]:
    """Stand-ins for the kubelet's device ids: the n-th attachment of a resource gets `<resource>#n`."""
    resources = [n.resource_name for n in nads.values() if n is not None and n.resource_name]
    resources += [cluster.resource_name] if cluster.resource_name else []
    return {r: [f"{r}#{i}" for i in range(1, len(resources) + 1)] for r in set(resources)}


def _interface(att: Attachment) -> Interface:
    ips = att.runtime_config.get("ips") or ()
    mac = att.runtime_config.get("mac")
    return Interface(att.ifname, att.network, tuple(str(p.get("type", "")) for p in att.plugins),
                     tuple(str(ip) for ip in ips), str(mac) if mac else None, att.device_id, att.is_default)


def _default_routes(attachments: Sequence[Attachment], nads: Mapping[NadKey, Nad | None],
                    cluster: ClusterNetwork) -> tuple[DefaultRoute, ...]:
    """cni.routes.default_owners (the node's rule); unclaimed families stay on the primary interface."""
    owners = default_owners(attachments)
    configs: dict[str, NetConf | None] = {f"{ns}/{name}": (nad.config if nad else None)
                                          for (ns, name), nad in nads.items()}
    configs.setdefault(cluster.name, cluster.config)
    out = []
    for family in FAMILIES:
        att = owners.get(family, attachments[0])
        named = [g for g in att.default_route or () if claimed_families([g]) == {family}]
        if named:
            out.append(DefaultRoute(family, att.ifname, att.network, named[0], "default-route"))
            continue
        conf = configs.get(att.network)
        ipam = [g for g in (conf.gateways if conf is not None else ()) if _version(g) == family]
        if ipam:
            out.append(DefaultRoute(family, att.ifname, att.network, str(ipam[0]), "the NAD's IPAM gateway"))
        elif conf is not None and conf.subnets and all(s.version != family for s in conf.subnets):
            out.append(DefaultRoute(family, att.ifname, att.network, None, f"no IPv{family} subnet: none"))
        else:
            out.append(DefaultRoute(family, att.ifname, att.network, None, "the delegate's result"))
    return tuple(out)


def _version(address: IPAddress) -> int:
    return int(address.version)


def _requested(pod: Mapping[str, Any], resources: Sequence[str], added: set[str]) -> tuple[tuple[str, str, bool],
                                                                                             ...]:
    containers = _spec(pod).get("containers")
    out = []
    for resource in resources:
        total = 0
        for c in containers if isinstance(containers, list) else ():
            limits = ((c.get("resources") or {}).get("limits") or {}) if isinstance(c, Mapping) else {}
            value = limits.get(resource) if isinstance(limits, Mapping) else None
            total += int(str(value)) if str(value).isdigit() else 0
        out.append((resource, str(total), resource in added))
    return tuple(out)


def _node_selector(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    selector = _spec(pod).get("nodeSelector")
    return selector if isinstance(selector, Mapping) else {}


def _spec(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = pod.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _metadata(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = pod.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


# --- output ---------------------------------------------------------------------------------------------------


def denial_text(plan: PodPlan) -> str:
    """As kubectl prints it: `admission webhook "pods.netweave.io" denied the request: ...`."""
    return f'admission webhook "{WEBHOOK}" denied the request: {denial_message(plan.denial)}'


def render_text(plans: Sequence[PodPlan]) -> str:
    blocks = [_text(p) for p in plans]
    return "\n".join(blocks) + ("" if blocks else "no pods or pod templates in the input\n")


def _text(plan: PodPlan) -> str:
    head = f"{plan.kind} {plan.namespace}/{plan.name} ({plan.file}:{plan.line})"
    lines = [head]
    if plan.denial:
        lines += ["  " + line for line in denial_text(plan).splitlines()]
    elif plan.node_error is not None:
        lines.append(f"  admitted, but the node refuses it: {plan.node_error}")
    else:
        rows = [("INTERFACE", "NETWORK", "PLUGINS", "IPS", "MAC", "DEVICE")]
        rows += [(i.ifname, i.network, ",".join(i.plugins) or "(the node's cluster network)", ",".join(i.ips) or "-",
                  i.mac or "-", i.device or "-") for i in plan.interfaces]
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                  for row in rows]
        for route in plan.default_routes:
            if route.source.endswith(": none"):
                lines.append(f"  default route IPv{route.family}: none ({route.network} on {route.ifname} has no "
                             f"IPv{route.family} subnet)")
                continue
            if route.gateway is None:
                lines.append(f"  default route IPv{route.family}: {route.ifname} ({route.network}) via the gateway "
                             "its delegate returns, if any")
                continue
            lines.append(f"  default route IPv{route.family}: {route.ifname} ({route.network}) via {route.gateway} "
                         f"({route.source})")
        for resource, count, added in plan.devices:
            lines.append(f"  device request: {resource}: {count}{' (added by admission)' if added else ''}")
        for key, value, added in plan.node_selector:
            lines.append(f'  node selector: {key}="{value}"{" (added by admission)" if added else ""}')
    lines += [f"  Warning: {w}" for w in plan.warnings]
    return "\n".join(lines) + "\n"


def plan_json(plan: PodPlan) -> dict[str, Any]:
    doc: dict[str, Any] = {"file": plan.file, "line": plan.line, "kind": plan.kind, "namespace": plan.namespace,
                           "name": plan.name, "allowed": not plan.denial}
    if plan.denial:
        doc["denial"] = denial_text(plan)
    if plan.node_error is not None:
        doc["nodeError"] = plan.node_error
    doc["warnings"] = list(plan.warnings)
    doc["interfaces"] = [{"interface": i.ifname, "network": i.network, "plugins": list(i.plugins),
                          "ips": list(i.ips), "mac": i.mac, "device": i.device, "default": i.is_default}
                         for i in plan.interfaces]
    doc["defaultRoutes"] = {f"ipv{r.family}": {"interface": r.ifname, "network": r.network, "gateway": r.gateway,
                                               "source": r.source} for r in plan.default_routes}
    doc["deviceRequests"] = [{"resource": r, "count": int(c), "added": a} for r, c, a in plan.devices]
    doc["nodeSelector"] = [{"key": k, "value": v, "added": a} for k, v, a in plan.node_selector]
    return doc


def render_json(plans: Sequence[PodPlan], errors: Sequence[SourceError]) -> str:
    doc = {"version": 1, "pods": [plan_json(p) for p in plans],
           "inputErrors": [{"file": e.file, "line": e.line, "column": e.column, "message": e.message}
                           for e in errors]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --- command --------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="manifests (files, directories, - for stdin)")
    parser.add_argument("--nads", action="append", default=[], metavar="DIR",
                        help="more NetworkAttachmentDefinitions (repeatable; - reads them from stdin)")
    parser.add_argument("--cluster", action="store_true", help="add the NADs of the kubeconfig's cluster")
    parser.add_argument("--kubeconfig", default=None, help="with --cluster (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=None, help="with --cluster: kubeconfig context (default: current)")
    parser.add_argument("--cluster-network", default=None, metavar="FILE|NS/NAME",
                        help="the node's cluster network: a CNI config file, or a NAD in the inputs "
                             "(default: shown as eth0 without its plugins)")
    parser.add_argument("--config", type=Path, default=None, help="policy file (default: ./.netweave.yaml)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
        stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    policy = command_policy("netweave plan", args, err)
    if policy is None:
        return EXIT_USAGE
    cluster_objects = cluster_nads(args.kubeconfig, args.context) if getattr(args, "cluster", False) else []
    if isinstance(cluster_objects, str):
        err.write(f"netweave plan: --cluster: {cluster_objects}\n")
        return EXIT_USAGE
    sources = read_paths(args.paths, stdin=stdin or sys.stdin)
    extra = read_paths(args.nads, stdin=stdin or sys.stdin)
    objects = [*cluster_objects, *(o.obj for o in (*sources.objects, *extra.objects))]
    errors = [*sources.errors, *extra.errors]
    catalog = MemoryCatalog.from_objects(objects)
    cluster = cluster_network(args.cluster_network, catalog, policy)
    if isinstance(cluster, str):
        err.write(f"netweave plan: --cluster-network {args.cluster_network}: {cluster}\n")
        return EXIT_USAGE
    plans = plan_sources(sources.objects, catalog=catalog, policy=policy, cluster=cluster)
    for error in errors:
        err.write(error.text() + "\n")
    out.write(render_json(plans, errors) if args.format == "json" else render_text(plans))
    if errors:
        return EXIT_USAGE
    return EXIT_OK if all(p.ok for p in plans) else EXIT_DENIED


def plan_sources(objects: Sequence[SourceObject], *, catalog: NadCatalog, policy: Policy,
                 cluster: ClusterNetwork) -> list[PodPlan]:
    """Every Pod and pod template of the read objects, in input order."""
    plans = []
    for source in objects:
        if source.kind == NAD_KIND:
            continue
        for target in pod_targets(source.obj):
            plans.append(plan_pod(target.pod, namespace=target.namespace, catalog=catalog, policy=policy,
                                  cluster=cluster, where=(source.file, source.line, target.kind, target.name)))
    return plans


def cluster_network(ref: str | None, catalog: NadCatalog, policy: Policy) -> ClusterNetwork | str:
    """As the node reads its clusterNetwork: a CNI config file, or a NAD (unqualified: the system namespace)."""
    if ref is None:
        return UNKNOWN_CLUSTER
    path = Path(ref)
    if path.is_file():
        netconf, problems = parse_netconf(path.read_text(encoding="utf-8"), path=str(path))
        if netconf is None or not netconf.plugins:
            return "not a CNI config: " + "; ".join(f"{p.path}: {p.message}" for p in problems)
        return ClusterNetwork(netconf.name or path.stem, netconf)
    namespace, _, name = ref.rpartition("/")
    namespace = default_network_namespace(namespace or None, system_namespace=policy.system_namespace)
    nad = catalog.get(namespace, name)
    if nad is None or nad.config is None:
        return f"no such file, and no usable NAD {namespace}/{name} in the inputs"
    return ClusterNetwork(f"{nad.namespace}/{nad.name}", nad.config, nad.resource_name)


__all__ = ["PodPlan", "add_arguments", "cluster_network", "plan_pod", "plan_sources", "run"]
