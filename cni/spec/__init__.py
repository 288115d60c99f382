"""The multi-network spec model shared by admission, the linter and the node (standard library only)."""

from cni.spec.namespaces import (
    GLOBAL_NAMESPACES,
    default_network_namespace,
    isolation_denial,
    namespace_forbidden,
    network_namespace,
)
from cni.spec.naming import free_interface_name, ifname_problem, interface_names
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
from cni.spec.routing import RouteConflict, RouteOwnership, claimed_families, default_route_owners
from cni.spec.selection import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    NetworkSelection,
    ParsedNetworks,
    dump_networks,
    parse_networks,
)
from cni.spec.status import NetworkStatus, dump_network_status, parse_network_status, status_from_result
from cni.spec.values import FieldProblem, cni_arg_problem, element_value_problems, json_text_problems, text_problem

__all__ = [
    "DEFAULT_NETWORK_ANNOTATION",
    "DNS1123_LABEL",
    "DNS1123_SUBDOMAIN",
    "GLOBAL_NAMESPACES",
    "NETWORKS_ANNOTATION",
    "NETWORK_STATUS_ANNOTATION",
    "NODE_SELECTOR_ANNOTATION",
    "RESOURCE_NAME_ANNOTATION",
    "FieldProblem",
    "IPAddress",
    "IPNetwork",
    "Nad",
    "NetConf",
    "NetworkSelection",
    "NetworkStatus",
    "ParsedNetworks",
    "Plugin",
    "Problem",
    "RouteConflict",
    "RouteOwnership",
    "Severity",
    "annotation_path",
    "claimed_families",
    "cni_arg_problem",
    "default_network_namespace",
    "default_route_owners",
    "dump_network_status",
    "dump_networks",
    "element_value_problems",
    "free_interface_name",
    "ifname_problem",
    "interface_names",
    "isolation_denial",
    "json_text_problems",
    "namespace_forbidden",
    "netconf_from_mapping",
    "network_namespace",
    "parse_nad",
    "parse_netconf",
    "parse_network_status",
    "parse_networks",
    "status_from_result",
    "text_problem",
]
