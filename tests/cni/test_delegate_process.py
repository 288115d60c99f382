"""How delegates run (cni.context.run_subprocess): chrooted in the node's root, bound to our life, and killed with
everything they started at the timeout. Real processes, no mocks."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cni import errors
from cni.context import host_path, launch_argv, run_subprocess
from cni.errors import CniError
from tests.hostroot import agent, make_fake_root
from tests.paths import REPO
from tests.prerequisites import require
from tests.processes import alive
from tests.waiting import eventually


@pytest.mark.parametrize(("root", "setpriv", "chroot", "expected"), [
    pytest.param(None, "/usr/bin/setpriv", None, ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--", "/opt/p"],
                 id="own-root"),
    pytest.param("/hostroot", "/usr/bin/setpriv", "/usr/sbin/chroot",
                 ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--", "/usr/sbin/chroot", "/hostroot", "/opt/p"],
                 id="host-root"),
    pytest.param(None, None, None, ["/opt/p"], id="no-setpriv"),
])
def test_launch_argv(root: str | None, setpriv: str | None, chroot: str | None, expected: list[str]) -> None:
    assert launch_argv(["/opt/p"], root=root, setpriv=setpriv, chroot=chroot) == expected


def test_a_host_root_without_chroot_is_a_cni_error_naming_it() -> None:
    with pytest.raises(CniError, match="no chroot command") as caught:
        launch_argv(["/opt/p"], root="/hostroot", setpriv=None, chroot=None)
    assert caught.value.code == errors.DELEGATE_FAILED


@pytest.mark.parametrize(("root", "path", "expected"), [
    (None, "/opt/cni/bin/x", "/opt/cni/bin/x"),
    ("/hostroot", "/opt/cni/bin/x", "/hostroot/opt/cni/bin/x"),
    ("/hostroot/", "/x", "/hostroot/x"),
])
def test_host_path(root: str | None, path: str, expected: str) -> None:
    assert host_path(root, path) == expected


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_a_delegate_dies_with_the_process_that_ran_it(tmp_path: Path) -> None:
    require(None if shutil.which("setpriv") else "needs util-linux setpriv")
    pid_file, late = tmp_path / "pid", tmp_path / "finished"
    slow = script(tmp_path / "slow", f"echo $$ > {pid_file}\nsleep 1\necho late > {late}\n")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys; from cni.context import run_subprocess; "
         f"run_subprocess([{str(slow)!r}], env={{}}, stdin=b'', timeout=60)"], cwd=REPO)
    try:
        assert eventually(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=20)
        delegate = int(pid_file.read_text())
        assert alive(delegate)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert eventually(lambda: not alive(delegate), timeout=5)
        time.sleep(1.5)  # past the moment the delegate would have finished
        assert not late.exists()
    finally:
        parent.kill()
        parent.wait(10)


def test_a_timeout_kills_the_delegate_and_what_it_started(tmp_path: Path) -> None:
    child_pid = tmp_path / "child"
    hang = script(tmp_path / "hang", f"sleep 60 &\necho $! > {child_pid}\nwait\n")
    started = time.monotonic()
    with pytest.raises(CniError, match="timed out") as caught:
        run_subprocess([str(hang)], env={}, stdin=b"", timeout=0.5)
    assert caught.value.code == errors.DELEGATE_FAILED
    assert str(hang) in caught.value.msg
    assert time.monotonic() - started < 30  # not held by the grandchild's copy of the pipes
    grandchild = int(child_pid.read_text())
    assert eventually(lambda: not alive(grandchild), timeout=5)


def test_a_delegate_gets_exactly_its_env_and_stdin(tmp_path: Path) -> None:
    echo = script(tmp_path / "echo", "env | sort\ncat\nexit 3\n")
    out = run_subprocess([str(echo)], env={"CNI_COMMAND": "ADD", "A": "b c"}, stdin=b"{}", timeout=10)
    assert out.returncode == 3
    assert [line for line in out.stdout.decode().splitlines() if line.startswith(("A=", "CNI_", "{"))] == [
        "A=b c", "CNI_COMMAND=ADD", "{}"]


def test_a_delegate_under_a_host_root_sees_that_root(tmp_path: Path) -> None:
    node_bin = Path("/opt/fakecni/bin")
    fake = make_fake_root(tmp_path / "hostroot", bin_dir=node_bin, nodename="node-7")
    argv = [str(node_bin / "nodename")]
    rooted = run_subprocess(argv, env={"CNI_COMMAND": "ADD"}, stdin=b"{}", timeout=10, root=str(fake.root))
    assert rooted.returncode == 0, rooted.stdout
    assert json.loads(rooted.stdout)["dns"] == {"domain": "node-7", "search": []}
    with agent(fake, "agent-7"):
        dialled = run_subprocess(argv, env={"CNI_COMMAND": "ADD"}, stdin=b"{}", timeout=10, root=str(fake.root))
    assert json.loads(dialled.stdout)["dns"] == {"domain": "node-7", "search": ["agent-7"]}
    # The same binary run in our own root: the node's file is not there.
    ours = run_subprocess([str(fake.inside(node_bin / "nodename"))], env={"CNI_COMMAND": "ADD"}, stdin=b"{}",
                          timeout=10)
    assert ours.returncode == 1
    assert "cannot read /var/lib/fakecni/nodename" in json.loads(ours.stdout)["msg"]
    assert not os.path.exists("/var/lib/fakecni/nodename")


def test_a_plugin_missing_from_the_host_root_is_reported_with_that_root(tmp_path: Path) -> None:
    from cni.invoke import find_plugin

    (tmp_path / "opt" / "cni" / "bin").mkdir(parents=True)
    with pytest.raises(CniError, match=f"failed to find plugin 'loopback' .*mounted at {tmp_path}"):
        find_plugin("loopback", ["/usr/lib/cni"], root=str(tmp_path))  # ours has it, the node's root does not
    assert find_plugin("loopback", ["/usr/lib/cni"]) == "/usr/lib/cni/loopback"
