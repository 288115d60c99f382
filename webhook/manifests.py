"""The one manifest reader: paths (files, directories, Helm charts, `-` for stdin) -> Sources, and a NAD catalog
read from a path through it.

Lint, plan, `kubectl netweave` and `serve --catalog` all read manifests here, so a file means the same to each
of them; parsing is sources.py's (objects with file and line), rendering a chart is charts.py's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from webhook.catalog import CatalogError, MemoryCatalog
from webhook.charts import CHART_FILE, render_chart
from webhook.sources import MAX_FILE_BYTES, SourceError, Sources, decode_and_parse, read_file, too_large

STDIN = "-"
STDIN_NAME = "<stdin>"
SUFFIXES = (".yaml", ".yml", ".json")
MAX_REPORTED = 5  # problems named in one CatalogError; the rest are counted


@dataclass(frozen=True, slots=True)
class DirectoryInputs:
    """What a directory holds for the reader, each list sorted: manifest files and Helm chart directories."""

    files: tuple[Path, ...] = ()
    charts: tuple[Path, ...] = ()
    errors: tuple[SourceError, ...] = ()  # subdirectories that could not be listed


def find_inputs(directory: Path) -> DirectoryInputs:
    """YAML/JSON files and charts under `directory`, recursively; hidden directories (.git, .venv) are skipped,
    and a chart's templates are not files to parse (they are YAML only once rendered)."""
    files: list[Path] = []
    charts: list[Path] = []
    errors: list[SourceError] = []

    def unreadable(exc: OSError) -> None:
        errors.append(SourceError(str(exc.filename or directory), 0, 0, f"cannot read: {exc.strerror or exc}"))

    for root, dirs, names in os.walk(directory, onerror=unreadable):
        if CHART_FILE in names:
            charts.append(Path(root))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / name for name in sorted(names) if name.endswith(SUFFIXES))
    return DirectoryInputs(tuple(files), tuple(charts), tuple(errors))


def read_paths(paths: Sequence[str], *, stdin: TextIO | None = None) -> Sources:
    """Read every path in order: `-` is stdin, a directory is searched recursively (its files, then its charts
    rendered), a file is read as is; every problem is a SourceError value."""
    result = Sources()
    for raw in paths:
        result += read_path(raw, stdin=stdin)
    return result


def read_path(raw: str, *, stdin: TextIO | None = None) -> Sources:
    """One path of read_paths."""
    if raw == STDIN:
        return read_stdin(stdin)
    path = Path(raw)
    if path.is_dir():
        inputs = find_inputs(path)
        result = Sources(errors=inputs.errors)
        for file in inputs.files:
            result += read_file(file)
        for chart in inputs.charts:
            result += render_chart(chart)
        return result
    if path.exists():
        return read_file(path)
    return Sources(errors=(SourceError(raw, 0, 0, "no such file or directory"),), files=0)


def read_stdin(stdin: TextIO | None) -> Sources:
    """Standard input as one file named <stdin>, with the same size limit and UTF-8 check as a file."""
    if stdin is None:
        return Sources(errors=(SourceError(STDIN_NAME, 0, 0, "stdin is not available"),))
    try:
        data = (stdin.buffer.read(MAX_FILE_BYTES + 1) if hasattr(stdin, "buffer")
                else stdin.read(MAX_FILE_BYTES + 1).encode("utf-8"))
    except (OSError, ValueError) as exc:
        return Sources(errors=(SourceError(STDIN_NAME, 0, 0, f"cannot read: {exc}"),), files=1)
    if len(data) > MAX_FILE_BYTES:
        return too_large(STDIN_NAME)
    return decode_and_parse(data, file=STDIN_NAME)


def read_catalog(path: str) -> MemoryCatalog:
    """The NADs in the manifests at `path` (other kinds are ignored); CatalogError naming file:line:column and the
    problem when anything there cannot be read, so that a server never starts with NADs silently missing.

    A Helm chart in the directory is rendered, as `netweave lint --nads` renders it: a catalog path means the same
    NADs to lint and to serve (without helm on PATH, that is an error which says how to render the chart).
    """
    sources = read_paths([path])  # no stdin: `-` is reported as unavailable
    if sources.errors:
        raise CatalogError(catalog_problems(sources.errors))
    return MemoryCatalog.from_objects(source.obj for source in sources.objects)


def catalog_problems(errors: Sequence[SourceError]) -> str:
    """One line naming the first problems: `NAD catalog file:line:column: problem; ...`."""
    named = "; ".join(f"{error.location()}: {error.message}" for error in errors[:MAX_REPORTED])
    more = f" (and {len(errors) - MAX_REPORTED} more)" if len(errors) > MAX_REPORTED else ""
    return f"NAD catalog {named}{more}"
