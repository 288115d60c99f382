"""`netweave rules` (the catalogue as a table or JSON) and `netweave explain RULE` (one rule in full)."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any, TextIO

from webhook.catalogue import CatalogueEntry, catalogue, configuration, entry, render_text


def add_rules_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def run_rules(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    entries = catalogue()
    if args.format == "json":
        out.write(json.dumps({"rules": [rule_json(e) for e in entries]}, indent=2, ensure_ascii=False) + "\n")
        return 0
    width = max(len(e.id) for e in entries)
    out.write(f"{'RULE':<{width}}  {'DEFAULT':<7}  {'PROTECTED':<9}  CHECKS\n")
    for e in entries:
        out.write(f"{e.id:<{width}}  {e.severity:<7}  {'yes' if e.protected else 'no':<9}  {e.summary}\n")
    return 0


def rule_json(e: CatalogueEntry) -> dict[str, Any]:
    """One rule in `netweave rules --format json` and `netweave explain --format json`."""
    doc: dict[str, Any] = {"id": e.id, "severity": e.severity, "summary": e.summary, "stage": e.stage,
                           "protected": e.protected, "configure": configuration(e), "helpUri": e.help_uri}
    if e.explanation is not None:
        doc.update(why=e.explanation.why, bad=e.explanation.bad, fixed=e.explanation.fixed)
    return doc


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rule", metavar="RULE", help="a rule id, as `netweave rules` lists them")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def run_explain(args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    found = entry(args.rule)
    if found is None:
        ids = [e.id for e in catalogue()]
        close = difflib.get_close_matches(args.rule, ids, n=1)
        hint = f'did you mean "{close[0]}"? ' if close else ""
        err.write(f"netweave explain: {args.rule!r} is not a rule id; {hint}`netweave rules` lists them all\n")
        return 2
    out.write(json.dumps(rule_json(found), indent=2, ensure_ascii=False) + "\n" if args.format == "json"
              else render_text(found))
    return 0
