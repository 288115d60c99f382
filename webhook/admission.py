"""What admission decides for one review (pure): which checks run for each kind and operation, and the patch.

Pod CREATE: every rule, and a JSONPatch (mutating endpoint only). Pod UPDATE: the network annotations are
immutable, unless policy `hotPlug` allows the pod's namespace to change them: then every rule runs on the new
value and webhook.hotplug on the change. Workload CREATE/UPDATE: the rules over each pod template, never a
patch. NAD CREATE/UPDATE: `evaluate_nad`. NAD DELETE: `network-in-use` when the pod index knows pods that use
it. Everything else is allowed untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cni.spec import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from webhook.catalog import NadCatalog
from webhook.engine import annotations_of, carries_networks, evaluate_nad, evaluate_pod
from webhook.findings import Finding, Verdict
from webhook.hotplug import hotplug_findings
from webhook.patch import make_patch
from webhook.podindex import NO_PODS, PodLookup
from webhook.policy import Policy
from webhook.precheck import PATCH_LIMIT_BYTES, oversized_patch, precheck
from webhook.review import ALLOW, Decision, Review
from webhook.rules.cluster import NETWORK_IN_USE, nad_in_use
from webhook.rules.status import RULE as STATUS_RULE
from webhook.rules.status import status_update_finding
from webhook.workloads import TEMPLATE_PATHS, pod_targets, template_at

NAD_GROUP = "k8s.cni.cncf.io"
WORKLOAD_GROUPS: Mapping[str, str] = {
    "Deployment": "apps", "StatefulSet": "apps", "DaemonSet": "apps", "ReplicaSet": "apps",
    "Job": "batch", "CronJob": "batch",
}
IMMUTABLE_ANNOTATIONS = (NETWORKS_ANNOTATION, DEFAULT_NETWORK_ANNOTATION)
# A rule of this module, not of the engine: policy can turn it down (e.g. once hot-plug is supported).
NETWORKS_IMMUTABLE = "networks-immutable"


@dataclass(frozen=True, slots=True)
class Admission:
    """A decision and the findings behind it (for metrics and logs)."""

    decision: Decision
    findings: tuple[Finding, ...] = ()
    checked: bool = False  # False when the fast path allowed the object without running the rules


def admit(review: Review, *, catalog: NadCatalog, policy: Policy, mutate: bool,
          pods: PodLookup = NO_PODS) -> Admission:
    """The decision for one review; ``mutate`` False (the validating endpoint) never returns a patch."""
    obj = review.object
    if review.operation == "DELETE" and review.kind.kind == "NetworkAttachmentDefinition" and (
            review.kind.group == NAD_GROUP and not review.sub_resource):
        return _nad_delete(review, policy=policy, pods=pods)
    if obj is None or review.sub_resource or review.operation not in ("CREATE", "UPDATE"):
        return Admission(ALLOW)
    kind, group = review.kind.kind, review.kind.group
    handled = (kind == "Pod" and group == "") or WORKLOAD_GROUPS.get(kind) == group or (
        kind == "NetworkAttachmentDefinition" and group == NAD_GROUP)
    if handled and (unfit := precheck(obj)) is not None:
        return _from_verdict(Verdict((unfit,)), patch=())  # malformed or oversized: the rules would not be bounded
    if kind == "Pod" and group == "":
        if review.operation == "CREATE":
            return _pod_create(review, obj, catalog=catalog, policy=policy, mutate=mutate, pods=pods)
        return _pod_update(review, obj, review.old_object, catalog=catalog, policy=policy, pods=pods)
    if WORKLOAD_GROUPS.get(kind) == group:
        return _workload(review, obj, catalog=catalog, policy=policy)
    if kind == "NetworkAttachmentDefinition" and group == NAD_GROUP:
        verdict = evaluate_nad(obj, policy=policy, catalog=catalog)
        if review.operation == "UPDATE" and _config(obj) != _config(review.old_object):
            verdict = Verdict((*verdict.findings, *_in_use(review, policy=policy, pods=pods, changed=True)),
                              suppressed=verdict.suppressed)
        return _from_verdict(verdict, patch=())
    return Admission(ALLOW)


def _pod_create(review: Review, pod: Mapping[str, Any], *, catalog: NadCatalog, policy: Policy,
                mutate: bool, pods: PodLookup) -> Admission:
    if not carries_networks(annotations_of(pod)):
        return Admission(ALLOW)
    verdict = evaluate_pod(pod, catalog=catalog, policy=policy, namespace=review.namespace,
                           writes_status=policy.writes_status(review.username, review.groups), pods=pods)
    patch: Sequence[Mapping[str, Any]] = ()
    if mutate and verdict.allowed and verdict.mutations:
        patch = make_patch(pod, verdict.mutations)
        size = len(json.dumps(patch, separators=(",", ":")))
        if size > PATCH_LIMIT_BYTES:
            return _from_verdict(Verdict((*verdict.findings, oversized_patch(size))), patch=())
    return _from_verdict(verdict, patch=patch)


def _pod_update(review: Review, pod: Mapping[str, Any], old: Mapping[str, Any] | None, *,
                catalog: NadCatalog, policy: Policy, pods: PodLookup) -> Admission:
    if old is None:
        return Admission(ALLOW)
    new_annotations, old_annotations = annotations_of(pod), annotations_of(old)
    status = None
    if policy.level(STATUS_RULE, "warning") != "off" and not policy.writes_status(review.username, review.groups):
        status = status_update_finding(new_annotations, old_annotations, username=review.username)
    extra = (status,) if status else ()
    if policy.hot_plug.allows(review.namespace) and any(
            new_annotations.get(key) != old_annotations.get(key) for key in IMMUTABLE_ANNOTATIONS):
        return _hot_plug(review, pod, new_annotations, old_annotations, catalog=catalog, policy=policy, pods=pods,
                         extra=extra)
    level = policy.level(NETWORKS_IMMUTABLE, "error")
    findings = () if level == "off" else tuple(
        Finding(
            NETWORKS_IMMUTABLE,
            f'metadata.annotations["{key}"]',
            f'metadata.annotations["{key}"]: the pod\'s networks cannot change after it is created '
            f"(was {_shown(old_annotations.get(key))}, now {_shown(new_annotations.get(key))})",
            "delete and recreate the pod, or change the networks in its Deployment/StatefulSet template",
            "warning" if level == "warning" else "error",
        )
        for key in IMMUTABLE_ANNOTATIONS
        if new_annotations.get(key) != old_annotations.get(key)
    )
    return _from_verdict(Verdict(findings + extra), patch=(), checked=True)


def _hot_plug(review: Review, pod: Mapping[str, Any], new: Mapping[str, str], old: Mapping[str, str], *,
              catalog: NadCatalog, policy: Policy, pods: PodLookup, extra: tuple[Finding, ...]) -> Admission:
    """A changed networks annotation under policy hotPlug: every rule on the new value, the change rules on the
    difference. No patch: the node plans the same with or without the canonical form."""
    namespace = review.namespace or str((pod.get("metadata") or {}).get("namespace") or "default")
    verdict = evaluate_pod(pod, catalog=catalog, policy=policy, namespace=namespace, canonical=False,
                           writes_status=True, pods=pods)   # the index holds this pod: never its own conflict
    change = hotplug_findings(new, old, namespace=namespace, catalog=catalog, policy=policy)
    return _from_verdict(Verdict((*verdict.findings, *change, *extra), suppressed=verdict.suppressed), patch=())


def _workload(review: Review, obj: Mapping[str, Any], *, catalog: NadCatalog, policy: Policy) -> Admission:
    if review.operation == "UPDATE" and review.old_object is not None and _template(obj) == _template(
            review.old_object):
        return Admission(ALLOW)  # scale, rollout status, labels: the pods do not change
    findings: list[Finding] = []
    errors: list[str] = []
    warnings: list[str] = []
    for target in pod_targets(obj):
        unfit = precheck(target.pod, path_prefix=target.path_prefix)
        verdict = Verdict((unfit,)) if unfit is not None else evaluate_pod(
            target.pod, catalog=catalog, policy=policy, namespace=review.namespace or target.namespace,
            path_prefix=target.path_prefix)
        findings.extend(verdict.findings)
        # The messages name the annotation; say which pod template it is in ("spec.template: networks[0] ...").
        where = target.path_prefix.rstrip(".")
        errors.extend(f"{where}: {f.text()}" for f in verdict.errors)
        warnings.extend(f"{where}: {f.text()}" for f in verdict.warnings)
    decision = Decision(allowed=not errors, errors=tuple(errors), warnings=tuple(warnings))
    return Admission(decision, tuple(findings), checked=True)


def _nad_delete(review: Review, *, policy: Policy, pods: PodLookup) -> Admission:
    """A NAD that running pods use: the policy's level of network-in-use (warning by default, error denies)."""
    findings = _in_use(review, policy=policy, pods=pods, changed=False)
    return _from_verdict(Verdict(findings), patch=()) if findings else Admission(ALLOW)


def _in_use(review: Review, *, policy: Policy, pods: PodLookup, changed: bool) -> tuple[Finding, ...]:
    level = policy.level(NETWORK_IN_USE, "warning")
    issue = None if level == "off" else nad_in_use(review.namespace or "default", review.name, pods, changed=changed)
    if issue is None:
        return ()
    return (Finding(NETWORK_IN_USE, issue.path, issue.message, issue.hint, "error" if level == "error" else "warning"),)


def _config(obj: Mapping[str, Any] | None) -> Any:
    spec = obj.get("spec") if obj is not None else None
    return spec.get("config") if isinstance(spec, Mapping) else None


def _from_verdict(verdict: Verdict, *, patch: Sequence[Mapping[str, Any]], checked: bool = True) -> Admission:
    decision = Decision(
        allowed=verdict.allowed,
        errors=tuple(f.text() for f in verdict.errors),
        warnings=tuple(f.text() for f in verdict.warnings),
        patch=tuple(patch),
    )
    return Admission(decision, verdict.findings, checked)


def _template(obj: Mapping[str, Any]) -> Any:
    return template_at(obj, TEMPLATE_PATHS.get(str(obj.get("kind")), ()))


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    text = str(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")
