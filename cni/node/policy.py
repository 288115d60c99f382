"""The policy file as the node daemon reads it (`netweave node --policy`, the ConfigMap netweave-policy).

The same file the webhook reads: cni.spec.policy validates its keys and the settings the node acts on, which
become defaults for the same keys of every request's conflist. Checked before each request by its file identity
(a ConfigMap update swaps a symlink: a new inode and mtime), so an edit applies without a restart. At start a bad
file is an error; later, a bad edit is logged and the last good policy stays in force.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cni.spec.policy import NodePolicy, PolicyProblem, read_node_policy

logger = logging.getLogger(__name__)

FileIdentity = tuple[int, int, int, int] | None  # (device, inode, size, mtime_ns); None: no file


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


def _identity(path: Path) -> FileIdentity:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class PolicyFile:
    """The current NodePolicy of one file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        """Read and validate the file now (PolicyProblem when it is bad: the daemon refuses to start)."""
        self.path = path
        self._lock = threading.Lock()
        self._identity = _identity(path)
        self._policy = read_policy_file(path)
        logger.info("policy loaded", extra={"path": str(path), "settings": sorted(self._policy.explicit)})

    def current(self) -> NodePolicy:
        """The policy as the file says now (the last good one while the file is bad)."""
        identity = _identity(self.path)
        with self._lock:
            if identity != self._identity:
                self._identity = identity
                try:
                    self._policy = read_policy_file(self.path)
                except PolicyProblem as err:
                    logger.error("policy change refused; the previous policy stays in force",
                                 extra={"path": str(self.path), "error": str(err)})
                else:
                    logger.info("policy reloaded", extra={"path": str(self.path),
                                                          "settings": sorted(self._policy.explicit)})
            return self._policy

    def config_defaults(self) -> Mapping[str, Any]:
        """cni.context.Context.config_defaults: the policy's settings as conflist keys."""
        return self.current().config_defaults()
