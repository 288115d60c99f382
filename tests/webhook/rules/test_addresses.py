"""static-ip and mac-address."""

import pytest

from tests.webhook.rules.conftest import evaluate, hits, pod

INVALID = [
    pytest.param('[{"name": "ip-192", "ips": ["10.1.1.300/24"]}]', {("static-ip", "networks[0].ips[0]")},
                 id="not-an-ip"),
    pytest.param('[{"name": "macvlan-conf", "ips": ["10.0.0.5/24"]}]', {("static-ip", "networks[0].ips[0]")},
                 id="outside-subnet"),
    pytest.param('[{"name": "ip-192", "ips": ["10.1.1.5/24"]}, {"name": "ip-192", "ips": ["10.1.1.5/24"]}]',
                 {("static-ip", "networks[1].ips[0]")}, id="duplicate-in-pod"),
    pytest.param('[{"name": "ip-192", "ips": ["10.1.1.5/24"], "ipam-claim-reference": "claim"}]',
                 {("static-ip", "networks[0].ips")}, id="with-ipam-claim"),
    pytest.param('[{"name": "ip-192", "ips": []}]', {("static-ip", "networks[0].ips")}, id="ips-empty"),
    pytest.param('[{"name": "ip-192", "ips": ["10.1.1.5/24;MAC=02:00:00:00:00:09"]}]',
                 {("static-ip", "networks[0].ips[0]")}, id="ip-cni-args-injection"),
    pytest.param('[{"name": "macvlan-conf", "ips": ["fd00::5/64"]}]', {("static-ip", "networks[0].ips[0]")},
                 id="family-the-ipam-does-not-serve"),
    pytest.param('[{"name": "ip-192", "ipam-claim-reference": "Not_A_Name"}]',
                 {("static-ip", "networks[0].ipam-claim-reference")}, id="claim-reference-not-an-object-name"),
    pytest.param('[{"name": "ip-192", "mac": "02:00:00:00:00:01;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=x"}]',
                 {("mac-address", "networks[0].mac")}, id="mac-cni-args-injection"),
    pytest.param('[{"name": "ip-192", "mac": "01:00:5e:00:00:01"}]', {("mac-address", "networks[0].mac")},
                 id="multicast-mac"),
    pytest.param('[{"name": "ip-192", "mac": "20:01:02:03:04"}]', {("mac-address", "networks[0].mac")},
                 id="five-bytes"),
    pytest.param('[{"name": "ip-192", "mac": "00:00:00:00:00:00"}]', {("mac-address", "networks[0].mac")},
                 id="all-zero"),
    pytest.param('[{"name": "ip-192", "mac": "02:00:00:00:00:01"}, {"name": "ip-192", "mac": "02-00-00-00-00-01"}]',
                 {("mac-address", "networks[1].mac")}, id="duplicate-mac-any-separator"),
]


@pytest.mark.parametrize(("networks", "expected"), INVALID)
def test_address_errors(networks: str, expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(pod(networks))) == expected


VALID = [
    pytest.param('[{"name": "ip-192", "ips": ["192.168.111.10/24"], "mac": "20:01:02:03:04:05"}]',
                 id="seed-runtimeconfig"),
    pytest.param('[{"name": "macvlan-conf", "ips": ["192.168.1.201"]}]', id="inside-subnet-no-prefix"),
    pytest.param('[{"name": "bridge-v6", "ips": ["10.20.3.4/16", "fd00:20::5/64"]}]', id="dual-stack"),
    pytest.param('[{"name": "ip-192", "ips": ["fd00::5/64"]}]', id="ipam-without-subnets-any-family"),
    pytest.param('[{"name": "ip-192", "ipam-claim-reference": "claim-1.v2"}]', id="claim-reference-object-name"),
]


@pytest.mark.parametrize("networks", VALID)
def test_addresses_accepted(networks: str) -> None:
    assert hits(evaluate(pod(networks))) == set()


def test_default_network_element_fields_are_checked_too() -> None:
    verdict = evaluate(pod(default='[{"name": "calico-net", "mac": "ff:ff:ff:ff:ff:ff", "ips": ["300.1.1.1"]}]'))
    assert {("mac-address", "default-network.mac"), ("static-ip", "default-network.ips[0]")} <= hits(verdict)
