"""Policy files: every setting read, every mistake named."""

from pathlib import Path

import pytest

from webhook.policy import Policy, PolicyError


def test_full_policy_file(tmp_path: Path) -> None:
    path = tmp_path / ".netweave.yaml"
    path.write_text("rules:\n  subnet-overlap: off\n  capability-missing: warning\nprimaryInterface: mgmt0\n"
                    "systemNamespace: multus\nnamespaceIsolation: true\nglobalNamespaces: [shared]\n"
                    "resourceNodeSelectors:\n  yusur.tech/sriov_dpu: k8s.ovn.org/dpu-host\nmaxNetworks: 4\n")
    policy = Policy.load(path)
    assert policy == Policy(severities={"subnet-overlap": "off", "capability-missing": "warning"},
                            primary_interface="mgmt0", system_namespace="multus", namespace_isolation=True,
                            global_namespaces=("shared",),
                            resource_node_selectors={"yusur.tech/sriov_dpu": "k8s.ovn.org/dpu-host"}, max_networks=4)


BAD = [
    pytest.param("rules: [a]\n", "rules must map", id="rules-not-map"),
    pytest.param("rules:\n  x: fatal\n", "rules.x", id="bad-level"),
    pytest.param("maxNetworks: 0\n", "maxNetworks", id="zero-max"),
    pytest.param("colour: red\n", "unknown setting", id="unknown-key"),
    pytest.param("namespaceIsolation: yes please\n", "namespaceIsolation", id="not-bool"),
    pytest.param("a: [\n", "not valid YAML", id="bad-yaml"),
    pytest.param("rules:\n  subnet-overlp: off\n", "not a rule id", id="unknown-rule-id"),
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
