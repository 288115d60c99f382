"""attachment-options and capability-missing."""

import pytest

from tests.webhook.rules.conftest import evaluate, hits, pod

CALICO = '"name": "calico-net", "namespace": "kube-system"'

INVALID = [
    pytest.param(f'[{{{CALICO}, "portMappings": [{{"hostPort": 0, "containerPort": 80}}]}}]',
                 {("attachment-options", "networks[0].portMappings[0].hostPort")}, id="port-zero"),
    pytest.param(f'[{{{CALICO}, "portMappings": [{{"hostPort": 8080}}]}}]',
                 {("attachment-options", "networks[0].portMappings[0].containerPort")}, id="port-missing"),
    pytest.param(f'[{{{CALICO}, "portMappings": [{{"hostPort": 8080, "containerPort": 80, "protocol": "icmp"}}]}}]',
                 {("attachment-options", "networks[0].portMappings[0].protocol")}, id="bad-protocol"),
    pytest.param(f'[{{{CALICO}, "bandwidth": {{"ingressRate": -1}}}}]',
                 {("attachment-options", "networks[0].bandwidth.ingressRate")}, id="negative-rate"),
    pytest.param(f'[{{{CALICO}, "bandwidth": {{"egressBurst": 100}}}}]',
                 {("attachment-options", "networks[0].bandwidth.egressBurst")}, id="burst-without-rate"),
    pytest.param(f'[{{{CALICO}, "cni-args": {{"k": "v\\u001b[31m"}}}}]',
                 {("attachment-options", 'networks[0].cni-args["k"]')}, id="cni-args-escape-sequence"),
    pytest.param(f'[{{{CALICO}, "cni-args": {{"": 1, "a": ["\\u0000"]}}}}]',
                 {("attachment-options", 'networks[0].cni-args[""]'),
                  ("attachment-options", 'networks[0].cni-args["a"][0]')}, id="cni-args-empty-key-nul"),
    pytest.param(f'[{{{CALICO}, "portMappings": [{{"hostPort": 80, "containerPort": 80, "hostIP": "1.2.3.4;X=y"}}]}}]',
                 {("attachment-options", "networks[0].portMappings[0].hostIP")}, id="host-ip-injection"),
    pytest.param(f'[{{{CALICO}, "deviceID": "0000:3b:00.2\\n"}}]',
                 {("attachment-options", "networks[0].deviceID")}, id="device-id-newline"),
    pytest.param('[{"name": "plain", "ips": ["10.9.0.2/24"]}]', {("capability-missing", "networks[0].ips")},
                 id="ips-without-capability"),
    pytest.param('[{"name": "plain", "mac": "02:00:00:00:00:09"}]', {("capability-missing", "networks[0].mac")},
                 id="mac-without-capability"),
    pytest.param('[{"name": "plain", "portMappings": [{"hostPort": 80, "containerPort": 80}]}]',
                 {("capability-missing", "networks[0].portMappings")}, id="portmap-without-capability"),
    pytest.param('[{"name": "plain", "infiniband-guid": "c2:11:22:33:44:55:66:77"}]',
                 {("capability-missing", "networks[0].infiniband-guid")}, id="guid-without-capability"),
    pytest.param('[{"name": "plain", "infiniband-guid": "c2:11"}]',
                 {("capability-missing", "networks[0].infiniband-guid"),
                  ("attachment-options", "networks[0].infiniband-guid")}, id="guid-malformed"),
    pytest.param('[{"name": "ovn-net", "namespace": "kube-system", "ips": ["10.1.1.5/24"]}]',
                 {("capability-missing", "networks[0].ips")}, id="ovn-has-no-ips-capability"),
]


@pytest.mark.parametrize(("networks", "expected"), INVALID)
def test_option_errors(networks: str, expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(pod(networks))) == expected


VALID = [
    pytest.param(f'[{{{CALICO}, "portMappings": [{{"hostPort": 8080, "containerPort": 80, "protocol": "TCP"}}], '
                 '"bandwidth": {"ingressRate": 1000000, "ingressBurst": 100000}}]', id="declared-capabilities"),
    pytest.param('[{"name": "macvlan-conf", "ips": ["192.168.1.210/24"], "mac": "02:00:00:00:00:01"}]',
                 id="host-local-and-macvlan-read-cni-args"),
    pytest.param('[{"name": "ip-192", "ips": ["10.1.1.5/24"]}]', id="ips-capability"),
]


@pytest.mark.parametrize("networks", VALID)
def test_options_accepted(networks: str) -> None:
    assert hits(evaluate(pod(networks))) == set()
