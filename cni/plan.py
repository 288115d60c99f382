"""Pure planning: pod annotations + NADs + the cluster network -> the ordered attachments of one sandbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cni import errors
from cni.errors import CniError
from cni.request import Config, PodRef
from cni.spec import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORKS_ANNOTATION,
    Nad,
    NetConf,
    NetworkSelection,
    Problem,
    annotation_path,
    cni_arg_problem,
    default_network_namespace,
    default_route_owners,
    element_value_problems,
    ifname_problem,
    interface_names,
    isolation_denial,
    json_text_problems,
    namespace_forbidden,
    network_namespace,
    parse_networks,
)
from cni.spec.naming import IFNAME_HINT, duplicate_names, reserved_for

NadKey = tuple[str, str]   # (namespace, name)


@dataclass(frozen=True, slots=True)
class ClusterNetwork:
    """The cluster default network: a conf file's contents or a NAD."""

    name: str                      # status name: "ns/name" for a NAD, the config's name for a file
    config: NetConf
    resource_name: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """One delegate call: a network on one pod interface."""

    network: str                              # "namespace/name", or the cluster network's name
    ifname: str
    cni_version: str
    plugins: tuple[Mapping[str, Any], ...]    # each plugin's stdin config before runtimeConfig/prevResult
    runtime_config: Mapping[str, Any] = field(default_factory=dict)
    cni_args: tuple[tuple[str, str], ...] = ()   # legacy CNI_ARGS keys (IP=, MAC=)
    is_default: bool = False                  # the cluster default network (eth0)
    default_route: tuple[str, ...] | None = None
    device_id: str | None = None
    source_routing: bool = False

    def to_json(self) -> dict[str, Any]:
        """The cache form."""
        return {
            "network": self.network, "ifname": self.ifname, "cniVersion": self.cni_version,
            "plugins": [dict(p) for p in self.plugins], "runtimeConfig": dict(self.runtime_config),
            "cniArgs": [list(kv) for kv in self.cni_args], "isDefault": self.is_default,
            "defaultRoute": list(self.default_route) if self.default_route is not None else None,
            "deviceID": self.device_id, "sourceRouting": self.source_routing,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attachment:
        """Inverse of to_json."""
        route = data.get("defaultRoute")
        return cls(
            network=str(data["network"]), ifname=str(data["ifname"]), cni_version=str(data["cniVersion"]),
            plugins=tuple(data["plugins"]), runtime_config=data.get("runtimeConfig") or {},
            cni_args=tuple((str(k), str(v)) for k, v in data.get("cniArgs") or ()),
            is_default=bool(data.get("isDefault")),
            default_route=tuple(route) if isinstance(route, list) else None,
            device_id=data.get("deviceID"), source_routing=bool(data.get("sourceRouting")),
        )


def default_override(pod: Mapping[str, Any] | None, config: Config) -> NetworkSelection | None:
    """The v1.multus-cni.io/default-network element, if the pod sets one; code 105 when unusable."""
    text = _annotations(pod).get(DEFAULT_NETWORK_ANNOTATION, "")
    if not text.strip():
        return None
    path = annotation_path(DEFAULT_NETWORK_ANNOTATION)
    parsed = parse_networks(text, path=path)
    _raise_problems(parsed.problems)
    if len(parsed.elements) != 1 or parsed.elements[0].interface:
        raise CniError(errors.ANNOTATION_INVALID,
                       f"{DEFAULT_NETWORK_ANNOTATION} must name exactly one network and no interface", text)
    _raise_value_problems([f.problem for f in element_value_problems(parsed.elements[0], path)])
    return parsed.elements[0]


def selections(pod: Mapping[str, Any] | None) -> tuple[NetworkSelection, ...]:
    """The pod's requested networks (NPWG §4.1.2.1); code 105 on any syntax error."""
    text = _annotations(pod).get(NETWORKS_ANNOTATION, "")
    if not text.strip():
        return ()
    parsed = parse_networks(text)
    _raise_problems(parsed.problems)
    _raise_value_problems([f.problem for e in parsed.elements for f in element_value_problems(e, _element_path(e))])
    return parsed.elements


def wanted_nads(pod: Mapping[str, Any] | None, pod_ref: PodRef, config: Config) -> tuple[NadKey, ...]:
    """Every NAD the plan needs, default-network override first."""
    keys: list[NadKey] = []
    override = default_override(pod, config)
    if override is not None:
        keys.append(_override_key(override, config))
    keys.extend((network_namespace(s.namespace, pod_namespace=pod_ref.namespace), s.name) for s in selections(pod))
    return tuple(dict.fromkeys(keys))


def plan_attachments(
    *,
    config: Config,
    pod_ref: PodRef | None,
    pod: Mapping[str, Any] | None,
    cluster: ClusterNetwork,
    nads: Mapping[NadKey, Nad | None],
    devices: Mapping[str, Sequence[str]],
    primary_ifname: str,
) -> tuple[Attachment, ...]:
    """eth0 (cluster network or the override) first, then every requested network in annotation order."""
    override = default_override(pod, config) if pod is not None else None
    picker = _DevicePicker(devices)
    if override is not None:
        pod_namespace = pod_ref.namespace if pod_ref is not None else config.system_namespace
        nad = _usable_nad(_override_key(override, config), nads, config=config, pod_namespace=pod_namespace)
        assert nad.config is not None
        cluster = ClusterNetwork(f"{nad.namespace}/{nad.name}", nad.config, nad.resource_name)
    primary = _attachment(cluster.name, cluster.config, override, ifname=primary_ifname,
                          is_default=True, device_id=picker.pick(cluster.resource_name), config=config,
                          extra_runtime=config.runtime_config)
    planned = [primary]
    if pod_ref is not None and pod is not None:
        chosen = selections(pod)
        names = _interface_names(chosen, primary=primary_ifname)
        _check_default_route(chosen)
        for sel, ifname in zip(chosen, names, strict=True):
            key = (network_namespace(sel.namespace, pod_namespace=pod_ref.namespace), sel.name)
            nad = _usable_nad(key, nads, config=config, pod_namespace=pod_ref.namespace)
            assert nad.config is not None
            device = sel.device_id or picker.pick(nad.resource_name)
            source = config.source_routing or nad.config.raw.get("sourceRouting") is True
            planned.append(_attachment(f"{nad.namespace}/{nad.name}", nad.config, sel, ifname=ifname,
                                       is_default=False, device_id=device, config=config,
                                       source_routing=source))
    for att in planned:
        _check_passed_values(att)
    return tuple(planned)


def _override_key(override: NetworkSelection, config: Config) -> NadKey:
    return default_network_namespace(override.namespace, system_namespace=config.system_namespace), override.name


def _interface_names(chosen: Sequence[NetworkSelection], *, primary: str) -> tuple[str, ...]:
    """cni.spec.naming's names; code 105 for a reserved or repeated name (admission's interface-name rules)."""
    names = interface_names(chosen, primary=primary)
    for sel, name in zip(chosen, names, strict=True):
        what = reserved_for(name, primary=primary) if sel.interface else None
        if what is not None:
            raise CniError(errors.ANNOTATION_INVALID, f"{_element_path(sel)}.interface: interface {name!r} is "
                           f"reserved for {what}", "choose another interface name")
    for position, first in duplicate_names(names):
        raise CniError(errors.ANNOTATION_INVALID, f"{_element_path(chosen[position])}.interface: interface "
                       f"{names[position]!r} is requested twice", f"also used by {_element_path(chosen[first])}")
    return names


def _attachment(
    network: str, netconf: NetConf, sel: NetworkSelection | None, *, ifname: str, is_default: bool,
    device_id: str | None, config: Config, extra_runtime: Mapping[str, Any] | None = None,
    source_routing: bool = False,
) -> Attachment:
    version = netconf.cni_version or str(netconf.raw.get("cniVersion") or "0.3.1")
    runtime: dict[str, Any] = dict(extra_runtime or {})
    legacy: list[tuple[str, str]] = []
    cni_args: Mapping[str, Any] | None = None
    if sel is not None:
        runtime.update(_selection_runtime(sel))
        if sel.ips:
            legacy.append(("IP", ",".join(sel.ips)))
        if sel.mac:
            legacy.append(("MAC", sel.mac))
        cni_args = sel.cni_args
    if device_id:
        runtime["deviceID"] = device_id
    plugins = tuple(_plugin_conf(p.raw, netconf, version, cni_args, device_id) for p in netconf.plugins)
    return Attachment(
        network=network, ifname=ifname, cni_version=version, plugins=plugins, runtime_config=runtime,
        cni_args=tuple(legacy), is_default=is_default,
        default_route=sel.default_route if sel is not None and not is_default else None,
        device_id=device_id, source_routing=source_routing and not is_default,
    )


def _selection_runtime(sel: NetworkSelection) -> dict[str, Any]:
    """runtimeConfig keys from a selection element (Multus' mapping of NPWG fields to capabilities)."""
    out: dict[str, Any] = {}
    if sel.ips:
        out["ips"] = list(sel.ips)
    if sel.mac:
        out["mac"] = sel.mac
    if sel.port_mappings:
        out["portMappings"] = [dict(m) for m in sel.port_mappings]
    if sel.bandwidth:
        out["bandwidth"] = dict(sel.bandwidth)
    if sel.infiniband_guid:
        out["infinibandGUID"] = sel.infiniband_guid
    return out


def _plugin_conf(
    raw: Mapping[str, Any], netconf: NetConf, version: str, cni_args: Mapping[str, Any] | None,
    device_id: str | None,
) -> dict[str, Any]:
    conf = dict(raw)
    if netconf.is_list:   # libcni buildOneConfig: name and cniVersion come from the list
        conf["name"] = netconf.name or netconf.raw.get("name", "")
        conf["cniVersion"] = version
    else:
        conf.setdefault("cniVersion", version)
    if cni_args:
        args = dict(conf.get("args") or {})
        args["cni"] = {**dict(args.get("cni") or {}), **dict(cni_args)}
        conf["args"] = args
    if device_id:
        conf["deviceID"] = device_id
    return conf


def _usable_nad(key: NadKey, nads: Mapping[NadKey, Nad | None], *, config: Config, pod_namespace: str) -> Nad:
    namespace, name = key
    if namespace_forbidden(namespace, pod_namespace=pod_namespace, isolation=config.namespace_isolation,
                           global_namespaces=config.global_namespaces):
        raise CniError(errors.NETWORK_FORBIDDEN,
                       f"network {namespace}/{name}: {isolation_denial(namespace, pod_namespace=pod_namespace)}")
    nad = nads.get(key)
    if nad is None:
        raise CniError(errors.NETWORK_NOT_FOUND, f"network-attachment-definition {namespace}/{name} not found")
    if nad.config is None or not nad.config.plugins:
        details = "; ".join(f"{p.path}: {p.message}" for p in nad.config_problems)
        raise CniError(errors.INVALID_CONFIG, f"network {namespace}/{name} has an invalid spec.config", details)
    return nad


def _check_default_route(chosen: Sequence[NetworkSelection]) -> None:
    """cni.spec.routing: one owner per IP family; a conflict admission denies is refused here (code 105)."""
    ownership = default_route_owners([s.default_route for s in chosen])
    for conflict in ownership.conflicts:
        sel = chosen[conflict.position]
        families = " and ".join(f"IPv{f}" for f in conflict.families)
        if conflict.owner is None:
            msg = f"more than one {families} default-route gateway"
        else:
            msg = f"the {families} default route is already claimed by {_element_path(chosen[conflict.owner])}"
        raise CniError(errors.ANNOTATION_INVALID, f"{_element_path(sel)}.default-route: {msg}",
                       "set default-route on one network per IP family, with one gateway per family")


def _check_passed_values(att: Attachment) -> None:
    """Whatever admission did: every value handed to a delegate is one it can take (cni.spec.values), so that no
    delegate runs for a sandbox whose values would fail it half-way or smuggle CNI_ARGS."""
    where = f"network {att.network}"
    reason = ifname_problem(att.ifname)
    problems = [Problem("CNI_IFNAME", f"interface name {att.ifname!r} {reason}", IFNAME_HINT)] if reason else []
    for key, value in att.cni_args:
        reason = cni_arg_problem(key, value)
        if reason is not None:
            problems.append(Problem(f"CNI_ARGS {key!r}", reason, "remove ';', '=' and control characters"))
    problems.extend(json_text_problems(dict(att.runtime_config), "runtimeConfig"))
    for i, plugin in enumerate(att.plugins):
        problems.extend(json_text_problems((plugin.get("args") or {}).get("cni") or {}, f"plugins[{i}].args.cni"))
    _raise_value_problems(problems, where)


def _annotations(pod: Mapping[str, Any] | None) -> Mapping[str, str]:
    if pod is None:
        return {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations if isinstance(annotations, Mapping) else {}


def _element_path(sel: NetworkSelection) -> str:
    return f"{annotation_path(NETWORKS_ANNOTATION)}[{sel.index}]"


def _raise_value_problems(problems: Sequence[Problem], where: str = "") -> None:
    """Code 105 naming the first bad field; every problem in the details."""
    if problems:
        first = problems[0]
        details = "; ".join(f"{p.path}: {p.message} ({p.hint})" for p in problems)
        raise CniError(errors.ANNOTATION_INVALID, f"{first.path}: {first.message}",
                       f"{where}: {details}" if where else details)


def _raise_problems(problems: Sequence[Any]) -> None:
    errs = [p for p in problems if getattr(p, "severity", "error") == "error"]
    if errs:
        raise CniError(errors.ANNOTATION_INVALID, "the pod's network annotation is invalid",
                       "; ".join(f"{p.path}: {p.message}" for p in errs))


class _DevicePicker:
    """The n-th attachment of a resource gets the n-th device id (kubelet checkpoint order)."""

    def __init__(self, devices: Mapping[str, Sequence[str]]) -> None:
        self._devices = devices
        self._used: dict[str, int] = {}

    def pick(self, resource: str | None) -> str | None:
        if not resource:
            return None
        n = self._used.get(resource, 0)
        ids = self._devices.get(resource, ())
        if n >= len(ids):
            raise CniError(errors.DEVICE_UNAVAILABLE,
                           f"no device left for resource {resource}", f"{len(ids)} allocated to the pod")
        self._used[resource] = n + 1
        return ids[n]
