"""The reference plugins (containernetworking/plugins): macvlan, bridge, tuning, tap, host-local, static.

They take a static IP or MAC from CNI_ARGS (`IP=`, `MAC=`), which the node sets from the networks annotation as
Multus does, so `ips`/`mac` reach them without a declared capability.
"""

from __future__ import annotations

from cni.spec.plugins.family import PluginFamily

IP_ARG_IPAM = frozenset({"host-local", "static"})
MAC_ARG_PLUGINS = frozenset({"macvlan", "bridge", "tuning", "tap"})

FAMILY = PluginFamily(
    name="reference plugins",
    plugin_types=MAC_ARG_PLUGINS,
    ipam_types=IP_ARG_IPAM,
    plugin_args=frozenset({"mac"}),
    ipam_args=frozenset({"ips"}),
    sources=("containernetworking/plugins: static and host-local read CNI_ARGS IP=; macvlan, bridge, tuning and "
             "tap read MAC=",),
)
