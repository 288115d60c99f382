"""What netweave knows about CNI plugin families, as data (one module per family; standard library only).

The rules consult it (which plugins take `ips`/`mac` without a capability, naming rules, what is unsupported);
the node may too.
"""

from cni.spec.netconf import NetConf
from cni.spec.plugins import basic, calico, kubeovn, ovnk, sriov
from cni.spec.plugins.family import Field, PluginFamily, plugin_path

FAMILIES: tuple[PluginFamily, ...] = (basic.FAMILY, kubeovn.FAMILY, ovnk.FAMILY, calico.FAMILY, sriov.FAMILY)


def receives(conf: NetConf, field: Field) -> bool:
    """Whether `field` reaches this config without a declared capability (CNI_ARGS or the plugin's controller)."""
    return any(f.receives(field, plugin_types=conf.plugin_types, ipam_types=conf.ipam_types) for f in FAMILIES)


def families_of(conf: NetConf) -> tuple[PluginFamily, ...]:
    """The known families whose plugins this config runs."""
    return tuple(f for f in FAMILIES if not f.plugin_types.isdisjoint(conf.plugin_types))


__all__ = ["FAMILIES", "Field", "PluginFamily", "basic", "calico", "families_of", "kubeovn", "ovnk", "plugin_path",
           "receives", "sriov"]
