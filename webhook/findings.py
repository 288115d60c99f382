"""Findings, mutations and the verdict the rule engine returns for one object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cni.spec.problems import Severity as Severity  # the one definition, re-exported for the rules

MutationOp = Literal["set-annotation", "remove-annotation", "add-resource", "set-node-selector"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's judgement about one field: what is wrong and how to fix it."""

    rule: str
    path: str
    message: str
    hint: str
    severity: Severity
    unresolved: str | None = None  # "ns/name" of a NAD reference the catalog could not resolve

    def text(self) -> str:
        """One line, as kubectl shows it: message (which starts with its location), hint, rule id."""
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.message}{hint} [{self.rule}]"


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A finding that the object's own ignore-check annotation suppressed, with the reason it gave."""

    finding: Finding
    reason: str


@dataclass(frozen=True, slots=True)
class Mutation:
    """One change admission makes to the pod."""

    op: MutationOp
    key: str
    value: str = ""
    container: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything the rules found about one object, and what admission would change."""

    findings: tuple[Finding, ...] = ()
    mutations: tuple[Mutation, ...] = ()
    suppressed: tuple[Suppressed, ...] = ()  # not part of the decision; reported by lint (SARIF suppressions)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def allowed(self) -> bool:
        return not self.errors
