"""The shape of what netweave knows about one CNI plugin family (data, consulted by admission, lint and node)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Fields of a network selection element that may reach a plugin without a declared capability.
Field = Literal["ips", "mac"]


@dataclass(frozen=True, slots=True)
class PluginFamily:
    """One family of CNI plugins: which `type`s belong to it and how it takes what a pod asks for."""

    name: str
    plugin_types: frozenset[str] = frozenset()
    ipam_types: frozenset[str] = frozenset()
    # Element fields the family's own controller reads from the networks annotation (no capability needed).
    reads_annotation: frozenset[Field] = frozenset()
    # Element fields its plugins read from CNI_ARGS (IP=, MAC=), which the node sets as Multus does.
    plugin_args: frozenset[Field] = frozenset()
    ipam_args: frozenset[Field] = frozenset()
    # A device-plugin resource must be named by the NAD (k8s.v1.cni.cncf.io/resourceName) to get a device.
    needs_device: bool = False
    # Whether upstream supports the plugin as a secondary (non-primary) network, and why not.
    secondary_supported: bool = True
    secondary_note: str = ""
    sources: tuple[str, ...] = ()

    def receives(self, field: Field, *, plugin_types: frozenset[str], ipam_types: frozenset[str]) -> bool:
        """Whether a config with these plugin and IPAM types gets `field` from this family without a capability."""
        by_plugin = field in self.reads_annotation or field in self.plugin_args
        return (by_plugin and not self.plugin_types.isdisjoint(plugin_types)) or (
            field in self.ipam_args and not self.ipam_types.isdisjoint(ipam_types))


def plugin_path(index: int, *, is_list: bool, base: str = "spec.config") -> str:
    """The field path of a config's plugin: spec.config for a single config, spec.config.plugins[i] in a list."""
    return f"{base}.plugins[{index}]" if is_list else base
