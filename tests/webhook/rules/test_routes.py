"""default-route-conflict and default-route-gateway."""

import pytest

from tests.webhook.rules.conftest import evaluate, hits, pod

INVALID = [
    pytest.param('[{"name": "macvlan-conf", "default-route": ["192.168.1.1"]}, '
                 '{"name": "bridge-v6", "default-route": ["10.20.0.1"]}]',
                 {("default-route-conflict", "networks[1].default-route")}, id="two-elements-same-family"),
    pytest.param('[{"name": "bridge-v6", "default-route": ["10.20.0.1", "10.20.0.2"]}]',
                 {("default-route-conflict", "networks[0].default-route")}, id="two-v4-gateways-one-element"),
    pytest.param('[{"name": "macvlan-conf", "default-route": []}, {"name": "bridge-v6", "default-route": '
                 '["fd00:20::1"]}]', {("default-route-conflict", "networks[1].default-route")},
                 id="empty-list-claims-both-families"),
    pytest.param('[{"name": "macvlan-conf", "default-route": ["192.168.1.300"]}]',
                 {("default-route-gateway", "networks[0].default-route[0]")}, id="gateway-not-ip"),
    pytest.param('[{"name": "macvlan-conf", "default-route": ["10.124.2.1"]}]',
                 {("default-route-gateway", "networks[0].default-route[0]")}, id="gateway-outside-subnet"),
    pytest.param('[{"name": "macvlan-conf", "default-route": ["192.168.1.1/24"]}]',
                 {("default-route-gateway", "networks[0].default-route[0]")}, id="gateway-with-prefix"),
]


@pytest.mark.parametrize(("networks", "expected"), INVALID)
def test_default_route_errors(networks: str, expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(pod(networks))) == expected


VALID = [
    pytest.param('[{"name": "macvlan-conf", "default-route": ["192.168.1.1"]}]', id="gateway-in-subnet"),
    pytest.param('[{"name": "bridge-v6", "default-route": ["10.20.0.1", "fd00:20::1"]}]', id="dual-stack-one-element"),
    pytest.param('[{"name": "macvlan-conf", "default-route": ["192.168.1.1"]}, '
                 '{"name": "bridge-v6", "default-route": ["fd00:20::1"]}]', id="one-family-each"),
    pytest.param('[{"name": "ovn-net", "namespace": "kube-system", "default-route": ["10.124.2.1"]}]',
                 id="no-known-subnet"),
]


@pytest.mark.parametrize("networks", VALID)
def test_default_route_accepted(networks: str) -> None:
    assert hits(evaluate(pod(networks))) == set()


def test_empty_default_route_is_a_warning() -> None:
    verdict = evaluate(pod('[{"name": "macvlan-conf", "default-route": []}]'))
    assert verdict.allowed
    assert ("default-route-gateway", "networks[0].default-route") in hits(verdict, "warning")


def test_one_conflicting_element_is_one_line() -> None:
    verdict = evaluate(pod('[{"name": "macvlan-conf", "default-route": []}, '
                           '{"name": "bridge-v6", "default-route": []}]'))
    (conflict,) = [f for f in verdict.findings if f.rule == "default-route-conflict"]
    assert "IPv4 and IPv6 default routes are already claimed by networks[0]" in conflict.message
