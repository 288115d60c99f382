"""A NetworkAttachmentDefinition: its CNI config (single config or conflist) and its NPWG annotations.

What IPAM reveals (subnets, gateways) is read from the IPAM types whose config is declarative: host-local
(`ranges`, `subnet`, `gateway`), static (`addresses`) and whereabouts (`range`, `ipRanges`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cni.spec.problems import (
    NODE_SELECTOR_ANNOTATION,
    RESOURCE_NAME_ANNOTATION,
    Problem,
    describe,
    json_type,
    load_json,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CONFIG_PATH = "spec.config"


@dataclass(frozen=True, slots=True)
class Plugin:
    """One plugin of a config: its type, the capabilities it declares, its IPAM type."""

    type: str
    capabilities: frozenset[str]
    ipam_type: str | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NetConf:
    """A CNI network configuration, normalised to a list of plugins."""

    name: str | None
    cni_version: str | None
    plugins: tuple[Plugin, ...]
    is_list: bool
    subnets: tuple[IPNetwork, ...]
    gateways: tuple[IPAddress, ...]
    raw: Mapping[str, Any]
    # Derived once at parse time: admission asks these for every attachment of every pod.
    capabilities: frozenset[str] = frozenset()   # declared by any plugin
    plugin_types: frozenset[str] = frozenset()
    ipam_types: frozenset[str] = frozenset()

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(p.type for p in self.plugins)


@dataclass(frozen=True, slots=True)
class Nad:
    """A NetworkAttachmentDefinition as the rules and the node see it."""

    namespace: str
    name: str
    config: NetConf | None
    config_problems: tuple[Problem, ...]
    resource_name: str | None
    node_selector: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_netconf(text: str, *, path: str = CONFIG_PATH) -> tuple[NetConf | None, tuple[Problem, ...]]:
    """Parse a CNI config or conflist from its JSON text; never raises."""
    data, detail = load_json(text)
    if detail is not None:
        return None, (Problem(path, f"the CNI config is not valid JSON: {detail}",
                              "spec.config must hold one CNI config or conflist as a JSON object"),)
    return netconf_from_mapping(data, path=path)


def netconf_from_mapping(data: Any, *, path: str = CONFIG_PATH) -> tuple[NetConf | None, tuple[Problem, ...]]:
    """Build a NetConf from decoded JSON; never raises."""
    if not isinstance(data, dict):
        return None, (Problem(path, f"the CNI config must be a JSON object, got {json_type(data)}",
                              'write {"cniVersion": "1.0.0", "type": "<plugin>", ...}'),)
    problems: list[Problem] = []
    for key in ("name", "cniVersion"):
        if key in data and not isinstance(data[key], str):
            problems.append(Problem(f"{path}.{key}", f"{key} must be a string, got {json_type(data[key])}",
                                    f'write "{key}" as a string'))
    is_list = "plugins" in data
    raw_plugins = data.get("plugins") if is_list else [data]
    if not isinstance(raw_plugins, list) or not raw_plugins:
        problems.append(Problem(f"{path}.plugins", "plugins must be a non-empty list of plugin configs",
                                'write "plugins": [{"type": "<plugin>", ...}]'))
        return None, tuple(problems)
    plugins: list[Plugin] = []
    for i, raw in enumerate(raw_plugins):
        plugin_path = f"{path}.plugins[{i}]" if is_list else path
        plugin, plugin_problems = _parse_plugin(raw, plugin_path)
        problems.extend(plugin_problems)
        if plugin is not None:
            plugins.append(plugin)
            problems.extend(_ipam_problems(plugin, plugin_path))
    if any(p.severity == "error" for p in problems):
        return None, tuple(problems)
    subnets, gateways = _ipam_facts(plugins)
    name = data.get("name") if isinstance(data.get("name"), str) else None
    version = data.get("cniVersion") if isinstance(data.get("cniVersion"), str) else None
    conf = NetConf(name, version, tuple(plugins), is_list, subnets, gateways, data,
                   capabilities=frozenset().union(*(p.capabilities for p in plugins)),
                   plugin_types=frozenset(p.type for p in plugins),
                   ipam_types=frozenset(p.ipam_type for p in plugins if p.ipam_type))
    return conf, tuple(problems)


def _parse_plugin(raw: Any, path: str) -> tuple[Plugin | None, list[Problem]]:
    if not isinstance(raw, dict):
        return None, [Problem(path, f"a plugin config must be an object, got {json_type(raw)}",
                              'write {"type": "<plugin>", ...}')]
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind.strip():
        got = "missing" if "type" not in raw else f"{json_type(kind)} {describe(kind)}"
        return None, [Problem(f"{path}.type", f"every plugin needs a string type, got {got}",
                              'set "type" to the plugin binary name, e.g. "macvlan"')]
    problems: list[Problem] = []
    caps = raw.get("capabilities", {})
    if not isinstance(caps, dict):
        problems.append(Problem(f"{path}.capabilities", "capabilities must be an object of booleans",
                                'write "capabilities": {"ips": true}'))
        caps = {}
    ipam = raw.get("ipam")
    if ipam is not None and not isinstance(ipam, dict):
        problems.append(Problem(f"{path}.ipam", f"ipam must be an object, got {json_type(ipam)}",
                                'write "ipam": {"type": "host-local", ...}'))
        ipam = None
    ipam_type = ipam.get("type") if isinstance(ipam, dict) and isinstance(ipam.get("type"), str) else None
    capabilities = frozenset(k for k, v in caps.items() if v is True)
    return Plugin(kind, capabilities, ipam_type, raw), problems


# IPAM types whose subnets and gateways are declarative (and so checkable); others may use words ("usePodCidr").
DECLARATIVE_IPAM = frozenset({"host-local", "static", "whereabouts"})


_WANT = {"subnet": ("a CIDR", "10.1.0.0/24"), "range": ("a CIDR", "10.1.0.0/24"),
         "gateway": ("an IP address", "10.1.0.1")}


def _ipam_problems(plugin: Plugin, path: str) -> list[Problem]:
    """A subnet, range or gateway of a declarative IPAM that is not one (e.g. 10.1.0.0/33)."""
    ipam = plugin.raw.get("ipam")
    if plugin.ipam_type not in DECLARATIVE_IPAM or not isinstance(ipam, dict):
        return []
    problems: list[Problem] = []
    for where, value, kind in _ipam_values(ipam, f"{path}.ipam"):
        if value is None or (isinstance(value, str) and value.startswith("usePodCidr")):
            continue
        if _ipam_value(value, kind) is None:
            what, example = _WANT[kind]
            problems.append(Problem(where, f"{where.rsplit('.', 1)[1]} {describe(value)} is not {what}",
                                    f"write {what} such as {example}"))
    return problems


def _ipam_value(value: Any, kind: str) -> IPNetwork | IPAddress | None:
    if kind == "gateway":
        return _address(value)
    return _network(_whereabouts_range(value) if kind == "range" else value)


def _ipam_values(ipam: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any, str]]:
    """(path, value, "subnet" | "range" | "gateway") for every subnet and gateway an IPAM config declares:
    host-local (`subnet`, `ranges`), static (`addresses`), whereabouts (`range`, `ipRanges`)."""
    yield f"{path}.subnet", ipam.get("subnet"), "subnet"
    yield f"{path}.gateway", ipam.get("gateway"), "gateway"
    for i, range_set in enumerate(_list(ipam.get("ranges"))):
        for j, entry in enumerate(_list(range_set)):
            if isinstance(entry, dict):
                yield f"{path}.ranges[{i}][{j}].subnet", entry.get("subnet"), "subnet"
                yield f"{path}.ranges[{i}][{j}].gateway", entry.get("gateway"), "gateway"
    for i, entry in enumerate(_list(ipam.get("addresses"))):
        if isinstance(entry, dict):
            yield f"{path}.addresses[{i}].address", entry.get("address"), "subnet"
            yield f"{path}.addresses[{i}].gateway", entry.get("gateway"), "gateway"
    yield f"{path}.range", ipam.get("range"), "range"
    for i, entry in enumerate(_list(ipam.get("ipRanges"))):
        if isinstance(entry, dict):
            yield f"{path}.ipRanges[{i}].range", entry.get("range"), "range"


def _ipam_facts(plugins: list[Plugin]) -> tuple[tuple[IPNetwork, ...], tuple[IPAddress, ...]]:
    subnets: list[IPNetwork] = []
    gateways: list[IPAddress] = []
    for plugin in plugins:
        ipam = plugin.raw.get("ipam")
        if not isinstance(ipam, dict):
            continue
        for _, value, kind in _ipam_values(ipam, ""):
            parsed = _ipam_value(value, kind)
            if isinstance(parsed, IPNetwork) and parsed not in subnets:
                subnets.append(parsed)
            elif isinstance(parsed, IPAddress) and parsed not in gateways:
                gateways.append(parsed)
    return tuple(subnets), tuple(gateways)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _whereabouts_range(value: Any) -> Any:
    # whereabouts also accepts "10.0.0.10-10.0.0.20/24": the subnet is what follows the dash's end address.
    if isinstance(value, str) and "-" in value:
        start, _, rest = value.partition("-")
        return start + "/" + rest.split("/", 1)[1] if "/" in rest else None
    return value


def _network(value: Any) -> IPNetwork | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _address(value: Any) -> IPAddress | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def parse_nad(obj: Mapping[str, Any]) -> Nad:
    """Read a NetworkAttachmentDefinition object (as the API returns it); never raises."""
    metadata = _mapping(obj.get("metadata"))
    annotations = _mapping(metadata.get("annotations"))
    spec = _mapping(obj.get("spec"))
    name = str(metadata.get("name") or "")
    config_text = spec.get("config")
    config: NetConf | None = None
    problems: tuple[Problem, ...]
    if config_text is None or (isinstance(config_text, str) and not config_text.strip()):
        # A warning on the NAD alone (Multus would read a conf file named after it); netweave's node cannot, so
        # pods that use it are denied (webhook network-config-invalid) and refused on the node (code 7).
        problems = (Problem(CONFIG_PATH, f'spec.config is empty: netweave needs the CNI config inline (it does not '
                            f'look up a config file named "{name}" as Multus does)',
                            "put the CNI config JSON in spec.config", "warning"),)
    elif not isinstance(config_text, str):
        problems = (Problem(CONFIG_PATH, f"spec.config must be a string, got {json_type(config_text)}",
                            "quote the CNI config JSON as a string"),)
    else:
        config, problems = parse_netconf(config_text)
    resource = annotations.get(RESOURCE_NAME_ANNOTATION)
    selector = annotations.get(NODE_SELECTOR_ANNOTATION)
    return Nad(
        namespace=str(metadata.get("namespace") or "default"),
        name=name,
        config=config,
        config_problems=problems,
        resource_name=resource if isinstance(resource, str) and resource.strip() else None,
        node_selector=selector if isinstance(selector, str) else None,
        raw=obj,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
