"""The repository stands alone: no file reaches outside it or names the machine it was written on, and every
relative link and example file the docs name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.paths import REPO

SKIP_DIRS = {".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "__pycache__", "build", "dist"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".cfg", ".ini", ".sh", ".c", ".h", ".txt", ".raw"}
TEXT_NAMES = {"Makefile", "Dockerfile", ".gitignore", "run"}  # run: .ci/run
# Spelled in pieces so that this file does not match itself.
OUTSIDE = ("../" + "shared", "NETWEAVE_" + "SHARED", "/" + "work/", "REPO." + "parent")
DOCS = ["README.md", "deploy/README.md", *(str(p.relative_to(REPO)) for p in sorted((REPO / "docs").glob("*.md"))),
        *(str(p.relative_to(REPO)) for p in sorted((REPO / "tests" / "fixtures").rglob("README.md")))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def repository_files() -> list[Path]:
    out = []
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if any(p in SKIP_DIRS or p.startswith(".venv") or p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES):
            out.append(path)
    return out


def test_no_file_reads_outside_the_repository_or_names_a_build_machine_path() -> None:
    offenders = []
    for path in repository_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(REPO)}: {needle}" for needle in OUTSIDE if needle in text]
    assert offenders == []


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc: str) -> None:
    path = REPO / doc
    targets = [t for t in LINK.findall(path.read_text(encoding="utf-8")) if "://" not in t and
               not t.startswith("mailto:")]
    missing = [t for t in targets if not (path.parent / t).exists()]
    assert missing == []


def test_readme_example_requests_are_files_of_the_repository() -> None:
    posted = re.findall(r"-d @(\S+)", (REPO / "README.md").read_text(encoding="utf-8"))
    assert posted and all((REPO / name).is_file() for name in posted)
