"""The multi-network spec model shared by admission, the linter and the node (standard library only)."""

from cni.spec.netconf import (
    IPAddress,
    IPNetwork,
    Nad,
    NetConf,
    Plugin,
    netconf_from_mapping,
    parse_nad,
    parse_netconf,
)
from cni.spec.problems import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORK_STATUS_ANNOTATION,
    NETWORKS_ANNOTATION,
    NODE_SELECTOR_ANNOTATION,
    RESOURCE_NAME_ANNOTATION,
    Problem,
    Severity,
    annotation_path,
)
from cni.spec.selection import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    NetworkSelection,
    ParsedNetworks,
    dump_networks,
    interface_names,
    parse_networks,
)
from cni.spec.status import NetworkStatus, dump_network_status, parse_network_status, status_from_result

__all__ = [
    "DEFAULT_NETWORK_ANNOTATION",
    "DNS1123_LABEL",
    "DNS1123_SUBDOMAIN",
    "NETWORKS_ANNOTATION",
    "NETWORK_STATUS_ANNOTATION",
    "NODE_SELECTOR_ANNOTATION",
    "RESOURCE_NAME_ANNOTATION",
    "IPAddress",
    "IPNetwork",
    "Nad",
    "NetConf",
    "NetworkSelection",
    "NetworkStatus",
    "ParsedNetworks",
    "Plugin",
    "Problem",
    "Severity",
    "annotation_path",
    "dump_network_status",
    "dump_networks",
    "interface_names",
    "netconf_from_mapping",
    "parse_nad",
    "parse_netconf",
    "parse_network_status",
    "parse_networks",
    "status_from_result",
]
