"""Pure formatters for `netweave lint`: text, JSON (a stable contract), SARIF 2.1.0, JUnit XML, GitHub commands.

Every formatter takes a `Report` and returns the whole output as one string; nothing here touches files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from typing import Any, Literal
from urllib.parse import quote
from xml.etree import ElementTree

from cni.spec.problems import Severity
from webhook.catalogue import configuration, entry, render_markdown
from webhook.policy import SUPPRESSIBLE
from webhook.sources import SourceError

Format = Literal["text", "json", "sarif", "junit", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "sarif", "junit", "github")
JSON_VERSION = 1
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_URI = "https://github.com/netweave/netweave"

@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What SARIF says about a rule: id, default severity, one-line summary."""

    id: str
    severity: Severity
    summary: str


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One checked object (a Pod, a workload, a NAD) and where it was written."""

    file: str
    line: int
    kind: str
    namespace: str
    name: str

    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Entry(ObjectRef):
    """One finding, located: the record of the JSON contract (the object's fields first)."""

    rule: str
    severity: Severity
    path: str
    message: str
    hint: str
    justification: str = ""  # set for a finding the object's ignore-check annotation suppressed: its reason


@dataclass(frozen=True, slots=True)
class MutationEntry(ObjectRef):
    """What admission would change on one object, as RFC 6902 operations."""

    patch: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of one lint run. `mutations` is None unless they were asked for."""

    files: int
    objects: tuple[ObjectRef, ...]
    findings: tuple[Entry, ...]
    mutations: tuple[MutationEntry, ...] | None = None
    input_errors: tuple[SourceError, ...] = ()
    suppressed: tuple[Entry, ...] = ()  # honoured suppressions: not counted, listed only by SARIF

    @property
    def errors(self) -> int:
        return sum(1 for e in self.findings if e.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for e in self.findings if e.severity == "warning")


def fails(entry: Entry, fail_level: Severity) -> bool:
    """Whether a finding is at or above the fail level (warning < error)."""
    return entry.severity == "error" or fail_level == "warning"


def render(report: Report, fmt: Format, *, fail_level: Severity = "error",
           rules: Sequence[RuleInfo] = ()) -> str:
    """The report in the chosen format, ending with a newline. `rules` is the SARIF rule metadata."""
    renderers: Mapping[Format, Callable[[Report, Severity], str]] = {
        "text": lambda r, _: format_text(r),
        "json": lambda r, _: format_json(r),
        "sarif": lambda r, _: format_sarif(r, rules=rules),
        "junit": lambda r, level: format_junit(r, fail_level=level),
        "github": lambda r, _: format_github(r),
    }
    return renderers[fmt](report, fail_level)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(report: Report) -> str:
    """e.g. `3 files, 12 objects: 2 errors, 1 warning`."""
    return (
        f"{_plural(report.files, 'file')}, {_plural(len(report.objects), 'object')}: "
        f"{_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}"
    )


def format_text(report: Report) -> str:
    """`file:line: severity: kind ns/name: path: message (hint) [rule]` per finding, then a summary line."""
    lines = []
    for e in report.findings:
        hint = f" ({e.hint})" if e.hint else ""
        lines.append(f"{e.file}:{e.line}: {e.severity}: {e.label()}: {e.path}: {e.message}{hint} [{e.rule}]")
    for m in report.mutations or ():
        for op in m.patch:
            lines.append(f"{m.file}:{m.line}: mutation: {m.label()}: {_compact(op)}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_document(report: Report) -> dict[str, Any]:
    """The JSON contract (version 1) as a Python value."""
    doc: dict[str, Any] = {
        "version": JSON_VERSION,
        "findings": [
            {
                "file": e.file,
                "line": e.line,
                "kind": e.kind,
                "namespace": e.namespace,
                "name": e.name,
                "rule": e.rule,
                "severity": e.severity,
                "path": e.path,
                "message": e.message,
                "hint": e.hint,
            }
            for e in report.findings
        ],
    }
    if report.mutations is not None:
        doc["mutations"] = [
            {"file": m.file, "kind": m.kind, "namespace": m.namespace, "name": m.name, "patch": list(m.patch)}
            for m in report.mutations
        ]
    if report.input_errors:  # files that could not be read: what text output prints on stderr
        doc["inputErrors"] = [{"file": e.file, "line": e.line, "column": e.column, "message": e.message}
                              for e in report.input_errors]
    doc["summary"] = {
        "files": report.files,
        "objects": len(report.objects),
        "errors": report.errors,
        "warnings": report.warnings,
    }
    return doc


def format_json(report: Report) -> str:
    return json.dumps(json_document(report), indent=2, ensure_ascii=False) + "\n"


def artifact_uri(file: str) -> dict[str, str]:
    """A SARIF artifactLocation: relative paths (what code scanning expects) against %SRCROOT%."""
    path = PurePath(file)
    if path.is_absolute():
        return {"uri": "file://" + quote(path.as_posix())}
    posix = PurePosixPath(*path.parts) if path.parts else PurePosixPath(file)
    return {"uri": quote(str(posix)), "uriBaseId": "%SRCROOT%"}


def _suppression_help(rule: str) -> str:
    if rule in SUPPRESSIBLE:
        return (f'Suppress per object with the annotation ignore-check.netweave.io/{rule}: "<reason>", or change '
                "its level in .netweave.yaml.")
    return "It cannot be suppressed per object; only .netweave.yaml can change its level."


def _sarif_help(rule: str) -> dict[str, Any]:
    """helpUri and help (text and markdown) from the rule catalogue, the source of docs/rules/<id>.md."""
    found = entry(rule)
    if found is None:
        return {"help": {"text": f"netweave lint rule {rule}. {_suppression_help(rule)}"}}
    return {"helpUri": found.help_uri,
            "help": {"text": f"{found.summary}. {configuration(found)} More: {found.help_uri}",
                     "markdown": render_markdown(found)}}


def _rule_name(rule: str) -> str:
    return "".join(part.capitalize() for part in rule.split("-"))


def sarif_document(report: Report, *, rules: Sequence[RuleInfo] = ()) -> dict[str, Any]:
    """SARIF 2.1.0: one run, metadata for every rule (and any rule id a finding names), one result per finding."""
    known = {info.id for info in rules}
    named = {e.rule for e in (*report.findings, *report.suppressed)}
    infos = [*rules, *(RuleInfo(rule, "error", rule) for rule in sorted(named - known))]
    index = {info.id: i for i, info in enumerate(infos)}
    sarif_rules = [
        {
            "id": info.id,
            "name": _rule_name(info.id),
            "shortDescription": {"text": info.summary},
            "fullDescription": {"text": info.summary},
            "defaultConfiguration": {"level": info.severity},
            **_sarif_help(info.id),
        }
        for info in infos
    ]
    results = [_sarif_result(e, index[e.rule]) for e in (*report.findings, *report.suppressed)]
    invocation: dict[str, Any] = {"executionSuccessful": not report.input_errors}
    if report.input_errors:
        invocation["toolExecutionNotifications"] = [_notification(err) for err in report.input_errors]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "netweave", "informationUri": TOOL_URI, "rules": sarif_rules}},
                "invocations": [invocation],
                "results": results,
            }
        ],
    }


def _sarif_result(e: Entry, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": e.rule,
        "ruleIndex": rule_index,
        "level": e.severity,
        "message": {"text": f"{e.label()}: {e.path}: {e.message}" + (f" ({e.hint})" if e.hint else "")},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact_uri(e.file),
                    "region": {"startLine": max(e.line, 1)},
                },
                "logicalLocations": [
                    {"name": e.name, "fullyQualifiedName": f"{e.kind}/{e.namespace}/{e.name}", "kind": "object"}
                ],
            }
        ],
        "partialFingerprints": {"netweave/v1": f"{e.kind}/{e.namespace}/{e.name}/{e.rule}/{e.path}"},
    }
    if e.justification:
        # SARIF 2.1.0 §3.35: an in-source suppression (the object's own ignore-check annotation), with its reason.
        result["suppressions"] = [{"kind": "inSource", "status": "accepted", "justification": e.justification}]
    return result


def _notification(err: SourceError) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": artifact_uri(err.file)}
    if err.line:
        location["region"] = {"startLine": err.line, **({"startColumn": err.column} if err.column else {})}
    return {"level": "error", "message": {"text": err.message}, "locations": [{"physicalLocation": location}]}


def format_sarif(report: Report, *, rules: Sequence[RuleInfo] = ()) -> str:
    return json.dumps(sarif_document(report, rules=rules), indent=2, ensure_ascii=False) + "\n"


def format_junit(report: Report, *, fail_level: Severity = "error") -> str:
    """JUnit XML: one testcase per checked object (failed when a finding is at the fail level) and per input error."""
    suite = ElementTree.Element("testsuite", name="netweave lint")
    by_object: dict[tuple[str, str, str, str], list[Entry]] = {}
    for e in report.findings:
        by_object.setdefault((e.file, e.kind, e.namespace, e.name), []).append(e)
    failures = 0
    for obj in report.objects:
        case = ElementTree.SubElement(suite, "testcase", classname=obj.file, name=obj.label())
        entries = by_object.get((obj.file, obj.kind, obj.namespace, obj.name), [])
        failing = [e for e in entries if fails(e, fail_level)]
        if failing:
            failures += 1
            failure = ElementTree.SubElement(
                case, "failure", message=f"{_plural(len(failing), 'finding')}", type=failing[0].rule
            )
            failure.text = "\n".join(_entry_line(e) for e in failing)
        passing = [e for e in entries if not fails(e, fail_level)]
        if passing:
            ElementTree.SubElement(case, "system-out").text = "\n".join(_entry_line(e) for e in passing)
    for err in report.input_errors:
        case = ElementTree.SubElement(suite, "testcase", classname=err.file, name="read")
        ElementTree.SubElement(case, "error", message=err.message, type="input-error").text = err.text()
    suite.set("tests", str(len(report.objects) + len(report.input_errors)))
    suite.set("failures", str(failures))
    suite.set("errors", str(len(report.input_errors)))
    root = ElementTree.Element("testsuites", name="netweave lint")
    root.set("tests", suite.get("tests", "0"))
    root.set("failures", str(failures))
    root.set("errors", str(len(report.input_errors)))
    root.append(suite)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def _entry_line(e: Entry) -> str:
    hint = f" ({e.hint})" if e.hint else ""
    return f"{e.file}:{e.line}: {e.severity}: {e.path}: {e.message}{hint} [{e.rule}]"


_DATA_ESCAPES = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY_ESCAPES = {**_DATA_ESCAPES, ":": "%3A", ",": "%2C"}


def _escape(text: str, table: Mapping[str, str]) -> str:
    return re.sub("[" + re.escape("".join(table)) + "]", lambda m: table[m.group()], text)


def github_command(level: str, message: str, **properties: str | int) -> str:
    """One workflow command, e.g. `::error file=a.yaml,line=3,title=x::message`, escaped as the runner expects."""
    props = ",".join(f"{key}={_escape(str(value), _PROPERTY_ESCAPES)}" for key, value in properties.items())
    return f"::{level} {props}::{_escape(message, _DATA_ESCAPES)}"


def format_github(report: Report) -> str:
    """GitHub Actions workflow commands: errors as ::error, warnings as ::warning, then the summary."""
    lines = [
        github_command(
            e.severity,
            f"{e.label()}: {e.path}: {e.message}" + (f" ({e.hint})" if e.hint else ""),
            file=e.file,
            line=max(e.line, 1),
            title=f"netweave {e.rule}",
        )
        for e in report.findings
    ]
    for err in report.input_errors:
        where: dict[str, str | int] = {"file": err.file}
        if err.line:
            where["line"] = err.line
        if err.column:
            where["col"] = err.column
        lines.append(github_command("error", err.message, **where, title="netweave input error"))
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
