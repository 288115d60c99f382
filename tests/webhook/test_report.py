"""Formatters: exact text lines, the JSON contract, SARIF 2.1.0, JUnit XML and GitHub workflow commands."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest

from webhook.lint import rule_infos
from webhook.report import (
    Entry,
    MutationEntry,
    ObjectRef,
    Report,
    RuleInfo,
    artifact_uri,
    format_github,
    format_json,
    format_junit,
    format_sarif,
    format_text,
    github_command,
    render,
    summary_line,
)
from webhook.rules import RULES
from webhook.sources import SourceError

NET = 'metadata.annotations["k8s.v1.cni.cncf.io/networks"]'
POD = ObjectRef("pods/a.yaml", 3, "Pod", "default", "busybox3")
DEPLOY = ObjectRef("pods/b.yaml", 1, "Deployment", "team", "web")
ERROR = Entry("pods/a.yaml", 9, "Pod", "default", "busybox3", "interface-name-reserved", "error", f"{NET}[0].interface",
              'networks[0] "default/yusur-ovn": interface "eth0" is reserved', 'choose another name, e.g. "net1"')
WARNING = Entry("pods/b.yaml", 7, "Deployment", "team", "web", "network-not-found", "warning",
                f"spec.template.{NET}[1]", 'networks[1] "team/x": NetworkAttachmentDefinition not found', "")
SELECTOR_OP = {"op": "add", "path": "/spec/template/spec/nodeSelector", "value": {"k8s.ovn.org/dpu-host": ""}}
PATCH = MutationEntry("pods/b.yaml", 1, "Deployment", "team", "web", (SELECTOR_OP,))
REPORT = Report(files=2, objects=(POD, DEPLOY), findings=(ERROR, WARNING))


def test_text_lines_and_summary() -> None:
    assert format_text(REPORT).splitlines() == [
        f'pods/a.yaml:9: error: Pod default/busybox3: {NET}[0].interface: networks[0] "default/yusur-ovn": '
        'interface "eth0" is reserved (choose another name, e.g. "net1") [interface-name-reserved]',
        f'pods/b.yaml:7: warning: Deployment team/web: spec.template.{NET}[1]: networks[1] "team/x": '
        "NetworkAttachmentDefinition not found [network-not-found]",
        "2 files, 2 objects: 1 error, 1 warning",
    ]


def test_text_shows_mutations_one_op_per_line() -> None:
    text = format_text(Report(files=1, objects=(DEPLOY,), findings=(), mutations=(PATCH,)))
    assert text.splitlines()[0] == ('pods/b.yaml:1: mutation: Deployment team/web: {"op":"add","path":'
                                    '"/spec/template/spec/nodeSelector","value":{"k8s.ovn.org/dpu-host":""}}')


@pytest.mark.parametrize(
    ("report", "line"),
    [
        pytest.param(Report(0, (), ()), "0 files, 0 objects: 0 errors, 0 warnings", id="empty"),
        pytest.param(Report(1, (POD,), (ERROR,)), "1 file, 1 object: 1 error, 0 warnings", id="singular"),
    ],
)
def test_summary_line(report: Report, line: str) -> None:
    assert summary_line(report) == line


def test_json_contract_exact() -> None:
    assert json.loads(format_json(REPORT)) == {
        "version": 1,
        "findings": [
            {"file": "pods/a.yaml", "line": 9, "kind": "Pod", "namespace": "default", "name": "busybox3",
             "rule": "interface-name-reserved", "severity": "error", "path": f"{NET}[0].interface",
             "message": 'networks[0] "default/yusur-ovn": interface "eth0" is reserved',
             "hint": 'choose another name, e.g. "net1"'},
            {"file": "pods/b.yaml", "line": 7, "kind": "Deployment", "namespace": "team", "name": "web",
             "rule": "network-not-found", "severity": "warning", "path": f"spec.template.{NET}[1]",
             "message": 'networks[1] "team/x": NetworkAttachmentDefinition not found', "hint": ""},
        ],
        "summary": {"files": 2, "objects": 2, "errors": 1, "warnings": 1},
    }


def test_json_key_order_is_stable() -> None:
    doc = json.loads(format_json(Report(1, (DEPLOY,), (WARNING,), mutations=(PATCH,))))
    assert list(doc) == ["version", "findings", "mutations", "summary"]
    assert list(doc["findings"][0]) == ["file", "line", "kind", "namespace", "name", "rule", "severity", "path",
                                        "message", "hint"]
    assert doc["mutations"] == [{"file": "pods/b.yaml", "kind": "Deployment", "namespace": "team", "name": "web",
                                 "patch": [dict(PATCH.patch[0])]}]


def test_json_keeps_unicode_readable() -> None:
    entry = Entry("中文.yaml", 1, "Pod", "default", "p", "annotation-syntax", "error", NET, "不是 JSON", "")
    assert "中文.yaml" in format_json(Report(1, (), (entry,)))


def sarif(report: Report) -> dict:  # type: ignore[type-arg]
    return json.loads(format_sarif(report, rules=rule_infos()))  # type: ignore[no-any-return]


def test_sarif_run_tool_rules_and_results() -> None:
    doc = sarif(REPORT)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "netweave"
    assert [r["id"] for r in rules][: len(RULES)] == [rule.id for rule in RULES]
    assert all(r["shortDescription"]["text"] for r in rules)
    first, second = run["results"]
    assert first["ruleId"] == "interface-name-reserved"
    assert rules[first["ruleIndex"]]["id"] == "interface-name-reserved"
    assert first["level"] == "error" and second["level"] == "warning"
    location = first["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "pods/a.yaml", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 9}}
    assert first["message"]["text"].startswith("Pod default/busybox3: ")
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_sarif_unknown_rule_gets_metadata_too() -> None:
    entry = Entry("a.yaml", 1, "Pod", "default", "p", "some-future-rule", "error", NET, "too many", "")
    rules = sarif(Report(1, (), (entry,)))["runs"][0]["tool"]["driver"]["rules"]
    assert rules[-1]["id"] == "some-future-rule"


def test_sarif_input_errors_are_tool_notifications() -> None:
    error = SourceError("bad.yaml", 4, 2, "invalid YAML: oops")
    run = sarif(Report(1, (), (), input_errors=(error,)))["runs"][0]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 2}


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        pytest.param("pods/a b.yaml", {"uri": "pods/a%20b.yaml", "uriBaseId": "%SRCROOT%"}, id="relative-quoted"),
        pytest.param("/abs/x.yaml", {"uri": "file:///abs/x.yaml"}, id="absolute-file-uri"),
        pytest.param("./a.yaml", {"uri": "a.yaml", "uriBaseId": "%SRCROOT%"}, id="dot-slash-dropped"),
        pytest.param("<stdin>", {"uri": "%3Cstdin%3E", "uriBaseId": "%SRCROOT%"}, id="stdin"),
    ],
)
def test_sarif_artifact_uri(file: str, expected: dict[str, str]) -> None:
    assert artifact_uri(file) == expected


def junit(report: Report, level: str = "error") -> ElementTree.Element:
    return ElementTree.fromstring(format_junit(report, fail_level=level))  # type: ignore[arg-type]


def test_junit_one_testcase_per_object_failed_at_fail_level() -> None:
    root = junit(REPORT)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("pods/a.yaml", "Pod default/busybox3"), ("pods/b.yaml", "Deployment team/web")]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "interface-name-reserved"
    assert "[interface-name-reserved]" in (failure.text or "")
    assert cases[1].find("failure") is None
    assert "network-not-found" in (cases[1].findtext("system-out") or "")


def test_junit_warning_fail_level_fails_warnings_and_input_errors_are_errors() -> None:
    report = Report(2, (POD, DEPLOY), (ERROR, WARNING), input_errors=(SourceError("x.yaml", 1, 1, "bad"),))
    suite = junit(report, "warning").find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "1")
    assert suite.findall("testcase")[-1].find("error") is not None


def test_github_commands_escape_properties_and_data() -> None:
    assert github_command("error", "a%b\nc", file="x,y:z.yaml", line=3, title="t") == (
        "::error file=x%2Cy%3Az.yaml,line=3,title=t::a%25b%0Ac")


def test_github_format_errors_warnings_and_summary() -> None:
    report = Report(2, (POD, DEPLOY), (ERROR, WARNING), input_errors=(SourceError("bad.yaml", 4, 2, "invalid"),))
    lines = format_github(report).splitlines()
    assert lines[0].startswith("::error file=pods/a.yaml,line=9,title=netweave interface-name-reserved::Pod default/")
    assert lines[1].startswith("::warning file=pods/b.yaml,line=7,title=netweave network-not-found::")
    assert lines[2] == "::error file=bad.yaml,line=4,col=2,title=netweave input error::invalid"
    assert lines[3] == "2 files, 2 objects: 1 error, 1 warning"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github"])
def test_every_format_ends_with_newline_and_handles_an_empty_report(fmt: str) -> None:
    out = render(Report(0, (), ()), fmt)  # type: ignore[arg-type]
    assert out.endswith("\n") and out.strip()


def test_sarif_rule_metadata_comes_from_the_rules_given() -> None:
    rules = (RuleInfo("interface-name-reserved", "error", "eth0 and lo are not requested"),
             RuleInfo("subnet-overlap", "warning", "subnets do not overlap"))
    driver = json.loads(format_sarif(REPORT, rules=rules))["runs"][0]["tool"]["driver"]
    assert [(r["id"], r["defaultConfiguration"]["level"]) for r in driver["rules"]] == [
        ("interface-name-reserved", "error"), ("subnet-overlap", "warning"), ("network-not-found", "error")]
    assert driver["rules"][0]["shortDescription"]["text"] == "eth0 and lo are not requested"


def test_sarif_lists_honoured_suppressions_with_their_reason() -> None:
    quiet = Entry("pods/a.yaml", 9, "Pod", "default", "busybox3", "interface-name-reserved", "error",
                  f"{NET}[0].interface", "eth0 is reserved", "", justification="legacy image expects it")
    report = Report(files=1, objects=(POD,), findings=(), suppressed=(quiet,))
    (result,) = sarif(report)["runs"][0]["results"]
    assert result["suppressions"] == [
        {"kind": "inSource", "status": "accepted", "justification": "legacy image expects it"}]
    assert (report.errors, report.warnings) == (0, 0)
    assert "interface-name-reserved" not in format_text(report)


def test_sarif_help_says_which_rules_cannot_be_suppressed() -> None:
    rules = {r["id"]: r["help"]["text"] for r in sarif(REPORT)["runs"][0]["tool"]["driver"]["rules"]}
    assert "ignore-check.netweave.io/subnet-overlap" in rules["subnet-overlap"]
    assert "cannot be suppressed per object" in rules["mac-address"]
