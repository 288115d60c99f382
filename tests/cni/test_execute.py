"""netweave-cni as a runtime sees it: VERSION without config, error JSON with the spec codes, exit status."""

from __future__ import annotations

import json
import subprocess

import pytest

from cni.context import Context
from cni.execute import execute
from tests.paths import PYTHON, console_script

NETWEAVE = console_script("netweave-cni")


def run(env: dict[str, str], stdin: bytes) -> tuple[int, bytes, bytes]:
    proc = subprocess.run([str(NETWEAVE)], input=stdin, env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, timeout=30, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("stdin", [b"", b'{"cniVersion":"0.4.0"}'])
def test_version_answers_without_a_config(stdin: bytes) -> None:
    rc, out, _ = run({"CNI_COMMAND": "VERSION"}, stdin)
    assert rc == 0
    body = json.loads(out)
    assert body["supportedVersions"] == ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    assert body["cniVersion"] == ("0.4.0" if stdin else "1.1.0")


def test_version_does_not_import_kubernetes_or_pyroute2() -> None:
    code = ("import sys, cni.__main__, cni.execute, cni.attach; "
            "assert 'kubernetes' not in sys.modules and 'pyroute2' not in sys.modules")
    subprocess.run([str(PYTHON), "-c", code], check=True)


@pytest.mark.parametrize(("env", "stdin", "code"), [
    pytest.param({}, b"{}", 4, id="no-command"),
    pytest.param({"CNI_COMMAND": "ADD"}, b"{", 6, id="not-json"),
    pytest.param({"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0"},
                 b'{"cniVersion":"1.0.0","name":"n","type":"netweave"}', 7, id="no-cluster-network"),
])
def test_errors_are_spec_json_on_stdout_with_a_nonzero_exit(env: dict[str, str], stdin: bytes, code: int) -> None:
    rc, out, err = run(env, stdin)
    assert rc == 1
    body = json.loads(out)
    assert body["code"] == code and body["msg"]
    assert all(json.loads(line)["level"] for line in err.decode().splitlines())


def explode(path: str) -> object:
    raise RuntimeError("boom")


ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0", "CNI_NETNS": "/x",
       "CNI_PATH": "/nowhere", "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"}
STDIN = json.dumps({"cniVersion": "1.0.0", "name": "n", "clusterNetwork": "/nonexistent/x.conf",
                    "cacheDir": "/nonexistent-cache", "kubeconfig": "/k"}).encode()


def test_unexpected_failures_become_code_999() -> None:
    outcome = execute(ENV, STDIN, context=Context(kube=explode))  # type: ignore[arg-type]
    assert outcome.exit_code == 1
    assert json.loads(outcome.stdout) == {"cniVersion": "1.0.0", "code": 999, "msg": "unexpected error",
                                          "details": "RuntimeError('boom')"}


def test_del_without_a_record_or_a_readable_config_still_succeeds() -> None:
    outcome = execute({**ENV, "CNI_COMMAND": "DEL"}, STDIN, context=Context(kube=explode))  # type: ignore[arg-type]
    assert outcome == type(outcome)(b"", 0)


def test_check_without_a_record_is_unknown_container() -> None:
    outcome = execute({**ENV, "CNI_COMMAND": "CHECK"}, STDIN, context=Context(kube=explode))  # type: ignore[arg-type]
    assert (outcome.exit_code, json.loads(outcome.stdout)["code"]) == (1, 3)
