"""A bad policy file never stops the node daemon: it serves with the last policy this node accepted (kept on the
host), else the built-in defaults, and reports the problem on /readyz, in netweave_node_policy_valid and as a
Warning Event on the Node until an edit fixes the file. Through the real start path: run_daemon against the
replay API server, its metrics port over HTTP."""

import json
import os
import signal
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cni.node import daemon
from cni.node.policy import PolicyFile
from cni.node.server import Limits
from tests.replay import ReplayServer
from tests.waiting import eventually

GOOD = "namespaceIsolation: true\n"
LAST_GOOD = {"namespaceIsolation": True, "clusterRoutes": ["10.96.0.0/12"]}


def publish(path: Path, text: str) -> None:
    """As kubelet updates a ConfigMap volume: a new file swapped in by rename."""
    temp = path.with_name(".new")
    temp.write_text(text)
    os.replace(temp, path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def answers(url: str) -> bool:
    try:
        return bool(json.loads(get(url)[1])["synced"])
    except urllib.error.URLError:
        return False


@dataclass(frozen=True, slots=True)
class Node:
    """One running daemon: its policy file, its last-good copy, its metrics address and the API server."""

    policy: Path
    last_good: Path
    base: str
    api: ReplayServer

    def readyz(self) -> tuple[int, dict[str, Any]]:
        status, body = get(self.base + "/readyz")
        return status, json.loads(body)

    def policy_valid(self) -> str:
        text = get(self.base + "/metrics")[1].decode()
        return next(line for line in text.splitlines() if line.startswith("netweave_node_policy_valid "))

    def saved(self) -> Any:
        return json.loads(self.last_good.read_text()) if self.last_good.exists() else None

    def policy_events(self) -> list[dict[str, Any]]:
        return [e for e in self.api.events if e["reason"] == daemon.POLICY_EVENT_REASON]


@contextmanager
def running(tmp_path: Path, policy_text: str | None, last_good: Any) -> Iterator[Node]:
    """run_daemon with --policy (absent when `policy_text` is None) and the last-good copy it finds at start."""
    policy = tmp_path / "policy" / "netweave.yaml"
    policy.parent.mkdir()
    if policy_text is not None:
        policy.write_text(policy_text)
    port = free_port()
    with ReplayServer(watch_hold=0.3) as api:
        options = daemon.DaemonOptions(
            socket=tmp_path / "cni.sock", metrics=("127.0.0.1", port), node_name="node-1",
            kubeconfig=str(api.write_kubeconfig(tmp_path / "kubeconfig")), limits=Limits(), sync_timeout=5.0,
            cache_dirs=(str(tmp_path / "cache"),), policy_file=policy)
        saved = daemon.last_good_path(options)
        if last_good is not None:
            saved.parent.mkdir(parents=True)
            saved.write_text(json.dumps(last_good))
        stopping = daemon.StopRequest()
        done: list[int] = []
        thread = threading.Thread(target=lambda: done.append(daemon.run_daemon(
            options, handler=lambda env, stdin: (b"{}", 0), stopping=stopping)), daemon=True)
        thread.start()
        node = Node(policy, saved, f"http://127.0.0.1:{port}", api)
        try:
            assert eventually(lambda: answers(node.base + "/readyz"), timeout=30)
            yield node
        finally:
            stopping.handle(signal.SIGTERM, None)
            thread.join(30)
        assert done == [0]   # whatever the file said: served, then a clean stop


@pytest.mark.parametrize(
    ("text", "last_good", "problem", "saved"),
    [
        pytest.param(GOOD, None, None, {"namespaceIsolation": True}, id="good-file-is-used-and-saved"),
        pytest.param(GOOD, LAST_GOOD, None, {"namespaceIsolation": True}, id="good-file-replaces-last-good"),
        pytest.param(None, None, None, {}, id="missing-file-is-the-defaults"),
        pytest.param("namespaceIsolaton: true\n", LAST_GOOD, "unknown setting(s) namespaceIsolaton", LAST_GOOD,
                     id="typo-with-last-good"),
        pytest.param("namespaceIsolaton: true\n", None, "unknown setting(s) namespaceIsolaton", None,
                     id="typo-without-last-good"),
        pytest.param("clusterRoutes: [10.96.0.0/33]\n", LAST_GOOD, "clusterRoutes: '10.96.0.0/33' is not a network",
                     LAST_GOOD, id="bad-cidr"),
        pytest.param("namespaceIsolation: [\n", None, "not valid YAML", None, id="not-yaml"),
        pytest.param("- namespaceIsolation\n", LAST_GOOD, "must be a mapping", LAST_GOOD, id="not-a-mapping"),
    ],
)
def test_the_daemon_starts_whatever_the_policy_file_says(tmp_path: Path, text: str | None, last_good: Any,
                                                         problem: str | None, saved: Any) -> None:
    with running(tmp_path, text, last_good) as node:
        status, body = node.readyz()
        assert node.saved() == saved
        if problem is None:
            assert (status, body["reason"]) == (200, None)
            assert node.policy_valid() == "netweave_node_policy_valid 1.0"
            assert node.policy_events() == []
        else:
            assert status == 503 and problem in body["reason"] and str(node.policy) in body["reason"]
            assert node.policy_valid() == "netweave_node_policy_valid 0.0"
            assert eventually(lambda: len(node.policy_events()) == 1)
            [event] = node.policy_events()
            assert event["type"] == "Warning" and event["involvedObject"] == {
                "apiVersion": "v1", "kind": "Node", "name": "node-1"}
            assert problem in event["message"]


def test_an_edit_that_breaks_then_fixes_the_file_is_followed_while_running(tmp_path: Path) -> None:
    with running(tmp_path, GOOD, None) as node:
        assert node.readyz()[0] == 200
        publish(node.policy, "namespaceIsolation: yes please\n")
        status, body = node.readyz()
        assert status == 503 and "namespaceIsolation must be true or false" in body["reason"]
        assert node.policy_valid() == "netweave_node_policy_valid 0.0"
        assert node.saved() == {"namespaceIsolation": True}   # the bad edit is never saved
        publish(node.policy, "namespaceIsolation: false\nsourceRouting: true\n")
        assert node.readyz() == (200, {"synced": True, "reason": None})
        assert node.policy_valid() == "netweave_node_policy_valid 1.0"
        assert node.saved() == {"namespaceIsolation": False, "sourceRouting": True}


@pytest.mark.parametrize(
    ("text", "last_good", "isolation", "routes", "fallback"),
    [
        pytest.param(GOOD, LAST_GOOD, True, (), None, id="good-file"),
        pytest.param("namespaceIsolaton: true\n", LAST_GOOD, True, ("10.96.0.0/12",), "the last good policy",
                     id="bad-file-last-good"),
        pytest.param("namespaceIsolaton: true\n", None, False, (), "the built-in defaults", id="bad-file-defaults"),
        pytest.param("namespaceIsolaton: true\n", "{not json", False, (), "the built-in defaults",
                     id="bad-file-damaged-last-good"),
    ],
)
def test_the_policy_in_force(tmp_path: Path, text: str, last_good: Any, isolation: bool,
                             routes: tuple[str, ...], fallback: str | None) -> None:
    path, saved = tmp_path / "netweave.yaml", tmp_path / "state" / "policy.last-good.json"
    path.write_text(text)
    if last_good is not None:
        saved.parent.mkdir()
        saved.write_text(last_good if isinstance(last_good, str) else json.dumps(last_good))
    reported: list[str] = []
    state = PolicyFile(path, last_good=saved, on_problem=reported.append).state()
    assert (state.policy.namespace_isolation, state.policy.cluster_routes) == (isolation, routes)
    assert (state.fallback or "").startswith(fallback or "")
    assert (state.fallback is None) == (fallback is None) == (state.problem is None)
    assert reported == ([] if state.problem is None else [state.problem])


def test_a_last_good_copy_that_cannot_be_written_is_not_fatal(tmp_path: Path) -> None:
    path, blocker = tmp_path / "netweave.yaml", tmp_path / "a-file"
    path.write_text(GOOD)
    blocker.write_text("")
    policy = PolicyFile(path, last_good=blocker / "policy.last-good.json")   # its parent is a file
    assert policy.current().namespace_isolation is True and policy.problem() is None
