"""Values that reach the node: valid enough to hand to a delegate, checked the same way by admission and node.

Every string that lands in `CNI_ARGS` (`K=V;K=V`, split by libcni's LoadArgs on ';' and then '=') or in a
delegate's runtimeConfig/args is checked here. Admission reports these problems under the field's rule; the node
refuses the ADD with them before any delegate runs, whatever admission did.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cni.spec.naming import IFNAME_HINT, ifname_problem
from cni.spec.netconf import IPAddress, IPNetwork
from cni.spec.problems import Problem, describe
from cni.spec.selection import DNS1123_SUBDOMAIN, NetworkSelection

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}\Z")
_GUID = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){7}\Z")
_PROTOCOLS = frozenset({"tcp", "udp", "sctp"})
_BANDWIDTH_KEYS = ("ingressRate", "ingressBurst", "egressRate", "egressBurst")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs"})  # control characters; lone surrogates (not encodable)
MAC_HINT = 'use a unicast MAC such as "02:00:00:00:00:01" (locally administered)'


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A problem with one field of a network selection element (the key says which rule owns it)."""

    field: str  # the element's JSON key: "interface", "mac", "ips", ...
    problem: Problem


# --- single values ----------------------------------------------------------------------------------------


def text_problem(value: str) -> str | None:
    """Why a string is unsafe to pass to a delegate (control characters, lone surrogates), or None."""
    for char in value:
        if unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return f"contains the control character U+{ord(char):04X}"
    return None


def cni_arg_problem(key: str, value: str) -> str | None:
    """Why `key=value` cannot be one element of CNI_ARGS, or None (libcni: exactly one '=' per ';' part)."""
    if not key:
        return "has an empty key"
    for what, text in (("key", key), ("value", value)):
        for separator in ";=":
            if separator in text:
                return f"{what} {describe(text)} contains {separator!r}, which would split CNI_ARGS"
        reason = text_problem(text)
        if reason is not None:
            return f"{what} {describe(text)} {reason}"
    return None


def mac_problem(text: str) -> str | None:
    """Why a MAC is unusable for an interface, or None: 6 bytes, unicast, not all-zero."""
    if not _MAC.match(text):
        return "is not a 6-byte MAC address"
    if int(text[:2], 16) & 1:
        return "is a multicast address"
    if text.replace("-", ":").lower() == "00:00:00:00:00:00":
        return "is the all-zero address"
    return None


def parse_address(text: str) -> IPAddress | None:
    """The address of "IP" or "IP/prefix" (a valid decimal prefix for its family), else None.

    Cheaper than ip_interface, which also builds the network: this runs for every static IP on admission.
    """
    host, slash, prefix = text.partition("/")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if slash and not (prefix.isascii() and prefix.isdigit() and prefix == str(int(prefix))
                      and int(prefix) <= address.max_prefixlen):
        return None
    return address


def address_fit_problem(address: IPAddress, subnets: Sequence[IPNetwork]) -> str | None:
    """Why an address cannot come from a network whose IPAM assigns from `subnets`, or None (unknown IPAM)."""
    if not subnets:
        return None
    same_family = [s for s in subnets if s.version == address.version]
    listed = ", ".join(str(s) for s in (same_family or subnets))
    if not same_family:
        return f"is IPv{address.version}, but the network's IPAM serves only {listed}"
    if not any(address in s for s in same_family):
        return f"is outside the network's subnet ({listed})"
    return None


# --- fields of a network selection element ----------------------------------------------------------------


def interface_problems(name: str, path: str) -> tuple[Problem, ...]:
    reason = ifname_problem(name)
    if reason is None:
        return ()
    return (Problem(f"{path}.interface", f"interface name {describe(name)} {reason}", IFNAME_HINT),)


def mac_problems(mac: str, path: str) -> tuple[Problem, ...]:
    reason = mac_problem(mac)
    return () if reason is None else (Problem(f"{path}.mac", f"mac {describe(mac)} {reason}", MAC_HINT),)


def ips_problems(ips: Sequence[str], path: str) -> tuple[Problem, ...]:
    return parse_ips(ips, path)[1]


def parse_ips(ips: Sequence[str], path: str) -> tuple[tuple[IPAddress | None, ...], tuple[Problem, ...]]:
    """Each entry's address (None when invalid), and the problems: parsed once, admission runs this per pod."""
    if not ips:
        return (), (Problem(f"{path}.ips", "ips is empty",
                            'list the addresses, e.g. ["10.1.0.5/24"], or remove "ips"'),)
    addresses = tuple(parse_address(text) for text in ips)
    return addresses, tuple(Problem(f"{path}.ips[{i}]", f"{describe(ips[i])} is not an IP address",
                                    'write "10.1.0.5/24" or "10.1.0.5"')
                            for i, address in enumerate(addresses) if address is None)


def claim_reference_problems(name: str, path: str) -> tuple[Problem, ...]:
    if DNS1123_SUBDOMAIN.match(name):
        return ()
    return (Problem(f"{path}.ipam-claim-reference", f"ipam-claim-reference {describe(name)} is not a valid object "
                    "name", "name the IPAMClaim by its metadata.name (lower-case DNS-1123, at most 253 characters)"),)


def default_route_problems(gateways: Sequence[str], path: str) -> tuple[Problem, ...]:
    return tuple(Problem(f"{path}.default-route[{i}]", f"default-route gateway {describe(g)} is not an IP address",
                         "write the gateway as an IPv4 or IPv6 address without a prefix")
                 for i, g in enumerate(gateways) if parse_ip(g) is None)


def port_mapping_problems(mappings: Sequence[Mapping[str, Any]], path: str) -> tuple[Problem, ...]:
    return tuple(p for i, m in enumerate(mappings) for p in _port_mapping(m, f"{path}.portMappings[{i}]", i))


def _port_mapping(mapping: Mapping[str, Any], path: str, i: int) -> Iterator[Problem]:
    for key in ("hostPort", "containerPort"):
        value = mapping.get(key)
        if value is None:
            yield Problem(f"{path}.{key}", f"portMappings[{i}] has no {key}", f"set {key} (1-65535)")
        elif isinstance(value, int) and not 1 <= value <= 65535:
            yield Problem(f"{path}.{key}", f"{key} {value} is not a port number", "use 1-65535")
    protocol = mapping.get("protocol")
    if isinstance(protocol, str) and protocol.lower() not in _PROTOCOLS:
        yield Problem(f"{path}.protocol", f"protocol {describe(protocol)} is not supported", "use TCP, UDP or SCTP")
    host_ip = mapping.get("hostIP")
    if isinstance(host_ip, str) and host_ip and parse_ip(host_ip) is None:
        yield Problem(f"{path}.hostIP", f"hostIP {describe(host_ip)} is not an IP address",
                      "write an IP address, or leave hostIP out")
    yield from json_text_problems({k: v for k, v in mapping.items() if k not in ("protocol", "hostIP")}, path)


def bandwidth_problems(bandwidth: Mapping[str, Any], path: str) -> tuple[Problem, ...]:
    out: list[Problem] = []
    for key in _BANDWIDTH_KEYS:
        value = bandwidth.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            out.append(Problem(f"{path}.bandwidth.{key}", f"bandwidth {key} must be positive, got {value}",
                               "use a rate in bits per second greater than 0"))
    for direction in ("ingress", "egress"):
        if f"{direction}Burst" in bandwidth and f"{direction}Rate" not in bandwidth:
            out.append(Problem(f"{path}.bandwidth.{direction}Burst", f"{direction}Burst is set without {direction}Rate",
                               f"set {direction}Rate too; a burst alone limits nothing"))
    out.extend(json_text_problems({k: v for k, v in bandwidth.items() if k not in _BANDWIDTH_KEYS},
                                  f"{path}.bandwidth"))
    return tuple(out)


def guid_problems(guid: str, path: str) -> tuple[Problem, ...]:
    if _GUID.match(guid):
        return ()
    return (Problem(f"{path}.infiniband-guid", f"infiniband-guid {describe(guid)} is not an 8-byte GUID",
                    'write it as "c2:11:22:33:44:55:66:77"'),)


def cni_args_problems(args: Mapping[str, Any], path: str) -> tuple[Problem, ...]:
    return json_text_problems(args, f"{path}.cni-args")


def device_id_problems(device_id: str, path: str) -> tuple[Problem, ...]:
    return json_text_problems(device_id, f"{path}.deviceID")


def json_text_problems(value: Any, path: str) -> tuple[Problem, ...]:
    """Every key and string inside a JSON value that is unsafe to pass to a delegate."""
    return tuple(_json_text(value, path))


def _json_text(value: Any, path: str) -> Iterator[Problem]:
    if isinstance(value, str):
        reason = text_problem(value)
        if reason is not None:
            yield Problem(path, f"{describe(value)} {reason}", "remove control characters from the value")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            item_path = f"{path}[{json.dumps(key, ensure_ascii=True)}]"
            if not key:
                yield Problem(item_path, "has an empty key", "give every key a name")
            elif (reason := text_problem(key)) is not None:
                yield Problem(item_path, f"key {describe(key)} {reason}", "remove control characters from the key")
            yield from _json_text(item, item_path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_text(item, f"{path}[{i}]")


def parse_ip(text: str) -> IPAddress | None:
    """An IP address without a prefix, else None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# --- a whole element --------------------------------------------------------------------------------------

_FIELD_CHECKS: tuple[tuple[str, str, Callable[[Any, str], tuple[Problem, ...]]], ...] = (
    ("interface", "interface", interface_problems),
    ("ips", "ips", ips_problems),
    ("mac", "mac", mac_problems),
    ("default-route", "default_route", default_route_problems),
    ("cni-args", "cni_args", cni_args_problems),
    ("portMappings", "port_mappings", port_mapping_problems),
    ("bandwidth", "bandwidth", bandwidth_problems),
    ("infiniband-guid", "infiniband_guid", guid_problems),
    ("ipam-claim-reference", "ipam_claim_reference", claim_reference_problems),
    ("deviceID", "device_id", device_id_problems),
)


def element_value_problems(element: NetworkSelection, path: str,
                           fields: Collection[str] | None = None) -> tuple[FieldProblem, ...]:
    """Every value of an element (of the given fields, default all) that is not valid enough to reach a delegate."""
    out: list[FieldProblem] = []
    for key, attr, check in _FIELD_CHECKS:
        value = getattr(element, attr)
        if value is not None and (fields is None or key in fields):
            out.extend(FieldProblem(key, p) for p in check(value, path))
    return tuple(out)
