"""Kube-OVN as a Multus attachment (type `kube-ovn`) and as IPAM for other plugins (ipam type `kube-ovn`).

- kube-ovn-controller reads `ips` and `mac` of a `kube-ovn` attachment from the networks annotation itself
  (getPodAttachmentNet: IPRequest/MacRequest), so they need no CNI capability.
- The provider names the attachment: `<nad>.<namespace>.ovn` for a `kube-ovn` attachment (kube-ovn#1055, docs
  "multi-nic"), `<nad>.<namespace>` without the suffix for Kube-OVN IPAM (kube-ovn#2783, #604). Any other value
  matches no Subnet, and the pod never gets an address.
- Per-interface annotations (QoS, fixed addresses) are `<provider>.kubernetes.io/<key>`; `ovn.kubernetes.io/<key>`
  is the primary network's (provider `ovn`).
"""

from __future__ import annotations

from collections.abc import Iterator

from cni.spec.netconf import Nad, NetConf
from cni.spec.plugins.family import PluginFamily, plugin_path
from cni.spec.problems import Problem, describe

TYPE = "kube-ovn"
PRIMARY_PROVIDER = "ovn"
QOS_KEYS = ("ingress_rate", "egress_rate", "latency", "jitter", "limit", "loss")

FAMILY = PluginFamily(
    name="Kube-OVN",
    plugin_types=frozenset({TYPE}),
    ipam_types=frozenset({TYPE}),
    reads_annotation=frozenset({"ips", "mac"}),
    sources=("kubeovn/kube-ovn pkg/controller/pod.go getPodAttachmentNet", "kubeovn/kube-ovn#1055",
             "kubeovn/kube-ovn#2783"),
)


def attachment_provider(name: str, namespace: str) -> str:
    """The provider a `kube-ovn` attachment NAD must carry."""
    return f"{name}.{namespace}.{PRIMARY_PROVIDER}"


def ipam_provider(name: str, namespace: str) -> str:
    """The provider a Kube-OVN IPAM section must carry (no `.ovn` suffix)."""
    return f"{name}.{namespace}"


def annotation_key(provider: str, key: str) -> str:
    """A per-interface Kube-OVN pod annotation, e.g. `net.ns.ovn.kubernetes.io/ingress_rate`."""
    return f"{provider}.kubernetes.io/{key}"


def provider_of(conf: NetConf) -> str | None:
    """The provider of the config's `kube-ovn` plugin, when it has one."""
    for plugin in conf.plugins:
        value = plugin.raw.get("provider")
        if plugin.type == TYPE and isinstance(value, str) and value:
            return value
    return None


def provider_problems(nad: Nad, *, secondary: bool) -> Iterator[Problem]:
    """Providers that match no Kube-OVN Subnet for this NAD. A `kube-ovn` plugin without a provider is only a
    problem for a secondary attachment (as the default network it is the primary's `ovn`)."""
    conf = nad.config
    if conf is None:
        return
    for i, plugin in enumerate(conf.plugins):
        path = plugin_path(i, is_list=conf.is_list)
        if plugin.type == TYPE:
            want = attachment_provider(nad.name, nad.namespace)
            yield from _check(plugin.raw.get("provider"), want, f"{path}.provider", required=secondary,
                              what="a kube-ovn attachment")
        ipam = plugin.raw.get("ipam")
        if plugin.ipam_type == TYPE and isinstance(ipam, dict):
            want = ipam_provider(nad.name, nad.namespace)
            yield from _check(ipam.get("provider"), want, f"{path}.ipam.provider", required=True,
                              what="Kube-OVN IPAM")


def _check(value: object, want: str, path: str, *, required: bool, what: str) -> Iterator[Problem]:
    hint = f'set "provider": "{want}" (and the same provider on its Kube-OVN Subnet)'
    if value is None:
        if required:
            yield Problem(path, f"{what} needs a provider naming this NAD, so that kube-ovn-controller finds "
                          "its Subnet; without one the pod gets no address on it", hint)
    elif value != want:
        suffix = " (IPAM providers have no .ovn suffix)" if what == "Kube-OVN IPAM" and value == want + ".ovn" \
            else ""
        yield Problem(path, f"provider {describe(value)} is not <nad>.<namespace>"
                      f"{'.ovn' if what != 'Kube-OVN IPAM' else ''} of this NAD{suffix}: no Kube-OVN Subnet "
                      "serves it, so pods attached to it never get an address", hint)
