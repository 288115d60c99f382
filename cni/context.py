"""Context: what one process builds once and passes down (kube client factory, exec, lookups, clock)."""

from __future__ import annotations

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
    """Runs a plugin binary (the seam the node daemon or a test may replace)."""

    def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], stdin: bytes, timeout: float
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


def run_subprocess(argv: Sequence[str], *, env: Mapping[str, str], stdin: bytes, timeout: float) -> ExecResult:
    """The default Exec: a child process with exactly `env`."""
    try:
        proc = subprocess.run(list(argv), input=stdin, env=dict(env), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise CniError(errors.DELEGATE_FAILED, f"{argv[0]} timed out after {timeout:.0f}s") from e
    except OSError as e:
        raise CniError(errors.DELEGATE_FAILED, f"cannot execute {argv[0]}", str(e)) from e
    return ExecResult(proc.returncode, proc.stdout, proc.stderr)


def kube_from_kubeconfig(path: str) -> Kube:
    """The default KubeFactory: the official client configured from `path` only (imported lazily)."""
    from cni.kube import KubeClient

    return KubeClient.from_kubeconfig(path)


@dataclass(frozen=True, slots=True)
class Context:
    """Built once per process; a node daemon injects cached lookups through pod_lookup / nad_lookup.

    A lookup returning None means "not in the cache": the object is then read from the API server when the
    config has a kubeconfig (a watch cache may lag behind a pod created a moment ago).
    """

    kube: KubeFactory = kube_from_kubeconfig
    exec: Exec = run_subprocess
    pod_lookup: Lookup | None = None   # None: GET from the API server
    nad_lookup: Lookup | None = None   # None: GET from the API server
    clock: Callable[[], float] = time.monotonic
    node_name: str = field(default_factory=socket.gethostname)
    delegate_timeout: float = 60.0
    status_retries: int = 5
