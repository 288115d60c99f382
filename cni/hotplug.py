"""Hot-plug: make a running sandbox's attachments match its pod's changed networks annotation.

`diff_attachments` (pure) compares what the ADD record holds with what cni.plan plans from the pod now, keyed by
interface name: a name only the plan has is added, a name only the record has is removed, a name both have with
another network or other addresses is a conflict (admission's hotplug-change denies those; the node refuses them
too and changes nothing). `reconcile` applies a diff to one sandbox, under the daemon's per-container lock:
removals first (delegate DEL), then additions (delegate ADD with the planned interface name), then the routes of
the whole pod with the same policy as ADD (cni.routes.plan_routes), the record, network-status and Events.

The record always says what is true: an addition is recorded before its delegate runs (without a result), so a
daemon that dies mid-ADD leaves an attachment "in doubt", which the next reconcile DELs before it diffs; a removal
leaves the record after its DEL, which a restart simply runs again (CNI DEL is idempotent). A failed addition DELs
what this reconcile added, restores the default routes and the record as they were, and posts a warning Event.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from cni import attach, cache, errors, invoke, netlink, report
from cni.attach import planned_from
from cni.cache import Record
from cni.context import Context
from cni.errors import CniError
from cni.kube import Api
from cni.plan import Attachment
from cni.request import DEFAULT_OS_PATH, Request, parse_config
from cni.routes import Route, RoutePlan

logger = logging.getLogger(__name__)

Outcome = Literal["unchanged", "applied", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Diff:
    """What hot-plug changes: the attachments to end with, in plan order, and the ones added and removed."""

    attachments: tuple[Attachment, ...]
    added: tuple[Attachment, ...] = ()
    removed: tuple[Attachment, ...] = ()
    conflicts: tuple[str, ...] = ()
    rerouted: bool = False  # a kept attachment's default-route changed

    @property
    def changes(self) -> bool:
        return bool(self.added or self.removed or self.rerouted)


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The outcome of one reconcile and what to say about it."""

    outcome: Outcome
    message: str = ""


def diff_attachments(recorded: Sequence[Attachment], desired: Sequence[Attachment]) -> Diff:
    """Recorded vs planned attachments, keyed by interface name (pure)."""
    was = {a.ifname: a for a in recorded}
    wanted = {a.ifname for a in desired}
    final: list[Attachment] = []
    added: list[Attachment] = []
    conflicts: list[str] = []
    rerouted = False
    for att in desired:
        old = was.get(att.ifname)
        if old is None:
            added.append(att)
            final.append(att)
            continue
        problem = _changed_in_place(old, att)
        if problem:
            conflicts.append(problem)
        rerouted = rerouted or old.default_route != att.default_route
        # The recorded plugins and options are what the delegate was given (and must get again at DEL).
        final.append(replace(old, default_route=att.default_route))
    removed = tuple(a for a in recorded if a.ifname not in wanted)
    if any(a.is_default for a in removed):
        conflicts.append("the cluster default network cannot be removed")
    return Diff(tuple(final), tuple(added), removed, tuple(conflicts), rerouted)


def _changed_in_place(old: Attachment, new: Attachment) -> str | None:
    """Why `new` cannot replace `old` on the same interface without tearing it down (None: it can)."""
    if old.network != new.network:
        what = "the cluster default network" if old.is_default else f'"{old.network}"'
        return f'interface "{old.ifname}" holds {what}; it cannot become "{new.network}" in place'
    if (old.runtime_config, old.cni_args, old.device_id) != (new.runtime_config, new.cni_args, new.device_id):
        return f'interface "{old.ifname}" ("{old.network}") cannot change its addresses or options in place'
    return None


def in_doubt(record: Record) -> tuple[Attachment, ...]:
    """Attachments recorded without a result: a hot-plug ADD that never finished (pure)."""
    return tuple(a for a in record.attachments if a.ifname not in record.results)


def wants_reconcile(pod: Mapping[str, Any], recorded: Mapping[str, str | None] | None) -> bool:
    """Whether the pod's network annotations differ from those the record was planned from, and the pod is not
    an older copy (a lagging watch cache must never undo a newer plan) (pure)."""
    if recorded is None:
        return False
    now = planned_from(pod) or {}
    if (now.get("networks"), now.get("defaultNetwork")) == (recorded.get("networks"), recorded.get("defaultNetwork")):
        return False
    version, before = now.get("resourceVersion"), recorded.get("resourceVersion")
    if version and before and version.isdigit() and before.isdigit():
        return int(version) > int(before)
    return True


def request_of(record: Record) -> Request:
    """The runtime's ADD request for this sandbox, rebuilt from the record (code 7 when it holds none)."""
    saved = record.request
    if not saved:
        raise CniError(errors.INVALID_CONFIG, "the attachment record predates hot-plug (no request saved)")
    config = parse_config(saved.get("config") or {}, command="ADD")
    return Request(command="ADD", cni_version=config.cni_version, container_id=record.container_id,
                   netns=record.netns, ifname=record.ifname, path=tuple(saved.get("path") or ()),
                   args=dict(saved.get("args") or {}), config=config,
                   os_path=str(saved.get("osPath") or "") or DEFAULT_OS_PATH)


def reconcile(ctx: Context, cache_dir: str, container_id: str, ifname: str, pod: Mapping[str, Any]) -> Reconciled:
    """Make one sandbox match `pod`; call it holding the container's lock (never raises for a CNI failure)."""
    record = cache.read(cache_dir, container_id, ifname)
    if record is None or not record.complete:
        return Reconciled("skipped", "no complete attachment record (ADD running, or the sandbox is gone)")
    if (pod.get("metadata") or {}).get("deletionTimestamp") or not os.path.exists(record.netns):
        return Reconciled("skipped", "the sandbox is being torn down")
    if not wants_reconcile(pod, record.planned_from) and not in_doubt(record):
        return Reconciled("unchanged")
    req = request_of(record)
    assert req.config is not None
    api = Api(ctx, req.config)
    record = _settle_in_doubt(ctx, req, record)
    if in_doubt(record):
        return Reconciled("failed", "cannot DEL " + ", ".join(a.ifname for a in in_doubt(record)) + " (in doubt)")
    try:
        diff = diff_attachments(record.attachments, attach._plan(api, req.config, req, pod))
    except CniError as e:   # e.g. a NAD not created yet: the resync tries again
        report.event(ctx, api, pod, "FailedAddingInterface", f"hot-plug: {e}", warning=True)
        return Reconciled("failed", str(e))
    if diff.conflicts:   # the same annotation would be refused again: remember it was seen
        _keep_plan(cache_dir, record, pod)
        message = f"hot-plug refused: {'; '.join(diff.conflicts)}"
        report.event(ctx, api, pod, "FailedAddingInterface", message, warning=True)
        return Reconciled("failed", message)
    if not diff.changes:
        _keep_plan(cache_dir, record, pod)
        return Reconciled("unchanged")
    return _apply(ctx, api, req, record, diff, pod)


def _apply(ctx: Context, api: Api, req: Request, record: Record, diff: Diff, pod: Mapping[str, Any]) -> Reconciled:
    assert req.config is not None
    record, stuck = _remove(ctx, api, req, record, diff, pod)
    try:
        record = _add(ctx, req, record, diff, stuck)
    except CniError as e:
        # The one error record of a failed hot-plug (the loop only notes the outcome at info).
        _log_failure("hot-plug ADD failed", record, e)
        report.event(ctx, api, pod, "FailedAddingInterface", f"hot-plug: {e}", warning=True)
        if diff.removed:
            report.write_status(ctx, api, pod, record.attachments, record.results, record.defaults or ())
        return Reconciled("failed", str(e))
    record = replace(record, planned_from=planned_from(pod))
    cache.write(req.config.cache_dir, record)
    report.write_status(ctx, api, pod, record.attachments, record.results, record.defaults or ())
    report.announce(ctx, api, pod, diff.added, record.results)
    if stuck:
        return Reconciled("failed", f"cannot remove {', '.join(a.ifname for a in stuck)}")
    return Reconciled("applied", f"+{len(diff.added)} -{len(diff.removed)}")


def _remove(ctx: Context, api: Api, req: Request, record: Record, diff: Diff,
            pod: Mapping[str, Any]) -> tuple[Record, tuple[Attachment, ...]]:
    """DEL each removed attachment (reverse order); one whose DEL failed stays (it may still exist) and is
    returned."""
    assert req.config is not None
    stuck: list[Attachment] = []
    for att in reversed(diff.removed):
        fatal = attach._del_attachments(ctx, req, (att,), record.results, netns=record.netns,
                                        container_id=record.container_id, pod=record.pod)
        if fatal is not None:
            stuck.insert(0, att)
            _log_failure("hot-plug removal could not DEL", record, fatal)   # it may leak an interface
            report.event(ctx, api, pod, "FailedRemovingInterface", f"hot-plug: {fatal}", warning=True)
            continue
        results = {k: v for k, v in record.results.items() if k != att.ifname}
        record = replace(record, attachments=tuple(a for a in record.attachments if a.ifname != att.ifname),
                         results=results, installed={k: v for k, v in record.installed.items() if k != att.ifname})
        cache.write(req.config.cache_dir, record)
        report.event(ctx, api, pod, "RemovedInterface", f"Remove {att.ifname} from {att.network}", warning=False)
    return record, tuple(stuck)


def _add(ctx: Context, req: Request, record: Record, diff: Diff, stuck: Sequence[Attachment]) -> Record:
    """ADD each new attachment, then the pod's routes; on failure DEL what this call added and restore."""
    assert req.config is not None
    before = record
    final = [*diff.attachments, *stuck]
    results = dict(record.results)
    installed = {k: tuple(v) for k, v in record.installed.items()} or _installed_from(record)
    done: list[Attachment] = []
    failed: Attachment | None = None   # as in attach.add: None once every delegate succeeded
    with netlink.PodNetns(record.netns) as pod_ns:
        saved = attach._take_defaults(pod_ns, required=True)
        try:
            for failed in diff.added:
                done.append(failed)
                record = replace(record, attachments=(*record.attachments, failed))
                cache.write(req.config.cache_dir, record)   # in doubt until its result is recorded
                results[failed.ifname] = invoke.add_list(ctx, failed.plugins, attach._invocation(req, failed),
                                                         failed.runtime_config)
                installed[failed.ifname] = attach._take_defaults(pod_ns, required=True)
            failed = None
            plan = attach._apply_routes(pod_ns, final, results, installed, req.config)
        except Exception as exc:  # anything that fails mid-ADD (a bug too) is undone first, then re-raised
            clean = _undo(ctx, req, before, done, results, pod_ns, saved)
            raise attach.add_failed(exc, failed, clean=clean) from exc
    _remove_stale_rules(record.netns, record.rules, plan)
    return replace(record, attachments=tuple(final), results={a.ifname: results[a.ifname] for a in final},
                   installed={a.ifname: installed.get(a.ifname, ()) for a in final}, rules=plan.rules,
                   defaults=plan.defaults)


def _undo(ctx: Context, req: Request, before: Record, done: Sequence[Attachment],
          results: Mapping[str, Any], pod_ns: netlink.PodNetns, saved: Sequence[Route]) -> bool:
    """DEL what this reconcile added (reverse), put the default routes back, record what remains; True when
    everything was undone."""
    assert req.config is not None
    fatal = attach._del_attachments(ctx, req, done, results, netns=before.netns, container_id=before.container_id,
                                    pod=before.pod)
    if fatal is not None:
        attach.warn_not_deleted("hot-plug rollback", fatal)
    stuck = tuple(done) if fatal is not None else ()
    restored = True
    try:
        defaults = tuple(before.defaults) if before.defaults is not None else tuple(saved)
        netlink.apply_plan(pod_ns.ipr(), RoutePlan(defaults, (), ()))
    except netlink.failures(CniError) as e:   # a failed rollback step: a warning; the error says incomplete
        logger.warning("hot-plug rollback could not restore the default routes: %s", e,
                       extra={"container_id": before.container_id})
        restored = False
    cache.write(req.config.cache_dir, replace(before, attachments=(*before.attachments, *stuck)))
    return fatal is None and restored


def _settle_in_doubt(ctx: Context, req: Request, record: Record) -> Record:
    """DEL attachments a crashed hot-plug left without a result; drop those whose DEL worked."""
    assert req.config is not None
    doubtful = in_doubt(record)
    if not doubtful:
        return record
    gone = []
    for att in doubtful:
        fatal = attach._del_attachments(ctx, req, (att,), record.results, netns=record.netns,
                                        container_id=record.container_id, pod=record.pod)
        if fatal is None:
            gone.append(att)
        else:   # it may leak an interface; the next reconcile tries again
            _log_failure("hot-plug could not DEL an attachment in doubt", record, fatal)
    record = replace(record, attachments=tuple(a for a in record.attachments if a not in gone))
    cache.write(req.config.cache_dir, record)
    logger.info("hot-plug settled attachments in doubt", extra={"container_id": record.container_id,
                                                                "ifname": [a.ifname for a in gone]})
    return record


def _log_failure(what: str, record: Record, e: CniError) -> None:
    """The one error record of a failed hot-plug step (a bug brings its traceback)."""
    logger.error("%s: %s", what, e, exc_info=e.bug(), extra=errors.failure_fields(
        e, command="hot-plug", container_id=record.container_id, ifname=record.ifname,
        pod=attach.pod_name(record.pod)))


def _installed_from(record: Record) -> dict[str, tuple[Route, ...]]:
    """Records written before `installed` existed: the defaults the pod holds stand for what was installed."""
    return {a.ifname: tuple(r for r in record.defaults or () if r.ifname == a.ifname) for a in record.attachments}


def _keep_plan(cache_dir: str, record: Record, pod: Mapping[str, Any]) -> None:
    """Remember the pod state this reconcile looked at, so the same annotation is not tried again."""
    cache.write(cache_dir, replace(record, planned_from=planned_from(pod)))


def _remove_stale_rules(netns: str, rules: Sequence[Any], plan: RoutePlan) -> None:
    stale = [r for r in rules if r not in plan.rules]
    if stale:
        attach._remove_rules(netns, stale)
