"""The networks annotation: short form `[ns/]name[@ifname]` or a JSON list of network selection elements.

NPWG multi-net spec v1.3 §4.1.2.1. Parsing checks form and JSON types only; whether a value of the right type
is valid (an interface name, a MAC, a gateway) is decided by the rules that own that field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cni.spec.problems import NETWORKS_ANNOTATION, Problem, annotation_path, describe, json_type, load_json

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
DNS1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")

NETWORKS_PATH = annotation_path(NETWORKS_ANNOTATION)


@dataclass(frozen=True, slots=True)
class NetworkSelection:
    """One requested attachment (NPWG network selection element)."""

    name: str
    namespace: str | None = None
    interface: str | None = None
    ips: tuple[str, ...] | None = None
    mac: str | None = None
    default_route: tuple[str, ...] | None = None
    cni_args: Mapping[str, Any] | None = None
    port_mappings: tuple[Mapping[str, Any], ...] | None = None
    bandwidth: Mapping[str, Any] | None = None
    infiniband_guid: str | None = None
    ipam_claim_reference: str | None = None
    device_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0

    def to_json(self) -> dict[str, Any]:
        """The element as NPWG JSON, with only the fields that are set, in a stable order."""
        out: dict[str, Any] = {"name": self.name}
        for key, value in (
            ("namespace", self.namespace),
            ("interface", self.interface),
            ("ips", list(self.ips) if self.ips is not None else None),
            ("mac", self.mac),
            ("default-route", list(self.default_route) if self.default_route is not None else None),
            ("cni-args", dict(self.cni_args) if self.cni_args is not None else None),
            ("portMappings", [dict(p) for p in self.port_mappings] if self.port_mappings is not None else None),
            ("bandwidth", dict(self.bandwidth) if self.bandwidth is not None else None),
            ("infiniband-guid", self.infiniband_guid),
            ("ipam-claim-reference", self.ipam_claim_reference),
            ("deviceID", self.device_id),
        ):
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class ParsedNetworks:
    """Every element that could be read, and every problem found, at once."""

    elements: tuple[NetworkSelection, ...]
    problems: tuple[Problem, ...]
    form: Literal["empty", "short", "json"]


def parse_networks(text: str, *, path: str = NETWORKS_PATH) -> ParsedNetworks:
    """Parse the networks annotation; never raises."""
    stripped = text.strip()
    if not stripped:
        return ParsedNetworks((), (), "empty")
    if stripped[0] in "[{":
        elements, problems = _parse_json(stripped, path)
        return ParsedNetworks(elements, problems, "json")
    elements, problems = _parse_short(stripped, path)
    return ParsedNetworks(elements, problems, "short")


def dump_networks(elements: Sequence[NetworkSelection]) -> str:
    """The canonical, compact JSON form of a list of elements."""
    return json.dumps([e.to_json() for e in elements], separators=(",", ":"), ensure_ascii=False)


# --- short form -------------------------------------------------------------------------------------------


def _parse_short(text: str, path: str) -> tuple[tuple[NetworkSelection, ...], tuple[Problem, ...]]:
    elements: list[NetworkSelection] = []
    problems: list[Problem] = []
    for index, raw in enumerate(text.split(",")):
        item = raw.strip()
        item_path = f"{path}[{index}]"
        element, item_problems = _parse_short_item(item, index, item_path)
        problems.extend(item_problems)
        if element is not None:
            elements.append(element)
    return tuple(elements), tuple(problems)


def _parse_short_item(item: str, index: int, path: str) -> tuple[NetworkSelection | None, list[Problem]]:
    hint = 'write each entry as "name", "namespace/name" or "namespace/name@ifname", separated by commas'
    if not item:
        return None, [Problem(path, "empty entry in the network list", f"remove the extra comma; {hint}")]
    ref, at, ifname = item.partition("@")
    namespace, slash, name = ref.rpartition("/")
    problems: list[Problem] = []
    if at and not ifname:
        problems.append(Problem(path, f'entry "{item}" has an empty interface name after "@"',
                                'put the interface name after "@", or drop the "@"'))
    if slash and not namespace:
        problems.append(Problem(path, f'entry "{item}" has an empty namespace before "/"',
                                'put the namespace before "/", or drop the "/"'))
    elif slash and not DNS1123_LABEL.match(namespace):
        problems.append(Problem(f"{path}.namespace", f'namespace "{namespace}" is not a valid DNS-1123 label',
                                "use lower-case letters, digits and '-', at most 63 characters"))
    if not DNS1123_LABEL.match(name):
        what = "is empty" if not name else "is not a valid DNS-1123 label"
        problems.append(Problem(f"{path}.name", f'network name "{name}" {what}', hint))
    if problems:
        return None, problems
    element = NetworkSelection(name=name, namespace=namespace or None, interface=ifname or None, index=index)
    return element, []


# --- JSON form --------------------------------------------------------------------------------------------


def _parse_json(text: str, path: str) -> tuple[tuple[NetworkSelection, ...], tuple[Problem, ...]]:
    data, detail = load_json(text)
    if detail is not None:
        return (), (Problem(path, f"the annotation is not valid JSON: {detail}",
                            'write a JSON list such as [{"name": "net-a", "interface": "net1"}] or the short '
                            'form "net-a,net-b@net2"'),)
    if not isinstance(data, list):
        return (), (Problem(path, f"the annotation must be a JSON list of objects, got a {json_type(data)}",
                            "wrap the object in [ ]" if isinstance(data, dict) else
                            'write a list such as [{"name": "net-a"}]'),)
    elements: list[NetworkSelection] = []
    problems: list[Problem] = []
    for index, item in enumerate(data):
        element, item_problems = _parse_element(item, index, f"{path}[{index}]")
        problems.extend(item_problems)
        if element is not None:
            elements.append(element)
    return tuple(elements), tuple(problems)


_Check = Callable[[Any], bool]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_object_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


# JSON key -> (attribute, type check, expected type in words)
_FIELDS: dict[str, tuple[str, _Check, str]] = {
    "name": ("name", _is_str, "a string"),
    "namespace": ("namespace", _is_str, "a string"),
    "interface": ("interface", _is_str, "a string"),
    "ips": ("ips", _is_str_list, "a list of strings"),
    "mac": ("mac", _is_str, "a string"),
    "default-route": ("default_route", _is_str_list, "a list of gateway IP strings"),
    "cni-args": ("cni_args", _is_object, "an object"),
    "portMappings": ("port_mappings", _is_object_list, "a list of objects"),
    "bandwidth": ("bandwidth", _is_object, "an object"),
    "infiniband-guid": ("infiniband_guid", _is_str, "a string"),
    "ipam-claim-reference": ("ipam_claim_reference", _is_str, "a string"),
    "deviceID": ("device_id", _is_str, "a string"),
    "interfaceRequest": ("interface", _is_str, "a string"),
}

_LEGACY = frozenset({"interfaceRequest", "deviceID"})

# Reserved keys people write by mistake, and the key they meant.
_LIKELY_MEANT = {
    "ip": "ips", "ipAddress": "ips", "ipaddress": "ips", "default_route": "default-route",
    "defaultRoute": "default-route", "ifname": "interface", "iface": "interface", "macAddress": "mac",
    "cni_args": "cni-args", "cniArgs": "cni-args", "port-mappings": "portMappings",
    "infinibandGUID": "infiniband-guid", "ipamClaimReference": "ipam-claim-reference",
}

_PORT_FIELDS = {"hostPort": int, "containerPort": int, "protocol": str, "hostIP": str}
_BANDWIDTH_FIELDS = ("ingressRate", "ingressBurst", "egressRate", "egressBurst")


def _parse_element(item: Any, index: int, path: str) -> tuple[NetworkSelection | None, list[Problem]]:
    if not isinstance(item, dict):
        return None, [Problem(path, f"each element must be an object, got {json_type(item)} {describe(item)}",
                              'write {"name": "<network>"}')]
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in item.items():
        found = _read_key(key, value, path, values, extra, item)
        if found:
            problems.extend(found)
    problems.extend(_check_nested(values, path))
    name = values.get("name")
    if name is None:
        if "name" not in item:
            problems.append(Problem(path, 'element has no "name"',
                                    'add "name": the NetworkAttachmentDefinition to attach'))
        return None, problems
    if name.count("/") == 1 and "namespace" not in item:
        # Seen in the wild (Kube-OVN docs): "name": "ns/net". Read it as namespace + name, and say so.
        values["namespace"], name = name.split("/")
        values["name"] = name
        problems.append(Problem(f"{path}.name", f'name "{values["namespace"]}/{name}" carries a namespace',
                                f'write "name": "{name}", "namespace": "{values["namespace"]}"', "warning"))
    if not DNS1123_SUBDOMAIN.match(name):
        problems.append(Problem(f"{path}.name", f"network name {describe(name)} is not a valid object name",
                                "use the NetworkAttachmentDefinition's metadata.name (lower-case DNS-1123)"))
        return None, problems
    namespace = values.get("namespace")
    if namespace is not None and not DNS1123_LABEL.match(namespace):
        problems.append(Problem(f"{path}.namespace", f"namespace {describe(namespace)} is not a valid namespace",
                                "use lower-case letters, digits and '-', at most 63 characters"))
        return None, problems
    return _build(values, extra, index), problems


def _read_key(key: str, value: Any, element_path: str, values: dict[str, Any], extra: dict[str, Any],
              item: Mapping[str, Any]) -> list[Problem]:
    spec = _FIELDS.get(key)
    if spec is not None and spec[1](value) and key not in _LEGACY:
        values[spec[0]] = value  # the common case, kept cheap: admission parses every element of every pod
        return []
    path = f"{element_path}.{key}"
    if spec is None:
        if "." in key:  # NPWG: implementation-specific keys are reverse-DNS
            extra[key] = value
            return []
        meant = _LIKELY_MEANT.get(key)
        hint = f'did you mean "{meant}"?' if meant else \
            "remove it, or use a reverse-DNS key (e.g. example.com/x) for implementation-specific data"
        return [Problem(path, f'unknown key "{key}" is ignored', hint, "warning")]
    attr, check, expected = spec
    if not check(value):
        return [Problem(path, f"{key} must be {expected}, got {json_type(value)} {describe(value)}",
                        f"write {key} as {expected}")]
    problems: list[Problem] = []
    if key == "interfaceRequest":
        if "interface" in item:
            return [Problem(path, '"interfaceRequest" is ignored because "interface" is also set',
                            'remove the legacy "interfaceRequest"', "warning")]
        problems.append(Problem(path, '"interfaceRequest" is a legacy key', 'rename it to "interface"', "warning"))
    elif key == "deviceID":
        problems.append(Problem(path, '"deviceID" is a legacy key; the device comes from the NAD resourceName',
                                "remove it and set k8s.v1.cni.cncf.io/resourceName on the NAD", "warning"))
    values[attr] = value
    return problems


def _check_nested(values: Mapping[str, Any], path: str) -> list[Problem]:
    """JSON types inside portMappings and bandwidth (values are checked by attachment-options)."""
    problems: list[Problem] = []
    for i, mapping in enumerate(values.get("port_mappings") or ()):
        for key, kind in _PORT_FIELDS.items():
            value = mapping.get(key)
            if key in mapping and (not isinstance(value, kind) or isinstance(value, bool)):
                want = "an integer" if kind is int else "a string"
                problems.append(Problem(f"{path}.portMappings[{i}].{key}",
                                        f"{key} must be {want}, got {json_type(value)} {describe(value)}",
                                        f"write {key} as {want}"))
    bandwidth = values.get("bandwidth") or {}
    for key in _BANDWIDTH_FIELDS:
        value = bandwidth.get(key)
        if key in bandwidth and (not isinstance(value, int | float) or isinstance(value, bool)):
            problems.append(Problem(f"{path}.bandwidth.{key}",
                                    f"{key} must be a number, got {json_type(value)} {describe(value)}",
                                    f"write {key} as a number (bits per second)"))
    return problems


def _tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
    return tuple(value) if value is not None else None


def _build(values: Mapping[str, Any], extra: Mapping[str, Any], index: int) -> NetworkSelection:
    return NetworkSelection(
        name=values["name"],
        namespace=values.get("namespace"),
        interface=values.get("interface"),
        ips=_tuple(values.get("ips")),
        mac=values.get("mac"),
        default_route=_tuple(values.get("default_route")),
        cni_args=values.get("cni_args"),
        port_mappings=_tuple(values.get("port_mappings")),
        bandwidth=values.get("bandwidth"),
        infiniband_guid=values.get("infiniband_guid"),
        ipam_claim_reference=values.get("ipam_claim_reference"),
        device_id=values.get("device_id"),
        extra=extra,
        index=index,
    )
