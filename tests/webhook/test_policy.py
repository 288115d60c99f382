"""Policy files: every setting read, every mistake named."""

from pathlib import Path

import pytest

from webhook.policy import Policy, PolicyError


def test_full_policy_file(tmp_path: Path) -> None:
    path = tmp_path / ".netweave.yaml"
    path.write_text("rules:\n  subnet-overlap: off\n  capability-missing: warning\nprimaryInterface: mgmt0\n"
                    "systemNamespace: multus\nnamespaceIsolation: true\nglobalNamespaces: [shared]\n"
                    "resourceNodeSelectors:\n  yusur.tech/sriov_dpu: k8s.ovn.org/dpu-host\nmaxNetworks: 4\n"
                    "protectedRules: [subnet-overlap]\n"
                    "statusWriters: {users: [system:serviceaccount:kube-system:multus], groups: [cni-writers]}\n")
    policy = Policy.load(path)
    assert policy == Policy(severities={"subnet-overlap": "off", "capability-missing": "warning"},
                            primary_interface="mgmt0", system_namespace="multus", namespace_isolation=True,
                            global_namespaces=("shared",),
                            resource_node_selectors={"yusur.tech/sriov_dpu": "k8s.ovn.org/dpu-host"}, max_networks=4,
                            extra_protected=frozenset({"subnet-overlap"}),
                            status_writer_users=("system:serviceaccount:kube-system:multus",),
                            status_writer_groups=("cni-writers",))


BAD = [
    pytest.param("rules: [a]\n", "rules must map", id="rules-not-map"),
    pytest.param("rules:\n  x: fatal\n", "rules.x", id="bad-level"),
    pytest.param("maxNetworks: 0\n", "maxNetworks", id="zero-max"),
    pytest.param("colour: red\n", "unknown setting", id="unknown-key"),
    pytest.param("namespaceIsolation: yes please\n", "namespaceIsolation", id="not-bool"),
    pytest.param("a: [\n", "not valid YAML", id="bad-yaml"),
    pytest.param("rules:\n  subnet-overlp: off\n", "not a rule id", id="unknown-rule-id"),
    pytest.param("protectedRules: [mac-adress]\n", r"protectedRules: unknown rule id\(s\) mac-adress; known: ",
                 id="protected-typo"),
    pytest.param("protectedRules: mac-address\n", "protectedRules must be a list of rule ids", id="protected-not-list"),
    pytest.param("maxNetworks: null\n", "maxNetworks must be a positive whole number", id="limit-cannot-be-removed"),
    pytest.param("statusWriters: [me]\n", "statusWriters must be a mapping", id="writers-not-map"),
    pytest.param("statusWriters: {users: ['']}\n", "users must be a list of non-empty strings",
                 id="writers-empty-name"),
    pytest.param("resourceNodeSelectors:\n  intel.com/sriov: a=b,c=d\n", "one label", id="bad-selector"),
]


@pytest.mark.parametrize(("text", "needle"), BAD)
def test_bad_policy_files_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=needle):
        Policy.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "none.yaml")


def test_defaults_keep_a_network_limit_and_the_node_as_the_only_status_writer() -> None:
    policy = Policy.from_mapping({}, source="empty")
    assert policy.max_networks == 32
    assert policy.writes_status("system:serviceaccount:netweave-system:netweave-node", ())
    assert not policy.writes_status("alice", ("system:authenticated", "system:masters"))


def test_status_writers_match_by_user_or_group() -> None:
    policy = Policy.from_mapping({"statusWriters": {"users": [], "groups": ["system:nodes"]}}, source="p")
    assert policy.writes_status("system:node:n1", ("system:nodes",))
    assert not policy.writes_status("system:serviceaccount:netweave-system:netweave-node", ())


def test_the_policy_knows_exactly_the_registry_s_rule_ids() -> None:
    from webhook.policy import REGISTRY_RULE_IDS
    from webhook.rules import RULE_IDS

    assert REGISTRY_RULE_IDS == RULE_IDS
