"""The policy file (`.netweave.yaml`, the ConfigMap netweave-policy): its keys, and the part the node acts on.

One file drives admission (webhook.policy reads every key) and the node daemon (reads the keys below with
read_node_policy). Both call this module for the keys they share, so a setting means the same on both sides and a
key unknown to one is unknown to both. Standard library only: the caller has already decoded the YAML/JSON.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cni.spec.namespaces import GLOBAL_NAMESPACES, SYSTEM_NAMESPACE

# Keys both sides act on, by the name the node's netweave conflist uses for the same setting.
SHARED_KEYS = frozenset({"systemNamespace", "namespaceIsolation", "globalNamespaces"})
# Keys only the node acts on (admission accepts them, so one file serves both).
NODE_KEYS = frozenset({"clusterRoutes", "sourceRouting"})
# Keys only admission acts on (the node accepts them; webhook.policy validates them, rule ids included).
ADMISSION_KEYS = frozenset({"rules", "primaryInterface", "resourceNodeSelectors", "maxNetworks", "protectedRules",
                            "statusWriters", "hotPlug"})
POLICY_KEYS = SHARED_KEYS | NODE_KEYS | ADMISSION_KEYS


class PolicyProblem(ValueError):
    """The policy cannot be used; the message names the source, the key and what to write instead."""


@dataclass(frozen=True, slots=True)
class NodePolicy:
    """What the node daemon takes from the policy file: defaults for the same keys of its conflist."""

    system_namespace: str = SYSTEM_NAMESPACE
    namespace_isolation: bool = False
    global_namespaces: tuple[str, ...] = GLOBAL_NAMESPACES
    cluster_routes: tuple[str, ...] = ()
    source_routing: bool = False
    explicit: frozenset[str] = frozenset()  # the keys the file sets

    def config_defaults(self) -> dict[str, Any]:
        """The keys the file sets, as conflist keys (a conflist that sets one itself keeps its own)."""
        values: dict[str, Any] = {
            "systemNamespace": self.system_namespace, "namespaceIsolation": self.namespace_isolation,
            "globalNamespaces": list(self.global_namespaces), "clusterRoutes": list(self.cluster_routes),
            "sourceRouting": self.source_routing,
        }
        return {key: value for key, value in values.items() if key in self.explicit}


def check_keys(data: Any, *, source: str) -> Mapping[str, Any]:
    """The policy as a mapping whose keys are all known; PolicyProblem otherwise."""
    if not isinstance(data, Mapping):
        raise PolicyProblem(f"{source}: the policy must be a mapping of settings")
    unknown = sorted(str(key) for key in set(data) - POLICY_KEYS)
    if unknown:
        raise PolicyProblem(f"{source}: unknown setting(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(POLICY_KEYS))}")
    return data


def read_node_policy(data: Any, *, source: str) -> NodePolicy:
    """Validate the policy's keys and its shared and node settings (admission-only settings are webhook.policy's
    to validate); PolicyProblem naming the first problem."""
    data = check_keys(data, source=source)
    return NodePolicy(
        system_namespace=string_setting(data, "systemNamespace", SYSTEM_NAMESPACE, source),
        namespace_isolation=boolean_setting(data, "namespaceIsolation", source),
        global_namespaces=strings_setting(data, "globalNamespaces", GLOBAL_NAMESPACES, source),
        cluster_routes=_cidrs(data, "clusterRoutes", source),
        source_routing=boolean_setting(data, "sourceRouting", source),
        explicit=frozenset((SHARED_KEYS | NODE_KEYS) & set(data)),
    )


def string_setting(data: Mapping[str, Any], key: str, default: str, source: str) -> str:
    """A non-empty string setting (default when absent); PolicyProblem otherwise. The webhook's policy uses it too."""
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise PolicyProblem(f"{source}: {key} must be a non-empty string")
    return value


def boolean_setting(data: Mapping[str, Any], key: str, source: str) -> bool:
    """A true/false setting (false when absent); PolicyProblem otherwise."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise PolicyProblem(f"{source}: {key} must be true or false")
    return value


def strings_setting(data: Mapping[str, Any], key: str, default: tuple[str, ...], source: str) -> tuple[str, ...]:
    """A list of non-empty strings (default when absent or null); PolicyProblem otherwise. The webhook's too."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyProblem(f"{source}: {key} must be a list of non-empty strings")
    return tuple(value)


def _cidrs(data: Mapping[str, Any], key: str, source: str) -> tuple[str, ...]:
    """clusterRoutes: CIDRs the pod reaches through the cluster network (service and pod CIDRs)."""
    routes = strings_setting(data, key, (), source)
    for route in routes:
        try:
            ipaddress.ip_network(route, strict=True)
        except ValueError as err:
            raise PolicyProblem(f"{source}: {key}: {route!r} is not a network in CIDR notation ({err}); "
                                "write e.g. 10.96.0.0/12") from err
    return routes
