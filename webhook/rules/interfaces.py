"""Interface names: valid for the kernel, not reserved, unique in the pod (cni.spec.naming decides all three)."""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec.naming import duplicate_names, free_interface_name, reserved_for
from cni.spec.problems import describe
from cni.spec.values import interface_problems
from webhook.rules.base import Issue, PodContext


def interface_name_invalid(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.attachments:
        name = att.selection.interface
        for problem in interface_problems(name, att.path) if name is not None else ():
            yield Issue(problem.path, f"{att.label}: {problem.message}", problem.hint)


def interface_name_reserved(ctx: PodContext) -> Iterator[Issue]:
    primary = ctx.policy.primary_interface
    taken = {att.ifname for att in ctx.attachments}
    for att in ctx.attachments:
        name = att.selection.interface
        what = reserved_for(name, primary=primary) if name is not None else None
        if what is not None:
            yield Issue(f"{att.path}.interface", f"{att.label}: interface {describe(name)} is reserved for {what}",
                        f'choose another name, e.g. "{free_interface_name(taken, att.selection.index + 1)}"')


def interface_name_duplicate(ctx: PodContext) -> Iterator[Issue]:
    taken = {att.ifname for att in ctx.attachments}
    for position, first in duplicate_names([att.ifname for att in ctx.attachments]):
        att = ctx.attachments[position]
        suggestion = free_interface_name(taken, att.selection.index + 1)
        yield Issue(f"{att.path}.interface",
                    f"{att.label}: interface {describe(att.ifname)} is already used by {ctx.attachments[first].label}",
                    f'give each attachment its own name, e.g. "{suggestion}"')
