"""One policy for admission and the node: the ConfigMap's file format (deploy/policy), read by webhook.policy and
by the node daemon (cni.node.policy through cni.spec.policy), with the same meaning and the same words."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from cni import errors
from cni.context import Context
from cni.execute import execute
from cni.node.policy import PolicyFile, read_policy_file
from cni.spec import isolation_denial, parse_nad
from cni.spec.policy import NodePolicy, PolicyProblem, read_node_policy
from tests.paths import REPO
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_pod
from webhook.policy import Policy, PolicyError

CONFIGMAP = REPO / "deploy" / "policy" / "configmap.yaml"
MACVLAN = {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1", "ipam": {"type": "host-local",
                                                                               "subnet": "10.1.0.0/24"}}


def nad_object(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"namespace": namespace, "name": name}, "spec": {"config": json.dumps(MACVLAN)}}


POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"namespace": "team-a", "name": "web", "uid": "u1",
                    "annotations": {"k8s.v1.cni.cncf.io/networks": "team-b/data"}},
       "spec": {"containers": [{"name": "c", "image": "x"}]}}


def publish(path: Path, policy: str) -> None:
    """Write the policy as kubelet updates a ConfigMap volume: a new file swapped in by rename."""
    temp = path.with_name(".new")
    temp.write_text(policy)
    os.replace(temp, path)


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The shipped ConfigMap's file (deploy/policy), as the volume mounts it."""
    configmap = yaml.safe_load(CONFIGMAP.read_text())
    path = tmp_path / "netweave.yaml"
    path.write_text(configmap["data"]["netweave.yaml"])
    return path


def admission_denials(path: Path) -> list[str]:
    catalog = MemoryCatalog([parse_nad(nad_object("team-b", "data"))])
    verdict = evaluate_pod(POD, catalog=catalog, policy=Policy.load(path))
    return [f.message for f in verdict.errors]


def node_add(policy: PolicyFile, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    cluster = tmp_path / "10-cluster.conf"
    cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "type": "bridge",
                                   "ipam": {"type": "host-local", "subnet": "10.2.0.0/24"}}))
    # The conflist node-install writes: no policy keys of its own.
    stdin = json.dumps({"cniVersion": "1.0.0", "name": "netweave", "type": "netweave",
                        "clusterNetwork": str(cluster), "cacheDir": str(tmp_path / "cache")}).encode()
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": str(tmp_path / "no-netns"),
           "CNI_IFNAME": "eth0", "CNI_PATH": str(tmp_path / "no-plugins"),
           "CNI_ARGS": "K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web;K8S_POD_UID=u1"}
    objects = {("team-a", "web"): POD, ("team-b", "data"): nad_object("team-b", "data")}
    context = Context(pod_lookup=lambda ns, name: objects.get((ns, name)),
                      nad_lookup=lambda ns, name: objects.get((ns, name)), node_name="node-1",
                      config_defaults=policy.config_defaults)
    outcome = execute(env, stdin, context=context)
    return outcome.exit_code, json.loads(outcome.stdout or b"{}")


def test_the_shipped_configmap_is_a_valid_policy_for_both_sides(policy_path: Path) -> None:
    assert Policy.load(policy_path) == Policy()
    assert read_policy_file(policy_path) == NodePolicy()


def test_namespace_isolation_denies_at_admission_and_refuses_at_the_node_in_the_same_words(
        policy_path: Path, tmp_path: Path) -> None:
    publish(policy_path, "namespaceIsolation: true\n")
    words = isolation_denial("team-b", pod_namespace="team-a")
    assert any(words in message for message in admission_denials(policy_path))
    code, reply = node_add(PolicyFile(policy_path), tmp_path)
    assert code == 1 and reply["code"] == errors.NETWORK_FORBIDDEN
    assert reply["msg"] == f"network team-b/data: {words}"


def test_a_policy_change_reaches_the_running_node_without_a_restart(policy_path: Path, tmp_path: Path) -> None:
    publish(policy_path, "namespaceIsolation: true\n")
    policy = PolicyFile(policy_path)   # one for the daemon's lifetime
    assert node_add(policy, tmp_path)[1]["code"] == errors.NETWORK_FORBIDDEN
    publish(policy_path, "namespaceIsolation: true\nglobalNamespaces: [kube-system, team-b]\n")
    code, reply = node_add(policy, tmp_path)
    # Past the isolation check now (it fails later: this test has no netns and no plugins).
    assert code == 1 and reply["code"] != errors.NETWORK_FORBIDDEN
    assert "namespace isolation" not in reply["msg"]
    assert admission_denials(policy_path) == []


def test_a_bad_edit_is_refused_and_the_last_good_policy_stays(policy_path: Path, tmp_path: Path) -> None:
    publish(policy_path, "namespaceIsolation: true\n")
    policy = PolicyFile(policy_path)
    publish(policy_path, "namespaceIsolaton: false\n")   # misspelt
    assert policy.current().namespace_isolation is True
    assert node_add(policy, tmp_path)[1]["code"] == errors.NETWORK_FORBIDDEN


def test_a_conflist_that_sets_a_key_keeps_its_own(policy_path: Path) -> None:
    from cni.request import parse_config

    publish(policy_path, "namespaceIsolation: true\nclusterRoutes: [10.96.0.0/12]\n")
    defaults = PolicyFile(policy_path).config_defaults()
    config = parse_config({"cniVersion": "1.0.0", "clusterNetwork": "/x", "namespaceIsolation": False},
                          command="ADD", defaults=defaults)
    assert config.namespace_isolation is False and config.cluster_routes == ("10.96.0.0/12",)


def test_a_missing_file_is_the_built_in_defaults(tmp_path: Path) -> None:
    assert PolicyFile(tmp_path / "absent.yaml").config_defaults() == {}


BAD = [
    pytest.param({"namespaceIsolaton": True}, "unknown setting(s) namespaceIsolaton", id="misspelt-key"),
    pytest.param({"namespaceIsolation": "yes"}, "namespaceIsolation must be true or false", id="string-bool"),
    pytest.param({"clusterRoutes": ["10.96.0.0/33"]}, "clusterRoutes: '10.96.0.0/33' is not a network",
                 id="bad-cidr"),
    pytest.param({"clusterRoutes": "10.96.0.0/12"}, "clusterRoutes must be a list", id="not-a-list"),
    pytest.param({"globalNamespaces": [""]}, "globalNamespaces must be a list of non-empty strings", id="empty-ns"),
    pytest.param(["namespaceIsolation"], "must be a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_both_sides_refuse_the_same_bad_policies_with_the_same_message(data: Any, message: str) -> None:
    with pytest.raises(PolicyProblem) as node:
        read_node_policy(data, source="netweave.yaml")
    with pytest.raises(PolicyError) as admission:
        Policy.from_mapping(data, source="netweave.yaml")
    assert message in str(node.value)
    assert str(admission.value) == str(node.value)


def test_an_unknown_rule_id_is_refused_at_admission(tmp_path: Path) -> None:
    path = tmp_path / "netweave.yaml"
    path.write_text("rules: {no-such-rule: off}\n")
    with pytest.raises(PolicyError, match=r"rules\.no-such-rule is not a rule id"):
        Policy.load(path)


def test_a_bad_file_at_start_is_reported_not_raised(tmp_path: Path) -> None:
    """The daemon must start (tests/cni/node/test_policy_fallback.py): the defaults serve and the problem shows."""
    path = tmp_path / "netweave.yaml"
    path.write_text("namespaceIsolation: [\n")
    with pytest.raises(PolicyProblem, match="not valid YAML"):
        read_policy_file(path)
    policy = PolicyFile(path)
    assert policy.config_defaults() == {}
    assert f"{path}: the policy file is not valid YAML" in (policy.problem() or "")


def test_node_settings_are_accepted_by_admission() -> None:
    policy = Policy.from_mapping({"clusterRoutes": ["10.96.0.0/12"], "sourceRouting": True}, source="t")
    assert policy == Policy()
