"""CNI result -> network-status entries (NPWG v1.3 §5); (de)serialise the annotation.

Keys are exactly those of NPWG v1.3 §5.3 and of the network-attachment-definition-client `NetworkStatus` type
(what Multus writes and Go clients decode): name, interface, ips, mac, mtu, default, dns (nameservers, domain,
search, options), gateway, default-route, device-info. `gateway` (client type) lists the gateways of the default
routes the attachment holds in the pod; `default-route` (§5.3.6.4) is written only for an element that asked for
the default route, with the same gateways. Anything else a delegate reports (e.g. unknown dns keys) is dropped.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cni.spec.problems import load_json

PCI_ADDRESS_RE: Final = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]\Z")
DEVICE_INFO_VERSION: Final = "1.1.0"


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    """One element of k8s.v1.cni.cncf.io/network-status."""

    name: str                                  # "namespace/name" of the NAD, or the cluster network's name
    interface: str | None = None
    ips: tuple[str, ...] = ()                  # addresses without prefix length
    mac: str | None = None
    mtu: int | None = None
    default: bool = False
    dns: Mapping[str, Any] = field(default_factory=dict)
    gateway: tuple[str, ...] = ()
    default_route: tuple[str, ...] | None = None
    device_info: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The schema's JSON object, in the key order Multus writes (optional keys only when set)."""
        out: dict[str, Any] = {"name": self.name}
        if self.interface:
            out["interface"] = self.interface
        if self.ips:
            out["ips"] = list(self.ips)
        if self.mac:
            out["mac"] = self.mac
        if self.mtu:
            out["mtu"] = self.mtu
        out["default"] = self.default
        if self.dns:
            out["dns"] = dict(self.dns)
        if self.gateway:
            out["gateway"] = list(self.gateway)
        if self.default_route is not None:
            out["default-route"] = list(self.default_route)
        if self.device_info:
            out["device-info"] = dict(self.device_info)
        return out


def status_from_result(
    result: Mapping[str, Any],
    *,
    name: str,
    interface: str,
    default: bool,
    default_route: Sequence[str] | None = None,
    gateway: Sequence[str] = (),
    device_id: str | None = None,
) -> NetworkStatus:
    """The entry for one attachment: the sandbox interface `interface` of a CNI result (any version).

    `gateway`: the gateways of the default routes the attachment holds in the pod (NPWG §5.3.6.4 / client type).
    """
    index, iface = _sandbox_interface(result, interface)
    ips: list[str] = []
    for ip in result.get("ips") or []:
        if not isinstance(ip, Mapping) or not _ip_of(ip.get("interface"), index):
            continue
        address = str(ip.get("address", "")).split("/")[0]
        if address:
            ips.append(address)
    mtu = iface.get("mtu") if iface else None
    return NetworkStatus(
        name=name,
        interface=str(iface["name"]) if iface and iface.get("name") else interface,
        ips=tuple(ips),
        mac=str(iface["mac"]) if iface and iface.get("mac") else None,
        mtu=mtu if isinstance(mtu, int) and not isinstance(mtu, bool) and mtu > 0 else None,
        default=default,
        dns=_dns(result.get("dns")),
        gateway=tuple(gateway),
        default_route=(tuple(gateway) or tuple(default_route)) if default_route is not None else None,
        device_info=device_info(device_id) if device_id else None,
    )


def _ip_of(ip_interface: Any, index: int | None) -> bool:
    """NPWG §5.3.3.1: the sandbox interface's addresses; those naming no interface (absent or < 0) count too."""
    if ip_interface is None or (isinstance(ip_interface, int) and ip_interface < 0):
        return True
    return index is not None and ip_interface == index


# NPWG §5.3.6 dns keys (+ "options", which the client type also carries): key -> is it a list of strings
_DNS_KEYS: Final = {"nameservers": True, "domain": False, "search": True, "options": True}


def _dns(dns: Any) -> dict[str, Any]:
    """The result's dns, restricted to the schema's keys and types; empty values dropped."""
    if not isinstance(dns, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, is_list in _DNS_KEYS.items():
        value = dns.get(key)
        if is_list and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            out[key] = list(value)
        elif not is_list and isinstance(value, str) and value:
            out[key] = value
    return out


def without_entries(text: str, gone: Sequence[NetworkStatus]) -> str | None:
    """The annotation `text` without the elements that describe `gone` (same name, interface, ips and mac), other
    elements kept byte for byte in meaning; None when nothing is removed (or `text` is not a JSON list)."""
    data, detail = load_json(text)
    if detail is not None or not isinstance(data, list):
        return None
    keys = {_identity(e.to_json()) for e in gone}
    kept = [item for item in data if not (isinstance(item, dict) and _identity(item) in keys)]
    if len(kept) == len(data):
        return None
    return json.dumps(kept, separators=(",", ":"))


def _identity(item: Mapping[str, Any]) -> tuple[Any, ...]:
    ips = item.get("ips")
    return (item.get("name"), item.get("interface"), tuple(ips) if isinstance(ips, list) else (), item.get("mac"))


def device_info(device_id: str) -> dict[str, Any] | None:
    """The Device Information Specification object for a device-plugin id that is a PCI address."""
    if PCI_ADDRESS_RE.match(device_id):
        return {"type": "pci", "version": DEVICE_INFO_VERSION, "pci": {"pci-address": device_id}}
    return None


def dump_network_status(entries: Sequence[NetworkStatus]) -> str:
    """The annotation value: a compact JSON list."""
    return json.dumps([e.to_json() for e in entries], separators=(",", ":"))


def parse_network_status(text: str) -> tuple[tuple[NetworkStatus, ...], tuple[str, ...]]:
    """Entries that could be read, and one message per element that could not."""
    data, detail = load_json(text)
    if detail is not None:
        return (), (f"not JSON: {detail}",)
    if not isinstance(data, list):
        return (), ("not a JSON list",)
    entries: list[NetworkStatus] = []
    problems: list[str] = []
    for i, item in enumerate(data):
        try:
            entries.append(_entry(item))
        except (TypeError, ValueError) as e:
            problems.append(f"[{i}]: {e}")
    return tuple(entries), tuple(problems)


# key -> (expected JSON type(s), in words); the schema of NPWG v1.3 §4.1.2.1 network-status entries
_ENTRY_TYPES: Mapping[str, tuple[type | tuple[type, ...], str]] = {
    "interface": (str, "a string"), "mac": (str, "a string"), "mtu": (int, "an integer"),
    "default": (bool, "a boolean"), "dns": (dict, "an object"), "device-info": (dict, "an object"),
    "ips": (list, "a list of IP strings"), "gateway": (list, "a list of IP strings"),
    "default-route": (list, "a list of IP strings"),
}


def _entry(item: Any) -> NetworkStatus:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ValueError("element needs a string name")
    for key, (kind, words) in _ENTRY_TYPES.items():
        value = item.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise TypeError(f"{key} must be {words}")
    for key in ("ips", "gateway", "default-route"):
        for ip in item.get(key) or ():
            if not isinstance(ip, str):
                raise TypeError(f"{key} must be a list of IP strings")
            ipaddress.ip_address(ip)
    route = item.get("default-route")
    return NetworkStatus(
        name=item["name"],
        interface=item.get("interface"),
        ips=tuple(item.get("ips") or ()),
        mac=item.get("mac"),
        mtu=item.get("mtu"),
        default=item.get("default", False),
        dns=item.get("dns") or {},
        gateway=tuple(item.get("gateway") or ()),
        default_route=tuple(route) if route is not None else None,
        device_info=item.get("device-info"),
    )


def named_interface(result: Mapping[str, Any], ifname: str) -> tuple[int | None, Mapping[str, Any] | None]:
    """Index and object of the result's interface `ifname`, a sandbox one first; indexes count every element of
    "interfaces", as the result's ips[].interface does."""
    interfaces = [(i, x) for i, x in enumerate(result.get("interfaces") or []) if isinstance(x, Mapping)]
    for want_sandbox in (True, False):
        for i, iface in interfaces:
            if iface.get("name") == ifname and (bool(iface.get("sandbox")) or not want_sandbox):
                return i, iface
    return None, None


def _sandbox_interface(result: Mapping[str, Any], ifname: str) -> tuple[int | None, Mapping[str, Any] | None]:
    """The interface `ifname`, else the first sandbox interface (NPWG §5.3.2.1)."""
    index, iface = named_interface(result, ifname)
    if iface is not None:
        return index, iface
    interfaces = enumerate(result.get("interfaces") or [])
    return next(((i, x) for i, x in interfaces if isinstance(x, Mapping) and x.get("sandbox")), (None, None))
