"""The policy file as the node daemon reads it (`netweave node --policy`, the ConfigMap netweave-policy).

The same file the webhook reads: cni.spec.policy validates its keys and the settings the node acts on, which
become defaults for the same keys of every request's conflist. Checked by its file identity (a ConfigMap update
swaps a symlink: a new inode and mtime) before each request and each readiness probe, so an edit applies without a
restart. The file's content never stops the daemon: one typo in a cluster-wide ConfigMap must not take down pod
networking node by node as the daemons restart. A bad file leaves in force the last policy this node accepted
(kept on the host, so it survives a restart), else the built-in defaults, and is reported until it is fixed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cni.atomicfile import write_atomic
from cni.spec.policy import NodePolicy, PolicyProblem, read_node_policy

logger = logging.getLogger(__name__)

FileIdentity = tuple[int, int, int, int] | None  # (device, inode, size, mtime_ns); None: no file
Reporter = Callable[[str], None]


def read_policy_file(path: Path) -> NodePolicy:
    """The node's part of the policy file; a missing file is the built-in defaults; PolicyProblem otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return NodePolicy()
    except (OSError, UnicodeDecodeError) as err:
        raise PolicyProblem(f"{path}: cannot read the policy file: {err}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PolicyProblem(f"{path}: the policy file is not valid YAML: {err}") from err
    return read_node_policy(data if data is not None else {}, source=str(path))


def last_good_text(policy: NodePolicy) -> bytes:
    """The last-good copy: the settings the file set, under their policy keys (JSON, which read_policy_file reads
    back to the same NodePolicy)."""
    return (json.dumps(policy.config_defaults(), indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True, slots=True)
class PolicyState:
    """The policy in force and, while the file is bad, why and where the policy in force came from."""

    policy: NodePolicy
    problem: str | None = None   # the PolicyProblem message (file, key, fix); None: the file's own policy
    fallback: str | None = None  # while bad: "the last good policy (<path>)" or "the built-in defaults"


def fallback_state(problem: PolicyProblem, last_good: Path | None) -> PolicyState:
    """What a daemon starting on a bad file uses: the last-good copy when it reads, else the built-in defaults."""
    if last_good is not None and last_good.exists():
        try:
            return PolicyState(read_policy_file(last_good), str(problem), f"the last good policy ({last_good})")
        except PolicyProblem as err:   # a damaged copy: the defaults, and say so
            logger.error("last good policy unusable", extra={"path": str(last_good), "error": str(err)})
    return PolicyState(NodePolicy(), str(problem), "the built-in defaults")


def _identity(path: Path) -> FileIdentity:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class PolicyFile:
    """The current NodePolicy of one file, re-read when the file changes; never raises for the file's content."""

    def __init__(self, path: Path, *, last_good: Path | None = None, on_problem: Reporter | None = None) -> None:
        """Read the file now. `last_good`: where each accepted policy is kept on the host (and read back when the
        file is bad at start); `on_problem`: called with the problem of each bad version of the file (a Warning
        Event on the Node)."""
        self.path = path
        self._last_good = last_good
        self._on_problem = on_problem
        self._lock = threading.Lock()
        self._identity = _identity(path)
        try:
            self._state = PolicyState(read_policy_file(path))
        except PolicyProblem as err:
            self._state = fallback_state(err, last_good)
            logger.error("bad policy file; serving with the fallback until it is fixed",
                         extra={"path": str(path), "error": str(err), "fallback": self._state.fallback})
            self._report(str(err))
        else:
            logger.info("policy loaded", extra={"path": str(path), "settings": sorted(self._state.policy.explicit)})
            self._keep(self._state.policy)

    def state(self) -> PolicyState:
        """The policy in force, after re-reading the file if it changed."""
        identity = _identity(self.path)
        with self._lock:
            if identity == self._identity:
                return self._state
            self._identity = identity
            try:
                policy = read_policy_file(self.path)
            except PolicyProblem as err:
                fallback = self._state.fallback or "the previous policy"
                self._state = PolicyState(self._state.policy, str(err), fallback)
                logger.error("policy change refused; the fallback stays in force",
                             extra={"path": str(self.path), "error": str(err), "fallback": fallback})
                problem: str | None = str(err)
            else:
                if self._state.problem is not None:
                    logger.info("policy file fixed", extra={"path": str(self.path)})
                self._state = PolicyState(policy)
                logger.info("policy reloaded", extra={"path": str(self.path), "settings": sorted(policy.explicit)})
                self._keep(policy)
                problem = None
            state = self._state
        if problem is not None:
            self._report(problem)
        return state

    def current(self) -> NodePolicy:
        """The policy in force (the last good one while the file is bad)."""
        return self.state().policy

    def problem(self) -> str | None:
        """Why the file is not in force, or None: the daemon's readiness and its policy gauge."""
        return self.state().problem

    def config_defaults(self) -> Mapping[str, Any]:
        """cni.context.Context.config_defaults: the policy's settings as conflist keys."""
        return self.current().config_defaults()

    def _keep(self, policy: NodePolicy) -> None:
        # A copy that cannot be written costs only the fallback at a later start: logged, never fatal.
        if self._last_good is None:
            return
        try:
            write_atomic(self._last_good, last_good_text(policy), mode=0o644)
        except OSError as err:
            logger.warning("last good policy not saved", extra={"path": str(self._last_good), "error": str(err)})

    def _report(self, problem: str) -> None:
        if self._on_problem is not None:
            self._on_problem(problem)
