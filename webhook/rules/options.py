"""Runtime options (portMappings, bandwidth, infiniband-guid) and whether the NAD's plugins can receive them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.rules.base import Attachment, Issue, PodContext

_GUID = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){7}\Z")
_PROTOCOLS = {"tcp", "udp", "sctp"}

# Plugins that read CNI_ARGS IP= / MAC= (the node sets them, as Multus does), so no capability is needed.
IP_ARG_IPAM = frozenset({"host-local", "static"})
MAC_ARG_PLUGINS = frozenset({"macvlan", "bridge", "tuning", "tap"})


def _port_issues(att: Attachment, i: int, mapping: Mapping[str, Any]) -> Iterator[Issue]:
    path = f"{att.path}.portMappings[{i}]"
    for key in ("hostPort", "containerPort"):
        value = mapping.get(key)
        if value is None:
            yield Issue(f"{path}.{key}", f"{att.label}: portMappings[{i}] has no {key}", f"set {key} (1-65535)")
        elif isinstance(value, int) and not 1 <= value <= 65535:
            yield Issue(f"{path}.{key}", f"{att.label}: {key} {value} is not a port number", "use 1-65535")
    protocol = mapping.get("protocol")
    if isinstance(protocol, str) and protocol.lower() not in _PROTOCOLS:
        yield Issue(f"{path}.protocol", f'{att.label}: protocol "{protocol}" is not supported',
                    "use TCP, UDP or SCTP")
    host_ip = mapping.get("hostIP")
    if isinstance(host_ip, str) and host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            yield Issue(f"{path}.hostIP", f'{att.label}: hostIP "{host_ip}" is not an IP address',
                        "write an IP address, or leave hostIP out")


def _bandwidth_issues(att: Attachment, bandwidth: Mapping[str, Any]) -> Iterator[Issue]:
    path = f"{att.path}.bandwidth"
    for key in ("ingressRate", "ingressBurst", "egressRate", "egressBurst"):
        value = bandwidth.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            yield Issue(f"{path}.{key}", f"{att.label}: bandwidth {key} must be positive, got {value}",
                        "use a rate in bits per second greater than 0")
    for direction in ("ingress", "egress"):
        if f"{direction}Burst" in bandwidth and f"{direction}Rate" not in bandwidth:
            yield Issue(f"{path}.{direction}Burst", f"{att.label}: {direction}Burst is set without {direction}Rate",
                        f"set {direction}Rate too; a burst alone limits nothing")


def attachment_options(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        for i, mapping in enumerate(att.selection.port_mappings or ()):
            yield from _port_issues(att, i, mapping)
        if att.selection.bandwidth is not None:
            yield from _bandwidth_issues(att, att.selection.bandwidth)
        guid = att.selection.infiniband_guid
        if guid is not None and not _GUID.match(guid):
            yield Issue(f"{att.path}.infiniband-guid", f'{att.label}: infiniband-guid "{guid}" is not an 8-byte GUID',
                        'write it as "c2:11:22:33:44:55:66:77"')


def _missing(att: Attachment) -> Iterator[tuple[str, str, str]]:
    """(field, what the plugin lacks, hint) for each request none of the NAD's plugins can receive."""
    conf = att.nad.config if att.nad is not None else None
    if conf is None:
        return
    caps, types, ipam_types = conf.capabilities, conf.plugin_types, conf.ipam_types
    sel = att.selection
    if sel.ips is not None and "ips" not in caps and not ipam_types & IP_ARG_IPAM:
        yield "ips", 'the "ips" capability', 'declare "capabilities": {"ips": true} on a plugin that supports it'
    if sel.mac is not None and "mac" not in caps and not types & MAC_ARG_PLUGINS:
        yield "mac", 'the "mac" capability', 'declare "capabilities": {"mac": true}, or add the tuning plugin'
    for field, cap, value in (("portMappings", "portMappings", sel.port_mappings),
                              ("bandwidth", "bandwidth", sel.bandwidth),
                              ("infiniband-guid", "infinibandGUID", sel.infiniband_guid)):
        if value is not None and cap not in caps:
            yield field, f'the "{cap}" capability', f'add a plugin declaring "capabilities": {{"{cap}": true}}'


def capability_missing(ctx: PodContext) -> Iterator[Issue]:
    for att in ctx.all_attachments:  # the default-network element may carry ips, mac and options too
        for field, lack, hint in _missing(att):
            yield Issue(f"{att.path}.{field}", f"{att.label}: {field} would be silently dropped: no plugin of "
                        f"{att.nad.key if att.nad else att.selection.name} has {lack}", hint)
