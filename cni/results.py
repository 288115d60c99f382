"""CNI results between spec versions 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0 (CNI SPEC §"Result", libcni convert)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from cni import errors
from cni.errors import CniError
from cni.spec.status import named_interface

V03: Final = ("0.3.0", "0.3.1", "0.4.0")
V1: Final = ("1.0.0", "1.1.0")
# Fields the 1.1.0 spec added; an older reader must not see them.
ROUTE_FIELDS_1_1: Final = ("mtu", "advmss", "priority", "table", "scope")
INTERFACE_FIELDS_1_1: Final = ("socketPath", "pciID")


def convert(result: Mapping[str, Any], to_version: str) -> dict[str, Any]:
    """A copy of `result` in `to_version`'s format; code 1 when the source version cannot be read."""
    source = str(result.get("cniVersion", ""))
    out = copy.deepcopy(dict(result))
    if source in ("0.1.0", "0.2.0"):
        out = _from_v02(out)
    elif source not in V03 + V1:
        raise CniError(errors.INCOMPATIBLE_VERSION, f"cannot convert a result of version {source!r}")
    if to_version in V03:
        for ip in out.get("ips", []):
            if isinstance(ip, dict) and "version" not in ip:
                ip["version"] = "6" if ":" in str(ip.get("address", "")) else "4"
    elif to_version in V1:
        for ip in out.get("ips", []):
            if isinstance(ip, dict):
                ip.pop("version", None)
    else:
        raise CniError(errors.INCOMPATIBLE_VERSION, f"cannot convert a result to version {to_version!r}")
    if to_version != "1.1.0":
        _strip_1_1(out)
    out["cniVersion"] = to_version
    return out


def _from_v02(result: dict[str, Any]) -> dict[str, Any]:
    """0.1.0/0.2.0 {"ip4": {...}, "ip6": {...}} -> the 0.3.x shape (no interfaces)."""
    ips: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    for key, version in (("ip4", "4"), ("ip6", "6")):
        block = result.get(key)
        if not isinstance(block, dict):
            continue
        ip: dict[str, Any] = {"version": version, "address": block.get("ip")}
        if block.get("gateway"):
            ip["gateway"] = block["gateway"]
        ips.append(ip)
        routes.extend(r for r in block.get("routes", []) if isinstance(r, dict))
    out: dict[str, Any] = {"ips": ips, "routes": routes}
    if result.get("dns"):
        out["dns"] = result["dns"]
    return out


def _strip_1_1(result: dict[str, Any]) -> None:
    for route in result.get("routes", []):
        if isinstance(route, dict):
            for key in ROUTE_FIELDS_1_1:
                route.pop(key, None)
    for iface in result.get("interfaces", []):
        if isinstance(iface, dict):
            for key in INTERFACE_FIELDS_1_1:
                iface.pop(key, None)


def interface_ips(result: Mapping[str, Any], ifname: str) -> list[Mapping[str, Any]]:
    """The result's IP configs that belong to `ifname` (all of them when none names an interface)."""
    index, _ = named_interface(result, ifname)
    ips = [ip for ip in result.get("ips") or [] if isinstance(ip, dict)]
    return [ip for ip in ips if ip.get("interface") is None or ip.get("interface") == index]
