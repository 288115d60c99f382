"""`netweave lint` end to end: inputs, catalog, options, exit codes, and never a traceback."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

import webhook.lint
from tests.paths import FIXTURES, REPO, SEEDS
from webhook.lint import add_arguments, prefix_patch, run
from webhook.manifests import read_paths

EXAMPLES = REPO / "deploy" / "examples"
ETH0 = SEEDS / "011-yusur-ovn-secondary-eth0.yaml"
NAD_ELSEWHERE = SEEDS / "022-yusur-ovn-secondary-nad-elsewhere.yaml"
CLEAN = SEEDS / "009-yusur-ovn-secondary.yaml"
NET = 'metadata.annotations["k8s.v1.cni.cncf.io/networks"]'


def lint(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run(parser.parse_args(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def lint_json(*argv: str, stdin: str = "") -> tuple[int, dict[str, Any]]:
    code, out, _ = lint("--format", "json", *argv, stdin=stdin)
    return code, json.loads(out)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        pytest.param([str(CLEAN)], 0, id="clean"),
        pytest.param([str(ETH0)], 1, id="error"),
        pytest.param([str(NAD_ELSEWHERE)], 0, id="missing-nad-is-a-warning"),
        pytest.param(["--strict", str(NAD_ELSEWHERE)], 1, id="missing-nad-strict"),
        pytest.param(["--fail-level", "warning", str(NAD_ELSEWHERE)], 1, id="fail-level-warning"),
        pytest.param(["--fail-level", "warning", str(CLEAN)], 0, id="fail-level-warning-clean"),
        pytest.param(["--nads", str(EXAMPLES / "nads"), str(EXAMPLES / "pods")], 1, id="examples-deny"),
        pytest.param(["--nads", str(SEEDS), str(NAD_ELSEWHERE), "--strict"], 0, id="nads-dir-completes-catalog"),
    ],
)
def test_exit_codes(argv: list[str], code: int) -> None:
    assert lint(*argv)[0] == code


def test_json_contract_for_a_denied_seed() -> None:
    code, doc = lint_json(str(ETH0))
    assert code == 1
    assert doc == {
        "version": 1,
        "findings": [{
            "file": str(ETH0), "line": 30, "kind": "Pod", "namespace": "default", "name": "busybox3-eth0",
            "rule": "interface-name-reserved", "severity": "error", "path": f"{NET}[0].interface",
            "message": doc["findings"][0]["message"], "hint": doc["findings"][0]["hint"],
        }],
        "summary": {"files": 1, "objects": 2, "errors": 1, "warnings": 0},
    }
    assert '"eth0"' in doc["findings"][0]["message"]


def test_text_format_line_and_summary() -> None:
    _, out, _ = lint(str(ETH0))
    first, summary = out.splitlines()
    assert first.startswith(f"{ETH0}:30: error: Pod default/busybox3-eth0: {NET}[0].interface: ")
    assert first.endswith("[interface-name-reserved]")
    assert summary == "1 file, 2 objects: 1 error, 0 warnings"


def test_stdin_dash_reads_a_helm_style_stream() -> None:
    stream = "---\n# Source: chart/templates/pod.yaml\n" + ETH0.read_text(encoding="utf-8") + "\n---\n"
    code, doc = lint_json("-", stdin=stream)
    assert code == 1
    assert [(f["file"], f["rule"], f["line"]) for f in doc["findings"]] == [
        ("<stdin>", "interface-name-reserved", 32)]


def test_list_items_are_checked_with_their_own_lines() -> None:
    items = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "default", "annotations": {
            "k8s.v1.cni.cncf.io/networks": '[{"name": "nowhere", "interface": "eth0"}]'}}}
        for i in range(2)
    ]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1)
    _, doc = lint_json("-", stdin=text)
    reserved = [(f["name"], f["line"]) for f in doc["findings"] if f["rule"] == "interface-name-reserved"]
    assert reserved == [("p0", 12), ("p1", 23)]


def test_workloads_are_checked_at_their_pod_templates() -> None:
    _, doc = lint_json(str(FIXTURES / "manifests"))
    by_kind = {(f["kind"], f["name"], f["rule"]) for f in doc["findings"]}
    assert ("Deployment", "web-dual", "interface-name-reserved") in by_kind
    assert ("CronJob", "cron1", "interface-name-duplicate") in by_kind
    cron = next(f for f in doc["findings"] if f["name"] == "cron1")
    assert cron["path"].startswith("spec.jobTemplate.spec.template.metadata.annotations")
    assert doc["summary"]["files"] == 4


def test_show_mutations_patch_applies_to_the_object_in_the_file() -> None:
    code, doc = lint_json("--show-mutations", str(EXAMPLES))
    assert code == 1
    names = {m["name"] for m in doc["mutations"]}
    assert "dpu-pod" in names
    assert not names & {"denied-eth0-secondary", "denied-static-ip"}  # admission changes nothing it denies
    (dpu,) = (m for m in doc["mutations"] if m["name"] == "dpu-pod")
    (source,) = (o.obj for o in read_paths([str(EXAMPLES / "pods" / "dpu-pod.yaml")]).objects)
    pod = jsonpatch.apply_patch(source, dpu["patch"])
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"yusur.tech/sriov_dpu": "1"}
    assert pod["spec"]["nodeSelector"] == {"k8s.ovn.org/dpu-host": ""}


def test_mutations_key_only_with_show_mutations() -> None:
    assert "mutations" not in lint_json(str(CLEAN))[1]
    assert lint_json("--show-mutations", str(CLEAN))[1]["mutations"][0]["name"] == "busybox3"


def test_nads_from_the_nads_option_are_catalog_only() -> None:
    _, doc = lint_json("--nads", str(EXAMPLES / "nads"), str(EXAMPLES / "pods"))
    assert doc["summary"]["objects"] == len(list((EXAMPLES / "pods").glob("*.yaml")))
    assert doc["summary"]["files"] == len(list((EXAMPLES / "pods").glob("*.yaml")))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param("kind: Pod\nmetadata: [\n", ":3:1: error: invalid YAML", id="invalid-yaml"),
        pytest.param("\x00\x01binary", ": error: ", id="control-characters"),
    ],
)
def test_unreadable_input_exits_2_with_file_and_line(tmp_path: Path, content: str, fragment: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    code, out, err = lint(str(bad), str(ETH0))
    assert code == 2
    assert err.startswith(str(bad)) and fragment in err
    assert "Traceback" not in err + out
    assert "interface-name-reserved" in out  # the readable files are still reported


def test_missing_path_and_missing_nads_dir_exit_2(tmp_path: Path) -> None:
    code, _, err = lint(str(tmp_path / "nope.yaml"))
    assert (code, err) == (2, f"{tmp_path / 'nope.yaml'}: error: no such file or directory\n")
    assert lint("--nads", str(tmp_path / "nope"), str(CLEAN))[0] == 2


def test_default_config_file_is_read_from_the_working_directory(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert lint(str(ETH0))[0] == 1
    (tmp_path / ".netweave.yaml").write_text("rules:\n  interface-name-reserved: warning\n")
    code, doc = lint_json(str(ETH0))
    assert code == 0 and doc["findings"][0]["severity"] == "warning"


def test_explicit_config_and_a_bad_config(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  interface-name-reserved: off\n")
    code, doc = lint_json("--config", str(policy), str(ETH0))
    assert (code, doc["findings"]) == (0, [])
    policy.write_text("rules: [\n")
    code, out, err = lint("--config", str(policy), str(ETH0))
    assert (code, out) == (2, "")
    assert err.startswith(f"netweave lint: {policy}") and "Traceback" not in err


def test_default_network_missing_everywhere_is_a_warning_unless_strict() -> None:
    pod = "kind: Pod\nmetadata:\n  name: p\n  annotations:\n    v1.multus-cni.io/default-network: nowhere-net\n"
    code, doc = lint_json("-", stdin=pod)
    assert (code, [(f["rule"], f["severity"]) for f in doc["findings"]]) == (
        0, [("default-network-override", "warning")])
    code, doc = lint_json("--strict", "-", stdin=pod)
    assert (code, [(f["rule"], f["severity"]) for f in doc["findings"]]) == (1, [("default-network-override", "error")])


def test_default_network_with_interface_stays_an_error() -> None:
    pod = ("kind: Pod\nmetadata:\n  name: p\n  annotations:\n"
           "    v1.multus-cni.io/default-network: '[{\"name\": \"nowhere\", \"interface\": \"eth1\"}]'\n")
    _, doc = lint_json("-", stdin=pod)
    assert sorted((f["rule"], f["severity"]) for f in doc["findings"]) == [
        ("default-network-override", "error"), ("default-network-override", "warning")]


@pytest.mark.parametrize(
    ("prefix", "path"),
    [
        pytest.param("", "/spec/nodeSelector", id="pod"),
        pytest.param("spec.template.", "/spec/template/spec/nodeSelector", id="deployment"),
        pytest.param("spec.jobTemplate.spec.template.", "/spec/jobTemplate/spec/template/spec/nodeSelector",
                     id="cronjob"),
    ],
)
def test_prefix_patch(prefix: str, path: str) -> None:
    ops = [{"op": "move", "from": "/spec/nodeSelector", "path": "/spec/nodeSelector", "value": {}}]
    (op,) = prefix_patch(ops, prefix)
    assert op["path"] == path and op["from"] == path


def test_an_engine_crash_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(webhook.lint, "evaluate_pod", boom)
    code, out, err = lint(str(ETH0))
    assert code == 2
    assert "internal error while checking Pod busybox3-eth0: RuntimeError('boom')" in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("fmt", ["sarif", "junit", "github"])
def test_other_formats_on_the_examples(fmt: str) -> None:
    code, out, _ = lint("--format", fmt, str(EXAMPLES))
    assert code == 1
    if fmt == "sarif":
        assert {r["ruleId"] for r in json.loads(out)["runs"][0]["results"]} >= {"interface-name-reserved"}
    elif fmt == "junit":
        assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>') and "<failure" in out
    else:
        assert any(line.startswith("::error file=") for line in out.splitlines())


def test_console_script_with_a_pipe() -> None:
    """The real entry point: `helm template ... | netweave lint -`."""
    result = subprocess.run([sys.executable, "-m", "netweave", "lint", "--format", "github", "-"],
                            input=ETH0.read_bytes(), capture_output=True, cwd=REPO, check=False, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stdout.decode().startswith("::error file=<stdin>,line=30,title=netweave interface-name-reserved::")


def test_usage_error_exits_2() -> None:
    result = subprocess.run([sys.executable, "-m", "netweave", "lint", "--format", "yaml", "x"],
                            capture_output=True, cwd=REPO, check=False, timeout=60)
    assert result.returncode == 2 and b"invalid choice" in result.stderr


def test_examples_deny_exactly_the_denied_pods_and_all_nads_are_valid() -> None:
    _, doc = lint_json(str(EXAMPLES))
    assert {(f["name"], f["rule"]) for f in doc["findings"]} == {
        ("denied-eth0-secondary", "interface-name-reserved"),
        ("denied-static-ip", "static-ip"),
        ("denied-static-ip", "default-route-conflict"),
        ("ovn-primary-calico-secondary", "calico-secondary"),  # a warning: unsupported upstream (calico#5962)
    }


def test_sarif_rules_are_the_engines_registry_and_the_prechecks() -> None:
    from webhook.precheck import PRECHECK_RULES
    from webhook.rules import RULES

    _, out, _ = lint("--format", "sarif", str(CLEAN))
    rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
    assert [(r["id"], r["defaultConfiguration"]["level"]) for r in rules] == [
        *((r.id, r.severity) for r in RULES), *((rule_id, "error") for rule_id, _ in PRECHECK_RULES)]


@pytest.mark.parametrize(("bad", "problem"), [
    pytest.param("a: !!bool maybe", '"maybe" as !!bool', id="bool-maybe"),
    pytest.param("a: !!float x", '"x" as !!float', id="float-x"),
    pytest.param('a: !!int ""', '"" as !!int', id="explicit-int-empty"),
    pytest.param('a: !!int "' + "9" * 4400 + '"', '"' + "9" * 37 + '..." as !!int', id="int-over-4300-digits"),
])
def test_yaml_values_that_cannot_be_built_are_input_errors_exit_2(tmp_path: Path, bad: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"kind: Pod\nmetadata: {{name: a}}\n{bad}\n---\nkind: Pod\nmetadata: {{name: b}}\nb: !!bool x\n")
    code, _, err = lint(str(path))
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[:2] == [f"{path}:3:4: error: invalid YAML: cannot read {problem}",
                                    f'{path}:7:4: error: invalid YAML: cannot read "x" as !!bool']


def test_plain_lookalike_numbers_are_strings_and_lint_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: 0x_\n  b: " + "9" * 4400 + "\n")
    assert lint(str(path))[0] == 0


def test_oversized_annotations_and_malformed_metadata_are_findings_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  annotations:\n"
                    f"    k8s.v1.cni.cncf.io/networks: {'n,' * 140_000}n\n"
                    "---\napiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
                    "metadata:\n  name: nad\n  annotations: oops\nspec: {config: '{}'}\n")
    code, doc = lint_json(str(path))
    assert code == 1
    assert [(f["name"], f["rule"], f["line"]) for f in doc["findings"]] == [
        ("big", "annotation-size", 5), ("nad", "object-malformed", 12)]
