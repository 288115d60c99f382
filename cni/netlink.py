"""pyroute2 edge: read and take away the pod's default routes, and make its routes and rules match a RoutePlan.

The pod netns must exist; netweave never creates one. Its netlink socket is made by a short-lived thread that
entered the netns (netns_socket), not by pyroute2's IPRoute(netns=...), which forks a helper process of this
large daemon on every open (≈7 ms of each ADD, benchmarks/cni_breakdown.py).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from cni import errors
from cni.errors import CniError
from cni.routes import MAIN_TABLE, Route, RoutePlan, Rule
from cni.spec.routing import FAMILIES, Family

logger = logging.getLogger(__name__)

CLONE_NEWNET: Final = 0x40000000
NETLINK_ROUTE: Final = 0


def netns_socket(path: str) -> socket.socket:
    """A NETLINK_ROUTE socket of the netns at `path`. setns(2) moves only the calling thread, and a socket belongs
    for good to the netns it was created in: a fresh thread enters the netns, creates the socket and ends (it is
    never reused, so no thread of this process is left in a pod's netns). FileNotFoundError when `path` is gone."""
    box: dict[str, Any] = {}

    def enter_and_create() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns({path}): {os.strerror(code)}")
            finally:
                os.close(fd)
            box["socket"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    thread = threading.Thread(target=enter_and_create, name="netns-socket")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    sock: socket.socket = box["socket"]
    return sock


def failures(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """What a netlink call on an open IPRoute raises when the kernel refuses it: pyroute2's NetlinkError (errno in
    `.code`) or an OSError of the socket or netns, plus `also` (the caller's own). Anything else is a bug and
    propagates (code 999 in cni.execute). A function, evaluated only when an exception is in flight: pyroute2 stays
    unimported until the first socket."""
    from pyroute2.netlink.exceptions import NetlinkError

    return (NetlinkError, OSError, *also)


def open_iproute(path: str) -> tuple[Any, socket.socket | None]:
    """An IPRoute on the netns at `path` and the socket to close after it (None: pyroute2's own)."""
    from pyroute2 import IPRoute

    try:
        sock = netns_socket(path)
    except FileNotFoundError:
        raise
    except OSError as err:  # e.g. setns refused by a seccomp profile: pyroute2's forked helper still works
        logger.debug("netns socket without a thread", extra={"error": str(err)})
        return IPRoute(netns=path, flags=0), None
    try:
        return IPRoute(use_socket=sock), sock
    except BaseException:   # whatever stops IPRoute, the socket is ours to close; re-raised
        sock.close()
        raise

AF: Final = {4: socket.AF_INET, 6: socket.AF_INET6}
GONE: Final = (errno.ENOENT, errno.ENODEV, errno.ESRCH, errno.EADDRNOTAVAIL)
MAX_DELETES: Final = 64


@contextmanager
def pod_netns(path: str) -> Iterator[Any]:
    """An IPRoute bound to the existing netns at `path` (pyroute2 imported lazily)."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    ipr, sock = open_iproute(path)
    try:
        yield ipr
    finally:
        ipr.close()
        if sock is not None:
            sock.close()


class PodNetns:
    """One IPRoute on the pod netns for a whole ADD, opened on first use; `with` closes it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ipr: Any = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> PodNetns:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def ipr(self) -> Any:
        """The open IPRoute; FileNotFoundError when the netns does not exist."""
        if self._ipr is None:
            if not self.path or not os.path.exists(self.path):
                raise FileNotFoundError(self.path)
            self._ipr, self._sock = open_iproute(self.path)
        return self._ipr


def read_defaults(ipr: Any) -> list[Route]:
    """Every main-table default route, one Route per next hop. One dump of both families (AF_UNSPEC), and the
    links only when there is a default to name: this runs after every delegate of every ADD."""
    families = {socket.AF_INET: 4, socket.AF_INET6: 6}
    try:
        found = [msg for msg in ipr.route("dump", family=socket.AF_UNSPEC, table=MAIN_TABLE)
                 if msg["family"] in families and msg["dst_len"] == 0
                 and msg.get_attr("RTA_TABLE", msg["table"]) == MAIN_TABLE
                 and msg["type"] == 1]   # RTN_UNICAST only
        names = _link_names(ipr) if found else {}
    except failures() as e:   # the kernel refused the dump: a route failure of this pod, not a bug (999)
        raise CniError(errors.ROUTES_FAILED, "cannot read the pod's default routes", str(e)) from e
    if not found:
        return []
    out: list[Route] = []
    for family in (4, 6):
        for msg in found:
            if families[msg["family"]] == family:
                out.extend(_hops(msg, family, names))
    return out


def _hops(msg: Any, family: Family, names: dict[int, str]) -> list[Route]:
    dst = "0.0.0.0/0" if family == 4 else "::/0"
    multipath = msg.get_attr("RTA_MULTIPATH")
    if multipath:
        return [Route(family, dst, names.get(hop["oif"], str(hop["oif"])), hop.get_attr("RTA_GATEWAY"))
                for hop in multipath]
    oif = msg.get_attr("RTA_OIF")
    return [Route(family, dst, names.get(oif, str(oif)), msg.get_attr("RTA_GATEWAY"))]


def take_defaults(ipr: Any) -> list[Route]:
    """Remove every main-table default route and return them: what the pod held (what a delegate just
    installed), so that the next delegate's plain `route add default` cannot fail with EEXIST."""
    found = read_defaults(ipr)
    for family in sorted({r.family for r in found}):
        _delete_defaults(ipr, family)
    return found


def apply_plan(ipr: Any, plan: RoutePlan) -> None:
    """Make the pod match `plan`: its defaults are the only ones, then routes (replace) and rules (EEXIST ok)."""
    try:
        indexes = {name: index for index, name in _link_names(ipr).items()}
    except failures() as e:   # as in read_defaults: a route failure of this pod, not a bug (999)
        raise CniError(errors.ROUTES_FAILED, "cannot list the pod's interfaces", str(e)) from e
    for family in FAMILIES:
        _delete_defaults(ipr, family)
    for route in plan.defaults:
        _replace(ipr, route, indexes)
    for route in plan.routes:
        _replace(ipr, route, indexes)
    for rule in plan.rules:
        try:
            ipr.rule("add", **_rule_spec(rule))
        except failures() as e:
            if _errno(e) != errno.EEXIST:
                raise CniError(errors.ROUTES_FAILED, f"cannot add rule from {rule.src}", str(e)) from e


def remove_rules(ipr: Any, rules: Sequence[Rule]) -> None:
    """Best-effort removal of the source-routing rules an ADD installed (routes go with their links)."""
    for rule in rules:
        try:
            ipr.rule("del", **_rule_spec(rule))
        except failures() as e:
            if _errno(e) not in GONE:
                logger.warning("cannot remove rule from %s: %s", rule.src, e)


def _delete_defaults(ipr: Any, family: Family) -> None:
    for _ in range(MAX_DELETES):
        try:
            found = [m for m in ipr.route("dump", family=AF[family], table=MAIN_TABLE)
                     if m["dst_len"] == 0 and m["type"] == 1]
        except failures() as e:   # as in read_defaults
            raise CniError(errors.ROUTES_FAILED, f"cannot read the pod's default routes (IPv{family})",
                           str(e)) from e
        if not found:
            return
        msg = found[0]
        spec: dict[str, Any] = {"family": AF[family], "dst_len": 0, "table": MAIN_TABLE}
        priority = msg.get_attr("RTA_PRIORITY")
        if priority is not None:
            spec["priority"] = priority
        try:
            ipr.route("del", **spec)
        except failures() as e:
            if _errno(e) not in GONE:
                raise CniError(errors.ROUTES_FAILED, f"cannot remove a default route (IPv{family})",
                               str(e)) from e
    raise CniError(errors.ROUTES_FAILED, f"default routes (IPv{family}) keep coming back")


def _replace(ipr: Any, route: Route, indexes: dict[str, int]) -> None:
    if route.ifname not in indexes:
        raise CniError(errors.ROUTES_FAILED, f"interface {route.ifname} is missing in the pod")
    prefix, _, length = route.dst.partition("/")
    spec: dict[str, Any] = {"family": AF[route.family], "dst_len": int(length), "oif": indexes[route.ifname],
                            "table": route.table}
    if int(length):
        spec["dst"] = prefix
    if route.gateway:
        spec["gateway"] = route.gateway
    else:
        spec["scope"] = 253   # RT_SCOPE_LINK
    try:
        ipr.route("replace", **spec)
    except failures() as e:
        raise CniError(errors.ROUTES_FAILED,
                       f"cannot install route {route.dst} via {route.gateway or '-'} dev {route.ifname}",
                       str(e)) from e


def _errno(e: Exception) -> int | None:
    """The errno of a NetlinkError (`code`) or an OSError (`errno`)."""
    code = e.errno if isinstance(e, OSError) else getattr(e, "code", None)
    return code if isinstance(code, int) else None


def _rule_spec(rule: Rule) -> dict[str, Any]:
    src, _, length = rule.src.partition("/")
    return {"family": AF[rule.family], "src": src, "src_len": int(length), "table": rule.table,
            "priority": rule.priority}


def _link_names(ipr: Any) -> dict[int, str]:
    return {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
