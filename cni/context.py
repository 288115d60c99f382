"""Context: what one process builds once and passes down (kube client factory, exec, lookups, clock)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cni import errors
from cni.errors import CniError


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a plugin process returned."""

    returncode: int
    stdout: bytes
    stderr: bytes


class Exec(Protocol):
    """Runs a plugin binary (the seam the node daemon or a test may replace); `root` is the directory the plugin
    runs chrooted in (the node's root filesystem as mounted here), None for our own root."""

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], stdin: bytes, timeout: float, root: str | None = None
    ) -> ExecResult: ...


class Kube(Protocol):
    """The API calls the node side makes; lookups return None for 404 and raise CniError otherwise."""

    def get_pod(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...
    def get_nad(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...
    def patch_network_status(self, pod: Mapping[str, Any], value: str) -> None: ...
    def create_event(self, pod: Mapping[str, Any], *, reason: str, message: str, warning: bool,
                     node: str) -> None: ...


KubeFactory = Callable[[str], Kube]                          # kubeconfig path -> client
Lookup = Callable[[str, str], Mapping[str, Any] | None]      # (namespace, name) -> object | None (404)


def host_path(root: str | None, path: str) -> str:
    """`path` as the node sees it (absolute, e.g. from CNI_PATH), as this process sees it with the node's root
    mounted at `root`."""
    return os.path.join(root, path.lstrip("/")) if root else path


def launch_argv(argv: Sequence[str], *, root: str | None, setpriv: str | None, chroot: str | None) -> list[str]:
    """The command line that runs `argv` bound to our life and, given `root`, with that root directory.

    setpriv (util-linux) sets PR_SET_PDEATHSIG=SIGKILL and chroot (coreutils) does chroot("root") + chdir("/"),
    each then exec'ing the next, so the plugin keeps their pid (and its process group). Not a Python preexec_fn:
    that runs Python between fork and exec in a threaded daemon (unsafe) and forces a full fork of a large
    process instead of vfork (measured: +4.4 ms per delegate, against +1.8 ms for the two small execs; see
    benchmarks/RESULTS.md). The signal fires when the *thread* that started the child ends: the daemon's worker
    threads outlive every delegate they wait for. Grandchildren (IPAM plugins) are not covered; in the DaemonSet
    the daemon is PID 1 of its PID namespace, and the kernel kills them all when it dies.
    """
    if root and not chroot:
        raise CniError(errors.DELEGATE_FAILED, f"cannot run {argv[0]} under {root}: no chroot command in PATH")
    rooted = [chroot, root, *argv] if root and chroot else list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *rooted] if setpriv else rooted


def run_subprocess(argv: Sequence[str], *, env: Mapping[str, str], stdin: bytes, timeout: float,
                   root: str | None = None) -> ExecResult:
    """The default Exec: a child with exactly `env`, in a process group of its own, killed with the daemon
    (parent-death signal) or, with everything it started, at the timeout."""
    command = launch_argv(argv, root=root, setpriv=shutil.which("setpriv"),
                          chroot=shutil.which("chroot") if root else None)
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(env), start_new_session=True)
    except OSError as e:
        raise CniError(errors.DELEGATE_FAILED, f"cannot execute {argv[0]}", str(e)) from e
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        _kill_group(proc)
        raise CniError(errors.DELEGATE_FAILED, f"{argv[0]} timed out after {timeout:.0f}s") from e
    except BaseException:
        _kill_group(proc)
        raise
    return ExecResult(proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (IPAM plugins it runs included), then reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the pid is still ours: the child is not reaped yet
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=5)  # a grandchild that left the group may hold the pipes open
    proc.kill()
    proc.wait()


@dataclass(frozen=True, slots=True)
class Context:
    """Built once per process; a node daemon injects cached lookups through pod_lookup / nad_lookup.

    A lookup returning None means "not in the cache": the object is then read from the API server when the
    config has a kubeconfig (a watch cache may lag behind a pod created a moment ago).
    """

    kube: KubeFactory | None = None   # None: cni.kube.kube_from_kubeconfig (the kubeconfig path only)
    exec: Exec = run_subprocess
    pod_lookup: Lookup | None = None   # None: GET from the API server
    nad_lookup: Lookup | None = None   # None: GET from the API server
    clock: Callable[[], float] = time.monotonic
    node_name: str = field(default_factory=socket.gethostname)
    host_root: str | None = None  # the node's root filesystem as mounted here: delegates run chrooted in it
    delegate_timeout: float = 60.0
    status_retries: int = 5
    # Defaults for keys the request's conflist leaves out: the node's policy file (cni.node.policy), read per request.
    config_defaults: Callable[[], Mapping[str, Any]] = dict
    # Failure counters (cni.node.metrics): a delegate (plugin type, command), a network (its name, command).
    delegate_failed: Callable[[str, str], None] = lambda plugin, command: None
    network_failed: Callable[[str, str], None] = lambda network, command: None
