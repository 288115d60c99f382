"""AdmissionReview decoding and the pure response builder; the server's settings."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.paths import FIXTURES
from webhook.review import Decision, ReviewError, build_response, decode_review
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
