"""AdmissionReview decoding and the pure response builder; the server's settings."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.paths import FIXTURES
from webhook.review import (
    MAX_ERROR_CHARS,
    MAX_ERRORS,
    MAX_MESSAGE_CHARS,
    MAX_WARNING_CHARS,
    MAX_WARNINGS,
    Decision,
    ReviewError,
    build_response,
    decode_review,
)
from webhook.settings import Settings, SettingsError

ADMISSION = FIXTURES / "admission"


@pytest.mark.parametrize("path", sorted(ADMISSION.glob("*.json")), ids=lambda p: p.stem)
def test_every_captured_review_decodes(path: Path) -> None:
    raw = json.loads(path.read_text())["request"]
    review = decode_review(path.read_bytes())
    assert (review.uid, review.operation, review.kind.kind, review.kind.group) == (
        raw["uid"], raw["operation"], raw["kind"]["kind"], raw["kind"]["group"])
    assert review.dry_run is raw["dryRun"]
    assert (review.old_object is None) == (raw["oldObject"] is None)


def test_generate_name_pod_has_empty_name() -> None:
    assert decode_review((ADMISSION / "016-create-pod-gen-.json").read_bytes()).name == ""


@pytest.mark.parametrize(("body", "uid"), [
    pytest.param(b'{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"a"}}', "a",
                 id="v1beta1-keeps-uid"),
    pytest.param(b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"b",'
                 b'"operation":"CREATE","kind":{"kind":"Pod"},"object":[1]}}', "b", id="object-not-a-map"),
    pytest.param(b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}', None,
                 id="uid-not-a-string"),
    pytest.param(b'"AdmissionReview"', None, id="a-string"),
])
def test_decode_errors_carry_the_uid_when_known(body: bytes, uid: str | None) -> None:
    with pytest.raises(ReviewError) as info:
        decode_review(body)
    assert info.value.uid == uid


def test_allowed_response_with_patch_and_warnings() -> None:
    ops = [{"op": "add", "path": "/metadata/annotations/x", "value": "y"}]
    out = build_response("u1", Decision(allowed=True, warnings=("a\nb  c",), patch=tuple(ops)))
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    response = out["response"]
    assert (response["uid"], response["allowed"], response["patchType"]) == ("u1", True, "JSONPatch")
    assert json.loads(base64.b64decode(response["patch"])) == ops
    assert response["warnings"] == ["a b c"]  # a warning is one header line


def test_denial_is_403_forbidden_one_error_per_line_and_no_patch() -> None:
    decision = Decision(allowed=False, errors=("first [r1]", "second [r2]"),
                        patch=({"op": "remove", "path": "/x"},))
    response: dict[str, Any] = build_response("u2", decision)["response"]
    assert response == {"uid": "u2", "allowed": False, "status": {
        "code": 403, "reason": "Forbidden", "status": "Failure", "message": "first [r1]\nsecond [r2]"}}


def test_plain_allow_is_minimal() -> None:
    assert build_response("u3", Decision(allowed=True))["response"] == {"uid": "u3", "allowed": True}


def test_settings_from_env_and_round_trip() -> None:
    env = {"NETWEAVE_LISTEN": "[::1]:9443", "NETWEAVE_WORKERS": "2", "NETWEAVE_TLS_CERT": "/c",
           "NETWEAVE_TLS_KEY": "/k", "NETWEAVE_CATALOG": "cluster", "NETWEAVE_CONFIG_REQUIRED": "true"}
    settings = Settings.from_env(env)
    assert settings.listen_address() == ("::1", 9443)
    assert (settings.workers, settings.tls_cert, settings.cluster_catalog, settings.config_required) == (
        2, Path("/c"), True, True)
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(("env", "message"), [
    pytest.param({"NETWEAVE_LISTEN": "8443"}, "not host:port", id="listen-without-host"),
    pytest.param({"NETWEAVE_WORKERS": "two"}, "expected a number", id="workers-not-a-number"),
    pytest.param({"NETWEAVE_TLS_KEY": "/k"}, "go together", id="key-without-cert"),
    pytest.param({"NETWEAVE_LOG_LEVEL": "loud"}, "log level", id="log-level"),
])
def test_settings_errors_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_listen_on_all_interfaces() -> None:
    assert Settings(listen=":8443").listen_address() == ("0.0.0.0", 8443)


@pytest.mark.parametrize("body", [
    pytest.param(b'{"apiVersion": "admission.k8s.io/v1", "x": ' + b"9" * 5000 + b"}", id="integer-too-long"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
])
def test_undecodable_bodies_are_review_errors(body: bytes) -> None:
    with pytest.raises(ReviewError, match="not JSON"):
        decode_review(body)


# -- malformed reviews: a ReviewError naming the field (the app's 400), never another exception ---------------------
def malformed(**request: Any) -> bytes:
    body = {"uid": "u9", "operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": "Pod"}, **request}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}).encode()


MALFORMED = [
    pytest.param(malformed(operation={"x": 1}), "request.operation", id="operation-object"),
    pytest.param(malformed(operation=["CREATE"]), "request.operation", id="operation-list"),
    pytest.param(malformed(kind="Pod"), "request.kind", id="kind-string"),
    pytest.param(malformed(kind={"group": {}, "version": "v1", "kind": "Pod"}), "request.kind", id="group-object"),
    pytest.param(malformed(kind={"kind": 7}), "request.kind", id="kind-number"),
    pytest.param(malformed(resource="pods"), "request.resource", id="resource-string"),
    pytest.param(malformed(name={"a": 1}), "request.name", id="name-object"),
    pytest.param(malformed(namespace=3), "request.namespace", id="namespace-number"),
    pytest.param(malformed(subResource=[]), "request.subResource", id="subresource-list"),
    pytest.param(malformed(dryRun="yes"), "request.dryRun", id="dryrun-string"),
    pytest.param(malformed(userInfo="admin"), "request.userInfo", id="userinfo-string"),
    pytest.param(malformed(userInfo={"username": "a", "groups": "g"}), "userInfo.groups", id="groups-string"),
    pytest.param(malformed(userInfo={"username": 5}), "userInfo.username", id="username-number"),
    pytest.param(malformed(oldObject="x"), "request.oldObject", id="old-object-string"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_malformed_fields_are_review_errors_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(ReviewError) as info:
        decode_review(body)
    assert field in info.value.message and info.value.uid == "u9"


@pytest.mark.parametrize("body", [
    pytest.param(b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"x"}', id="request-string"),
    pytest.param(b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":["a"]}}',
                 id="uid-list"),
    pytest.param(b'{"apiVersion":{"a":1},"kind":"AdmissionReview"}', id="api-version-object"),
])
def test_reviews_without_a_usable_request_or_uid_are_review_errors(body: bytes) -> None:
    with pytest.raises(ReviewError):
        decode_review(body)


def test_user_info_is_decoded() -> None:
    review = decode_review(malformed(userInfo={"username": "system:node:n1", "groups": ["system:nodes"]}))
    assert (review.username, review.groups) == ("system:node:n1", ("system:nodes",))


@pytest.mark.parametrize("body", [
    pytest.param(malformed(object={"metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": "n@a\ud800"}}}),
                 id="json-escape"),
    pytest.param(malformed(object={"metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": "n@aX"}}})
                 .replace(b"aX", b"a\xed\xa0\x80"), id="utf8-encoded-surrogate"),
])
def test_lone_surrogates_become_replacement_characters_as_in_the_api_server(body: bytes) -> None:
    review = decode_review(body)
    assert review.object is not None
    assert review.object["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] == "n@a\ufffd"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20)
REQUEST_FIELDS = st.fixed_dictionaries({}, optional={
    "uid": st.sampled_from(["u1", ""]) | JSON_VALUES,
    "operation": st.sampled_from(["CREATE", "UPDATE", "DELETE"]) | JSON_VALUES,
    "kind": st.fixed_dictionaries({"group": st.sampled_from(["", "apps"]), "version": st.just("v1"),
                                   "kind": st.sampled_from(["Pod", "Deployment"])}) | JSON_VALUES,
    "resource": JSON_VALUES, "subResource": JSON_VALUES, "name": JSON_VALUES, "namespace": JSON_VALUES,
    "object": JSON_VALUES, "oldObject": JSON_VALUES, "dryRun": JSON_VALUES, "userInfo": JSON_VALUES,
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=REQUEST_FIELDS | JSON_VALUES)
def test_any_json_decodes_to_a_review_or_a_review_error(request: Any) -> None:
    body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    try:
        review = decode_review(body.encode())
    except ReviewError as err:
        assert err.message and err.message.isprintable()
        return
    assert isinstance(review.uid, str) and review.operation in {"CREATE", "UPDATE", "DELETE", "CONNECT"}


# -- the response edge: user text escaped, message and warnings bounded ----------------------------------------------
@pytest.mark.parametrize(("raw_text", "shown", "warning"), [
    pytest.param("a\x1b[31mb", "a\\x1b[31mb", "a\\x1b[31mb", id="esc"),
    pytest.param("a\x07b", "a\\x07b", "a\\x07b", id="bel"),
    pytest.param("a\x7fb", "a\\x7fb", "a\\x7fb", id="del"),
    pytest.param("a\u2028b", "a\\u2028b", "a b", id="line-separator"),  # whitespace: a warning is one line
    pytest.param("a\u202eb", "a\\u202eb", "a\\u202eb", id="bidi-override"),
    pytest.param("a\ud800b", "a\\ud800b", "a\\ud800b", id="lone-surrogate"),
    pytest.param("a\nb", "a\\nb", "a b", id="newline-inside-one-error"),
    pytest.param("net1 \u00e9\u4e2d", "net1 \u00e9\u4e2d", "net1 \u00e9\u4e2d", id="printable-unicode-kept"),
])
def test_control_and_format_characters_are_escaped_in_denials_and_warnings(raw_text: str, shown: str,
                                                                           warning: str) -> None:
    denied = build_response("u", Decision(allowed=False, errors=(raw_text, "second")))["response"]
    assert denied["status"]["message"] == f"{shown}\nsecond"
    warned = build_response("u", Decision(allowed=True, warnings=(raw_text,)))["response"]
    assert warned["warnings"] == [warning]
    json.dumps(denied, ensure_ascii=False).encode()  # the answer is always encodable


def test_denial_message_is_bounded_and_counts_what_it_left_out() -> None:
    errors = tuple(f"networks[{i}]: " + "x" * 5000 + f" [rule-{i}]" for i in range(10_000))
    message = build_response("u", Decision(allowed=False, errors=errors))["response"]["status"]["message"]
    lines = message.split("\n")
    assert len(message) <= MAX_MESSAGE_CHARS + 200 and len(lines) <= MAX_ERRORS + 1
    assert all(len(line) <= MAX_ERROR_CHARS for line in lines[:-1]) and lines[0].endswith("…")
    assert lines[-1].startswith(f"… and {10_000 - (len(lines) - 1)} more problems")


def test_short_denials_are_complete() -> None:
    errors = tuple(f"error {i}" for i in range(MAX_ERRORS))
    message = build_response("u", Decision(allowed=False, errors=errors))["response"]["status"]["message"]
    assert message.split("\n") == list(errors)


def test_warnings_are_bounded() -> None:
    warnings = tuple("w" * 5000 for _ in range(1000))
    out = build_response("u", Decision(allowed=True, warnings=warnings))["response"]["warnings"]
    assert len(out) == MAX_WARNINGS and all(len(w) <= MAX_WARNING_CHARS for w in out)
    assert out[-1] == f"… and {1000 - MAX_WARNINGS + 1} more warnings"
