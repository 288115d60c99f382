"""Interface names: valid for the kernel, not reserved, unique in the pod."""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec.selection import free_interface_name
from webhook.rules.base import Issue, PodContext

IFNAMSIZ = 16  # kernel limit including the NUL byte


def ifname_problem(name: str) -> str | None:
    """Why the kernel would refuse this interface name, or None (dev_valid_name in net/core/dev.c)."""
    size = len(name.encode("utf-8"))
    if size == 0:
        return "is empty"
    if size >= IFNAMSIZ:
        return f"is {size} bytes long; the kernel allows at most {IFNAMSIZ - 1}"
    if name in (".", ".."):
        return "is not allowed"
    bad = sorted({c for c in name if c in "/:" or c.isspace()})
    if bad:
        return "contains " + ", ".join(repr(c) for c in bad)
    return None


def interface_name_invalid(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.attachments:
        name = att.selection.interface
        reason = ifname_problem(name) if name is not None else None
        if reason is not None:
            yield Issue(f"{att.path}.interface", f'{att.label}: interface name "{name}" {reason}',
                        "use 1-15 bytes without '/', ':' or spaces, e.g. \"net1\"")


def interface_name_reserved(ctx: PodContext) -> Iterator[Issue]:
    primary = ctx.policy.primary_interface
    taken = {att.ifname for att in ctx.attachments}
    for att in ctx.attachments:
        name = att.selection.interface
        if name not in (primary, "lo"):
            continue
        what = "the cluster default network" if name == primary else "the loopback device"
        yield Issue(f"{att.path}.interface", f'{att.label}: interface "{name}" is reserved for {what}',
                    f'choose another name, e.g. "{free_interface_name(taken, att.selection.index + 1)}"')


def interface_name_duplicate(ctx: PodContext) -> Iterator[Issue]:
    seen: dict[str, str] = {}
    taken = {att.ifname for att in ctx.attachments}
    for att in ctx.attachments:
        if att.ifname in seen:
            suggestion = free_interface_name(taken, att.selection.index + 1)
            yield Issue(f"{att.path}.interface",
                        f'{att.label}: interface "{att.ifname}" is already used by {seen[att.ifname]}',
                        f'give each attachment its own name, e.g. "{suggestion}"')
        else:
            seen[att.ifname] = att.label
