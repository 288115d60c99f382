"""The CNI delegate's netns scenarios (tests/e2e/test_attach.py, test_lifecycle.py) re-run through shim + daemon.

Each test here is the delegate suite's own test function; only the `node` fixture differs: a node daemon runs
for the test and `Node.run` execs the installed shim instead of standalone netweave-cni.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness, test_attach, test_lifecycle
from tests.e2e.conftest import _usable
from tests.e2e.daemon_node import Daemon, shim_for
from tests.prerequisites import require
from tests.replay import ReplayServer

pytestmark = pytest.mark.netns

# Scenarios whose point is a property of standalone mode, not of the attach logic.
STANDALONE_ONLY = {
    # The daemon's watch cache still has the pod, so the ADD does not need the unreachable API server.
    "test_add_fails_with_try_again_when_the_api_server_is_unreachable",
    # The daemon reads through its own client and watch cache, so a dead conflist kubeconfig hides nothing.
    "test_del_without_a_record_or_the_api_server_asks_to_try_again_while_the_pod_has_interfaces",
}


def _scenarios() -> dict[str, Callable[..., Any]]:
    found = {}
    for module in (test_attach, test_lifecycle):
        for name, value in vars(module).items():
            if name.startswith("test_") and callable(value) and name not in STANDALONE_ONLY:
                found[name] = value
    return found


globals().update(_scenarios())


@pytest.fixture()
def node(tmp_path: Path, api: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[harness.Node]:
    require(_usable())
    n = harness.Node(tmp_path, api)
    daemon = Daemon(n).start()
    monkeypatch.setattr(harness, "NETWEAVE", shim_for(n, daemon))
    try:
        yield n
    finally:
        daemon.stop()
        n.cleanup()
