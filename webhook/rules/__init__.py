"""The rule registry: an explicit, immutable table (no decorator magic). Order is the report order."""

from webhook.rules.addresses import mac_address, static_ip
from webhook.rules.base import Attachment, Issue, PodContext, Rule, RuleOutput, build_context
from webhook.rules.cluster import network_in_use, static_ip_conflict
from webhook.rules.interfaces import interface_name_duplicate, interface_name_invalid, interface_name_reserved
from webhook.rules.networks import (
    default_network_override,
    network_config_invalid,
    network_namespace_forbidden,
    network_not_found,
    subnet_overlap,
)
from webhook.rules.options import attachment_options, capability_missing
from webhook.rules.placement import device_resource, node_selector
from webhook.rules.plugins import (
    calico_secondary,
    device_resource_missing,
    kube_ovn_provider,
    kube_ovn_qos_key,
    ovn_k_net_attach_def_name,
    ovn_k_network_conflict,
)
from webhook.rules.routes import default_route_conflict, default_route_gateway
from webhook.rules.status import network_status_spoof
from webhook.rules.suppression import suppression_refused
from webhook.rules.syntax import annotation_syntax, network_limit

RULES: tuple[Rule, ...] = (
    Rule("annotation-syntax", "error", "the networks annotations can be parsed", annotation_syntax),
    Rule("network-limit", "error", "no more networks than the policy's maxNetworks", network_limit),
    Rule("interface-name-invalid", "error", "interface names are valid Linux names", interface_name_invalid),
    Rule("interface-name-reserved", "error", "eth0 and lo are not requested by secondaries",
         interface_name_reserved),
    Rule("interface-name-duplicate", "error", "every attachment has its own interface name",
         interface_name_duplicate),
    Rule("default-route-conflict", "error", "one default route per IP family", default_route_conflict),
    Rule("default-route-gateway", "error", "default-route gateways are IPs inside the network",
         default_route_gateway),
    Rule("network-not-found", "error", "every named NAD exists", network_not_found),
    Rule("network-namespace-forbidden", "error", "NADs come from namespaces the pod may use",
         network_namespace_forbidden),
    Rule("network-config-invalid", "error", "the NADs' spec.config are CNI configs", network_config_invalid),
    Rule("default-network-override", "error", "the default-network annotation names one usable NAD",
         default_network_override),
    Rule("static-ip", "error", "static ips are addresses inside the network, used once", static_ip),
    Rule("mac-address", "error", "MACs are unicast and used once", mac_address),
    Rule("attachment-options", "error", "portMappings, bandwidth and infiniband-guid are valid",
         attachment_options),
    Rule("capability-missing", "error", "every request reaches a plugin that can honour it", capability_missing),
    Rule("device-resource", "error", "device-plugin resources of the NADs are requested", device_resource),
    Rule("node-selector", "error", "node selectors of the NADs are set", node_selector),
    Rule("network-status-spoof", "warning", "users do not set network-status", network_status_spoof),
    Rule("subnet-overlap", "warning", "attachments' subnets do not overlap (nor NADs' of one namespace)",
         subnet_overlap),
    Rule("kube-ovn-provider", "error", "Kube-OVN providers are <nad>.<namespace>.ovn (IPAM: <nad>.<namespace>)",
         kube_ovn_provider),
    Rule("kube-ovn-qos-key", "warning", "Kube-OVN QoS keys name the secondary's provider", kube_ovn_qos_key),
    Rule("ovn-k-net-attach-def-name", "error", "OVN-Kubernetes netAttachDefName is the NAD's <namespace>/<name>",
         ovn_k_net_attach_def_name),
    Rule("ovn-k-network-conflict", "error", "NADs of one OVN-Kubernetes network agree on its settings",
         ovn_k_network_conflict),
    Rule("device-resource-missing", "error", "device-plugin CNIs (SR-IOV) name their resource",
         device_resource_missing),
    Rule("calico-secondary", "warning", "Calico is not attached as a secondary network", calico_secondary),
    Rule("static-ip-conflict", "error", "no other pod requested the static IP on the same network",
         static_ip_conflict),
    Rule("network-in-use", "warning", "NADs that pods use are not deleted", network_in_use),
    Rule("suppression-refused", "warning", "ignore-check annotations name a suppressible rule and a reason",
         suppression_refused),
)

RULE_IDS: frozenset[str] = frozenset(r.id for r in RULES)

__all__ = ["RULES", "RULE_IDS", "Attachment", "Issue", "PodContext", "Rule", "RuleOutput", "build_context"]
