"""ADD, DEL, CHECK, STATUS and GC of a pod's networks: plan -> invoke each -> routes -> cache -> status.

Any failure during ADD deletes what was added, in reverse, before the error is returned.

ADD is exclusive per container id + ifname: its record is created before any delegate runs, and an ADD that finds
one (a live attachment, or an unfinished ADD) is refused with code 109 without touching it.

DEL is total. Every attachment's DEL runs even when another fails. A delegate's DEL error is fatal (DEL fails,
the record stays for the runtime's retry) when retrying can help or something of it may remain: the delegate
answered 11 (try again), its ADD had succeeded (it may hold an interface or a lease), or its interface is still in
the pod netns (or the netns cannot be listed). It is only logged when its ADD never succeeded and its interface is
not in the pod: then nothing of it exists (e.g. a macvlan whose `master` is missing fails ADD and DEL alike,
forever), and failing would leave the sandbox stuck in teardown. A rollback that had no fatal failure drops the
record, so a later DEL finds nothing left and succeeds.

DEL without a record: the record is created before any delegate runs, so none exists when no delegate ran, after
a complete DEL, or when the cache was lost. DEL then plans from the API as ADD would and deletes that. When the
API cannot be reached (code 11) and the pod netns still holds interfaces besides `lo`, DEL answers 11 (try again)
rather than succeed with possible leaks; when the netns is gone or empty, or the API says the pod or its networks
are gone for good, it deletes the cluster network only (its IPAM) and succeeds — DEL stays idempotent.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cni import cache, errors, invoke, netlink, report
from cni.cache import Record
from cni.context import Context
from cni.devices import pod_devices
from cni.errors import CniError, FailedAt
from cni.kube import Api
from cni.plan import Attachment, ClusterNetwork, NadKey, plan_attachments, wanted_nads
from cni.request import VALID_ATTACHMENTS_KEY, Config, PodRef, Request
from cni.results import convert
from cni.routes import Route, RoutePlan, Rule, drifted_families, plan_routes
from cni.spec import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION, Nad, parse_nad, parse_netconf
from cni.spec.namespaces import default_network_namespace

logger = logging.getLogger(__name__)

CONF_SUFFIXES = (".conf", ".conflist", ".json")
# An incomplete record younger than this may belong to an ADD still running; GC leaves it alone (the runtime
# DELs a failed ADD itself).
GC_GRACE_SECONDS = 600.0
POD_ARGS = ("K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID")


def add(ctx: Context, req: Request) -> dict[str, Any]:
    """Attach every network of the pod; the cluster default network's result in req.cni_version."""
    config = _config(req)
    _check_ready(config)
    _preload("pyroute2")   # imports while the API is read and the plan is made (routes need it before eth0)
    api = Api(ctx, config)
    pod = _read_pod(api, req.pod)
    try:
        attachments = _plan(api, config, req, pod)
    except CniError as unplanned:
        report.event(ctx, api, pod, "FailedAddingInterface", str(unplanned), warning=True)
        raise
    record = Record(req.container_id, req.ifname, req.netns, req.cni_version, _pod_json(req.pod), attachments,
                    request=request_json(req), planned_from=planned_from(pod))
    # Exclusive: a second ADD of a live attachment is refused here, before it can touch anything. Written
    # before any delegate runs, so a crash mid-ADD still leaves DEL something to undo.
    cache.create(config.cache_dir, record)
    results: dict[str, dict[str, Any]] = {}
    rules: tuple[Rule, ...] = ()
    failed: Attachment | None = None
    installed: dict[str, tuple[Route, ...]] = {}   # ifname -> the default routes its delegate added itself
    try:
        with netlink.PodNetns(req.netns) as pod_ns:
            _take_defaults(pod_ns, required=False)   # a missing netns is the first delegate's error to report
            for failed in attachments:
                results[failed.ifname] = invoke.add_list(ctx, failed.plugins, _invocation(req, failed),
                                                         failed.runtime_config)
                # Calico/OVN-K add their own default with a plain add: the next delegate must find none.
                installed[failed.ifname] = _take_defaults(pod_ns, required=True)
            failed = None
            plan = _apply_routes(pod_ns, attachments, results, installed, config)
        rules = plan.rules
        cache.write(config.cache_dir, replace(record, results=results, rules=rules, defaults=plan.defaults,
                                              installed=installed, complete=True))
    except Exception as exc:  # anything that fails mid-ADD (a bug too) is rolled back first, then re-raised
        if failed is not None:
            ctx.network_failed(failed.network, "ADD")
        logger.info("ADD failed at %s, rolling back", failed_where(failed), extra={"container_id": req.container_id})
        done = attachments[: attachments.index(failed) + 1] if failed else attachments
        clean = _rollback(ctx, req, done, results, rules)
        _settle_rollback(config, record, done, results, clean)
        failure = add_failed(exc, failed, clean=clean)
        report.event(ctx, api, pod, "FailedAddingInterface", str(failure), warning=True)
        raise failure from exc   # logged once, with `at`, by cni.execute
    report.publish(ctx, api, pod, attachments, results, plan.defaults)
    return convert(results[attachments[0].ifname], req.cni_version)


def failed_where(failed: Attachment | None) -> str:
    """Where an ADD failed: the network whose delegate failed, or (None) the pod's routes after every delegate
    succeeded."""
    return f'network "{failed.network}" interface "{failed.ifname}"' if failed else "pod routes"


def add_failed(exc: Exception, failed: Attachment | None, *, clean: bool) -> CniError:
    """The error of an ADD (a runtime's or a hot-plug's) that failed at `failed` and was rolled back (`clean`:
    completely); a bug becomes code 999. The one builder of both, so their messages and FailedAt cannot drift;
    the caller raises it `from exc`."""
    e = exc if isinstance(exc, CniError) else errors.unexpected(exc)
    at = FailedAt(network=failed.network if failed else None, interface=failed.ifname if failed else None,
                  rollback="complete" if clean else "incomplete")
    return CniError(e.code, f"{failed_where(failed)}: {e.msg}", e.details, at=at)


def delete(ctx: Context, req: Request) -> None:
    """Detach everything the ADD recorded; missing pod, NAD, API server or netns are not errors."""
    config = _config(req)
    record = cache.read(config.cache_dir, req.container_id, req.ifname)
    if record is None:
        _delete_uncached(ctx, req, config)
        cache.remove(config.cache_dir, req.container_id, req.ifname)   # an unreadable record, if any
        return
    _delete_record(ctx, req, record, netns=req.netns)
    cache.remove(config.cache_dir, req.container_id, req.ifname)
    if record.complete:   # only a complete ADD published network-status
        report.retract(Api(ctx, config), record.pod, record.attachments, record.results)


def check(ctx: Context, req: Request) -> None:
    """Run each delegate's CHECK with its cached result and verify the default routes still match."""
    config = _config(req)
    if req.cni_version in ("0.3.0", "0.3.1"):
        raise CniError(errors.INCOMPATIBLE_VERSION, "CHECK needs cniVersion 0.4.0 or later", req.cni_version)
    record = cache.read(config.cache_dir, req.container_id, req.ifname)
    if record is None or not record.complete:
        raise CniError(errors.UNKNOWN_CONTAINER, f"no attachment record for container {req.container_id}")
    for att in record.attachments:
        cached = record.results.get(att.ifname)
        if cached is None:
            raise CniError(errors.UNKNOWN_CONTAINER, f"no cached result for interface {att.ifname}")
        try:
            invoke.check_list(ctx, att.plugins, _invocation(req, att), att.runtime_config, cached)
        except CniError as e:
            raise CniError(e.code, f'network "{att.network}" interface "{att.ifname}": {e.msg}', e.details) from e
    _check_routes(req.netns, record)


def status(ctx: Context, req: Request) -> None:
    """CNI STATUS: ready when the readiness file exists and the cluster network can be read."""
    config = _config(req)
    try:
        _check_ready(config)
        if config.cluster_network.startswith("/"):
            _load_cluster_file(config.cluster_network)
    except CniError as e:
        raise CniError(errors.PLUGIN_NOT_AVAILABLE, f"netweave is not ready: {e.msg}", e.details) from e


def gc(ctx: Context, req: Request) -> None:
    """CNI GC: delete every recorded attachment that is not in cni.dev/valid-attachments."""
    config = _config(req)
    if config.valid_attachments is None:  # CNI SPEC §"GC": required; an explicit [] means "delete all"
        raise CniError(errors.INVALID_CONFIG, f"GC needs {VALID_ATTACHMENTS_KEY} (an empty list deletes all)")
    valid = set(config.valid_attachments)
    valid_ids = {cid for cid, ifname in valid if not ifname}
    for container_id, ifname in list(cache.keys(config.cache_dir)):
        if (container_id, ifname) in valid or container_id in valid_ids:
            continue
        record = cache.read(config.cache_dir, container_id, ifname)
        if record is None or _maybe_in_flight(config, record):
            continue
        try:
            _delete_record(ctx, req, record, netns=record.netns)
        except CniError as e:   # GC goes on with the other records; this one stays for the next GC
            # Its error record: GC succeeds, and what this attachment holds (an interface, a lease) leaks until
            # a later GC deletes it.
            logger.error("GC could not delete %s/%s: %s", container_id, ifname, e, extra=errors.failure_fields(
                e, command="GC", container_id=container_id, ifname=ifname, pod=pod_name(record.pod)))
            continue
        cache.remove(config.cache_dir, container_id, ifname)
        if record.complete:
            report.retract(Api(ctx, config), record.pod, record.attachments, record.results)
        logger.info("GC removed attachment", extra={"container_id": container_id, "ifname": ifname})


def _maybe_in_flight(config: Config, record: Record) -> bool:
    """An incomplete record written less than GC_GRACE_SECONDS ago: its ADD may still be running."""
    if record.complete:
        return False
    age = cache.age(config.cache_dir, record.container_id, record.ifname)
    if age is None or age >= GC_GRACE_SECONDS:
        return False
    logger.info("GC skips a recent incomplete record (ADD in flight?)",
                extra={"container_id": record.container_id, "ifname": record.ifname})
    return True


def _preload(module: str) -> None:
    """Import `module` in a background thread (a standalone process pays ~200 ms for pyroute2)."""
    if module not in sys.modules:
        threading.Thread(target=importlib.import_module, args=(module,), name=f"preload-{module}",
                         daemon=True).start()


def _config(req: Request) -> Config:
    if req.config is None:
        raise CniError(errors.INVALID_CONFIG, "missing network configuration")
    return req.config


def _check_ready(config: Config) -> None:
    path = config.readiness_indicator_file
    if path and not os.path.exists(path):
        raise CniError(errors.TRY_AGAIN_LATER, "the cluster network is not ready",
                       f"readiness indicator file {path} does not exist")


def _read_pod(api: Api, ref: PodRef | None) -> Mapping[str, Any] | None:
    if ref is None:
        return None
    pod = api.pod(ref.namespace, ref.name, ref.uid)
    if pod is None:
        if not api.readable:
            logger.warning("no kubeconfig: attaching the cluster network only", extra={"pod": str(ref)})
            return None
        raise CniError(errors.POD_NOT_FOUND, f"pod {ref} not found")
    uid = (pod.get("metadata") or {}).get("uid")
    if ref.uid and uid and uid != ref.uid:
        raise CniError(errors.TRY_AGAIN_LATER, f"pod {ref} was replaced", f"uid {uid}, sandbox for {ref.uid}")
    return pod


def _plan(api: Api, config: Config, req: Request, pod: Mapping[str, Any] | None) -> tuple[Attachment, ...]:
    ref = req.pod
    keys = wanted_nads(pod, ref, config) if pod is not None and ref is not None else ()
    nads: dict[NadKey, Nad | None] = {}
    for namespace, name in keys:
        obj = api.nad(namespace, name)
        nads[(namespace, name)] = parse_nad(obj) if obj is not None else None
    cluster = _load_cluster(api, config)
    resources = [n.resource_name for n in nads.values() if n and n.resource_name] + [cluster.resource_name]
    uid = ref.uid if ref else None
    if uid is None and pod is not None:
        uid = (pod.get("metadata") or {}).get("uid")
    devices = pod_devices(config.device_checkpoint, uid) if any(resources) else {}
    return plan_attachments(config=config, pod_ref=ref, pod=pod, cluster=cluster, nads=nads, devices=devices,
                            primary_ifname=req.ifname)


def _load_cluster(api: Api, config: Config) -> ClusterNetwork:
    ref = config.cluster_network
    if ref.startswith("/"):
        return _load_cluster_file(ref)
    namespace, _, name = ref.rpartition("/")
    obj = api.nad(default_network_namespace(namespace or None, system_namespace=config.system_namespace), name)
    nad = parse_nad(obj) if obj is not None else None
    if nad is None or nad.config is None:
        raise CniError(errors.NETWORK_NOT_FOUND, f"cluster network {ref} not found or invalid")
    return ClusterNetwork(f"{nad.namespace}/{nad.name}", nad.config, nad.resource_name)


def _load_cluster_file(ref: str) -> ClusterNetwork:
    path = Path(ref)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in CONF_SUFFIXES and p.is_file())
        if not files:
            raise CniError(errors.INVALID_CONFIG, f"no CNI config in {path}")
        path = files[0]
    try:
        text = path.read_text()
    except OSError as e:
        raise CniError(errors.INVALID_CONFIG, f"cannot read the cluster network config {path}", str(e)) from e
    netconf, problems = parse_netconf(text, path=str(path))
    if netconf is None or not netconf.plugins:
        raise CniError(errors.INVALID_CONFIG, f"invalid cluster network config {path}",
                       "; ".join(f"{p.path}: {p.message}" for p in problems))
    return ClusterNetwork(netconf.name or path.stem, netconf)


def _invocation(req: Request, att: Attachment, *, netns: str | None = None,
                container_id: str | None = None, pod: Mapping[str, str | None] | None = None) -> invoke.Invocation:
    args = dict(req.args)
    args.setdefault("IgnoreUnknown", "1")
    args.update(_pod_args(req, pod))
    args.update(att.cni_args)
    return invoke.Invocation(
        container_id=container_id or req.container_id, netns=req.netns if netns is None else netns,
        ifname=att.ifname,
        args=";".join(f"{k}={v}" for k, v in args.items()), path=req.path, os_path=req.os_path,
    )


def _take_defaults(pod_ns: netlink.PodNetns, *, required: bool) -> tuple[Route, ...]:
    """Take every default route out of the pod; what was there (a delegate's own defaults) is returned."""
    try:
        return tuple(netlink.take_defaults(pod_ns.ipr()))
    except FileNotFoundError as e:
        if not required:
            return ()
        raise CniError(errors.INVALID_ENVIRONMENT, f"network namespace {pod_ns.path} does not exist") from e


def _apply_routes(pod_ns: netlink.PodNetns, attachments: Sequence[Attachment],
                  results: Mapping[str, Mapping[str, Any]], installed: Mapping[str, Sequence[Route]],
                  config: Config) -> RoutePlan:
    plan = plan_routes(attachments, results, installed, cluster_routes=config.cluster_routes)
    try:
        netlink.apply_plan(pod_ns.ipr(), plan)
    except FileNotFoundError as e:
        raise CniError(errors.INVALID_ENVIRONMENT, f"network namespace {pod_ns.path} does not exist") from e
    return plan


def _check_routes(netns: str, record: Record) -> None:
    """The pod's default routes are exactly the ones ADD installed (one per family, on the owner)."""
    try:
        with netlink.PodNetns(netns) as pod_ns:
            observed = netlink.read_defaults(pod_ns.ipr())
    except FileNotFoundError as e:
        raise CniError(errors.INVALID_ENVIRONMENT, f"network namespace {netns} does not exist") from e
    if record.defaults is None:   # a record written before default routes were recorded
        return
    drifted = drifted_families(record.defaults, observed)
    if drifted:
        families = ", ".join(f"IPv{f}" for f in drifted)
        raise CniError(errors.ROUTES_FAILED, f"default routes changed since ADD ({families})",
                       "; ".join(f"{r.dst} via {r.gateway or '-'} dev {r.ifname}" for r in observed))


def _pod_args(req: Request, pod: Mapping[str, str | None] | None) -> dict[str, str]:
    """K8S_POD_* rebuilt from a record's pod when the request has none (GC, a DEL without CNI_ARGS), so
    IPAM plugins that release by pod reference still get them."""
    if pod is None or any(key in req.args for key in POD_ARGS):
        return {}
    values = (pod.get("namespace"), pod.get("name"), pod.get("uid"))
    return {key: value for key, value in zip(POD_ARGS, values, strict=True) if value}


def _rollback(ctx: Context, req: Request, done: Sequence[Attachment], results: Mapping[str, Any],
              rules: Sequence[Rule]) -> bool:
    """DEL what an ADD made, in reverse; True unless a DEL failure is fatal (see the module docstring)."""
    _remove_rules(req.netns, rules)
    fatal = _del_attachments(ctx, req, done, results, netns=req.netns)
    if fatal is not None:
        warn_not_deleted("ADD rollback", fatal)
    return fatal is None


def warn_not_deleted(during: str, fatal: CniError) -> None:
    """A DEL that failed inside another operation (a rollback step, hot-plug): a warning of its own; the
    operation's error, if it fails, is logged once by its caller."""
    logger.warning("%s could not DEL: %s", during, fatal, extra=fatal.log_fields())


def _settle_rollback(config: Config, record: Record, done: Sequence[Attachment],
                     results: Mapping[str, Mapping[str, Any]], clean: bool) -> None:
    """Drop the record after a clean rollback; otherwise keep it (incomplete) for the runtime's DEL to retry."""
    if clean:
        cache.remove(config.cache_dir, record.container_id, record.ifname)
        return
    try:
        cache.write(config.cache_dir, replace(record, attachments=tuple(done), results=dict(results),
                                              complete=False))
    except CniError as e:  # the record from the start of ADD is still there
        logger.warning("cannot update the record after a failed rollback: %s", e)


def _delete_record(ctx: Context, req: Request, record: Record, *, netns: str) -> None:
    """DEL every recorded attachment in reverse; raises the first fatal failure after trying them all."""
    _remove_rules(netns, record.rules)
    fatal = _del_attachments(ctx, req, record.attachments, record.results, netns=netns,
                             container_id=record.container_id, pod=record.pod)
    if fatal is not None:
        raise fatal


def _del_attachments(ctx: Context, req: Request, attachments: Sequence[Attachment],
                     results: Mapping[str, Any], *, netns: str, container_id: str | None = None,
                     pod: Mapping[str, str | None] | None = None) -> CniError | None:
    """DEL each attachment in reverse; no failure stops the others. The first fatal failure is returned, not
    logged (its caller raises or reports it); later ones, which nothing else carries, are warnings here."""
    first: CniError | None = None
    for att in reversed(attachments):
        inv = _invocation(req, att, netns=netns, container_id=container_id, pod=pod)
        try:
            invoke.del_list(ctx, att.plugins, inv, att.runtime_config, results.get(att.ifname))
        except CniError as e:
            why = _fatal_because(e, added=att.ifname in results, netns=netns, ifname=att.ifname)
            if why is None:
                logger.warning("DEL failed for an attachment whose ADD never succeeded and that left nothing in "
                               "the pod; not an error: %s", e, extra={"network": att.network,
                                                                      "network_ifname": att.ifname})
                continue
            ctx.network_failed(att.network, "DEL")
            fatal = CniError(e.code, f'network "{att.network}" interface "{att.ifname}": {e.msg}', e.details,
                             at=FailedAt(network=att.network, interface=att.ifname, reason=why))
            if first is None:
                first = fatal
            else:
                logger.warning("DEL failed too: %s", fatal, extra=fatal.log_fields())
    return first


def _fatal_because(e: CniError, *, added: bool, netns: str, ifname: str) -> str | None:
    """Why a delegate's DEL error fails the DEL; None when it is only logged (see the module docstring)."""
    if e.code == errors.TRY_AGAIN_LATER:
        return "the delegate asks to try again"
    if added:
        return "its ADD succeeded, so it may still hold an interface or a lease"
    links = _pod_links(netns)
    if links is None:
        return "the pod's interfaces cannot be listed"
    if ifname in links:
        return f"interface {ifname} is still in the pod"
    return None


def _pod_links(netns: str) -> frozenset[str] | None:
    """Interface names in the pod netns (empty when it is gone); None when they cannot be listed."""
    if not netns or not os.path.exists(netns):
        return frozenset()
    try:
        with netlink.pod_netns(netns) as ipr:
            return frozenset(str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links())
    except FileNotFoundError:
        return frozenset()
    except netlink.failures(CniError) as e:
        logger.warning("cannot list the interfaces of %s: %s", netns, e)
        return None


def _delete_uncached(ctx: Context, req: Request, config: Config) -> None:
    """No record: DEL what the API describes; without the API, "try again" while the pod may hold something.

    ADD writes its record before any delegate runs, so a missing record means no delegate ran, a DEL already
    completed, or the cache was lost; only the API (pod annotation + NADs) can say what the last case needs.
    """
    try:
        api = Api(ctx, config)
        attachments = _plan(api, config, req, _read_pod(api, req.pod))
    except Exception as e:  # DEL is best-effort (CNI SPEC): a planning failure narrows what we undo
        links = _pod_links(req.netns)
        in_use = links is None or bool(links - {"lo"})
        if isinstance(e, CniError) and e.code == errors.TRY_AGAIN_LATER and in_use:
            raise CniError(errors.TRY_AGAIN_LATER, "DEL without an attachment record needs the API server to "
                           "know what to delete", f"{e}; the pod's network namespace {req.netns} still has "
                           "interfaces") from e
        logger.warning("DEL without a record, planning failed (%s): cluster network only", e)
        try:
            attachments = _plan(Api(ctx, config), config, req, None)
        except Exception as e2:  # as above: DEL still succeeds, with nothing it could plan to delete
            logger.warning("DEL without a record: nothing to delete (%s)", e2)
            return
    record = Record(req.container_id, req.ifname, req.netns, req.cni_version, None, attachments)
    _delete_record(ctx, req, record, netns=req.netns)


def _remove_rules(netns: str, rules: Sequence[Rule]) -> None:
    """Best-effort on every path (ADD rollback, DEL, GC, hot-plug): the rules go with the netns anyway, and no
    DEL may get stuck on them. A refusal is a warning; anything else (a bug, a malformed rule in a record) is an
    error record with its traceback, and the operation goes on."""
    if not rules or not netns or not os.path.exists(netns):
        return
    try:
        with netlink.pod_netns(netns) as ipr:
            for rule in rules:   # one at a time: a bad rule does not keep the others
                try:
                    netlink.remove_rules(ipr, (rule,))
                except Exception as e:  # best-effort (see the docstring): the next rule still goes
                    _rule_not_removed(netns, f"rule from {rule.src!r}", e)
    except Exception as e:  # opening the netns socket: best-effort too
        _rule_not_removed(netns, "source rules", e)


def _rule_not_removed(netns: str, what: str, e: Exception) -> None:
    extra = {"netns": netns}
    if isinstance(e, netlink.failures(CniError)):
        logger.warning("cannot remove %s in %s: %s", what, netns, e, extra=extra)
    else:
        logger.error("cannot remove %s in %s (a bug; going on without it): %r", what, netns, e, extra=extra,
                     exc_info=e)


def pod_name(pod: Mapping[str, str | None] | None) -> str | None:
    """The "namespace/name" of a record's pod (None without one)."""
    return f"{pod.get('namespace')}/{pod.get('name')}" if pod and pod.get("name") else None


def request_json(req: Request) -> dict[str, Any]:
    """What a later operation on this sandbox (hot-plug) needs of the runtime's request to run delegates again."""
    return {"config": dict(req.config.raw) if req.config else {}, "path": list(req.path), "args": dict(req.args),
            "osPath": req.os_path}


def planned_from(pod: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    """The pod state a plan was made from: its resourceVersion and network annotations."""
    if pod is None:
        return None
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return {"resourceVersion": meta.get("resourceVersion"), "networks": annotations.get(NETWORKS_ANNOTATION),
            "defaultNetwork": annotations.get(DEFAULT_NETWORK_ANNOTATION)}


def _pod_json(ref: PodRef | None) -> dict[str, str | None] | None:
    return {"namespace": ref.namespace, "name": ref.name, "uid": ref.uid} if ref else None
