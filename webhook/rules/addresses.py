"""Static addresses: `ips` and `mac` are well formed, fit the network, and are not repeated in the pod."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from webhook.rules.base import Issue, PodContext

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}\Z")


def static_ip(ctx: PodContext) -> Iterator[Issue]:
    seen: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        ips = att.selection.ips
        if ips is None:
            continue
        if att.selection.ipam_claim_reference is not None:
            yield Issue(f"{att.path}.ips", f"{att.label}: ips and ipam-claim-reference are mutually exclusive",
                        "keep one: static ips, or the IPAMClaim that persists the address")
        subnets = att.nad.config.subnets if att.nad is not None and att.nad.config is not None else ()
        for i, text in enumerate(ips):
            path = f"{att.path}.ips[{i}]"
            address = parse_address(text)
            if address is None:
                yield Issue(path, f'{att.label}: "{text}" is not an IP address', 'write "10.1.0.5/24" or "10.1.0.5"')
                continue
            same_family = [s for s in subnets if s.version == address.version]
            if same_family and not any(address in s for s in same_family):
                listed = ", ".join(str(s) for s in same_family)
                yield Issue(path, f"{att.label}: {text} is outside the network's subnet ({listed})",
                            "pick an address inside the subnet of the NAD")
            if address in seen:
                yield Issue(path, f"{att.label}: {address} is also requested by {seen[address]}",
                            "give every interface its own address")
            else:
                seen[address] = att.label


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of "IP" or "IP/prefix" (a valid prefix for its family), else None.

    Cheaper than ip_interface, which also builds the network: this runs for every static IP on admission.
    """
    host, slash, prefix = text.partition("/")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if slash and not (prefix.isdigit() and int(prefix) <= address.max_prefixlen and prefix == str(int(prefix))):
        return None
    return address


def mac_problem(text: str) -> str | None:
    """Why a MAC is unusable for an interface, or None."""
    if not _MAC.match(text):
        return "is not a 6-byte MAC address"
    first = int(text[:2], 16)
    if first & 1:
        return "is a multicast address"
    if text.replace("-", ":").lower() == "00:00:00:00:00:00":
        return "is the all-zero address"
    return None


def mac_address(ctx: PodContext) -> Iterator[Issue]:
    seen: dict[str, str] = {}
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        mac = att.selection.mac
        if mac is None:
            continue
        path = f"{att.path}.mac"
        reason = mac_problem(mac)
        if reason is not None:
            yield Issue(path, f'{att.label}: mac "{mac}" {reason}',
                        'use a unicast MAC such as "02:00:00:00:00:01" (locally administered)')
            continue
        key = mac.replace("-", ":").lower()
        if key in seen:
            yield Issue(path, f"{att.label}: mac {mac} is also requested by {seen[key]}",
                        "give every interface its own MAC")
        else:
            seen[key] = att.label
