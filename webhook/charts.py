"""Helm charts among the inputs: their templates are not YAML until rendered.

A directory holding Chart.yaml (webhook.manifests finds them) is rendered with `helm template` when helm is on
PATH, and each rendered object is reported against its template file (lines are those of the rendered template).
Without helm, one input error says how to render it; the chart's templates are never parsed as YAML (they would
only be syntax errors).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from webhook.sources import SourceError, Sources, parse_text

CHART_FILE = "Chart.yaml"
SOURCE_MARK = "# Source: "
RENDER_TIMEOUT = 120.0


def render_chart(directory: Path) -> Sources:
    """The chart's objects as `helm template` renders them with its default values, or why they cannot be read."""
    helm = shutil.which("helm")
    if helm is None:
        return _error(directory, f"a Helm chart: its templates are YAML only once rendered; put helm on PATH, or "
                                 f"render it yourself: helm template {directory} | netweave lint -")
    try:
        done = subprocess.run([helm, "template", str(directory)], capture_output=True, text=True,
                              timeout=RENDER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _error(directory, f"helm template {directory} did not run: {exc}")
    if done.returncode != 0:
        reason = next((line for line in done.stderr.splitlines() if line.strip()), f"exit {done.returncode}")
        return _error(directory, f"helm template {directory} failed: {reason}")
    result = Sources()
    for template, text in _by_template(done.stdout):
        parts = Path(template).parts  # "<chart>/templates/x.yaml": the chart's own name comes first
        result += parse_text(text, file=str(directory.joinpath(*parts[1:])) if len(parts) > 1 else str(directory))
    return result


def _by_template(rendered: str) -> list[tuple[str, str]]:
    """(template path as helm names it, its rendered documents), in output order."""
    chunks: list[tuple[str, list[str]]] = []
    for line in rendered.splitlines(keepends=True):
        if line.startswith(SOURCE_MARK):
            chunks.append((line[len(SOURCE_MARK):].strip(), []))
        elif chunks:
            chunks[-1][1].append(line)
    return [(name, "".join(lines)) for name, lines in chunks]


def _error(directory: Path, message: str) -> Sources:
    return Sources(errors=(SourceError(str(directory), 0, 0, message),), files=1)
