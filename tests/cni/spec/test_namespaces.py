"""Namespace resolution and isolation: the rule admission and the node share."""

import pytest

from cni.spec.namespaces import (
    GLOBAL_NAMESPACES,
    default_network_namespace,
    namespace_forbidden,
    network_namespace,
)


def test_an_unqualified_element_resolves_in_the_pods_namespace() -> None:
    assert network_namespace(None, pod_namespace="team-a") == "team-a"
    assert network_namespace("team-b", pod_namespace="team-a") == "team-b"


def test_the_default_network_resolves_in_the_system_namespace_unless_qualified() -> None:
    assert default_network_namespace(None, system_namespace="kube-system") == "kube-system"
    assert default_network_namespace("team-a", system_namespace="kube-system") == "team-a"


ISOLATION = [
    pytest.param("team-a", "team-a", True, (), False, id="own-namespace"),
    pytest.param("kube-system", "team-a", True, GLOBAL_NAMESPACES, False, id="global"),
    pytest.param("team-b", "team-a", True, GLOBAL_NAMESPACES, True, id="other"),
    pytest.param("default", "team-a", True, GLOBAL_NAMESPACES, True, id="default-is-not-global-by-default"),
    pytest.param("team-b", "team-a", False, (), False, id="isolation-off"),
]


@pytest.mark.parametrize(("namespace", "pod_namespace", "isolation", "global_namespaces", "forbidden"), ISOLATION)
def test_namespace_forbidden(namespace: str, pod_namespace: str, isolation: bool,
                             global_namespaces: tuple[str, ...], forbidden: bool) -> None:
    assert namespace_forbidden(namespace, pod_namespace=pod_namespace, isolation=isolation,
                               global_namespaces=global_namespaces) is forbidden


def test_admission_and_node_default_to_the_same_global_namespaces() -> None:
    from cni.request import Config
    from webhook.policy import Policy

    assert Policy().global_namespaces == Config("1.0.0", "n", "/x").global_namespaces == ("kube-system",)
