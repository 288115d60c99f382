"""network-status-spoof: only the CNI writes the network-status annotation."""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec import NETWORK_STATUS_ANNOTATION, annotation_path
from webhook.findings import Mutation
from webhook.rules.base import Issue, PodContext, RuleOutput


def network_status_spoof(ctx: PodContext) -> Iterator[RuleOutput]:
    if NETWORK_STATUS_ANNOTATION not in ctx.annotations:
        return
    yield Issue(annotation_path(NETWORK_STATUS_ANNOTATION, ctx.prefix),
                "network-status: a user-set network-status annotation is removed; only the CNI writes it",
                "remove it from the manifest")
    yield Mutation("remove-annotation", NETWORK_STATUS_ANNOTATION)
