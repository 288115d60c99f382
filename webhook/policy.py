"""Policy: what a cluster or a CI pipeline decides about the rules (`.netweave.yaml`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

Level = Literal["error", "warning", "off"]
_LEVELS = ("error", "warning", "off")

DEFAULT_FILE = ".netweave.yaml"
PROTECTED_RULES = frozenset({"annotation-syntax", "network-namespace-forbidden", "network-status-spoof",
                             "device-resource", "node-selector", "networks-immutable"})


class PolicyError(Exception):
    """The policy file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Severity overrides and the cluster facts the rules need."""

    severities: Mapping[str, Level] = field(default_factory=dict)
    primary_interface: str = "eth0"
    system_namespace: str = "kube-system"
    namespace_isolation: bool = False
    global_namespaces: tuple[str, ...] = ("kube-system",)
    resource_node_selectors: Mapping[str, str] = field(default_factory=dict)
    max_networks: int | None = None
    # Rules that protect the cluster rather than the pod's author: a per-object ignore-check annotation cannot
    # switch them off (only the policy can).
    protected_rules: frozenset[str] = PROTECTED_RULES

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
        if not isinstance(data, Mapping):
            raise PolicyError(f"{source}: the policy must be a mapping of settings")
        known = {"rules", "primaryInterface", "systemNamespace", "namespaceIsolation", "globalNamespaces",
                 "resourceNodeSelectors", "maxNetworks", "protectedRules"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(
            severities=_severities(data.get("rules", {}), source),
            primary_interface=_string(data, "primaryInterface", "eth0", source),
            system_namespace=_string(data, "systemNamespace", "kube-system", source),
            namespace_isolation=_boolean(data, "namespaceIsolation", source),
            global_namespaces=_strings(data, "globalNamespaces", ("kube-system",), source),
            resource_node_selectors=_string_map(data, "resourceNodeSelectors", source),
            max_networks=_positive(data, "maxNetworks", source),
            protected_rules=frozenset(_strings(data, "protectedRules", tuple(sorted(PROTECTED_RULES)), source)),
        )

    def level(self, rule: str, default: Literal["error", "warning"]) -> Level:
        return self.severities.get(rule, default)


def _severities(value: Any, source: str) -> dict[str, Level]:
    from webhook.rules import RULE_IDS  # imported here: the rules themselves import this module

    if not isinstance(value, Mapping):
        raise PolicyError(f"{source}: rules must map rule ids to error, warning or off")
    out: dict[str, Level] = {}
    known = RULE_IDS | {"networks-immutable"}
    for rule, level in value.items():
        if rule not in known:
            raise PolicyError(f"{source}: rules.{rule} is not a rule id; known: {', '.join(sorted(known))}")
        text = "off" if level is False else str(level).lower()  # YAML reads a bare `off` as false
        if text not in _LEVELS:
            raise PolicyError(f"{source}: rules.{rule} is {level!r}; use error, warning or off")
        out[str(rule)] = text  # type: ignore[assignment]
    return out


def _string(data: Mapping[str, Any], key: str, default: str, source: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{source}: {key} must be a non-empty string")
    return value


def _boolean(data: Mapping[str, Any], key: str, source: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise PolicyError(f"{source}: {key} must be true or false")
    return value


def _strings(data: Mapping[str, Any], key: str, default: tuple[str, ...], source: str) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{source}: {key} must be a list of namespace names")
    return tuple(value)


def _string_map(data: Mapping[str, Any], key: str, source: str) -> dict[str, str]:
    from webhook.rules.placement import parse_selector

    value = data.get(key, {})
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise PolicyError(f"{source}: {key} must map resource names to 'key' or 'key=value' selectors")
    for resource, selector in value.items():
        parsed = parse_selector(selector)
        if isinstance(parsed, str):
            raise PolicyError(f"{source}: {key}.{resource} = {selector!r}: {parsed}; write one label: key or key=value")
    return {str(k): v for k, v in value.items()}


def _positive(data: Mapping[str, Any], key: str, source: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PolicyError(f"{source}: {key} must be a positive whole number")
    return value
