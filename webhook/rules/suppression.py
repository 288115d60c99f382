"""suppression-refused: per-object ignore-check annotations that have no effect, and why.

An object may suppress a rule with `ignore-check.netweave.io/<rule-id>: "<reason>"`. The suppression is honoured
only for a known rule that the policy does not protect, and only with a reason; every other one is reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cni.spec import annotation_path
from cni.spec.problems import describe
from webhook.policy import Policy, known_rule_ids
from webhook.rules.base import Issue, PodContext

SUPPRESS_PREFIX = "ignore-check.netweave.io/"


@dataclass(frozen=True, slots=True)
class Suppression:
    """One ignore-check annotation: the rule it names, its reason, and why it is refused (None: honoured)."""

    rule: str
    reason: str
    path: str
    refused: str | None


def suppressions(annotations: Mapping[str, Any], policy: Policy, prefix: str = "") -> tuple[Suppression, ...]:
    """Every ignore-check annotation of an object, judged against the rule ids and the policy."""
    found = [key for key in annotations if isinstance(key, str) and key.startswith(SUPPRESS_PREFIX)]
    if not found:
        return ()
    known = known_rule_ids()
    out = []
    for key in found:
        rule = key[len(SUPPRESS_PREFIX):]
        value = annotations[key]
        reason = value.strip() if isinstance(value, str) else ""
        refused: str | None = None
        if rule not in known:
            refused = "unknown"
        elif rule in policy.protected_rules:
            refused = "protected"
        elif not reason:
            refused = "no-reason"
        out.append(Suppression(rule, reason, annotation_path(key, prefix), refused))
    return tuple(out)


def honoured(annotations: Mapping[str, Any], policy: Policy) -> dict[str, str]:
    """rule id -> reason, for the suppressions the engine applies."""
    return {s.rule: s.reason for s in suppressions(annotations, policy) if s.refused is None}


def _issue(s: Suppression, policy: Policy) -> Issue:
    if s.refused == "unknown":
        choices = ", ".join(sorted(known_rule_ids() - policy.protected_rules))
        return Issue(s.path, f"{SUPPRESS_PREFIX}: {describe(s.rule)} is not a netweave rule id; this annotation "
                     "suppresses nothing", f"name one of the rules that can be suppressed: {choices}")
    label = f"{SUPPRESS_PREFIX}{s.rule}"
    if s.refused == "protected":
        return Issue(s.path, f'{label}: rule "{s.rule}" protects the cluster and cannot be suppressed per object; '
                     "the annotation has no effect",
                     "fix what the rule reports; only the cluster's netweave policy can change this rule's level")
    return Issue(s.path, f"{label}: a suppression needs a reason; without one it is not honoured",
                 f'say why the check does not apply, e.g. {label}: "legacy image expects this"')


def suppression_refused(ctx: PodContext) -> Iterator[Issue]:
    for s in suppressions(ctx.annotations, ctx.policy, ctx.prefix):
        if s.refused is not None:
            yield _issue(s, ctx.policy)


def refused_issues(annotations: Mapping[str, Any], policy: Policy) -> Iterator[Issue]:
    """The same feedback for objects that are not pods (NADs)."""
    for s in suppressions(annotations, policy):
        if s.refused is not None:
            yield _issue(s, policy)
