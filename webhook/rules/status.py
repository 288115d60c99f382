"""network-status-spoof: only the node's identity writes the network-status annotation.

CREATE by anyone else: the value is removed (a warning says so). UPDATE by anyone else that adds or changes it:
denied, since a mutation cannot restore the node's value. Who counts as the node is policy `statusWriters`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cni.spec import NETWORK_STATUS_ANNOTATION, annotation_path
from webhook.findings import Finding, Mutation
from webhook.rules.base import Issue, PodContext, RuleOutput

RULE = "network-status-spoof"
PATH = annotation_path(NETWORK_STATUS_ANNOTATION)


def network_status_spoof(ctx: PodContext) -> Iterator[RuleOutput]:
    """On create (or in a manifest): a user-set value is removed. The engine skips this rule for the node."""
    if NETWORK_STATUS_ANNOTATION not in ctx.annotations:
        return
    yield Issue(annotation_path(NETWORK_STATUS_ANNOTATION, ctx.prefix),
                "network-status: a user-set network-status annotation is removed; only the CNI writes it",
                "remove it from the manifest")
    yield Mutation("remove-annotation", NETWORK_STATUS_ANNOTATION)


def status_update_finding(new: Mapping[str, Any], old: Mapping[str, Any], *, username: str) -> Finding | None:
    """An UPDATE (new and old annotations) by someone who is not a status writer: denied when it adds or changes
    network-status. Removing it is allowed (nothing is claimed)."""
    if NETWORK_STATUS_ANNOTATION not in new or new.get(NETWORK_STATUS_ANNOTATION) == old.get(
            NETWORK_STATUS_ANNOTATION):
        return None
    change = "changes" if NETWORK_STATUS_ANNOTATION in old else "adds"
    who = username if username.isprintable() and len(username) <= 120 else repr(username[:120])
    return Finding(RULE, PATH, f"network-status: {who} {change} the network-status annotation, which only the node's "
                   "CNI identity may write", "leave the annotation as the node wrote it (kubectl apply/edit keep it "
                   "when the manifest does not set it); add the writer to statusWriters in the netweave policy",
                   "error")
