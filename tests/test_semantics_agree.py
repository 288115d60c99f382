"""Admission and the node agree (DESIGN §2 "One semantics"): whatever the webhook admits, cni.plan plans with the
same interface names, NADs and default-route owner per family — with and without the mutating patch — and every
string the node would put into CNI_ARGS or runtimeConfig is one a delegate can take."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cni.errors import CniError
from cni.plan import Attachment, ClusterNetwork, plan_attachments, wanted_nads
from cni.request import Config, PodRef
from cni.routes import default_owners
from cni.spec import Nad, NetworkSelection, default_route_owners, parse_nad, parse_netconf, parse_networks
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_pod
from webhook.patch import apply_mutations
from webhook.policy import Policy
from webhook.rules import RULE_IDS
from webhook.rules.base import build_context

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT = "v1.multus-cni.io/default-network"
CALICO, _ = parse_netconf(json.dumps({"cniVersion": "0.3.1", "name": "k8s-pod-network", "plugins": [
    {"type": "calico", "ipam": {"type": "calico-ipam"}}, {"type": "portmap", "capabilities": {"portMappings": True}}]}))
assert CALICO is not None
CLUSTER = ClusterNetwork("k8s-pod-network", CALICO)

V4 = {"subnet": "10.1.0.0/24", "gateway": "10.1.0.1"}
V6 = {"subnet": "fd00:1::/64", "gateway": "fd00:1::1"}
CAPS = {"ips": True, "mac": True, "portMappings": True, "bandwidth": True}
CONFIGS: dict[str, Any] = {
    "v4": {"cniVersion": "1.0.0", "type": "bridge", "capabilities": CAPS,
           "ipam": {"type": "host-local", "ranges": [[V4]]}},
    "v6": {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1", "capabilities": CAPS,
           "ipam": {"type": "host-local", "ranges": [[V6]]}},
    "dual": {"cniVersion": "0.4.0", "name": "dual", "plugins": [
        {"type": "bridge", "ipam": {"type": "host-local", "ranges": [[V4], [V6]]}},
        {"type": "tuning", "capabilities": CAPS}]},
    "static": {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1", "capabilities": {"ips": True},
               "ipam": {"type": "static"}},
    "plain": {"cniVersion": "1.0.0", "type": "ptp"},
    "bad-subnet": {"cniVersion": "1.0.0", "type": "bridge", "ipam": {"type": "host-local", "subnet": "10.1.0.0/33"}},
    "broken": "{not json",
    "empty": "",  # no inline config: the node cannot delegate it (code 7), so admission must deny its pods
}
NAMES = ["net-a", "net-b", "net-c"]
NAMESPACES = ["default", "team-a", "kube-system"]


def nad_object(namespace: str, name: str, config: Any) -> dict[str, Any]:
    text = config if isinstance(config, str) else json.dumps(config)
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"namespace": namespace, "name": name}, "spec": {"config": text}}


def mostly(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """Valid values most of the time, so that many examples are admitted and reach the node."""
    return st.sampled_from(good * 4 + bad)


# Every (namespace, name) has a NAD most of the time, mostly a dual-stack one that can take every option.
catalogs = st.fixed_dictionaries({(ns, name): mostly(["dual", "dual", "dual", "v4", "v6"],
                                                     ["static", "plain", "bad-subnet", "broken", "empty", None])
                                  for ns in NAMESPACES for name in NAMES})

element = st.fixed_dictionaries(
    {"name": mostly(NAMES, ["missing"])},
    optional={
        "namespace": st.sampled_from(NAMESPACES),
        "interface": mostly(["net1", "net2", "net3", "data0", "é"],
                            ["eth0", "lo", "a\x00b", "a\u00e0", "net 1", "x" * 16, "", "a\ud800", "a:b", "a\x85",
                             "a\u3000"]),
        "ips": mostly([["10.1.0.5/24"], ["fd00:1::5/64"], ["10.1.0.6"], ["10.1.0.7/24", "fd00:1::7/64"]],
                      [[], ["10.1.0.5;MAC=x"], ["10.2.0.5/24"], ["10.1.0.5/33"]]),
        "mac": mostly(["02:00:00:00:00:01", "0a:58:0a:01:01:05"],
                      ["02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system", "01:00:5e:00:00:01", "02:00:00:00:00:01\n"]),
        "default-route": mostly([[], ["10.1.0.1"], ["fd00:1::1"], ["10.1.0.1", "fd00:1::1"]],
                                [["10.1.0.1", "10.1.0.2"], ["gw"], ["10.9.0.1"]]),
        "cni-args": mostly([{"a": "b"}, {"k": "v;with=signs", "n": 1}], [{"a": "\x1b[31m"}, {"": 1}, {"a\x00": 2}]),
        "portMappings": mostly([[{"hostPort": 8080, "containerPort": 80, "protocol": "TCP"}]],
                               [[{"hostPort": 0, "containerPort": 80}], [{"hostPort": 1, "containerPort": 2,
                                                                          "hostIP": "1.2.3.4\x07"}]]),
        "bandwidth": mostly([{"ingressRate": 1000, "ingressBurst": 100}], [{"egressBurst": 5}, {"x\x1b": 1}]),
        "deviceID": mostly(["0000:3b:00.2"], ["0000:3b:00.2\r\n"]),
        "interfaceRequest": st.sampled_from(["net4", "a\x00"]),
        "ip": st.just("10.1.0.5"),
    },
)
short_element = st.builds(lambda ns, name, ifname: f"{ns + '/' if ns else ''}{name}{'@' + ifname if ifname else ''}",
                          st.sampled_from([None, *NAMESPACES]), st.sampled_from(NAMES),
                          st.sampled_from([None, "net1", "net2", "eth0", "a:b"]))
networks_text = st.lists(element, min_size=1, max_size=4).map(json.dumps) | st.lists(short_element, min_size=1,
                                                                           max_size=4).map(",".join)
default_text = st.sampled_from(["net-a", "kube-system/net-a", "team-a/net-b", "default/net-c", "missing",
                                '[{"name": "net-a", "mac": "02:00:00:00:00:09"}]',
                                '[{"name": "net-a", "mac": "02:00;K8S_POD_NAME=x"}]', "net-a@eth1", "net-a,net-b"])
policies = st.builds(lambda isolation, globals_: Policy(namespace_isolation=isolation, global_namespaces=globals_),
                     st.booleans(), st.sampled_from([("kube-system",), (), ("kube-system", "default")]))


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    annotations: dict[str, str] = {}
    annotations[NETWORKS] = draw(networks_text)
    if draw(st.integers(0, 3)) == 0:
        annotations[DEFAULT] = draw(default_text)
    namespace = draw(st.sampled_from(["default", "team-a"]))
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": namespace, "uid": "u-1", "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def node_config(policy: Policy) -> Config:
    return Config(cni_version="1.1.0", name="netweave", cluster_network="/x", system_namespace=policy.system_namespace,
                  namespace_isolation=policy.namespace_isolation, global_namespaces=policy.global_namespaces)


def node_plan(pod: dict[str, Any], catalog: dict[tuple[str, str], Nad], config: Config) -> tuple[Attachment, ...]:
    ref = PodRef(pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"])
    nads = {key: catalog.get(key) for key in wanted_nads(pod, ref, config)}
    return plan_attachments(config=config, pod_ref=ref, pod=pod, cluster=CLUSTER, nads=nads, devices={},
                            primary_ifname="eth0")


def admission_view(pod: dict[str, Any], catalog: MemoryCatalog, policy: Policy) -> tuple[list[tuple[str, str]],
                                                                                         dict[int, str], str]:
    """(network, ifname) per secondary, family -> owner ifname, and the eth0 network, as admission decided them."""
    ctx = build_context(pod, catalog=catalog, policy=policy, namespace=None, prefix="")
    secondaries = [(f"{att.namespace}/{att.selection.name}", att.ifname) for att in ctx.attachments]
    owners = default_route_owners([att.selection.default_route for att in ctx.attachments]).owners
    eth0 = ctx.default_attachment
    primary = f"{eth0.namespace}/{eth0.selection.name}" if eth0 is not None else CLUSTER.name
    return secondaries, {family: ctx.attachments[pos].ifname for family, pos in owners.items()}, primary


# Independent oracles (not cni.spec): what the kernel and libcni's CNI_ARGS parser accept.
KERNEL_REFUSED = frozenset(b"/:\x00\t\n\v\f\r \xa0")
GO_SPACE = frozenset("\x85\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def delegate_safe(text: str) -> bool:
    return all(not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000) for c in text)


def assert_passed_values_valid(att: Attachment) -> None:
    raw = att.ifname.encode("utf-8")
    assert 0 < len(raw) < 16 and raw not in (b".", b"..") and not set(raw) & KERNEL_REFUSED, att.ifname
    assert not set(att.ifname) & GO_SPACE, att.ifname
    for key, value in att.cni_args:
        assert key in ("IP", "MAC")
        assert ";" not in value and "=" not in value and delegate_safe(value), value
        if key == "MAC":
            assert MAC.fullmatch(value) and not int(value[:2], 16) & 1, value
        else:
            assert all(ipaddress.ip_interface(ip) for ip in value.split(",")), value
    for text in strings(dict(att.runtime_config)):
        assert delegate_safe(text), text
    for plugin in att.plugins:
        assert all(delegate_safe(t) for t in strings((plugin.get("args") or {}).get("cni") or {}))


def parsed_networks(pod: dict[str, Any]) -> list[Any]:
    text = pod["metadata"]["annotations"][NETWORKS]
    return json.loads(text) if text.startswith("[") else text.split(",")


AGREE = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def example_pod(namespace: str, **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": namespace, "uid": "u-1", "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


ALL_DUAL = {(ns, name): "dual" for ns in NAMESPACES for name in NAMES}
ISOLATED = Policy(namespace_isolation=True)


@AGREE
@given(pods(), catalogs, policies)
# The three disagreements issue 8 found: auto names, dual-stack owners, a qualified default-network.
@example(example_pod("default", **{NETWORKS: '[{"name":"net-a"},{"name":"net-b","interface":"net1"}]'}),
         ALL_DUAL, Policy())
@example(example_pod("default", **{NETWORKS: json.dumps([{"name": "net-a", "default-route": ["10.1.0.1"]},
                                                         {"name": "net-b", "default-route": ["fd00:1::1"]}])}),
         ALL_DUAL, Policy())
@example(example_pod("team-a", **{DEFAULT: "team-a/net-b", NETWORKS: "net-a"}), ALL_DUAL, ISOLATED)
def test_what_admission_allows_the_node_plans_identically(pod: dict[str, Any],
                                                          entries: dict[tuple[str, str], str | None],
                                                          policy: Policy) -> None:
    present = {key: kind for key, kind in entries.items() if kind is not None}
    objects = [nad_object(ns, name, CONFIGS[kind]) for (ns, name), kind in present.items()]
    catalog = MemoryCatalog.from_objects(objects)
    parsed = {key: parse_nad(obj) for key, obj in zip(present, objects, strict=True)}
    verdict = evaluate_pod(pod, catalog=catalog, policy=policy)
    event(f"admitted: {verdict.allowed}")
    if not verdict.allowed:
        event("denied by " + ",".join(sorted({f.rule for f in verdict.findings if f.severity == "error"})))
        return
    event(f"admitted with {len(parsed_networks(pod))} networks")
    secondaries, owners, primary = admission_view(pod, catalog, policy)
    config = node_config(policy)
    for form, candidate in (("as written", pod), ("patched", apply_mutations(pod, verdict.mutations))):
        try:
            planned = node_plan(candidate, parsed, config)
        except CniError as e:
            raise AssertionError(f"admitted, but the node refuses the pod {form}: {e.code} {e}") from e
        assert planned[0].network == primary, form
        assert [(a.network, a.ifname) for a in planned[1:]] == secondaries, form
        assert {family: att.ifname for family, att in default_owners(planned).items()} == owners, form
        for att in planned:
            assert_passed_values_valid(att)


suppressions = st.dictionaries(st.sampled_from(sorted(RULE_IDS)).map(lambda rule: f"ignore-check.netweave.io/{rule}"),
                               st.just("tested"), max_size=6)


def assert_element_values_valid(sel: NetworkSelection) -> None:
    """What the node derives from an admitted element: CNI_IFNAME, CNI_ARGS IP=/MAC=, runtimeConfig, args.cni."""
    if sel.interface is not None:
        raw = sel.interface.encode("utf-8", "surrogatepass")
        assert 0 < len(raw) < 16 and raw not in (b".", b"..") and not set(raw) & KERNEL_REFUSED, sel.interface
        assert not set(sel.interface) & GO_SPACE, sel.interface
    for ip in sel.ips or ():
        assert ";" not in ip and "=" not in ip and "," not in ip and ipaddress.ip_interface(ip), ip
    assert sel.ips != ()
    if sel.mac is not None:
        assert MAC.fullmatch(sel.mac) and not int(sel.mac[:2], 16) & 1, sel.mac
    for value in (sel.cni_args, list(sel.port_mappings or ()), sel.bandwidth, sel.infiniband_guid, sel.device_id):
        assert all(delegate_safe(text) for text in strings(value)), value


@AGREE
@given(pods(), catalogs, policies, suppressions)
def test_no_admitted_pod_hands_a_delegate_an_unsafe_string(pod: dict[str, Any],
                                                           entries: dict[tuple[str, str], str | None],
                                                           policy: Policy, ignore: dict[str, str]) -> None:
    pod["metadata"]["annotations"].update(ignore)  # per-object suppression must not let an unsafe value through
    present = {key: kind for key, kind in entries.items() if kind is not None}
    objects = [nad_object(ns, name, CONFIGS[kind]) for (ns, name), kind in present.items()]
    verdict = evaluate_pod(pod, catalog=MemoryCatalog.from_objects(objects), policy=policy)
    event(f"admitted: {verdict.allowed}")
    if not verdict.allowed:
        return
    annotations = pod["metadata"]["annotations"]
    for key in (NETWORKS, DEFAULT):
        for sel in parse_networks(annotations.get(key, "")).elements:
            assert_element_values_valid(sel)
    parsed = {key: parse_nad(obj) for key, obj in zip(present, objects, strict=True)}
    for candidate in (pod, apply_mutations(pod, verdict.mutations)):
        try:  # no suppression admits what the node refuses: the rules the node enforces too are protected
            planned = node_plan(candidate, parsed, node_config(policy))
        except CniError as e:
            raise AssertionError(f"admitted with {sorted(ignore)}, but the node refuses it: {e.code} {e}") from e
        for att in planned:
            assert_passed_values_valid(att)
