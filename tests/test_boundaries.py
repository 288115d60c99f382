"""Package boundaries: the generic top-level names are ours, and the stdlib-only modules stay that way."""

import subprocess
import sys

import certs
import cni
import webhook
from tests.paths import REPO, console_script


def test_top_level_packages_come_from_this_repo() -> None:
    for module in (certs, cni, webhook):
        assert module.__file__ is not None and REPO in __import__("pathlib").Path(module.__file__).parents


def test_spec_imports_only_the_standard_library() -> None:
    code = ("import sys; import cni.spec; heavy = {'kubernetes', 'pyroute2', 'yaml', 'fastapi', 'jsonpatch', "
            "'cryptography', 'webhook'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_import_contracts_hold() -> None:
    result = subprocess.run([str(console_script("lint-imports"))], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
