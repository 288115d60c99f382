"""Static addresses: `ips` and `mac` are well formed (cni.spec.values), fit the network, and are not repeated."""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec import IPAddress
from cni.spec.values import address_fit_problem, claim_reference_problems, mac_problems, parse_ips
from webhook.rules.base import Issue, PodContext


def static_ip(ctx: PodContext) -> Iterator[Issue]:
    seen: dict[IPAddress, str] = {}
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        sel = att.selection
        if sel.ipam_claim_reference is not None:
            for problem in claim_reference_problems(sel.ipam_claim_reference, att.path):
                yield Issue(problem.path, f"{att.label}: {problem.message}", problem.hint)
        if sel.ips is None:
            continue
        if sel.ipam_claim_reference is not None:
            yield Issue(f"{att.path}.ips", f"{att.label}: ips and ipam-claim-reference are mutually exclusive",
                        "keep one: static ips, or the IPAMClaim that persists the address")
        addresses, problems = parse_ips(sel.ips, att.path)
        for problem in problems:
            yield Issue(problem.path, f"{att.label}: {problem.message}", problem.hint)
        subnets = att.nad.config.subnets if att.nad is not None and att.nad.config is not None else ()
        for i, (text, address) in enumerate(zip(sel.ips, addresses, strict=False)):
            if address is None:
                continue
            path = f"{att.path}.ips[{i}]"
            reason = address_fit_problem(address, subnets)
            if reason is not None:
                yield Issue(path, f"{att.label}: {text} {reason}", "pick an address inside the subnet of the NAD")
            if address in seen:
                yield Issue(path, f"{att.label}: {address} is also requested by {seen[address]}",
                            "give every interface its own address")
            else:
                seen[address] = att.label


def mac_address(ctx: PodContext) -> Iterator[Issue]:
    seen: dict[str, str] = {}
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        mac = att.selection.mac
        if mac is None:
            continue
        problems = mac_problems(mac, att.path)
        for problem in problems:
            yield Issue(problem.path, f"{att.label}: {problem.message}", problem.hint)
        if problems:
            continue
        key = mac.replace("-", ":").lower()
        if key in seen:
            yield Issue(f"{att.path}.mac", f"{att.label}: mac {mac} is also requested by {seen[key]}",
                        "give every interface its own MAC")
        else:
            seen[key] = att.label
