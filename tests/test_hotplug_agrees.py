"""Hot-plug admission and the node agree: whatever change of a running pod's networks the webhook admits under
policy hotPlug (defaultRoute: false), the node's diff of the two plans only adds and removes attachments — no
conflict in place, no moved default route — and it changes something exactly when the plans differ."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cni.hotplug import diff_attachments
from cni.plan import Attachment, ClusterNetwork, plan_attachments
from cni.request import Config, PodRef
from cni.spec import parse_nad, parse_netconf
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_pod
from webhook.hotplug import hotplug_findings
from webhook.policy import HotPlug, Policy

NETWORKS = "k8s.v1.cni.cncf.io/networks"
PTP, _ = parse_netconf(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "type": "ptp"}))
assert PTP is not None
CLUSTER = ClusterNetwork("cluster", PTP)
CONFIG = Config(cni_version="1.0.0", name="netweave", cluster_network="/etc/cni/net.d/10-ptp.conflist")
POLICY = Policy(hot_plug=HotPlug(enabled=True))
CAPS = {"ips": True, "mac": True}
NADS = {
    name: parse_nad({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                     "metadata": {"namespace": "default", "name": name},
                     "spec": {"config": json.dumps({"cniVersion": "1.0.0", "type": "bridge", "capabilities": CAPS,
                                                    "ipam": {"type": "host-local", "ranges": [[
                                                        {"subnet": f"10.{i}.0.0/24", "gateway": f"10.{i}.0.1"}]]}})}})
    for i, name in enumerate(("net-a", "net-b", "net-c"), start=1)
}
CATALOG = MemoryCatalog([n for n in NADS.values() if n is not None])

element = st.fixed_dictionaries({"name": st.sampled_from(sorted(NADS))}, optional={
    "interface": st.sampled_from(["net1", "net2", "net3", "data0"]),
    "ips": st.sampled_from([["10.1.0.5/24"], ["10.2.0.5/24"], ["10.3.0.6/24"]]),
    "default-route": st.sampled_from([["10.1.0.1"], ["10.2.0.1"], ["10.3.0.1"], []]),
})
network_annotations = st.lists(element, max_size=3).map(lambda es: {NETWORKS: json.dumps(es)} if es else {})


def pod(values: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "default", "name": "p", "uid": "u1", "annotations": values},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def plan(values: dict[str, str]) -> tuple[Attachment, ...]:
    nads = {(n.namespace, n.name): n for n in NADS.values() if n is not None}
    return plan_attachments(config=CONFIG, pod_ref=PodRef("default", "p", "u1"), pod=pod(values), cluster=CLUSTER,
                            nads=nads, devices={}, primary_ifname="eth0")


def admitted(values: dict[str, str]) -> bool:
    return evaluate_pod(pod(values), catalog=CATALOG, policy=POLICY, namespace="default").allowed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(old=network_annotations, new=network_annotations)
@example(old={NETWORKS: '[{"name": "net-a"}, {"name": "net-a"}, {"name": "net-a"}]'},
         new={NETWORKS: '[{"name": "net-a"}, {"name": "net-a"}, {"name": "net-a", "interface": "net1"}]'})
def test_hotplug_whatever_admission_allows_the_node_applies_by_adding_and_removing(
        old: dict[str, str], new: dict[str, str]) -> None:
    if not (admitted(old) and admitted(new)):
        return
    allowed = not hotplug_findings(new, old, namespace="default", catalog=CATALOG, policy=POLICY)
    before, after = plan(old), plan(new)
    diff = diff_attachments(before, after)
    if allowed:
        assert diff.conflicts == () and not diff.rerouted
        # Work exactly when the set of interfaces differs: with no conflict, an interface on both sides is the
        # same attachment, whatever its position in the annotation (reordering elements attaches nothing).
        assert diff.changes == ({a.ifname for a in before} != {a.ifname for a in after})
        assert [a.ifname for a in diff.attachments] == [a.ifname for a in after]
