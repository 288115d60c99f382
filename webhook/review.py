"""AdmissionReview (admission.k8s.io/v1) in and out: decode a request body, build the response (pure)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webhook.printable import ELLIPSIS, clipped, printable

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
# Bounds on what one answer carries, whatever the input: kubectl prints the whole message, and the API server
# stores warnings in response headers. Counted in characters after escaping.
MAX_ERRORS, MAX_ERROR_CHARS, MAX_MESSAGE_CHARS = 50, 1024, 16 * 1024
MAX_WARNINGS, MAX_WARNING_CHARS = 20, 512

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]

# A lone UTF-16 surrogate, as a JSON escape or as its (invalid) UTF-8 bytes, which json.loads lets through.
# Two patterns, each with a literal start that the regex engine finds quickly (a 3 MiB body in under 1 ms); one
# alternation of both would be scanned character by character.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    username: str = ""  # request.userInfo: who makes the request
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
    """Parse an AdmissionReview request body; raises ReviewError with a message fit for a 400.

    Any JSON at all gives a Review or a ReviewError naming the field that is wrong, never another exception.
    """
    try:
        doc = json.loads(body)
        if _has_surrogates(body):
            doc = _without_surrogates(doc)
    except ValueError as err:  # not UTF-8, not JSON, or an integer longer than Python converts
        raise ReviewError(f"request body is not JSON: {printable(str(err).split(';')[0])}") from err
    except RecursionError as err:
        raise ReviewError("request body is nested too deeply") from err
    if not isinstance(doc, dict):
        raise ReviewError("request body must be a JSON object (an AdmissionReview)")
    request = doc.get("request")
    uid = _uid_of(request)
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise ReviewError(
            f"expected apiVersion {API_VERSION!r} and kind {KIND!r}, got {_shown(doc.get('apiVersion'))} and "
            f"{_shown(doc.get('kind'))}; register the webhook with admissionReviewVersions: [v1]", uid=uid)
    if not isinstance(request, dict):
        raise ReviewError("AdmissionReview has no request object")
    if uid is None:
        raise ReviewError("request.uid must be a non-empty string")
    return _review(request, uid)


def _has_surrogates(body: bytes) -> bool:
    return _SURROGATE_ESCAPE.search(body) is not None or _SURROGATE_BYTES.search(body) is not None


def _without_surrogates(value: Any) -> Any:
    """The document with each lone surrogate replaced by U+FFFD, as the API server's JSON decoder (Go) does: no
    such string can reach the rules, which encode values as UTF-8."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _uid_of(request: Any) -> str | None:
    uid = request.get("uid") if isinstance(request, dict) else None
    return uid if isinstance(uid, str) and uid else None


def _review(request: Mapping[str, Any], uid: str) -> Review:
    operation = request.get("operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise ReviewError(f"request.operation must be one of {', '.join(sorted(OPERATIONS))}, got "
                          f"{_shown(operation)}", uid=uid)
    kind = request.get("kind")
    if not isinstance(kind, dict) or not all(isinstance(kind.get(k, ""), str) for k in ("group", "version")) \
            or not isinstance(kind.get("kind"), str):
        raise ReviewError("request.kind must be an object with string fields group, version and kind", uid=uid)
    resource = request.get("resource")
    if resource is not None and not (isinstance(resource, dict) and isinstance(resource.get("resource", ""), str)):
        raise ReviewError("request.resource must be an object with a string field resource", uid=uid)
    user = request.get("userInfo")
    if user is not None and not isinstance(user, dict):
        raise ReviewError("request.userInfo must be an object", uid=uid)
    user = user or {}
    groups = user.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ReviewError("request.userInfo.groups must be a list of strings", uid=uid)
    dry_run = request.get("dryRun")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise ReviewError(f"request.dryRun must be true or false, got {_shown(dry_run)}", uid=uid)
    return Review(
        uid=uid,
        kind=GroupVersionKind(kind.get("group") or "", kind.get("version") or "", kind["kind"]),
        resource=(resource or {}).get("resource") or "",
        sub_resource=_string(request, "subResource", uid),
        operation=operation,  # type: ignore[arg-type]  # checked against OPERATIONS above
        namespace=_string(request, "namespace", uid) or None,
        name=_string(request, "name", uid),
        object=_object(request, "object", uid),
        old_object=_object(request, "oldObject", uid),
        dry_run=dry_run is True,
        username=_string(user, "username", uid, where="request.userInfo"),
        groups=tuple(groups),
    )


def _string(mapping: Mapping[str, Any], key: str, uid: str, *, where: str = "request") -> str:
    value = mapping.get(key)
    if value is None or isinstance(value, str):
        return value or ""
    raise ReviewError(f"{where}.{key} must be a string, got {_shown(value)}", uid=uid)


def _object(request: Mapping[str, Any], key: str, uid: str) -> Mapping[str, Any] | None:
    value = request.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise ReviewError(f"request.{key} must be an object or null", uid=uid)


def _shown(value: Any) -> str:
    """A user value quoted in a 400 message: JSON, escaped, and short."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except ValueError:
        text = repr(value)
    return printable(clipped(text, 80))


def build_response(uid: str, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview response for ``decision``, echoing ``uid``.

    A denial is a 403 Forbidden Status whose message has one error per line, so kubectl prints
    `Error from server (Forbidden): ... admission webhook "<name>" denied the request: <first error>`
    followed by the others. The patch is sent only with an allowed response.
    User values inside the texts are escaped (`printable`), and the message and warnings are bounded
    (MAX_ERRORS lines of MAX_ERROR_CHARS, MAX_MESSAGE_CHARS in all; MAX_WARNINGS of MAX_WARNING_CHARS), the rest
    summarised as "… and K more", so no input makes the answer grow with it.
    """
    response: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {
            "code": 403,
            "reason": "Forbidden",
            "status": "Failure",
            "message": denial_message(decision.errors),
        }
    warnings = bounded_warnings(decision.warnings)
    if warnings:
        response["warnings"] = warnings
    if decision.allowed and decision.patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = encode_patch(decision.patch)
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}


def denial_message(errors: Sequence[str]) -> str:
    """One escaped error per line, at most MAX_ERRORS lines and MAX_MESSAGE_CHARS, then how many were left out."""
    lines: list[str] = []
    size = 0
    for error in errors:
        line = clipped(printable(error), MAX_ERROR_CHARS)
        if len(lines) == MAX_ERRORS or size + len(line) + 1 > MAX_MESSAGE_CHARS:
            break
        lines.append(line)
        size += len(line) + 1
    left = len(errors) - len(lines)
    if left:
        lines.append(f"{ELLIPSIS} and {left} more problem{'s' if left > 1 else ''} (fix these first, or run "
                     "`netweave lint` on the manifest to see them all)")
    return "\n".join(lines) or "denied by netweave"


def bounded_warnings(warnings: Sequence[str]) -> list[str]:
    """Escaped one-line warnings, at most MAX_WARNINGS of MAX_WARNING_CHARS, then how many were left out."""
    keep = warnings if len(warnings) <= MAX_WARNINGS else warnings[:MAX_WARNINGS - 1]
    out = [clipped(_warning_text(w), MAX_WARNING_CHARS) for w in keep]
    if len(keep) < len(warnings):
        out.append(f"{ELLIPSIS} and {len(warnings) - len(keep)} more warnings")
    return out


def encode_patch(ops: Sequence[Mapping[str, Any]]) -> str:
    """RFC 6902 operations as the base64 JSON the ``patch`` field carries."""
    return base64.b64encode(json.dumps(list(ops), separators=(",", ":")).encode()).decode("ascii")


def error_body(message: str, uid: str | None) -> dict[str, Any]:
    """The JSON body of a 4xx answer to a request that is not a usable AdmissionReview."""
    return {"error": printable(message), "uid": uid}


def _warning_text(text: str) -> str:
    # Warnings travel in an HTTP Warning header: one line, no control characters (RFC 7234 warn-text).
    return printable(" ".join(text.split()))
