"""What every rule sees (a pod's parsed networks, resolved against the catalog) and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cni.spec import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORKS_ANNOTATION,
    Nad,
    NetworkSelection,
    ParsedNetworks,
    Problem,
    annotation_path,
    default_network_namespace,
    interface_names,
    network_namespace,
    parse_networks,
)
from webhook.catalog import NadCatalog
from webhook.findings import Mutation, Severity
from webhook.podindex import NO_PODS, PodLookup, pod_key
from webhook.policy import Policy


@dataclass(frozen=True, slots=True)
class Issue:
    """A rule's raw finding; the engine applies policy and turns it into a Finding."""

    path: str
    message: str
    hint: str
    severity: Severity | None = None  # None: the rule's default
    unresolved: str | None = None  # "ns/name" when the issue is a NAD the catalog does not have


RuleOutput = Issue | Mutation


@dataclass(frozen=True, slots=True)
class Attachment:
    """One requested network, resolved: where its NAD should be, and the NAD if the catalog has it."""

    selection: NetworkSelection
    path: str  # field path of the element
    label: str  # 'networks[1] "kube-system/ovn-net"', for messages
    namespace: str
    ifname: str
    nad: Nad | None


@dataclass(frozen=True, slots=True)
class PodContext:
    """A pod (or pod template) as the rules see it. Built once per evaluation."""

    namespace: str
    annotations: Mapping[str, Any]
    spec: Mapping[str, Any]
    prefix: str
    networks: ParsedNetworks
    networks_path: str
    attachments: tuple[Attachment, ...]
    default_network: ParsedNetworks | None
    default_path: str
    default_attachment: Attachment | None
    catalog: NadCatalog
    policy: Policy
    pods: PodLookup = NO_PODS  # the other pods of the cluster (or of lint's inputs), for cluster-wide rules
    pod_key: str = ""  # "namespace/name" of this pod, so that it never conflicts with itself

    @property
    def all_attachments(self) -> tuple[Attachment, ...]:
        """The default-network override (when set) and then every secondary attachment."""
        head = (self.default_attachment,) if self.default_attachment is not None else ()
        return head + self.attachments


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: stable id, default severity, a one-line summary, and its pure check."""

    id: str
    severity: Severity
    summary: str
    check: Callable[[PodContext], Iterable[RuleOutput]]


def build_context(pod: Mapping[str, Any], *, catalog: NadCatalog, policy: Policy, namespace: str | None,
                  prefix: str, pods: PodLookup = NO_PODS, key: str | None = None) -> PodContext:
    """Parse the annotations and resolve every element against the catalog."""
    metadata = _mapping(pod.get("metadata"))
    annotations = _mapping(metadata.get("annotations"))
    spec = _mapping(pod.get("spec"))
    pod_ns = namespace or (metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else None)
    pod_ns = pod_ns or "default"
    networks_path = annotation_path(NETWORKS_ANNOTATION, prefix)
    networks = _parse(annotations.get(NETWORKS_ANNOTATION), networks_path)
    names = interface_names(networks.elements, primary=policy.primary_interface)
    attachments = tuple(
        _attach(element, f"{networks_path}[{element.index}]", f"networks[{element.index}]",
                network_namespace(element.namespace, pod_namespace=pod_ns), ifname, catalog)
        for element, ifname in zip(networks.elements, names, strict=True))
    default_path = annotation_path(DEFAULT_NETWORK_ANNOTATION, prefix)
    default_network: ParsedNetworks | None = None
    default_attachment: Attachment | None = None
    if DEFAULT_NETWORK_ANNOTATION in annotations:
        default_network = _parse(annotations.get(DEFAULT_NETWORK_ANNOTATION), default_path)
        if default_network.elements:
            first = default_network.elements[0]
            namespace = default_network_namespace(first.namespace, system_namespace=policy.system_namespace)
            default_attachment = _attach(first, default_path, "default-network", namespace,
                                         policy.primary_interface, catalog)
    return PodContext(pod_ns, annotations, spec, prefix, networks, networks_path, attachments, default_network,
                      default_path, default_attachment, catalog, policy, pods, key or pod_key(pod, pod_ns))


def _attach(element: NetworkSelection, path: str, position: str, namespace: str, ifname: str,
            catalog: NadCatalog) -> Attachment:
    label = f'{position} "{namespace}/{element.name}"'
    return Attachment(element, path, label, namespace, ifname, catalog.get(namespace, element.name))


def _parse(value: Any, path: str) -> ParsedNetworks:
    if value is None:
        return ParsedNetworks((), (), "empty")
    if not isinstance(value, str):
        problem = Problem(path, "annotation values must be strings", "quote the value in the manifest")
        return ParsedNetworks((), (problem,), "empty")
    return parse_networks(value, path=path)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
