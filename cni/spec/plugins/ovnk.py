"""OVN-Kubernetes secondary networks (type `ovn-k8s-cni-overlay` with a `topology`).

ovnkube parses every NAD of its type and refuses a secondary one (topology set) whose `netAttachDefName` is missing
or is not `<namespace>/<name>` of the NAD carrying it, or whose network `name` is `default` or `ovn-kubernetes`
(ParseNADInfo / ValidateNetConfNameFields); it does not chain (one plugin). NADs of one network `name` must share
its settings (ovn-kubernetes#3428: differing ones hang pods). Without a topology the NAD is the default network's.
"""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec.netconf import Nad
from cni.spec.plugins.family import PluginFamily, plugin_path
from cni.spec.problems import Problem, describe

TYPE = "ovn-k8s-cni-overlay"
TOPOLOGIES = ("layer2", "layer3", "localnet")
RESERVED_NAMES = ("default", "ovn-kubernetes")
# Settings all NADs of one OVN-K network must agree on (OpenShift "secondary networks": topology, subnets, mtu,
# excludeSubnets, vlanID).
SHARED_SETTINGS = ("topology", "subnets", "mtu", "excludeSubnets", "vlanID")

FAMILY = PluginFamily(
    name="OVN-Kubernetes",
    plugin_types=frozenset({TYPE}),
    sources=("ovn-org/ovn-kubernetes pkg/util/multi_network.go ParseNADInfo", "ovn-org/ovn-kubernetes#3428"),
)


def net_attach_def_name(nad: Nad) -> str:
    """The netAttachDefName a secondary OVN-K NAD must carry."""
    return f"{nad.namespace}/{nad.name}"


def name_problems(nad: Nad) -> Iterator[Problem]:
    """netAttachDefName and network-name mistakes ovnkube refuses the NAD for."""
    conf = nad.config
    if conf is None:
        return
    for i, plugin in enumerate(conf.plugins):
        if plugin.type != TYPE:
            continue
        path = plugin_path(i, is_list=conf.is_list)
        want = net_attach_def_name(nad)
        value = plugin.raw.get("netAttachDefName")
        topology = plugin.raw.get("topology")
        if value is not None and value != want:
            yield Problem(f"{path}.netAttachDefName", f"netAttachDefName {describe(value)} is not this NAD's "
                          "<namespace>/<name>: OVN-Kubernetes refuses the NAD and pods attached to it hang",
                          f'write "netAttachDefName": "{want}"')
        elif value is None and topology:
            yield Problem(f"{path}.netAttachDefName", f"a secondary OVN-Kubernetes network (topology "
                          f"{describe(topology)}) needs netAttachDefName: OVN-Kubernetes refuses the NAD without it",
                          f'add "netAttachDefName": "{want}"')
        name = conf.name if conf.is_list else plugin.raw.get("name")
        if topology and name in RESERVED_NAMES:
            yield Problem(f"{path}.name" if not conf.is_list else "spec.config.name",
                          f"network name {describe(name)} is reserved by OVN-Kubernetes for its default network",
                          f'name the secondary network, e.g. "{nad.namespace}-{nad.name}"')


def network_settings(nad: Nad) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """(network name, its shared settings) of a secondary OVN-K NAD, for comparing NADs of one network."""
    conf = nad.config
    if conf is None:
        return None
    for plugin in conf.plugins:
        name = conf.name if conf.is_list else plugin.raw.get("name")
        if plugin.type == TYPE and plugin.raw.get("topology") and isinstance(name, str):
            return name, tuple((key, describe(plugin.raw.get(key))) for key in SHARED_SETTINGS)
    return None
