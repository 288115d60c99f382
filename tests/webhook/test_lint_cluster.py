"""netweave lint with NADs from the live cluster (--cluster, against the replay API server) and from stdin
(--nads -), and input errors in the JSON output."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paths import SEEDS
from tests.replay import ReplayServer
from webhook.lint import add_arguments, run

SEED = (SEEDS / "012-macvlan-samplepod.yaml").read_text()
POD = "\n---\n".join(part for part in SEED.split("\n---") if "kind: Pod" in part)
NAD = "\n---\n".join(part for part in SEED.split("\n---") if "kind: NetworkAttachmentDefinition" in part)


def lint(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run(parser.parse_args(list(argv)), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    with ReplayServer(watch_hold=0.2) as api:
        yield api.write_kubeconfig(tmp_path / "kubeconfig")


def findings(out: str) -> list[tuple[str, str]]:
    return [(f["rule"], f["severity"]) for f in json.loads(out)["findings"]]


def test_cluster_nads_resolve_the_pods_networks(kubeconfig: Path) -> None:
    code, out, err = lint("--cluster", "--kubeconfig", str(kubeconfig), "--format", "json", "-", stdin=POD)
    assert (code, err, findings(out)) == (0, "", [])


def test_a_nad_missing_from_the_cluster_is_an_error_not_a_warning(kubeconfig: Path) -> None:
    missing = POD.replace("macvlan-conf", "sriov-net")
    offline = lint("--format", "json", "-", stdin=missing)
    live = lint("--cluster", "--kubeconfig", str(kubeconfig), "--format", "json", "-", stdin=missing)
    assert (offline[0], findings(offline[1])) == (0, [("network-not-found", "warning")])
    assert (live[0], findings(live[1])) == (1, [("network-not-found", "error")])


def test_an_unreachable_cluster_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    config: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    code, out, err = lint("--cluster", "--kubeconfig", str(path), "-", stdin=POD)
    assert (code, out) == (2, "")
    assert err.startswith("netweave lint: --cluster: cannot reach the API server at http://127.0.0.1:9")


def test_nads_from_stdin(tmp_path: Path) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD)
    code, out, _ = lint("--nads", "-", "--format", "json", str(pod), stdin=NAD)
    assert (code, findings(out)) == (0, [])


def test_stdin_cannot_be_both_the_input_and_the_nads() -> None:
    code, out, err = lint("--nads", "-", "-", stdin=SEED)
    assert (code, out) == (2, "")
    assert err == "netweave lint: stdin can be read once: give - as a PATH or to --nads, not both\n"


def test_json_lists_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: {name: [\n")
    code, out, _ = lint("--format", "json", str(bad), str(tmp_path / "absent.yaml"))
    doc = json.loads(out)
    assert code == 2
    assert [(e["file"], e["message"]) for e in doc["inputErrors"]][1] == (str(tmp_path / "absent.yaml"),
                                                                          "no such file or directory")
    assert doc["inputErrors"][0]["file"] == str(bad) and doc["inputErrors"][0]["line"] >= 2
    assert list(doc) == ["version", "findings", "inputErrors", "summary"]
    assert "inputErrors" not in json.loads(lint("--format", "json", "-", stdin=SEED)[1])
