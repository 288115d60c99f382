"""`netweave plan` on the seeds: the interfaces and default-route owners the node creates (tests/e2e/
test_seed_routes.py observes them in a real netns for 004-007 and 009), denials exactly as admission words them."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from tests.paths import SEEDS
from tests.replay import ReplayServer
from webhook.admission import admit
from webhook.catalog import NAD_KIND, MemoryCatalog
from webhook.lint import Options, lint
from webhook.manifests import read_paths
from webhook.plan import UNKNOWN_CLUSTER, cluster_network, plan_pod, plan_sources, run
from webhook.policy import Policy
from webhook.review import build_response, decode_review

CALICO = ["calico", "portmap", "bandwidth"]
OVN = ["ovn-k8s-cni-overlay"]
CLUSTER: list[str] = []  # the node's own cluster network: unknown to plan without --cluster-network


def plan_json(*paths: str, extra: list[str] | None = None, stdin: str = "",
              cluster: str | None = None) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    args = Namespace(paths=list(paths), nads=extra or [], cluster_network=cluster, config=None, format="json")
    code = run(args, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, json.loads(out.getvalue())


def seed(name: str) -> str:
    return str(next(SEEDS.glob(f"{name}-*.yaml")))


def interfaces(doc: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [(i["interface"], i["network"], i["plugins"]) for i in doc["interfaces"]]


def owner(doc: dict[str, Any], family: int = 4) -> tuple[str, str | None]:
    route = doc["defaultRoutes"][f"ipv{family}"]
    return route["interface"], route["gateway"]


# (seed, interfaces, IPv4 default-route owner and gateway). For 004-007 and 009 the owners are exactly what
# tests/e2e/test_seed_routes.py observes on a real node: 004 (OVN_GW, eth1), 005 (calico, eth0),
# 006 (CALICO_GW, eth1), 007 (ovn, eth0), 009 busybox3 (YUSUR_GW, eth1); None: the primary delegate's gateway.
ADMITTED = [
    pytest.param("001", [("eth0", "kube-system/calico-net", CALICO)], ("eth0", None), id="001-calico-default"),
    pytest.param("002", [("eth0", "kube-system/ovn-net", OVN)], ("eth0", None), id="002-ovn-default-dpu-preset"),
    pytest.param("003", [("eth0", "kube-system/ovn-net", OVN)], ("eth0", None), id="003-ovn-default-dpu-injected"),
    pytest.param("004", [("eth0", "kube-system/calico-net", CALICO), ("eth1", "kube-system/ovn-net", OVN)],
                 ("eth1", "10.124.2.1"), id="004-calico-primary-ovn-route"),
    pytest.param("005", [("eth0", "kube-system/calico-net", CALICO), ("eth1", "kube-system/ovn-net", OVN)],
                 ("eth0", None), id="005-calico-primary-calico-route"),
    pytest.param("006", [("eth0", "kube-system/ovn-net", OVN), ("eth1", "kube-system/calico-net", CALICO)],
                 ("eth1", "169.254.1.1"), id="006-ovn-primary-calico-route"),
    pytest.param("007", [("eth0", "kube-system/ovn-net", OVN), ("eth1", "kube-system/calico-net", CALICO)],
                 ("eth0", None), id="007-ovn-primary-ovn-route"),
    pytest.param("009", [("eth0", "cluster-network", CLUSTER), ("eth1", "default/yusur-ovn", OVN)],
                 ("eth1", "10.144.0.1"), id="009-busybox3-ovn-route"),
    pytest.param("012", [("eth0", "cluster-network", CLUSTER), ("net1", "default/macvlan-conf", ["macvlan"])],
                 ("eth0", None), id="012-macvlan-samplepod"),
    pytest.param("013", [("eth0", "cluster-network", CLUSTER), ("net1", "default/ip-192", ["macvlan"])],
                 ("eth0", None), id="013-macvlan-static-ip-mac"),
    pytest.param("014", [("eth0", "cluster-network", CLUSTER)], ("eth0", None), id="014-daemonset-no-networks"),
    pytest.param("021", [("eth0", "kube-system/calico-net", CALICO), ("eth1", "kube-system/ovn-net", OVN)],
                 ("eth0", None), id="021-deployment-template"),
]


@pytest.mark.parametrize(("name", "expected", "v4_owner"), ADMITTED)
def test_plan_shows_the_interfaces_and_default_route_owner_the_node_creates(
        name: str, expected: list[tuple[str, str, list[str]]], v4_owner: tuple[str, str | None]) -> None:
    code, doc = plan_json(seed(name))
    (pod,) = doc["pods"]
    assert (code, pod["allowed"], "nodeError" in pod) == (0, True, False)
    assert interfaces(pod) == expected
    assert owner(pod) == v4_owner


@pytest.mark.parametrize("name", ["003", "005", "007", "021"])
def test_plan_shows_the_dpu_request_and_node_selector_admission_adds(name: str) -> None:
    (pod,) = plan_json(seed(name))[1]["pods"]
    assert pod["deviceRequests"] == [{"resource": "yusur.tech/sriov_dpu", "count": 1, "added": True}]
    assert {"key": "k8s.ovn.org/dpu-host", "value": "", "added": True} in pod["nodeSelector"]
    dpu = next(i for i in pod["interfaces"] if i["network"] == "kube-system/ovn-net")
    assert dpu["device"] == "yusur.tech/sriov_dpu#1"


def test_plan_shows_static_addresses_and_mac() -> None:
    (pod,) = plan_json(seed("013"))[1]["pods"]
    assert [(i["ips"], i["mac"]) for i in pod["interfaces"]] == [([], None), (["192.168.111.10/24"],
                                                                                "20:01:02:03:04:05")]


def review_of(pod: dict[str, Any]) -> bytes:
    request = {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
               "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": "CREATE",
               "namespace": pod["metadata"].get("namespace", "default"), "name": pod["metadata"]["name"],
               "userInfo": {"username": "alice"}, "object": pod}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


@pytest.mark.parametrize("name", ["008", "010", "011", "023"])
def test_a_denied_seed_reads_exactly_like_the_admission_denial(name: str) -> None:
    code, doc = plan_json(seed(name))
    (pod,) = doc["pods"]
    sources = read_paths([seed(name)])
    catalog = MemoryCatalog.from_objects(o.obj for o in sources.objects)
    obj = next(o.obj for o in sources.objects if o.kind == "Pod")
    admission = admit(decode_review(review_of(dict(obj))), catalog=catalog, policy=Policy(), mutate=True)
    message = build_response("u1", admission.decision)["response"]["status"]["message"]
    assert (code, pod["allowed"], pod["interfaces"]) == (1, False, [])
    assert pod["denial"] == f'admission webhook "pods.netweave.io" denied the request: {message}'


def test_what_admission_lets_through_by_policy_the_node_still_refuses_and_plan_says_so(tmp_path: Path) -> None:
    policy = Policy.from_mapping({"rules": {"interface-name-reserved": "off"}}, source="test")
    sources = read_paths([seed("011")])
    catalog = MemoryCatalog.from_objects(o.obj for o in sources.objects)
    (pod,) = plan_sources(sources.objects, catalog=catalog, policy=policy, cluster=UNKNOWN_CLUSTER)
    assert (pod.denial, pod.interfaces) == ((), ())
    assert pod.node_error is not None and pod.node_error.startswith("CNI error 105: ")
    assert "interface 'eth0' is reserved" in pod.node_error


def test_nads_from_stdin_and_the_cluster_network_from_a_nad() -> None:
    parts = Path(seed("004")).read_text().split("\n---")
    nads = "\n---\n".join(part for part in parts if "kind: NetworkAttachmentDefinition" in part)
    code, doc = plan_json(seed("009"), extra=["-"], stdin=nads, cluster="calico-net")
    assert code == 0 and interfaces(doc["pods"][0]) == [("eth0", "kube-system/calico-net", CALICO),
                                                          ("eth1", "default/yusur-ovn", OVN)]
    catalog = MemoryCatalog.from_objects(o.obj for o in read_paths(["-"], stdin=io.StringIO(nads)).objects)
    assert cluster_network("no-such-net", catalog, Policy()) == (
        "no such file, and no usable NAD kube-system/no-such-net in the inputs")


def test_text_table() -> None:
    out = io.StringIO()
    args = Namespace(paths=[seed("004")], nads=[], cluster_network=None, config=None, format="text")
    assert run(args, stdout=out, stderr=io.StringIO()) == 0
    lines = out.getvalue().splitlines()
    assert lines[1].split() == ["INTERFACE", "NETWORK", "PLUGINS", "IPS", "MAC", "DEVICE"]
    assert lines[2].split() == ["eth0", "kube-system/calico-net", "calico,portmap,bandwidth", "-", "-", "-"]
    assert lines[3].split() == ["eth1", "kube-system/ovn-net", "ovn-k8s-cni-overlay", "-", "-",
                                "yusur.tech/sriov_dpu#1"]
    assert lines[4] == "  default route IPv4: eth1 (kube-system/ovn-net) via 10.124.2.1 (default-route)"


def test_unreadable_input_is_an_input_error_with_exit_2() -> None:
    code, doc = plan_json("/no/such/file.yaml")
    assert code == 2 and doc["pods"] == [] and "/no/such/file.yaml" in doc["inputErrors"][0]["file"]


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_seed_is_planned_exactly_when_lint_finds_no_error_and_the_node_agrees(path: Path) -> None:
    code, doc = plan_json(str(path))
    # plan needs every NAD's config, so a NAD no input defines denies the pod: lint --strict's view (seed 022).
    report = lint(read_paths([str(path)]), options=Options(strict=True))
    denied = {(f.namespace, f.name) for f in report.findings if f.severity == "error" and f.kind != NAD_KIND}
    for pod in doc["pods"]:
        assert pod["allowed"] == ((pod["namespace"], pod["name"]) not in denied), pod
        assert "nodeError" not in pod  # whatever admission allows, the node plans (one semantics)
        assert bool(pod["interfaces"]) == pod["allowed"]
    assert code == (0 if all(p["allowed"] for p in doc["pods"]) else 1)


def test_plan_with_the_clusters_nads(tmp_path: Path) -> None:
    parts = Path(seed("012")).read_text().split("\n---")
    pod = tmp_path / "pod.yaml"
    pod.write_text("\n---\n".join(part for part in parts if "kind: Pod" in part))
    with ReplayServer(watch_hold=0.2) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        out, err = io.StringIO(), io.StringIO()
        args = Namespace(paths=[str(pod)], nads=[], cluster=True, kubeconfig=str(kubeconfig), context=None,
                         cluster_network=None, config=None, format="json")
        assert run(args, stdout=out, stderr=err) == 0, err.getvalue()
    (planned,) = json.loads(out.getvalue())["pods"]
    assert [i["network"] for i in planned["interfaces"]] == ["cluster-network", "default/macvlan-conf"]


def test_stdin_cannot_be_both_the_input_and_the_nads() -> None:
    err = io.StringIO()
    args = Namespace(paths=["-"], nads=["-"], cluster_network=None, config=None, format="text")
    assert run(args, stdin=io.StringIO(""), stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue() == "netweave plan: stdin can be read once: give - as a PATH or to --nads, not both\n"


def _e2e_cases() -> list[Any]:
    """The node e2e table of tests/e2e/test_seed_routes.py (seeds 004-007 and the `default-route: []` cases)."""
    from tests.e2e import test_seed_routes as e2e

    test = e2e.test_seed_000_dual_cni_pods_get_one_default_route_where_they_ask
    (table,) = [mark.args[1] for mark in test.pytestmark if mark.name == "parametrize"]
    return [pytest.param(*case.values, e2e, id=case.id) for case in table]


@pytest.mark.parametrize(("default_network", "element", "observed", "e2e"), _e2e_cases())
def test_plan_names_the_default_route_owner_the_node_e2e_tests_observe(
        default_network: str, element: dict[str, Any], observed: tuple[str, str], e2e: Any) -> None:
    # The NADs as the e2e test writes them (host-local IPAM: the OVN network's gateway is in its config); Calico
    # keeps the seed's calico-ipam, whose pools admission cannot see (169.254.1.1 is Calico's link-local gateway).
    def nad(name: str, config: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": "kube-system"}, "spec": {"config": json.dumps(config)}}

    calico = {"cniVersion": "0.3.1", "name": "calico-net", "plugins": [
        {"type": "calico-like", "ipam": {"type": "calico-ipam"}}]}
    ovn = {"cniVersion": "0.4.0", "name": "ovn-kubernetes", "type": "ovn-like", "ipam": {
        "type": "host-local", "ranges": [[{"subnet": e2e.OVN_SUBNET, "gateway": e2e.OVN_GW}]]}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "annotations": {
        e2e.DEFAULT_NETWORK: default_network, e2e.NETWORKS: json.dumps([element])}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    catalog = MemoryCatalog.from_objects([nad("calico-net", calico), nad("ovn-net", ovn)])

    planned = plan_pod(pod, namespace="default", catalog=catalog, policy=Policy(), cluster=UNKNOWN_CLUSTER)

    gateway, ifname = observed
    assert planned.ok, planned.denial or planned.node_error
    (route,) = [r for r in planned.default_routes if r.family == 4]
    assert route.ifname == ifname
    # A gateway plan knows (default-route, or the NAD's IPAM) is the one the node installs; otherwise it is
    # Calico's own (169.254.1.1), which only its ADD result carries.
    assert route.gateway == gateway or (route.gateway, gateway) == (None, e2e.CALICO_GW)
