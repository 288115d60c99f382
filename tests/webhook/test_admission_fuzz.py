"""Fuzzing the whole admission path a request takes (decode_review -> admit -> build_response): whatever the body,
the answer is a 400 ReviewError or a decision — never an exception, which the app turns into an "internal error"
denial — and the answer is printable and bounded."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cni.spec import NETWORKS_ANNOTATION
from tests.paths import FIXTURES
from tests.webhook.test_properties import json_values, nads, pods
from webhook.admission import admit
from webhook.manifests import read_catalog
from webhook.policy import Policy
from webhook.review import MAX_MESSAGE_CHARS, ReviewError, build_response, decode_review

CATALOG = read_catalog(str(FIXTURES / "manifests" / "nads.yaml"))
POLICIES = [
    Policy(),
    Policy.from_mapping({"namespaceIsolation": True, "maxNetworks": 3,
                         "rules": {"interface-name-reserved": "warning", "subnet-overlap": "off"}}, source="fuzz"),
]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Strings the API server can carry that Python treats specially: a lone surrogate (sent as a JSON escape),
# NUL, controls, format characters, a kernel-whitespace byte pair, a very long value.
ODD = ["\ud800", "net\ud800", "\udfff@net1", "n\x00t", "\x1b[31m", "\u2028", "\u202e", "a\u00a0b", "x" * 300]
KINDS = [("", "Pod"), ("apps", "Deployment"), ("batch", "CronJob"), ("k8s.cni.cncf.io", "NetworkAttachmentDefinition")]


def odd_strings(value: Any, draw: st.DrawFn) -> Any:
    """``value`` with some strings swapped for odd ones."""
    if isinstance(value, str):
        return draw(st.sampled_from(ODD)) if draw(st.integers(0, 5)) == 0 else value
    if isinstance(value, list):
        return [odd_strings(v, draw) for v in value]
    if isinstance(value, dict):
        return {k: odd_strings(v, draw) for k, v in value.items()}
    return value


def in_template(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    template = {"metadata": pod["metadata"], "spec": pod["spec"]}
    if kind == "CronJob":
        return {"kind": kind, "metadata": {"name": "w"}, "spec": {"jobTemplate": {"spec": {"template": template}}}}
    return {"kind": kind, "metadata": {"name": "w"}, "spec": {"template": template}}


@st.composite
def reviews(draw: st.DrawFn) -> bytes:
    group, kind = draw(st.sampled_from(KINDS))
    if kind == "NetworkAttachmentDefinition":
        obj: Any = draw(nads())
        obj["metadata"]["annotations"] = draw(st.just(obj["metadata"]["annotations"]) | json_values)
    else:
        pod = draw(pods())
        if draw(st.booleans()):
            pod["metadata"]["annotations"][NETWORKS_ANNOTATION] = draw(st.sampled_from(ODD))
        obj = pod if kind == "Pod" else in_template(pod, kind)
    obj = odd_strings(obj, draw)
    if draw(st.integers(0, 9)) == 0:
        obj["metadata"] = draw(json_values)
    operation = draw(st.sampled_from(["CREATE", "UPDATE"]))
    old = odd_strings(draw(pods()), draw) if operation == "UPDATE" else None
    request = {"uid": "u", "operation": operation, "kind": {"group": group, "version": "v1", "kind": kind},
               "namespace": draw(st.sampled_from(["default", "team", "", "\ud800"])), "object": obj,
               "oldObject": old, "dryRun": False,
               "userInfo": {"username": draw(st.sampled_from(["alice", "system:serviceaccount:netweave-system:"
                                                              "netweave-node"])), "groups": []}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


@FUZZ
@given(body=reviews(), policy=st.sampled_from(POLICIES), mutate=st.booleans())
def test_no_review_the_api_server_can_send_makes_admission_raise(body: bytes, policy: Policy, mutate: bool) -> None:
    try:
        review = decode_review(body)
    except ReviewError:
        return
    decision = admit(review, catalog=CATALOG, policy=policy, mutate=mutate).decision
    response = build_response(review.uid, decision)["response"]
    text = json.dumps(response, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate survives to the answer
    if not decision.allowed:
        message = response["status"]["message"]
        assert all(line.isprintable() for line in message.split("\n"))
        assert len(message) <= MAX_MESSAGE_CHARS + 200
    assert all(w.isprintable() for w in response.get("warnings", []))
