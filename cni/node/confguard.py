"""The config guard: keep 00-netweave.conflist in the node's CNI config directory while the daemon runs.

Other agents rewrite /etc/cni/net.d: Cilium's exclusive mode renames every foreign config (multus#972), a primary
CNI upgrade rewrites its own conflist (new capabilities), an operator deletes files. Without the guard netweave
would silently stop being called. Every `interval` seconds the guard re-renders the conflist with
cni.node.install.reconcile (the one rendering install uses, from the settings install recorded) and logs why when it
had to write. Polling, not inotify: a few small reads a second, and it works on every filesystem and mount.
Removal is only through `netweave node-uninstall`, which runs when no daemon (and so no guard) is left.
"""

import logging
import threading
import time
from collections.abc import Callable

from cni.errors import CniError
from cni.kube import KubeClient
from cni.node import install
from cni.node.install import InstallError, Layout

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
REPAIR_REASON = "NetweaveConfigRepaired"
EVENT_INTERVAL = 60.0
Repaired = Callable[[str], None]


def node_event_reporter(kube: KubeClient, node: str, *, every: float = EVENT_INTERVAL,
                        clock: Callable[[], float] = time.monotonic, event_reason: str = REPAIR_REASON) -> Repaired:
    """Announce repairs as Warning Events on the Node (`kubectl describe node` shows that something keeps
    rewriting /etc/cni/net.d), at most one per `every` seconds: an agent that fights the guard every second must
    not flood the API server (each repair is still logged and counted). An Event that cannot be posted is logged;
    the repair stands. `event_reason`: the Event's reason (the daemon's bad-policy Events use it too)."""
    last: list[float] = []

    def report(reason: str) -> None:
        now = clock()
        if last and now - last[0] < every:
            return
        last[:] = [now]
        try:
            kube.create_node_event(reason=event_reason, message=reason, warning=True, node=node)
        except CniError as err:
            logger.warning("node event not posted", extra={"reason": event_reason, "error": str(err)})

    return report


class ConfGuard:
    """A daemon thread that calls cni.node.install.reconcile every `interval` seconds until stopped."""

    def __init__(self, layout: Layout, *, interval: float = DEFAULT_INTERVAL,
                 on_repair: Repaired | None = None) -> None:
        self._layout = layout
        self._interval = interval
        self._on_repair = on_repair
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="confguard", daemon=True)
        self._last_problem: str | None = None

    def check(self) -> str | None:
        """One pass: why the conflist was rewritten, or None. Problems (no primary config, unwritable directory)
        are logged once each, not every second, and retried at the next pass."""
        try:
            reason = install.reconcile(self._layout)
        except (InstallError, OSError) as err:
            problem = str(err)
            if problem != self._last_problem:
                logger.warning("cannot keep the CNI config", extra={"error": problem,
                                                                   "conf_dir": str(self._layout.conf_dir)})
            self._last_problem = problem
            return None
        self._last_problem = None
        if reason is not None:
            logger.warning("CNI config repaired", extra={"reason": reason, "conflist": str(self._layout.conflist)})
            if self._on_repair is not None:
                self._on_repair(reason)
        return reason

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self._interval)
