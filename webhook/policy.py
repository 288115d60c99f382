"""Policy: what a cluster or a CI pipeline decides about the rules (`.netweave.yaml`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from cni.spec.namespaces import GLOBAL_NAMESPACES, SYSTEM_NAMESPACE
from cni.spec.policy import PolicyProblem, boolean_setting, read_node_policy, string_setting, strings_setting
from webhook.labels import parse_selector

Level = Literal["error", "warning", "off"]
_LEVELS = ("error", "warning", "off")

DEFAULT_FILE = ".netweave.yaml"
DEFAULT_MAX_NETWORKS = 32
# Built in, never shrunk by a policy: rules that guard what reaches the node (values the node and the delegates
# act on), namespace isolation, limits, device/selector injection and status protection. A per-object
# ignore-check annotation can never switch these off; only the cluster's policy (`rules:`) can change their level.
ALWAYS_PROTECTED = frozenset({
    "annotation-syntax",            # what the parser could not read never reaches the node unchecked
    "network-limit",                # a limit the pod author could lift is no limit
    "interface-name-invalid",       # names the kernel rejects break ADD and every DEL
    "default-route-gateway",        # the gateway becomes a route in the pod
    "network-not-found",            # an unresolved NAD skips isolation, device and selector checks
    "network-namespace-forbidden",  # namespace isolation
    "default-network-override",     # isolation of the default network (eth0)
    "static-ip",                    # ips land in CNI_ARGS / runtimeConfig
    "mac-address",                  # the MAC lands in CNI_ARGS / runtimeConfig
    "attachment-options",           # portMappings, bandwidth, infiniband-guid land in runtimeConfig
    "device-resource",              # device injection
    "node-selector",                # node-selector injection
    "network-status-spoof",         # status protection
    "networks-immutable",           # what the node attached is what the pod shows
    "suppression-refused",          # the feedback about suppressions cannot itself be suppressed
    "static-ip-conflict",           # another pod's address: not the pod author's own business
    "network-in-use",               # other pods' networks
    "hotplug-change",               # what a running pod has attached must stay what its annotation says
    "hotplug-device",               # a running pod has no device allocated for a hot-added network
    # (the node refuses it too: suppressing would admit a pod that cannot attach)
    "interface-name-reserved",      # cni/plan.py refuses eth0/lo for a secondary (code 105)
    "interface-name-duplicate",     # two attachments cannot share one interface (code 105)
    "default-route-conflict",       # one default-route owner per IP family (code 105)
    "network-config-invalid",       # a NAD without a usable spec.config cannot be delegated (code 7)
})
# The pod author's own convenience: breaking these hurts only the pod that carries the annotation.
SUPPRESSIBLE = frozenset({"capability-missing", "subnet-overlap",
                          # plugin knowledge: a NAD author may know better (another plugin version, a device
                          # named some other way); the finding stays visible as a suppression
                          "kube-ovn-provider", "kube-ovn-qos-key", "ovn-k-net-attach-def-name",
                          "ovn-k-network-conflict", "device-resource-missing", "calico-secondary"})
# Who may write k8s.v1.cni.cncf.io/network-status through the pods resource: the netweave node daemon's
# ServiceAccount (it writes through pods/status, which the webhooks never see, but a policy may name other CNIs).
DEFAULT_STATUS_WRITERS = ("system:serviceaccount:netweave-system:netweave-node",)
# Rules webhook/admission.py applies to Pod UPDATE itself (they compare the old and the new pod), outside the
# engine's registry.
ADMISSION_RULE_IDS = frozenset({"networks-immutable", "hotplug-change", "hotplug-device"})
# The rule registry's ids (webhook.rules.RULES), listed here because the rules import the policy and not the
# other way round; tests/webhook/test_policy.py keeps the two equal.
REGISTRY_RULE_IDS = frozenset({
    "annotation-syntax", "attachment-options", "calico-secondary", "capability-missing", "default-network-override",
    "default-route-conflict", "default-route-gateway", "device-resource", "device-resource-missing",
    "interface-name-duplicate", "interface-name-invalid", "interface-name-reserved", "kube-ovn-provider",
    "kube-ovn-qos-key", "mac-address", "network-config-invalid", "network-in-use", "network-limit",
    "network-namespace-forbidden", "network-not-found", "network-status-spoof", "node-selector",
    "ovn-k-net-attach-def-name", "ovn-k-network-conflict", "static-ip", "static-ip-conflict", "subnet-overlap",
    "suppression-refused",
})


class PolicyError(Exception):
    """The policy file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class HotPlug:
    """Policy `hotPlug`: whether running pods may change their networks annotation, where, and whether the
    default route may move with the change."""

    enabled: bool = False
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    default_route: bool = False

    def allows(self, namespace: str | None) -> bool:
        return self.enabled and (not self.namespaces or (namespace or "default") in self.namespaces)


@dataclass(frozen=True, slots=True)
class Policy:
    """Severity overrides and the cluster facts the rules need."""

    severities: Mapping[str, Level] = field(default_factory=dict)
    primary_interface: str = "eth0"
    system_namespace: str = SYSTEM_NAMESPACE
    namespace_isolation: bool = False
    global_namespaces: tuple[str, ...] = GLOBAL_NAMESPACES
    resource_node_selectors: Mapping[str, str] = field(default_factory=dict)
    max_networks: int = DEFAULT_MAX_NETWORKS
    # Protected on top of ALWAYS_PROTECTED (policy `protectedRules`, additive: it can never unprotect a rule).
    extra_protected: frozenset[str] = frozenset()
    status_writer_users: tuple[str, ...] = DEFAULT_STATUS_WRITERS
    status_writer_groups: tuple[str, ...] = ()
    hot_plug: HotPlug = HotPlug()

    @property
    def protected_rules(self) -> frozenset[str]:
        """Rules no per-object ignore-check annotation can switch off."""
        return ALWAYS_PROTECTED | self.extra_protected

    def writes_status(self, username: str, groups: tuple[str, ...]) -> bool:
        """Whether this identity (from request.userInfo) may write the network-status annotation."""
        return username in self.status_writer_users or any(g in self.status_writer_groups for g in groups)

    @classmethod
    def load(cls, path: Path) -> Policy:
        """Read a policy file; raises PolicyError with the file name on any problem."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise PolicyError(f"{path}: cannot read the policy file: {err.strerror}") from err
        except yaml.YAMLError as err:
            raise PolicyError(f"{path}: the policy file is not valid YAML: {err}") from err
        return cls.from_mapping(data if data is not None else {}, source=str(path))

    @classmethod
    def from_mapping(cls, data: Any, *, source: str) -> Policy:
        """Build a policy from decoded YAML/JSON (a ConfigMap's data, say)."""
        # The keys and the settings the node shares (cni.spec.policy): one reader, one meaning on both sides.
        try:
            node = read_node_policy(data, source=source)
            primary_interface = string_setting(data, "primaryInterface", "eth0", source)
            hot_plug = _hot_plug(data.get("hotPlug", False), source)
            writers = _status_writers(data.get("statusWriters", {}), source)
        except PolicyProblem as err:
            raise PolicyError(str(err)) from err
        return cls(
            severities=_severities(data.get("rules", {}), source),
            primary_interface=primary_interface,
            system_namespace=node.system_namespace,
            namespace_isolation=node.namespace_isolation,
            global_namespaces=node.global_namespaces,
            resource_node_selectors=_string_map(data, "resourceNodeSelectors", source),
            max_networks=_positive(data, "maxNetworks", DEFAULT_MAX_NETWORKS, source),
            extra_protected=_rule_ids(data.get("protectedRules", []), source),
            status_writer_users=writers[0],
            status_writer_groups=writers[1],
            hot_plug=hot_plug,
        )

    def level(self, rule: str, default: Literal["error", "warning"]) -> Level:
        return self.severities.get(rule, default)


def known_rule_ids() -> frozenset[str]:
    """Every rule id a policy may name: the registry's and the admission-only ones (ADMISSION_RULE_IDS)."""
    return REGISTRY_RULE_IDS | ADMISSION_RULE_IDS


def _severities(value: Any, source: str) -> dict[str, Level]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{source}: rules must map rule ids to error, warning or off")
    out: dict[str, Level] = {}
    known = known_rule_ids()
    for rule, level in value.items():
        if rule not in known:
            raise PolicyError(f"{source}: rules.{rule} is not a rule id; known: {', '.join(sorted(known))}")
        text = "off" if level is False else str(level).lower()  # YAML reads a bare `off` as false
        if text not in _LEVELS:
            raise PolicyError(f"{source}: rules.{rule} is {level!r}; use error, warning or off")
        out[str(rule)] = text  # type: ignore[assignment]
    return out


def _rule_ids(value: Any, source: str) -> frozenset[str]:
    """protectedRules: known rule ids only, so a typo is an error rather than a rule left unprotected."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{source}: protectedRules must be a list of rule ids")
    known = known_rule_ids()
    unknown = sorted(set(value) - known)
    if unknown:
        raise PolicyError(f"{source}: protectedRules: unknown rule id(s) {', '.join(unknown)}; known: "
                          f"{', '.join(sorted(known))}")
    return frozenset(value)


def _hot_plug(value: Any, source: str) -> HotPlug:
    """hotPlug: true | false | {enabled, namespaces, defaultRoute}."""
    if isinstance(value, bool):
        return HotPlug(enabled=value)
    if not isinstance(value, Mapping) or set(value) - {"enabled", "namespaces", "defaultRoute"}:
        raise PolicyError(f"{source}: hotPlug must be true, false or a mapping with enabled (true/false), "
                          "namespaces (a list of names) and defaultRoute (true/false)")
    where = f"{source}: hotPlug"
    return HotPlug(enabled=boolean_setting({"enabled": value.get("enabled", True)}, "enabled", where),
                   namespaces=strings_setting(value, "namespaces", (), where),
                   default_route=boolean_setting(value, "defaultRoute", where))


def _status_writers(value: Any, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """statusWriters: {users: [...], groups: [...]}, the identities that may write network-status."""
    if not isinstance(value, Mapping) or set(value) - {"users", "groups"}:
        raise PolicyError(f"{source}: statusWriters must be a mapping with users and/or groups (lists of names)")
    where = f"{source}: statusWriters"
    users = strings_setting(value, "users", DEFAULT_STATUS_WRITERS, where)
    groups = strings_setting(value, "groups", (), where)
    return users, groups


def _string_map(data: Mapping[str, Any], key: str, source: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise PolicyError(f"{source}: {key} must map resource names to 'key' or 'key=value' selectors")
    for resource, selector in value.items():
        parsed = parse_selector(selector)
        if isinstance(parsed, str):
            raise PolicyError(f"{source}: {key}.{resource} = {selector!r}: {parsed}; write one label: key or key=value")
    return {str(k): v for k, v in value.items()}


def _positive(data: Mapping[str, Any], key: str, default: int, source: str) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PolicyError(f"{source}: {key} must be a positive whole number")
    return value
