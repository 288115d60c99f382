"""AdmissionReview (admission.k8s.io/v1) in and out: decode a request body, build the response (pure)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class ReviewError(ValueError):
    """The body is not an AdmissionReview we can answer; ``uid`` is set when the request carried one."""

    def __init__(self, message: str, *, uid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.uid = uid


@dataclass(frozen=True, slots=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str


@dataclass(frozen=True, slots=True)
class Review:
    """The parts of an AdmissionReview request admission decides on."""

    uid: str
    kind: GroupVersionKind
    resource: str
    sub_resource: str
    operation: Operation
    namespace: str | None
    name: str
    object: Mapping[str, Any] | None
    old_object: Mapping[str, Any] | None
    dry_run: bool
    # request.userInfo: who asks (only the node's identity may write network-status)
    username: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """What admission answers: allowed or not, one line per error, warnings, and the JSONPatch ops."""

    allowed: bool
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    patch: tuple[Mapping[str, Any], ...] = ()


ALLOW = Decision(allowed=True)


def decode_review(body: bytes) -> Review:
    """Parse an AdmissionReview request body; raises ReviewError with a message fit for a 400."""
    try:
        doc = json.loads(body)
    except ValueError as err:  # not UTF-8, not JSON, or an integer longer than Python converts
        raise ReviewError(f"request body is not JSON: {str(err).split(';')[0]}") from err
    except RecursionError as err:
        raise ReviewError("request body is nested too deeply") from err
    if not isinstance(doc, dict):
        raise ReviewError("request body must be a JSON object (an AdmissionReview)")
    request = doc.get("request")
    uid = _uid_of(request)
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise ReviewError(
            f"expected apiVersion {API_VERSION!r} and kind {KIND!r}, got {doc.get('apiVersion')!r} and "
            f"{doc.get('kind')!r}; register the webhook with admissionReviewVersions: [v1]", uid=uid)
    if not isinstance(request, dict):
        raise ReviewError("AdmissionReview has no request object")
    if uid is None:
        raise ReviewError("request.uid must be a non-empty string")
    return _review(request, uid)


def _uid_of(request: Any) -> str | None:
    uid = request.get("uid") if isinstance(request, dict) else None
    return uid if isinstance(uid, str) and uid else None


def _review(request: Mapping[str, Any], uid: str) -> Review:
    operation = request.get("operation")
    if operation not in OPERATIONS:
        raise ReviewError(f"request.operation must be one of {', '.join(sorted(OPERATIONS))}, got {operation!r}",
                          uid=uid)
    kind = request.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str):
        raise ReviewError("request.kind must be an object with group, version and kind", uid=uid)
    resource = request.get("resource")
    namespace = request.get("namespace")
    username, groups = _user_info(request.get("userInfo"))
    return Review(
        uid=uid,
        kind=GroupVersionKind(str(kind.get("group") or ""), str(kind.get("version") or ""), kind["kind"]),
        resource=str(resource.get("resource") or "") if isinstance(resource, dict) else "",
        sub_resource=str(request.get("subResource") or ""),
        operation=operation,
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        name=str(request.get("name") or ""),
        object=_object(request, "object", uid),
        old_object=_object(request, "oldObject", uid),
        dry_run=request.get("dryRun") is True,
        username=username,
        groups=groups,
    )


def _user_info(value: Any) -> tuple[str, tuple[str, ...]]:
    """username and groups of request.userInfo; anything malformed counts as an anonymous requester."""
    if not isinstance(value, dict):
        return "", ()
    username, groups = value.get("username"), value.get("groups")
    return (username if isinstance(username, str) else "",
            tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ())


def _object(request: Mapping[str, Any], key: str, uid: str) -> Mapping[str, Any] | None:
    value = request.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise ReviewError(f"request.{key} must be an object or null", uid=uid)


def build_response(uid: str, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview response for ``decision``, echoing ``uid``.

    A denial is a 403 Forbidden Status whose message has one error per line, so kubectl prints
    `Error from server (Forbidden): ... admission webhook "<name>" denied the request: <first error>`
    followed by the others. The patch is sent only with an allowed response.
    """
    response: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {
            "code": 403,
            "reason": "Forbidden",
            "status": "Failure",
            "message": "\n".join(decision.errors) or "denied by netweave",
        }
    warnings = [_warning_text(w) for w in decision.warnings]
    if warnings:
        response["warnings"] = warnings
    if decision.allowed and decision.patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = encode_patch(decision.patch)
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}


def encode_patch(ops: Sequence[Mapping[str, Any]]) -> str:
    """RFC 6902 operations as the base64 JSON the ``patch`` field carries."""
    return base64.b64encode(json.dumps(list(ops), separators=(",", ":")).encode()).decode("ascii")


def error_body(message: str, uid: str | None) -> dict[str, Any]:
    """The JSON body of a 400 answer to a request that is not a usable AdmissionReview."""
    return {"error": message, "uid": uid}


def _warning_text(text: str) -> str:
    # Warnings travel in an HTTP Warning header: one line, no control characters (RFC 7234 warn-text).
    return " ".join(text.split())
