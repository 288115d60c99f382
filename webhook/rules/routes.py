"""Default routes: one owner per IP family (cni.spec.routing decides), and gateways that the network can reach."""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec.routing import default_route_owners
from cni.spec.values import address_fit_problem, default_route_problems, parse_ip
from webhook.rules.base import Issue, PodContext


def default_route_conflict(ctx: PodContext) -> Iterator[Issue]:
    ownership = default_route_owners([att.selection.default_route for att in ctx.attachments])
    for conflict in ownership.conflicts:
        att = ctx.attachments[conflict.position]
        path = f"{att.path}.default-route"
        if conflict.owner is None:
            family = conflict.families[0]
            yield Issue(path, f"{att.label}: more than one IPv{family} default gateway",
                        f"keep a single IPv{family} gateway in default-route")
            continue
        routes = " and ".join(f"IPv{f}" for f in conflict.families)
        verb = "s are" if len(conflict.families) > 1 else " is"
        yield Issue(path, f"{att.label}: the {routes} default route{verb} already claimed by "
                    f"{ctx.attachments[conflict.owner].label}", "set default-route on one network per IP family only")


def default_route_gateway(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.attachments:
        gateways = att.selection.default_route
        if gateways is None:
            continue
        path = f"{att.path}.default-route"
        if not gateways:
            yield Issue(path, f"{att.label}: default-route is empty, so the default route goes through whatever "
                        "gateway the network's IPAM returns", "name the gateway, e.g. [\"10.1.0.1\"]", "warning")
        for problem in default_route_problems(gateways, att.path):
            yield Issue(problem.path, f"{att.label}: {problem.message}", problem.hint)
        subnets = att.nad.config.subnets if att.nad is not None and att.nad.config is not None else ()
        for i, gateway in enumerate(gateways):
            address = parse_ip(gateway)
            reason = address_fit_problem(address, subnets) if address is not None else None
            if reason is not None:
                yield Issue(f"{path}[{i}]", f"{att.label}: gateway {gateway} {reason}",
                            "use a gateway inside the subnet the NAD's IPAM assigns from")
