"""The rule catalogue: why each rule matters, a bad and a fixed example, how to configure it.

One source of truth for `netweave rules`, `netweave explain RULE`, docs/rules/<id>.md (generated from here:
`python -m webhook.catalogue docs/rules`) and the SARIF rule help. Adding a rule to webhook/rules/__init__.py
RULES without an entry in EXPLANATIONS fails tests/webhook/test_catalogue.py, naming the rule.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from webhook.hotplug import HOTPLUG_RULES
from webhook.policy import ALWAYS_PROTECTED, DEFAULT_FILE
from webhook.precheck import PRECHECK_RULES
from webhook.rules import RULES
from webhook.rules.suppression import SUPPRESS_PREFIX

DOCS_DIR = "docs/rules"
DOCS_URI = "https://github.com/netweave/netweave/blob/main/docs/rules/{id}.md"
# Rules the admission module applies itself, outside the engine's registry: (id, severity, summary).
ADMISSION_RULES = (*HOTPLUG_RULES,
                   ("networks-immutable", "error", "the networks annotations do not change on a running pod"))
Stage = Literal["rule", "admission", "precheck"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """The prose of one rule: why it matters, a manifest it rejects, the same manifest fixed."""

    why: str
    bad: str
    fixed: str
    configure: str = ""  # rule-specific policy settings, beyond the level every rule has


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One rule as operators see it."""

    id: str
    severity: str
    summary: str
    stage: Stage
    explanation: Explanation | None

    @property
    def protected(self) -> bool:
        """Whether a per-object ignore-check annotation is refused (a policy `protectedRules` can add more)."""
        return self.stage == "precheck" or self.id in ALWAYS_PROTECTED

    @property
    def help_uri(self) -> str:
        return DOCS_URI.format(id=self.id)


def _pod(annotations: str) -> str:
    """A pod manifest around an annotations block (each line indented by four spaces already)."""
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  annotations:\n{annotations}"


_CALICO_NAD = ("apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: calico-net\n"
               "  namespace: kube-system\nspec:\n  config: '{\"cniVersion\": \"0.3.1\", \"type\": \"calico\"}'\n---\n")

EXPLANATIONS: Mapping[str, Explanation] = MappingProxyType({
    "annotation-syntax": Explanation(
        why="The node parses `k8s.v1.cni.cncf.io/networks` and `v1.multus-cni.io/default-network` with the same "
            "parser; an annotation it cannot read fails the pod's sandbox on every retry (stuck in "
            "ContainerCreating). Reserved dot-less keys (`ip`, `default_route`) and legacy `interfaceRequest` are "
            "warnings: they are ignored or renamed, not what the author meant.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ovn-net\" \"interface\": \"eth1\"}]'\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ovn-net\", \"interface\": \"eth1\"}]'\n"),
    ),
    "network-limit": Explanation(
        why="Every attachment is a delegate call and a kernel interface on the node; a pod asking for hundreds "
            "makes admission, the node daemon and the sandbox slow for everyone. The limit bounds one pod's cost.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: net-0,net-1,net-2,...,net-40   # more than maxNetworks (32)\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: net-0,net-1\n"),
        configure="`maxNetworks: 64` in the policy raises the limit.",
    ),
    "interface-name-invalid": Explanation(
        why="The kernel refuses interface names longer than 15 bytes, `.`/`..`, or names with `/`, `:` or "
            "whitespace; the delegate's ADD fails on the node and the pod never starts.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"macvlan-conf\", \"interface\": "
                 "\"storage-network-1\"}]'\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"macvlan-conf\", \"interface\": \"storage1\"}]'\n"),
    ),
    "interface-name-reserved": Explanation(
        why="`eth0` (the policy's primaryInterface) belongs to the cluster default network and `lo` to the "
            "loopback; a secondary network asking for either collides with them on the node.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"yusur-ovn\", \"interface\": \"eth0\"}]'\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"yusur-ovn\", \"interface\": \"eth1\"}]'\n"),
        configure="`primaryInterface` in the policy names the cluster network's interface (default `eth0`).",
    ),
    "interface-name-duplicate": Explanation(
        why="Two attachments with one interface name: the second delegate fails with \"file exists\" on the node. "
            "Automatic names (`net1`, `net2`, …) skip the names written explicitly, so only explicit names clash.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: macvlan-conf@net1,ovn-net@net1\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: macvlan-conf@net1,ovn-net@net2\n"),
    ),
    "default-route-conflict": Explanation(
        why="A pod has one default route per IP family. When two networks claim the same family, which one wins "
            "depends on delegate order and timing; netweave refuses to guess. One element may own IPv4 and another "
            "IPv6; `default-route: []` claims both families.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: |\n"
                 "      [{\"name\": \"ovn-net\", \"default-route\": [\"10.124.2.1\"]},\n"
                 "       {\"name\": \"macvlan-conf\", \"default-route\": [\"192.168.1.1\"]}]\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: |\n"
                   "      [{\"name\": \"ovn-net\", \"default-route\": [\"10.124.2.1\"]},\n"
                   "       {\"name\": \"macvlan-conf\"}]\n"),
    ),
    "default-route-gateway": Explanation(
        why="The gateway becomes the pod's default route: a value that is not an IP, or an address outside the "
            "NAD's IPAM subnet, leaves the pod without a reachable default route. An empty list (a warning) takes "
            "whatever gateway the network's IPAM returns.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ovn-net\", \"default-route\": [\"10.0.0.1\"]}]'"
                 "   # subnet 10.124.2.0/24\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ovn-net\", \"default-route\": "
                   "[\"10.124.2.1\"]}]'\n"),
    ),
    "network-not-found": Explanation(
        why="The node cannot attach a network whose NetworkAttachmentDefinition does not exist: the sandbox fails "
            "until someone creates it. A name without a namespace resolves in the pod's namespace; the hint names "
            "a namespace where a NAD of that name exists. `netweave lint` reports it as a warning when no input "
            "defines a NAD of that name at all (use --strict or --nads to make it an error).",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ovn-net\", \"interface\": \"eth1\"}]'"
                 "   # the NAD is in kube-system\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ovn-net\", \"namespace\": \"kube-system\", "
                   "\"interface\": \"eth1\"}]'\n"),
    ),
    "network-namespace-forbidden": Explanation(
        why="With namespace isolation on, a pod may only use NADs of its own namespace or of the global "
            "namespaces: a tenant must not attach to another tenant's network by naming it.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: team-b/storage   # the pod is in team-a\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: team-a/storage\n"),
        configure="`namespaceIsolation: true` switches isolation on; `globalNamespaces: [default, kube-system]` "
                  "lists the namespaces every pod may use.",
    ),
    "network-config-invalid": Explanation(
        why="A NAD whose `spec.config` is not a CNI config or conflist (a JSON object with `type` on every "
            "plugin) fails every pod that uses it, on the node, at sandbox creation. An empty `spec.config` is "
            "only a warning on the NAD (Multus would read a config file of that name), but an error for every pod "
            "that uses it: netweave's node needs the CNI config inline.",
        bad="apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: macvlan-conf\n"
            "spec:\n  config: '{\"cniVersion\": \"0.3.1\", \"master\": \"eth0\"}'\n",
        fixed="apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: macvlan-conf\n"
              "spec:\n  config: '{\"cniVersion\": \"0.3.1\", \"type\": \"macvlan\", \"master\": \"eth0\"}'\n",
    ),
    "default-network-override": Explanation(
        why="`v1.multus-cni.io/default-network` replaces the cluster network on eth0. It must name exactly one "
            "NAD the pod may use, without an interface; an unqualified name resolves in the system namespace "
            "(kube-system), as Multus does.",
        bad=_CALICO_NAD + _pod("    v1.multus-cni.io/default-network: calico-net,ovn-net\n"),
        fixed=_CALICO_NAD + _pod("    v1.multus-cni.io/default-network: kube-system/calico-net\n"),
        configure="`systemNamespace` in the policy is where unqualified default networks resolve.",
    ),
    "static-ip": Explanation(
        why="`ips` reach the delegate's IPAM (runtimeConfig and CNI_ARGS `IP=`): an address that is malformed, "
            "outside the NAD's subnet, used twice in the pod, or combined with `ipam-claim-reference` fails the "
            "pod on the node or gives it an address it cannot route.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ip-192\", \"ips\": [\"10.1.1.11/24\"]}]'"
                 "   # subnet 192.168.1.0/24\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ip-192\", \"ips\": [\"192.168.1.11/24\"]}]'\n"),
    ),
    "mac-address": Explanation(
        why="The MAC reaches the delegate (runtimeConfig and CNI_ARGS `MAC=`): a multicast or malformed MAC is "
            "refused by the kernel, and two interfaces with one MAC break L2 on the pod's networks.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ip-192\", \"mac\": \"c1:11:11:11:11:11\"}]'\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ip-192\", \"mac\": \"c2:11:11:11:11:11\"}]'\n"),
    ),
    "attachment-options": Explanation(
        why="`portMappings`, `bandwidth` and `infiniband-guid` land in the delegates' runtimeConfig: a port "
            "outside 1–65535, an unknown protocol, a non-positive rate or a burst without a rate fails the "
            "portmap/bandwidth plugin on the node.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"calico-net\", \"portMappings\": "
                 "[{\"hostPort\": 0, \"containerPort\": 80, \"protocol\": \"tcp\"}]}]'\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"calico-net\", \"portMappings\": "
                   "[{\"hostPort\": 8080, \"containerPort\": 80, \"protocol\": \"tcp\"}]}]'\n"),
    ),
    "capability-missing": Explanation(
        why="CNI hands a request to a plugin only when the plugin declares the capability; otherwise it is "
            "silently dropped and the pod runs without the IP, MAC, port mapping or bandwidth limit it asked for. "
            "`ips` are also honoured by host-local/static IPAM and `mac` by macvlan/bridge/tuning/tap (they read "
            "CNI_ARGS); plugins that read the annotation themselves (Kube-OVN) count as capable.",
        bad="# NAD kube-system/lan: {\"type\": \"ipvlan\", \"ipam\": {\"type\": \"dhcp\"}}\n"
            + _pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"lan\", \"namespace\": \"kube-system\", "
                   "\"ips\": [\"10.1.0.5/24\"]}]'\n"),
        fixed="# NAD kube-system/lan: {\"type\": \"ipvlan\", \"capabilities\": {\"ips\": true}, "
              "\"ipam\": {\"type\": \"static\"}}\n"
              + _pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"lan\", \"namespace\": \"kube-system\", "
                     "\"ips\": [\"10.1.0.5/24\"]}]'\n"),
    ),
    "device-resource": Explanation(
        why="A NAD with `k8s.v1.cni.cncf.io/resourceName` (SR-IOV, DPU) needs a device the kubelet allocates: "
            "admission adds one per attachment to the first container's requests and limits. A pod that sets a "
            "different count would start without the devices its networks need, so it is denied.",
        bad="# NAD kube-system/ovn-net: resourceName yusur.tech/sriov_dpu\n"
            + _pod("    k8s.v1.cni.cncf.io/networks: kube-system/ovn-net\n")
            + "spec:\n  containers:\n  - name: c\n    resources:\n      limits: {yusur.tech/sriov_dpu: \"2\"}\n",
        fixed="# NAD kube-system/ovn-net: resourceName yusur.tech/sriov_dpu (admission adds requests/limits: 1)\n"
              + _pod("    k8s.v1.cni.cncf.io/networks: kube-system/ovn-net\n")
              + "spec:\n  containers:\n  - name: c\n",
    ),
    "node-selector": Explanation(
        why="A NAD with `k8s.v1.cni.cncf.io/nodeSelector` (or a resource mapped by the policy) only works on some "
            "nodes: admission merges that label into `spec.nodeSelector`. A pod selecting a different value, or "
            "two networks demanding different values, could never be scheduled where its networks exist.",
        bad="# NAD kube-system/ovn-net: nodeSelector k8s.ovn.org/dpu-host\n"
            + _pod("    k8s.v1.cni.cncf.io/networks: kube-system/ovn-net\n")
            + "spec:\n  nodeSelector: {k8s.ovn.org/dpu-host: \"false\"}\n",
        fixed="# NAD kube-system/ovn-net: nodeSelector k8s.ovn.org/dpu-host (admission adds it)\n"
              + _pod("    k8s.v1.cni.cncf.io/networks: kube-system/ovn-net\n"),
        configure="`resourceNodeSelectors: {yusur.tech/sriov_dpu: k8s.ovn.org/dpu-host}` maps device resources to "
                  "node labels.",
    ),
    "network-status-spoof": Explanation(
        why="`k8s.v1.cni.cncf.io/network-status` is what the node attached; monitoring, service meshes and "
            "operators trust it. Only the node's identity may write it: a user's value is removed on create, and "
            "an update that adds or changes it is denied.",
        bad=_pod("    k8s.v1.cni.cncf.io/network-status: '[{\"name\": \"default/admin-net\", "
                 "\"ips\": [\"10.0.0.9\"]}]'\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: default/app-net\n"),
        configure="`statusWriters: {users: [...], groups: [...]}` names the identities that may write it "
                  "(default: the netweave node ServiceAccount).",
    ),
    "subnet-overlap": Explanation(
        why="Two attachments whose IPAM subnets overlap make routing inside the pod ambiguous: replies to the "
            "overlapping range leave by whichever route the kernel picks.",
        bad="# NADs lan-a (10.10.0.0/16) and lan-b (10.10.5.0/24)\n"
            + _pod("    k8s.v1.cni.cncf.io/networks: lan-a,lan-b\n"),
        fixed="# NADs lan-a (10.10.0.0/16) and lan-c (10.20.0.0/24)\n"
              + _pod("    k8s.v1.cni.cncf.io/networks: lan-a,lan-c\n"),
    ),
    "kube-ovn-provider": Explanation(
        why="Kube-OVN finds the Subnet of an attachment by its provider: `<nad>.<namespace>.ovn` for a `kube-ovn` "
            "attachment, `<nad>.<namespace>` for Kube-OVN IPAM under another plugin. Any other value matches no "
            "Subnet and the pod never gets an address (kube-ovn#1055, #2783).",
        bad="apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: attachnet\n"
            "  namespace: default\nspec:\n  config: '{\"cniVersion\": \"0.3.0\", \"type\": \"kube-ovn\", "
            "\"server_socket\": \"/run/openvswitch/kube-ovn-daemon.sock\", \"provider\": \"attachnet.ovn\"}'\n",
        fixed="apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: attachnet\n"
              "  namespace: default\nspec:\n  config: '{\"cniVersion\": \"0.3.0\", \"type\": \"kube-ovn\", "
              "\"server_socket\": \"/run/openvswitch/kube-ovn-daemon.sock\", "
              "\"provider\": \"attachnet.default.ovn\"}'\n",
    ),
    "kube-ovn-qos-key": Explanation(
        why="Kube-OVN reads QoS per interface from `<provider>.kubernetes.io/<key>`; `ovn.kubernetes.io/<key>` "
            "shapes only the Kube-OVN primary network. On a pod whose Kube-OVN network is a secondary, the limit "
            "silently applies to the wrong interface (or none).",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: default/attachnet\n"
                 "    ovn.kubernetes.io/ingress_rate: \"3\"\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: default/attachnet\n"
                   "    attachnet.default.ovn.kubernetes.io/ingress_rate: \"3\"\n"),
    ),
    "ovn-k-net-attach-def-name": Explanation(
        why="OVN-Kubernetes matches a secondary network's NAD by `netAttachDefName`, which must be the NAD's own "
            "`<namespace>/<name>`; a missing or different value (or a network named like OVN-K's default) makes "
            "ovnkube refuse the NAD, and pods attached to it hang in ContainerCreating.",
        bad="# NAD default/l2-net\nspec:\n  config: '{\"cniVersion\": \"0.4.0\", \"name\": \"l2-net\", "
            "\"type\": \"ovn-k8s-cni-overlay\", \"topology\": \"layer2\", "
            "\"netAttachDefName\": \"l2-net\"}'\n",
        fixed="# NAD default/l2-net\nspec:\n  config: '{\"cniVersion\": \"0.4.0\", \"name\": \"l2-net\", "
              "\"type\": \"ovn-k8s-cni-overlay\", \"topology\": \"layer2\", "
              "\"netAttachDefName\": \"default/l2-net\"}'\n",
    ),
    "ovn-k-network-conflict": Explanation(
        why="Several NADs may name one OVN-Kubernetes network, but they must agree on its settings (topology, "
            "subnets, MTU, …); when they differ, OVN-K cannot build the network and pods on either NAD hang "
            "(ovn-kubernetes#3428).",
        bad="# NAD team-a/l2: {\"name\": \"shared\", \"topology\": \"layer2\", \"subnets\": \"10.10.0.0/16\"}\n"
            "# NAD team-b/l2: {\"name\": \"shared\", \"topology\": \"layer2\", \"subnets\": \"10.20.0.0/16\"}\n",
        fixed="# NAD team-a/l2: {\"name\": \"shared\", \"topology\": \"layer2\", \"subnets\": \"10.10.0.0/16\"}\n"
              "# NAD team-b/l2: {\"name\": \"team-b-l2\", \"topology\": \"layer2\", "
              "\"subnets\": \"10.20.0.0/16\"}\n",
    ),
    "device-resource-missing": Explanation(
        why="A device-plugin CNI (SR-IOV, host-device with a VF) gets its device from the kubelet through the NAD's "
            "`k8s.v1.cni.cncf.io/resourceName`; without it the pod requests no device, the plugin has nothing to "
            "attach, and the pod stays in ContainerCreating.",
        bad="apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: sriov-net\n"
            "spec:\n  config: '{\"cniVersion\": \"0.3.1\", \"type\": \"sriov\", \"vlan\": 100}'\n",
        fixed="apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: sriov-net\n"
              "  annotations:\n    k8s.v1.cni.cncf.io/resourceName: intel.com/intel_sriov_netdevice\n"
              "spec:\n  config: '{\"cniVersion\": \"0.3.1\", \"type\": \"sriov\", \"vlan\": 100}'\n",
    ),
    "calico-secondary": Explanation(
        why="Calico expects to own the pod's primary interface: as a secondary it adds its own default route and "
            "routes, and upstream does not support it (projectcalico/calico#5962). netweave takes the extra default "
            "route away, but the supported place for Calico is the default network.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"calico-net\", \"namespace\": \"kube-system\", "
                 "\"interface\": \"eth1\"}]'\n    v1.multus-cni.io/default-network: kube-system/ovn-net\n"),
        fixed=_pod("    v1.multus-cni.io/default-network: kube-system/calico-net\n"
                   "    k8s.v1.cni.cncf.io/networks: '[{\"name\": \"ovn-net\", \"namespace\": \"kube-system\", "
                   "\"interface\": \"eth1\"}]'\n"),
    ),
    "static-ip-conflict": Explanation(
        why="Two pods asking for the same static IP on one network: the second never gets it (its sandbox fails "
            "in IPAM), or both carry it and traffic goes to either. The webhook checks against the pods it "
            "watches; lint against the other pods in its inputs.",
        bad="# pod a: networks '[{\"name\": \"ip-192\", \"ips\": [\"192.168.1.11/24\"]}]'\n"
            "# pod b: networks '[{\"name\": \"ip-192\", \"ips\": [\"192.168.1.11/24\"]}]'\n",
        fixed="# pod a: networks '[{\"name\": \"ip-192\", \"ips\": [\"192.168.1.11/24\"]}]'\n"
              "# pod b: networks '[{\"name\": \"ip-192\", \"ips\": [\"192.168.1.12/24\"]}]'\n",
    ),
    "network-in-use": Explanation(
        why="Deleting (or changing the config of) a NAD that running pods use leaves them attached to a network "
            "that no longer exists as written: their next sandbox fails, and DEL runs from the node's cache.",
        bad="kubectl delete net-attach-def macvlan-conf   # pods default/samplepod still use it\n",
        fixed="kubectl delete pod samplepod && kubectl delete net-attach-def macvlan-conf\n",
    ),
    "suppression-refused": Explanation(
        why="An `ignore-check.netweave.io/<rule>` annotation is honoured only for a known rule that is not "
            "protected, and only with a reason. Anything else has no effect, and silently ignoring it would let "
            "the author believe the check is off.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: lan-a,lan-b\n    ignore-check.netweave.io/static-ip: \"\"\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: lan-a,lan-b\n"
                   "    ignore-check.netweave.io/subnet-overlap: \"lab network, routes pinned by the app\"\n"),
    ),
    "networks-immutable": Explanation(
        why="The node attaches networks once, at sandbox creation; changing the networks annotations of a running "
            "pod would make it claim networks it does not have (and the next sandbox would differ).",
        bad="kubectl annotate pod app --overwrite k8s.v1.cni.cncf.io/networks=ovn-net\n",
        fixed="# change the pod template (Deployment) or recreate the pod\n"
              "kubectl delete pod app && kubectl apply -f app.yaml\n",
    ),
    "hotplug-change": Explanation(
        why="With policy hotPlug the node adds and removes attachments of a running pod, but it never changes one "
            "in place: a new network, address or name under an existing interface would pull it from under the "
            "application. Auto names (net<N>) follow the order, so removing an element can shift the names after "
            "it; the cluster default network (eth0) never moves, the default route only with hotPlug.defaultRoute.",
        bad="# was: k8s.v1.cni.cncf.io/networks: macvlan-conf,sriov-lab   (net1, net2)\n"
            "kubectl annotate pod app --overwrite k8s.v1.cni.cncf.io/networks=sriov-lab   # net2 would become net1\n",
        fixed="kubectl annotate pod app --overwrite k8s.v1.cni.cncf.io/networks=sriov-lab@net2\n",
        configure="hotPlug: {enabled: true, namespaces: [lab], defaultRoute: false} in the policy turns hot-plug on "
                  "(the networks annotation is otherwise immutable: networks-immutable)",
    ),
    "hotplug-device": Explanation(
        why="A NAD with k8s.v1.cni.cncf.io/resourceName needs a device the kubelet allocates when the pod is "
            "scheduled (its resource request); a running pod has none for a network added later, so the delegate "
            "would have no deviceID.",
        bad="kubectl annotate pod app --overwrite k8s.v1.cni.cncf.io/networks=macvlan-conf,sriov-net\n",
        fixed="# add sriov-net to the pod template; the rollout recreates the pod with the device\n",
    ),
    "object-malformed": Explanation(
        why="Every rule relies on `metadata` being an object and `metadata.annotations` a map of strings; the API "
            "server refuses anything else, so admission and lint report it before any rule runs.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: [ovn-net]   # a YAML list, not a string\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: ovn-net\n"),
    ),
    "annotation-size": Explanation(
        why="The API server refuses objects whose annotations exceed 256 KiB in total; mutating admission runs "
            "before that check, so netweave stops there rather than parse and quote megabytes back.",
        bad=_pod("    k8s.v1.cni.cncf.io/networks: '[... 300 KiB of elements ...]'\n"),
        fixed=_pod("    k8s.v1.cni.cncf.io/networks: ovn-net,macvlan-conf\n"),
    ),
})


def catalogue() -> tuple[CatalogueEntry, ...]:
    """Every rule: the engine's registry (report order), admission's own rules, then the prechecks."""
    rows: list[tuple[str, str, str, Stage]] = [(r.id, r.severity, r.summary, "rule") for r in RULES]
    rows += [(rid, sev, summary, "admission") for rid, sev, summary in ADMISSION_RULES]
    rows += [(rid, "error", summary, "precheck") for rid, summary in PRECHECK_RULES]
    return tuple(CatalogueEntry(rid, sev, summary, stage, EXPLANATIONS.get(rid)) for rid, sev, summary, stage in rows)


def entry(rule_id: str) -> CatalogueEntry | None:
    return next((e for e in catalogue() if e.id == rule_id), None)


def configuration(e: CatalogueEntry) -> str:
    """How to suppress or configure a rule, in the terms webhook.policy and webhook.rules.suppression apply."""
    if e.stage == "precheck":
        return "Always on: no policy and no annotation can change it (the API server would refuse the object)."
    level = (f"In the policy file ({DEFAULT_FILE}, or the webhook's policy ConfigMap): `rules: {{{e.id}: "
             "warning}` (or `error`, `off`) changes its level.")
    if e.protected:
        per_object = ("Protected: it cannot be suppressed per object (an ignore-check annotation is refused with "
                      "a `suppression-refused` warning); only the cluster's policy can change its level.")
    else:
        per_object = (f'Suppress it on one object with the annotation `{SUPPRESS_PREFIX}{e.id}: "<reason>"` (a '
                      "reason is required); the policy's `protectedRules` can forbid that.")
    extra = f" {e.explanation.configure}" if e.explanation is not None and e.explanation.configure else ""
    return f"{per_object} {level}{extra}"


def render_text(e: CatalogueEntry) -> str:
    """`netweave explain RULE`."""
    lines = [f"{e.id} ({e.severity} by default{', protected' if e.protected else ''})", f"  {e.summary}", ""]
    if e.explanation is not None:
        lines += ["Why it matters:", f"  {e.explanation.why}", "", "Rejected:", _indent(e.explanation.bad), "",
                  "Fixed:", _indent(e.explanation.fixed), ""]
    lines += ["Suppress or configure:", f"  {configuration(e)}", "", f"More: {e.help_uri}"]
    return "\n".join(lines) + "\n"


def render_markdown(e: CatalogueEntry) -> str:
    """docs/rules/<id>.md and the SARIF help markdown."""
    lines = [f"# {e.id}", "", f"**Default severity:** {e.severity}" + (" · **protected**" if e.protected else ""),
             "", f"{e.summary[0].upper()}{e.summary[1:]}.", ""]
    if e.explanation is not None:
        lines += ["## Why it matters", "", e.explanation.why, "", "## Rejected", "", "```yaml",
                  e.explanation.bad.rstrip("\n"), "```", "", "## Fixed", "", "```yaml",
                  e.explanation.fixed.rstrip("\n"), "```", ""]
    lines += ["## Suppress or configure", "", configuration(e), "",
              "<!-- generated by `python -m webhook.catalogue docs/rules` from webhook/catalogue.py -->"]
    return "\n".join(lines) + "\n"


def render_index(entries: Sequence[CatalogueEntry]) -> str:
    """docs/rules/README.md."""
    lines = ["# netweave rules", "", "| rule | default | protected | checks |", "|---|---|---|---|"]
    lines += [f"| [{e.id}]({e.id}.md) | {e.severity} | {'yes' if e.protected else 'no'} | {e.summary} |"
              for e in entries]
    lines += ["", "<!-- generated by `python -m webhook.catalogue docs/rules` from webhook/catalogue.py -->"]
    return "\n".join(lines) + "\n"


def documents() -> dict[str, str]:
    """File name -> content of every generated file under docs/rules/."""
    entries = catalogue()
    return {"README.md": render_index(entries), **{f"{e.id}.md": render_markdown(e) for e in entries}}


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip("\n").splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    """Write docs/rules/ (the directory given, default docs/rules) from the catalogue; stale .md files go."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0] if args else DOCS_DIR)
    target.mkdir(parents=True, exist_ok=True)
    docs = documents()
    for stale in target.glob("*.md"):
        if stale.name not in docs:
            stale.unlink()
    for name, text in docs.items():
        (target / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
