"""docs/examples/github-actions.yml: valid workflow YAML whose every `netweave` command the real CLI accepts."""

from __future__ import annotations

import argparse
import shlex

import pytest
import yaml

from netweave.cli import SUBCOMMANDS
from tests.paths import REPO

WORKFLOW = REPO / "docs" / "examples" / "github-actions.yml"


def commands() -> list[list[str]]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    runs = [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]
    out = []
    for run in runs:
        for part in run.split("|"):
            words = shlex.split(part.split(">")[0])
            if words and words[0] == "netweave":
                out.append(words[1:])
    return out


def test_the_workflow_runs_lint_sarif_and_plan() -> None:
    used = [(c[0], [c[i + 1] for i, word in enumerate(c) if word == "--format"]) for c in commands()]
    assert used == [("lint", ["github", "sarif"]), ("lint", ["github"]), ("plan", [])]


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: " ".join(argv))
def test_every_netweave_command_parses(argv: list[str]) -> None:
    add_arguments, _ = SUBCOMMANDS[argv[0]].load()
    parser = argparse.ArgumentParser(prog=f"netweave {argv[0]}", exit_on_error=False)
    add_arguments(parser)
    parser.parse_args(argv[1:])
