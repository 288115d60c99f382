"""netweave lint writes several formats in one run: --format/--output pairs, by position."""

from __future__ import annotations

import argparse
import io
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.paths import SEEDS
from webhook.lint import add_arguments, run

SEED = str(SEEDS / "011-yusur-ovn-secondary-eth0.yaml")  # one interface-name-reserved error


def lint(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run(parser.parse_args(list(argv)), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_text_on_stdout_and_sarif_and_junit_in_files_from_one_run(tmp_path: Path) -> None:
    sarif, junit = tmp_path / "netweave.sarif", tmp_path / "junit.xml"
    code, out, err = lint("--format", "text", "--format", "sarif", "--format", "junit",
                          "--output", "-", "--output", str(sarif), "--output", str(junit), SEED)
    assert (code, err) == (1, "")
    assert out.splitlines()[-1] == "1 file, 2 objects: 1 error, 0 warnings"
    (result,) = json.loads(sarif.read_text())["runs"][0]["results"]
    assert result["ruleId"] == "interface-name-reserved"
    assert ElementTree.fromstring(junit.read_text()).get("failures") == "1"


def test_a_format_without_an_output_goes_to_stdout(tmp_path: Path) -> None:
    code, out, _ = lint("--format", "sarif", "--format", "json", "--output", str(tmp_path / "a.sarif"), SEED)
    assert code == 1 and json.loads(out)["summary"]["errors"] == 1 and (tmp_path / "a.sarif").is_file()


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["--format", "text", "--format", "json"],
                 "netweave lint: text and json would both go to stdout; give all but one of them an --output FILE "
                 "(pairs by position: --format text --format sarif --output - --output netweave.sarif)\n",
                 id="two-on-stdout"),
    pytest.param(["--output", "a", "--output", "b"],
                 "netweave lint: 2 --output for 1 --format: each --output is the file of the --format at the same "
                 "position\n", id="more-outputs-than-formats"),
])
def test_pairs_that_do_not_add_up_are_usage_errors(argv: list[str], message: str) -> None:
    assert lint(*argv, SEED) == (2, "", message)


def test_an_output_that_cannot_be_written_is_exit_2_after_the_others(tmp_path: Path) -> None:
    code, out, err = lint("--format", "text", "--format", "sarif", "--output", "-",
                          "--output", str(tmp_path / "missing" / "x.sarif"), SEED)
    assert code == 2 and out.endswith("1 error, 0 warnings\n")
    assert err == f"netweave lint: --output {tmp_path / 'missing' / 'x.sarif'}: No such file or directory\n"
