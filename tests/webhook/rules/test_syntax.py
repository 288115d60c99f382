"""annotation-syntax and network-limit."""

import pytest

from tests.webhook.rules.conftest import evaluate, hits, pod
from webhook.policy import Policy

INVALID = [
    pytest.param("macvlan-conf,,plain", {("annotation-syntax", "networks[1]")}, id="empty-entry"),
    pytest.param("macvlan-conf,", {("annotation-syntax", "networks[1]")}, id="trailing-comma"),
    pytest.param("/macvlan-conf", {("annotation-syntax", "networks[0]")}, id="empty-namespace"),
    pytest.param("macvlan-conf@", {("annotation-syntax", "networks[0]")}, id="empty-ifname"),
    pytest.param("Bad_Name", {("annotation-syntax", "networks[0].name")}, id="short-name-not-dns"),
    pytest.param("UPPER/plain", {("annotation-syntax", "networks[0].namespace")}, id="short-namespace-not-dns"),
    pytest.param('[{"name": "plain"', {("annotation-syntax", "networks")}, id="broken-json"),
    pytest.param('{"name": "plain"}', {("annotation-syntax", "networks")}, id="object-not-list"),
    pytest.param("[null]", {("annotation-syntax", "networks[0]")}, id="null-element"),
    pytest.param('[{"interface": "net1"}]', {("annotation-syntax", "networks[0]")}, id="no-name"),
    pytest.param('[{"name": 5}]', {("annotation-syntax", "networks[0].name")}, id="name-not-string"),
    pytest.param('[{"name": "plain", "default-route": "10.0.0.1"}]',
                 {("annotation-syntax", "networks[0].default-route")}, id="default-route-not-list"),
    pytest.param('[{"name": "calico-net", "namespace": "kube-system", '
                 '"portMappings": [{"hostPort": "80", "containerPort": 80}]}]',
                 {("annotation-syntax", "networks[0].portMappings[0].hostPort")}, id="string-hostport"),
    pytest.param('[{"name": "calico-net", "namespace": "kube-system", "bandwidth": {"ingressRate": "fast"}}]',
                 {("annotation-syntax", "networks[0].bandwidth.ingressRate")}, id="string-rate"),
    pytest.param('[{"name": "plain", "ips": ["10.0.0.1", 7]}]', {("annotation-syntax", "networks[0].ips")},
                 id="ips-not-strings"),
    pytest.param('[{"name": "plain", "bandwidth": {"ingressRate": Infinity}}]', {("annotation-syntax", "networks")},
                 id="infinity"),
    pytest.param('[{"name": "plain", "bandwidth": {"ingressRate": 1e999}}]', {("annotation-syntax", "networks")},
                 id="float-out-of-range"),
    pytest.param('[{"name": "plain", "portMappings": [{"hostPort": ' + "9" * 5000 + "}]}]",
                 {("annotation-syntax", "networks")}, id="integer-too-long"),
    pytest.param('[{"name": "plain\\n"}]', {("annotation-syntax", "networks[0].name")}, id="name-trailing-newline"),
]


@pytest.mark.parametrize(("networks", "expected"), INVALID)
def test_syntax_errors_are_reported_at_their_path(networks: str, expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(pod(networks))) == expected


WARNINGS = [
    pytest.param('[{"name": "plain", "ip": "10.0.0.1"}]', ("annotation-syntax", "networks[0].ip"),
                 id="reserved-unknown-key"),
    pytest.param('[{"name": "plain", "interfaceRequest": "net5"}]',
                 ("annotation-syntax", "networks[0].interfaceRequest"), id="legacy-interfaceRequest"),
    pytest.param('[{"name": "plain", "deviceID": "0000:03:00.1"}]', ("annotation-syntax", "networks[0].deviceID"),
                 id="legacy-deviceID"),
    pytest.param('[{"name": "default/plain"}]', ("annotation-syntax", "networks[0].name"), id="ns-in-json-name"),
]


@pytest.mark.parametrize(("networks", "expected"), WARNINGS)
def test_soft_syntax_problems_are_warnings(networks: str, expected: tuple[str, str]) -> None:
    verdict = evaluate(pod(networks))
    assert verdict.allowed
    assert expected in hits(verdict, "warning")


VALID = [
    pytest.param("", id="empty"),
    pytest.param("  ", id="blank"),
    pytest.param("plain", id="short-name"),
    pytest.param(" plain , team-b/shared@sh0 ", id="short-list-with-spaces"),
    pytest.param("plain@my_if", id="short-ifname-underscore"),
    pytest.param('[{"name": "plain", "example.com/owner": {"team": "a"}}]', id="reverse-dns-key"),
    pytest.param("[]", id="empty-list"),
]


@pytest.mark.parametrize("networks", VALID)
def test_valid_annotations_have_no_findings(networks: str) -> None:
    assert evaluate(pod(networks)).findings == ()


def test_interface_request_is_honoured_as_interface() -> None:
    verdict = evaluate(pod('[{"name": "plain", "interfaceRequest": "net5"}]'))
    annotation = next(m.value for m in verdict.mutations if m.key == "k8s.v1.cni.cncf.io/networks")
    assert '"interface":"net5"' in annotation


def test_network_limit_counts_secondaries() -> None:
    policy = Policy(max_networks=2)
    assert hits(evaluate(pod("plain@a,plain@b,plain@c"), policy)) == {("network-limit", "networks")}
    assert evaluate(pod("plain@a,plain@b"), policy).allowed


def test_non_string_annotation_value_is_a_syntax_error() -> None:
    obj = pod()
    obj["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = ["plain"]
    assert hits(evaluate(obj)) == {("annotation-syntax", "networks")}


def test_user_values_cannot_add_lines_to_a_denial() -> None:
    verdict = evaluate(pod('[{"name": "plain", "interface": "x\\ninjected [fake-rule]"}]'))
    assert verdict.errors and all("\n" not in f.text() for f in verdict.findings)


def test_downgraded_syntax_errors_never_rewrite_the_annotation() -> None:
    verdict = evaluate(pod('[{"name": "plain", "ips": "10.1.0.5/24"}, {"nam": "b"}]'),
                       Policy(severities={"annotation-syntax": "warning"}))
    assert verdict.allowed
    assert not [m for m in verdict.mutations if m.op == "set-annotation"]
