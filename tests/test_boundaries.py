"""Package boundaries: the generic top-level names are ours, and the stdlib-only modules stay that way."""

import ast
import subprocess
import sys
from pathlib import Path

import certs
import cni
import netweave
import webhook
from tests.paths import REPO, console_script

OURS = ("netweave", "webhook", "cni", "certs")
# The command line's subcommand loaders import what they run when it runs (netweave/cli.py's docstring says why).
LAZY_BY_DESIGN = (REPO / "netweave" / "cli.py",)


def test_top_level_packages_come_from_this_repo() -> None:
    for module in (certs, cni, netweave, webhook):
        assert module.__file__ is not None and REPO in __import__("pathlib").Path(module.__file__).parents


def test_spec_imports_only_the_standard_library() -> None:
    code = ("import sys; import cni.spec; heavy = {'kubernetes', 'pyroute2', 'yaml', 'fastapi', 'jsonpatch', "
            "'cryptography', 'webhook'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_import_contracts_hold() -> None:
    result = subprocess.run([str(console_script("lint-imports"))], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def own_imports_inside_functions(path: Path) -> list[str]:
    """`file:line module` of every import of one of our packages written inside a function."""
    found = []
    for function in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.relative_to(REPO)}:{node.lineno} {name}" for name in names
                      if name.split(".")[0] in OURS]
    return found


def test_no_module_hides_an_import_of_ours_inside_a_function() -> None:
    """Such an import is invisible to a reader of the module's head and has hidden import cycles before."""
    files = [f for package in OURS for f in sorted((REPO / package).rglob("*.py")) if f not in LAZY_BY_DESIGN]
    assert len(files) > 50
    assert [hit for f in files for hit in own_imports_inside_functions(f)] == []
    assert own_imports_inside_functions(LAZY_BY_DESIGN[0])   # the check sees the ones that are there
