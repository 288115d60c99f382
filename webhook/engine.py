"""The rule engine: pure functions from an object, a NAD catalog and a policy to a verdict."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from cni.spec import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORK_STATUS_ANNOTATION,
    NETWORKS_ANNOTATION,
    NetworkSelection,
    parse_nad,
)
from webhook.catalog import NadCatalog
from webhook.findings import Finding, Mutation, Suppressed, Verdict
from webhook.podindex import NO_PODS, PodLookup
from webhook.policy import Policy
from webhook.rules import RULES, Issue, PodContext, build_context
from webhook.rules.cluster import SUBNET_OVERLAP, namespace_subnet_overlaps
from webhook.rules.placement import nad_annotation_issues
from webhook.rules.plugins import nad_plugin_issues
from webhook.rules.suppression import honoured, refused_issues

REFUSED_RULE = "suppression-refused"

WATCHED_ANNOTATIONS = (NETWORKS_ANNOTATION, DEFAULT_NETWORK_ANNOTATION, NETWORK_STATUS_ANNOTATION)
_DEFAULT_SEVERITY = {rule.id: rule.severity for rule in RULES}
# Past the limit the other rules would only repeat themselves once per element (a denial as long as the input).
_STOP_AFTER = "network-limit"
STATUS_RULE = "network-status-spoof"


def evaluate_pod(pod: Mapping[str, Any], *, catalog: NadCatalog, policy: Policy, namespace: str | None = None,
                 path_prefix: str = "", canonical: bool = True, writes_status: bool = False,
                 pods: PodLookup = NO_PODS, key: str | None = None) -> Verdict:
    """Every rule over one pod or pod template: all findings at once, and the mutations admission makes.

    `canonical=False` skips rewriting the annotations into canonical form, for callers that only want findings.
    `writes_status` is True when the requester may write network-status (policy statusWriters).
    `pods` are the other pods (cluster-wide rules); `key` is this pod's "namespace/name" among them.
    """
    annotations = annotations_of(pod)
    if not carries_networks(annotations):
        return Verdict()
    ctx = build_context(pod, catalog=catalog, policy=policy, namespace=namespace, prefix=path_prefix, pods=pods,
                        key=key)
    reasons = honoured(annotations, policy)
    findings: list[Finding] = []
    mutations: list[Mutation] = []
    suppressed: list[Suppressed] = []
    stopped = False
    for rule in RULES:
        level = policy.level(rule.id, rule.severity)
        if level == "off" or (writes_status and rule.id == STATUS_RULE) or (stopped and rule.id != REFUSED_RULE):
            continue
        reason = reasons.get(rule.id)
        for out in rule.check(ctx):
            if isinstance(out, Mutation):
                if reason is None:
                    mutations.append(out)
                continue
            finding = _finding(rule.id, out, level, rule.severity)
            if reason is None:
                findings.append(finding)
            else:
                suppressed.append(Suppressed(finding, reason))
        stopped = stopped or (rule.id == _STOP_AFTER and any(f.severity == "error" for f in findings
                                                              if f.rule == _STOP_AFTER))
    verdict = Verdict(tuple(findings), tuple(mutations), tuple(suppressed))
    if canonical and verdict.allowed and _parsed_whole(ctx):
        verdict = replace(verdict, mutations=verdict.mutations + _canonical(ctx))
    return verdict


def evaluate_nad(nad: Mapping[str, Any], *, policy: Policy, catalog: NadCatalog | None = None) -> Verdict:
    """Validate a NetworkAttachmentDefinition on CREATE/UPDATE: spec.config, the NPWG annotations, what the
    plugin knowledge says, and (with the catalog of the other NADs) its place among them."""
    parsed = parse_nad(nad)
    annotations = annotations_of(nad)
    outputs: list[tuple[str, Issue]] = [
        ("network-config-invalid", Issue(p.path, f"{p.path}: {p.message}", p.hint, p.severity))
        for p in parsed.config_problems]
    outputs.extend(nad_annotation_issues(parsed))
    outputs.extend(nad_plugin_issues(parsed, catalog=catalog))
    if isinstance(catalog, Iterable):  # the in-memory catalogs; NADs of one namespace are compared
        outputs.extend((SUBNET_OVERLAP, i) for i in namespace_subnet_overlaps(parsed, catalog))
    outputs.extend((REFUSED_RULE, issue) for issue in refused_issues(annotations, policy))
    reasons = honoured(annotations, policy)
    findings: list[Finding] = []
    suppressed: list[Suppressed] = []
    for rule_id, issue in outputs:
        level = policy.level(rule_id, _DEFAULT_SEVERITY[rule_id])
        if level == "off":
            continue
        finding = _finding(rule_id, issue, level, _DEFAULT_SEVERITY[rule_id])
        if rule_id in reasons:
            suppressed.append(Suppressed(finding, reasons[rule_id]))
        else:
            findings.append(finding)
    return Verdict(tuple(findings), suppressed=tuple(suppressed))


def _finding(rule: str, issue: Issue, level: str, default: str) -> Finding:
    # A policy override sets the rule's severity; without one, an issue may be milder than its rule's default.
    severity = (issue.severity or default) if level == default else level
    return Finding(rule, issue.path, _one_line(issue.message), _one_line(issue.hint),
                   "warning" if severity == "warning" else "error", issue.unresolved)


def _one_line(text: str) -> str:
    """Denials list one error per line: a user value must not be able to start another."""
    return text.replace("\r", "\\r").replace("\n", "\\n") if "\n" in text or "\r" in text else text


def _parsed_whole(ctx: PodContext) -> bool:
    """Rewrite the annotations only when the parser kept every element and field (even if policy let a syntax
    error through): the canonical form must never silently drop what the user wrote."""
    parsed = (ctx.networks, ctx.default_network)
    return not any(p.severity == "error" for each in parsed if each is not None for p in each.problems)


def _canonical(ctx: PodContext) -> tuple[Mutation, ...]:
    """Write both annotations back in canonical form, so the node sees exactly what admission approved."""
    out: list[Mutation] = []
    if ctx.attachments:
        elements = [_resolved(att.selection, att.namespace, att.ifname) for att in ctx.attachments]
        text = json.dumps(elements, separators=(",", ":"), ensure_ascii=False)
        if text != ctx.annotations.get(NETWORKS_ANNOTATION):
            out.append(Mutation("set-annotation", NETWORKS_ANNOTATION, text))
    att = ctx.default_attachment
    if att is not None:
        element = _resolved(att.selection, att.namespace, None)
        bare = element.keys() == {"name", "namespace"}
        text = f"{att.namespace}/{att.selection.name}" if bare else json.dumps(
            [element], separators=(",", ":"), ensure_ascii=False)
        if text != ctx.annotations.get(DEFAULT_NETWORK_ANNOTATION):
            out.append(Mutation("set-annotation", DEFAULT_NETWORK_ANNOTATION, text))
    return tuple(out)


def _resolved(selection: NetworkSelection, namespace: str, ifname: str | None) -> dict[str, Any]:
    """The element's canonical JSON with namespace and interface filled in (same key order as to_json)."""
    element = selection.to_json()
    head: dict[str, Any] = {"name": element.pop("name"), "namespace": namespace}
    element.pop("namespace", None)
    element.pop("interface", None)
    if ifname is not None:
        head["interface"] = ifname
    head.update(element)
    return head


def carries_networks(annotations: Mapping[str, Any]) -> bool:
    """Whether any annotation the rules look at is set; pods without one are admitted untouched."""
    return any(key in annotations for key in WATCHED_ANNOTATIONS)


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An object's metadata.annotations, or {} when absent or malformed."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return annotations if isinstance(annotations, Mapping) else {}
