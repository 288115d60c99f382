"""The `netweave` command as a new user meets it: --version, and `serve` started outside the repository."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from netweave.cli import SUBCOMMANDS, parser_for
from tests.paths import FIXTURES, REPO
from tests.webhook.servers import Client, free_port, wait_ready

# Importable from any working directory, installed or not.
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def netweave(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netweave", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=60, check=False)


def logs(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(level, message, record) of every JSON log line."""
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [(str(r.get("level")).lower(), str(r.get("message", r.get("msg"))), r) for r in records]


def test_version_is_the_package_version(tmp_path: Path) -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    done = netweave("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"netweave {declared}")


@pytest.mark.parametrize(("args", "named"), [
    pytest.param(["--config", "missing.yaml"], "missing.yaml", id="missing-policy"),
    pytest.param(["--catalog", "no-such-dir"], "no-such-dir", id="missing-catalog"),
    pytest.param(["--listen", "127.0.0.1:http"], "127.0.0.1:http", id="bad-listen"),
])
def test_serve_that_cannot_start_says_why_and_writes_nothing(tmp_path: Path, args: list[str], named: str) -> None:
    done = netweave("serve", *args, cwd=tmp_path)
    assert done.returncode == 2
    errors = [message for level, message, _ in logs(done.stderr) if level == "error"]
    assert len(errors) == 1 and named in errors[0], done.stderr
    assert list(tmp_path.iterdir()) == []  # no .dev-certs/ left behind by a failed start


def test_serve_starts_in_an_empty_directory_with_dev_certificates_and_no_catalog(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    work = tmp_path / "elsewhere"
    work.mkdir()
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "netweave", "serve", "--listen", f"127.0.0.1:{port}"],
                                   cwd=work, env=ENV, stdout=out, stderr=subprocess.STDOUT)
    try:
        ca = work / ".dev-certs" / "ca.crt"
        wait_ready(port, ca, process=process)
        review = (FIXTURES / "admission" / "009-create-pod-samplepod.json").read_bytes()
        client = Client(port, [ca])
        reply = client.request("POST", "/mutate", review, {"Content-Type": "application/json"})
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    records = logs(log.read_text())
    # Without a catalog every named network is unknown: the pod is denied, with the NAD named.
    status = reply.json()["response"]
    assert status["allowed"] is False and "[network-not-found]" in status["status"]["message"]
    assert any(level == "warning" and "no NAD catalog" in message for level, message, _ in records)
    ready = [r for _, message, r in records if message == "admission app ready to start"]
    assert len(ready) == 1 and ready[0]["policy"] == "defaults" and ready[0]["nads"] == 0


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_builds_its_parser_and_has_a_runner(name: str) -> None:
    parser, run = parser_for(name)
    assert parser.prog == f"netweave {name}" and parser.description == SUBCOMMANDS[name].help
    assert callable(run)
    with pytest.raises(SystemExit) as exited:  # argparse's usage error: the subcommand's own parser answered
        parser.parse_args(["--no-such-option"])
    assert exited.value.code == 2


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    done = netweave("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert all(f"    {name}" in done.stdout for name in SUBCOMMANDS), done.stdout


def test_the_command_line_imports_a_subcommand_s_dependencies_only_when_it_runs(tmp_path: Path) -> None:
    """`netweave lint` must not pay for the server (uvicorn, fastapi) or the node (pyroute2, kubernetes client)."""
    heavy = ("uvicorn", "fastapi", "pyroute2", "kubernetes", "cni.node")
    probe = f"import sys, netweave.cli as c; c.parser_for('lint'); print([m for m in {heavy} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"
