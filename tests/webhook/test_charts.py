"""netweave lint on a directory holding a Helm chart: rendered with the real helm when it is on PATH, else one
input error saying how to render it (never a syntax error per template)."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO
from tests.prerequisites import require
from webhook.lint import add_arguments, run

# `make helm` (part of `make setup`) puts a real helm in .cache/helm; else one on PATH.
_FOUND = REPO / ".cache" / "helm" / "helm" if (REPO / ".cache" / "helm" / "helm").is_file() else shutil.which("helm")
HELM_DIR = str(Path(_FOUND).parent) if _FOUND else ""
needs_helm = pytest.mark.usefixtures("_helm_installed")


@pytest.fixture()
def _helm_installed() -> None:
    require(None if _FOUND else "helm not found: `make helm` installs it into .cache/helm")


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-app
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "macvlan-conf", "interface": "{{ .Values.interface }}"}]'
spec:
  containers:
    - name: c
      image: busybox
"""


def chart(root: Path, *, template: str = POD) -> Path:
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n")
    (root / "values.yaml").write_text("interface: eth0\n")
    (root / "templates" / "pod.yaml").write_text(template)
    return root


def lint(*argv: str) -> tuple[int, dict[str, Any], str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run(parser.parse_args(["--format", "json", *argv]), stdout=out, stderr=err)
    return code, json.loads(out.getvalue()), err.getvalue()


def test_without_helm_a_chart_is_one_input_error_with_the_render_hint(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    app = chart(tmp_path / "repo" / "charts" / "app")
    (tmp_path / "repo" / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: plain}\n")

    code, doc, err = lint(str(tmp_path / "repo"))

    assert code == 2
    assert doc["inputErrors"] == [{"file": str(app), "line": 0, "column": 0, "message": (
        f"a Helm chart: its templates are YAML only once rendered; put helm on PATH, or render it yourself: "
        f"helm template {app} | netweave lint -")}]
    assert doc["summary"]["objects"] == 1  # the plain manifest beside the chart is still checked
    assert err.count("error:") == 1


@needs_helm
def test_with_helm_the_rendered_objects_are_checked_against_their_template(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", HELM_DIR)
    app = chart(tmp_path / "app")

    code, doc, _ = lint(str(app))

    assert code == 1 and "inputErrors" not in doc
    (finding,) = [f for f in doc["findings"] if f["severity"] == "error"]
    assert (finding["file"], finding["kind"], finding["name"], finding["rule"]) == (
        str(app / "templates" / "pod.yaml"), "Pod", "release-name-app", "interface-name-reserved")


@needs_helm
def test_a_chart_helm_cannot_render_is_one_input_error_with_helms_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", HELM_DIR)
    app = chart(tmp_path / "app", template="kind: Pod\nmetadata: {name: {{ .Values.missing.deeper }}}\n")
    code, doc, _ = lint(str(app))
    (error,) = doc["inputErrors"]
    assert code == 2 and error["file"] == str(app)
    assert error["message"].startswith(f"helm template {app} failed: Error: ")


@needs_helm
def test_netweaves_own_chart_lints_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", HELM_DIR)
    code, doc, _ = lint(str(REPO / "deploy" / "helm"))
    assert (code, doc["findings"]) == (0, [])
    assert doc["summary"]["objects"] == 2  # the webhook Deployment and the node DaemonSet's pod templates
