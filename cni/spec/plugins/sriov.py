"""SR-IOV and other device-plugin CNIs: the device comes from a device plugin, named by the NAD annotation
`k8s.v1.cni.cncf.io/resourceName`; without it the pod requests no device and the plugin has none to attach
(sriov-network-device-plugin#490, multus-cni#968). A config naming its device itself (`deviceID`) needs none.
"""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec.netconf import Nad
from cni.spec.plugins.family import PluginFamily, plugin_path
from cni.spec.problems import RESOURCE_NAME_ANNOTATION, Problem

TYPES = frozenset({"sriov", "ib-sriov", "accelerated-bridge"})

FAMILY = PluginFamily(
    name="SR-IOV",
    plugin_types=TYPES,
    needs_device=True,
    sources=("k8snetworkplumbingwg/sriov-network-device-plugin#490", "k8snetworkplumbingwg/multus-cni#968"),
)


def resource_problems(nad: Nad) -> Iterator[Problem]:
    """A device-plugin CNI whose NAD names no resource (and whose config names no device)."""
    conf = nad.config
    if conf is None or nad.resource_name is not None:
        return
    for i, plugin in enumerate(conf.plugins):
        if plugin.type in TYPES and not plugin.raw.get("deviceID"):
            path = f'metadata.annotations["{RESOURCE_NAME_ANNOTATION}"]'
            yield Problem(path, f"{plugin_path(i, is_list=conf.is_list)} is a {plugin.type} plugin, but the NAD "
                          "names no device-plugin resource: pods get no device and stay in ContainerCreating",
                          f'add the annotation {RESOURCE_NAME_ANNOTATION}: "<vendor>/<resource>" (the SR-IOV '
                          "device plugin's resource, e.g. intel.com/intel_sriov_netdevice)")
            return
