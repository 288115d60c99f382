"""interface-name-invalid, interface-name-reserved, interface-name-duplicate."""

import pytest

from tests.webhook.rules.conftest import evaluate, hits, pod
from webhook.policy import Policy

INVALID = [
    pytest.param('[{"name": "plain", "interface": "averyveryverylongname"}]',
                 {("interface-name-invalid", "networks[0].interface")}, id="too-long"),
    pytest.param('[{"name": "plain", "interface": ""}]', {("interface-name-invalid", "networks[0].interface")},
                 id="empty"),
    pytest.param('[{"name": "plain", "interface": "a/b"}]', {("interface-name-invalid", "networks[0].interface")},
                 id="slash"),
    pytest.param('[{"name": "plain", "interface": "net 1"}]', {("interface-name-invalid", "networks[0].interface")},
                 id="space"),
    pytest.param('[{"name": "plain", "interface": ".."}]', {("interface-name-invalid", "networks[0].interface")},
                 id="dotdot"),
    pytest.param("plain@a:b", {("interface-name-invalid", "networks[0].interface")}, id="colon-short-form"),
    pytest.param('[{"name": "plain", "interface": "a\\u0000b"}]', {("interface-name-invalid", "networks[0].interface")},
                 id="nul-byte"),
    pytest.param('[{"name": "plain", "interface": "a\\u00e0"}]', {("interface-name-invalid", "networks[0].interface")},
                 id="utf8-c3-a0-is-kernel-whitespace"),
    pytest.param('[{"name": "plain", "interface": "a\\tb"}]', {("interface-name-invalid", "networks[0].interface")},
                 id="tab"),
    pytest.param('[{"name": "plain", "interface": "\\ud800"}]', {("interface-name-invalid", "networks[0].interface")},
                 id="lone-surrogate"),
    pytest.param('[{"name": "plain", "interface": "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"}]',
                 {("interface-name-invalid", "networks[0].interface")}, id="sixteen-utf8-bytes"),
    pytest.param("plain@eth0", {("interface-name-reserved", "networks[0].interface")}, id="eth0-reserved"),
    pytest.param("plain@lo", {("interface-name-reserved", "networks[0].interface")}, id="lo-reserved"),
    pytest.param("plain@net1,macvlan-conf@net1", {("interface-name-duplicate", "networks[1].interface")},
                 id="duplicate-explicit"),
]


@pytest.mark.parametrize(("networks", "expected"), INVALID)
def test_bad_interface_names_are_denied(networks: str, expected: set[tuple[str, str]]) -> None:
    assert hits(evaluate(pod(networks))) == expected


VALID = [
    pytest.param("plain@net2,plain", id="auto-name-skips-explicit"),
    pytest.param("plain,plain,plain", id="same-nad-three-times"),
    pytest.param("plain@abcdefghijklmno", id="fifteen-bytes"),
    pytest.param("plain@my_if", id="underscore"),
    pytest.param('[{"name": "plain", "interface": "\\u00e9t\\u00e9"}]', id="utf8-without-space-bytes"),
]


@pytest.mark.parametrize("networks", VALID)
def test_good_interface_names_pass(networks: str) -> None:
    assert evaluate(pod(networks)).allowed


def test_auto_names_never_collide_after_normalisation() -> None:
    verdict = evaluate(pod("plain,plain@net1,plain"))
    annotation = next(m.value for m in verdict.mutations if m.key == "k8s.v1.cni.cncf.io/networks")
    assert [part.split('"interface":"')[1].split('"')[0] for part in annotation.split("},{")] == ["net2", "net1",
                                                                                                  "net3"]


def test_primary_interface_name_comes_from_policy() -> None:
    policy = Policy(primary_interface="mgmt0")
    assert hits(evaluate(pod("plain@mgmt0"), policy)) == {("interface-name-reserved", "networks[0].interface")}
    assert evaluate(pod("plain@eth0"), policy).allowed


def test_reserved_message_matches_design_denial_text() -> None:
    verdict = evaluate(pod('[{"name": "plain"}, {"name": "ovn-net", "namespace": "kube-system", "interface": '
                           '"eth0"}]'))
    reserved = [f for f in verdict.findings if f.rule == "interface-name-reserved"]
    assert [f.text() for f in reserved] == [
        'networks[1] "kube-system/ovn-net": interface "eth0" is reserved for the cluster default network; '
        'choose another name, e.g. "net2" [interface-name-reserved]']


def test_auto_name_skips_a_later_explicit_name() -> None:
    verdict = evaluate(pod('[{"name": "plain"}, {"name": "plain", "interface": "net1"}]'))
    assert verdict.allowed
    annotation = next(m.value for m in verdict.mutations if m.key == "k8s.v1.cni.cncf.io/networks")
    assert '"interface":"net2"' in annotation.split("},{")[0]


def test_invalid_name_message_escapes_the_bytes_and_says_why() -> None:
    verdict = evaluate(pod('[{"name": "plain", "interface": "a\\u0000b"}]'))
    (finding,) = verdict.findings
    assert "contains a NUL byte" in finding.message and "\\u0000" in finding.message
