"""The rule catalogue walks the registry: every rule is listed, explained, documented and in SARIF's help."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from argparse import Namespace

import pytest

from tests.paths import REPO
from webhook.catalogue import DOCS_DIR, EXPLANATIONS, catalogue, documents, entry, render_text
from webhook.explain import run_explain, run_rules
from webhook.lint import lint, rule_infos
from webhook.policy import ALWAYS_PROTECTED, SUPPRESSIBLE, known_rule_ids
from webhook.precheck import PRECHECK_RULES
from webhook.report import Report, sarif_document
from webhook.rules import RULES
from webhook.sources import parse_text

HOW_TO_ADD = ("add an Explanation(why=..., bad=..., fixed=...) for it to EXPLANATIONS in webhook/catalogue.py, then "
              "regenerate the docs: .venv/bin/python -m webhook.catalogue docs/rules")
ALL_IDS = [r.id for r in RULES] + sorted(known_rule_ids() - {r.id for r in RULES}) + [r for r, _ in PRECHECK_RULES]


def rules_json() -> list[dict[str, object]]:
    out = io.StringIO()
    assert run_rules(Namespace(format="json"), stdout=out) == 0
    return list(json.loads(out.getvalue())["rules"])


@pytest.mark.parametrize("rule_id", ALL_IDS)
def test_every_registered_rule_is_explained(rule_id: str) -> None:
    assert rule_id in EXPLANATIONS, f"rule {rule_id!r} has no explanation: {HOW_TO_ADD}"
    explained = EXPLANATIONS[rule_id]
    assert explained.why and explained.bad and explained.fixed and explained.bad != explained.fixed


def test_no_explanation_for_a_rule_that_does_not_exist() -> None:
    assert set(EXPLANATIONS) - set(ALL_IDS) == set()


def test_netweave_rules_lists_every_rule_in_registry_order_with_its_default_severity() -> None:
    listed = rules_json()
    assert [r["id"] for r in listed] == ALL_IDS
    by_id = {r["id"]: r for r in listed}
    for rule in RULES:
        assert (by_id[rule.id]["severity"], by_id[rule.id]["summary"]) == (rule.severity, rule.summary)


def test_text_table_has_one_row_per_rule() -> None:
    out = io.StringIO()
    run_rules(Namespace(format="text"), stdout=out)
    rows = out.getvalue().splitlines()[1:]
    assert [row.split()[0] for row in rows] == ALL_IDS


@pytest.mark.parametrize("rule_id", sorted(ALWAYS_PROTECTED & set(ALL_IDS)))
def test_protected_rules_say_they_cannot_be_suppressed_per_object(rule_id: str) -> None:
    text = render_text(entry(rule_id))  # type: ignore[arg-type]
    assert "cannot be suppressed per object" in text and f"ignore-check.netweave.io/{rule_id}" not in text


@pytest.mark.parametrize("rule_id", sorted(SUPPRESSIBLE))
def test_suppressible_rules_show_the_annotation(rule_id: str) -> None:
    text = render_text(entry(rule_id))  # type: ignore[arg-type]
    assert f'ignore-check.netweave.io/{rule_id}: "<reason>"' in text and f"rules: {{{rule_id}: warning}}" in text


@pytest.mark.parametrize("rule_id", ALL_IDS)
def test_explain_prints_why_the_examples_and_how_to_configure(rule_id: str) -> None:
    out = io.StringIO()
    assert run_explain(Namespace(rule=rule_id, format="text"), stdout=out) == 0
    text = out.getvalue()
    for heading in ("Why it matters:", "Rejected:", "Fixed:", "Suppress or configure:"):
        assert heading in text, f"netweave explain {rule_id}: no {heading!r}; {HOW_TO_ADD}"


def test_explain_of_an_unknown_rule_suggests_the_closest_and_exits_2() -> None:
    err = io.StringIO()
    assert run_explain(Namespace(rule="static-ipp", format="text"), stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue() == ("netweave explain: 'static-ipp' is not a rule id; did you mean \"static-ip\"? "
                              "`netweave rules` lists them all\n")


def test_docs_rules_are_generated_from_the_catalogue_and_in_sync() -> None:
    docs = REPO / DOCS_DIR
    expected = documents()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in docs.glob("*.md")}
    stale = sorted(set(on_disk) - set(expected))
    missing = sorted(set(expected) - set(on_disk))
    changed = sorted(name for name in set(expected) & set(on_disk) if expected[name] != on_disk[name])
    assert (missing, stale, changed) == ([], [], []), \
        "docs/rules/ is out of date: run .venv/bin/python -m webhook.catalogue docs/rules"


def test_sarif_rules_carry_help_uri_and_the_same_markdown_as_the_docs() -> None:
    driver = sarif_document(Report(files=0, objects=(), findings=()), rules=rule_infos())["runs"][0]["tool"]["driver"]
    docs = documents()
    assert [r["id"] for r in driver["rules"]] == [r.id for r in rule_infos()]
    for rule in driver["rules"]:
        assert rule["helpUri"].endswith(f"/docs/rules/{rule['id']}.md")
        assert rule["help"]["markdown"] == docs[f"{rule['id']}.md"]


def test_catalogue_ids_are_unique() -> None:
    ids = [e.id for e in catalogue()]
    assert len(ids) == len(set(ids))


def test_the_netweave_command_dispatches_rules_and_explain() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    listed = subprocess.run([sys.executable, "-m", "netweave", "rules", "--format", "json"], capture_output=True,
                            text=True, env=env, check=False, timeout=60)
    explained = subprocess.run([sys.executable, "-m", "netweave", "explain", "mac-address"], capture_output=True,
                               text=True, env=env, check=False, timeout=60)
    assert listed.returncode == 0 and [r["id"] for r in json.loads(listed.stdout)["rules"]] == ALL_IDS
    assert explained.returncode == 0 and explained.stdout.startswith("mac-address (error by default, protected)")


# Rules whose examples are whole manifests that need nothing else: the rejected one must trip the rule, the fixed
# one must not (the other rules' examples assume NADs or other pods that a comment describes).
SELF_CONTAINED = ["annotation-syntax", "interface-name-invalid", "interface-name-reserved", "interface-name-duplicate",
                  "default-network-override", "mac-address", "attachment-options", "network-config-invalid",
                  "network-status-spoof", "suppression-refused", "object-malformed", "kube-ovn-provider",
                  "device-resource-missing"]


def rules_found(manifest: str) -> set[str]:
    report = lint(parse_text(manifest, file="example.yaml"))
    assert report.input_errors == ()
    return {e.rule for e in report.findings}


@pytest.mark.parametrize("rule_id", SELF_CONTAINED)
def test_the_rejected_example_trips_the_rule_and_the_fixed_one_does_not(rule_id: str) -> None:
    explained = EXPLANATIONS[rule_id]
    assert rule_id in rules_found(explained.bad)
    assert rule_id not in rules_found(explained.fixed)
