"""Calico: a primary-network CNI. As a secondary network it fights the primary for eth0's default route and is
unsupported upstream (projectcalico/calico#5962, projectcalico/cni-plugin#678, multus-cni#241)."""

from __future__ import annotations

from cni.spec.plugins.family import PluginFamily

TYPES = frozenset({"calico"})

FAMILY = PluginFamily(
    name="Calico",
    plugin_types=TYPES,
    ipam_types=frozenset({"calico-ipam"}),
    secondary_supported=False,
    secondary_note="Calico as a secondary network is unsupported upstream (projectcalico/calico#5962): it adds "
                   "its own default route and expects to own the pod's primary interface",
    sources=("projectcalico/calico#5962", "projectcalico/cni-plugin#678", "k8snetworkplumbingwg/multus-cni#241"),
)
