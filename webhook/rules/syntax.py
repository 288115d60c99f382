"""annotation-syntax and network-limit: the annotations can be read, and ask for a sane number of networks."""

from __future__ import annotations

import re
from collections.abc import Iterator

from cni.spec import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from webhook.rules.base import Issue, PodContext

_ANNOTATION = re.compile(r'^.*metadata\.annotations\["([^"]+)"\]')
_SHORT = {NETWORKS_ANNOTATION: "networks", DEFAULT_NETWORK_ANNOTATION: "default-network"}


def short_location(path: str) -> str:
    """'…annotations["k8s.v1.cni.cncf.io/networks"][1].mac' -> 'networks[1].mac', for one-line messages."""
    match = _ANNOTATION.match(path)
    if match is None:
        return path
    return _SHORT.get(match.group(1), match.group(1)) + path[match.end():]


def annotation_syntax(ctx: PodContext) -> Iterator[Issue]:
    """Every problem the spec parser found, in both annotations."""
    for parsed in (ctx.networks, ctx.default_network):
        if parsed is None:
            continue
        for problem in parsed.problems:
            message = f"{short_location(problem.path)}: {problem.message}"
            yield Issue(problem.path, message, problem.hint, problem.severity)


def network_limit(ctx: PodContext) -> Iterator[Issue]:
    """Policy maxNetworks bounds the secondary attachments of one pod."""
    limit = ctx.policy.max_networks
    count = len(ctx.networks.elements)
    if limit is not None and count > limit:
        yield Issue(ctx.networks_path, f"networks: the pod requests {count} networks; policy allows at most {limit}",
                    "remove networks, or raise maxNetworks in the netweave policy")
