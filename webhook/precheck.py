"""Checks that run before any rule, for admission and lint alike: the object's metadata has the shape every rule
relies on, and its annotations are within the API server's size limit, so the rules' work is bounded by it.

The API server rejects an object whose annotations total more than 256 KiB, but mutating admission runs before
that check: without our own, a 3 MiB annotation would be parsed, checked and quoted back in full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cni.spec import DEFAULT_NETWORK_ANNOTATION, NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from webhook.findings import Finding

# k8s.io/apimachinery ValidateAnnotations: TotalAnnotationSizeLimitB, the sum of len(key) + len(value) in bytes.
ANNOTATIONS_LIMIT_BYTES = 256 * 1024
ANNOTATION_SIZE = "annotation-size"
OBJECT_MALFORMED = "object-malformed"
# (rule id, summary) of the checks here, which no policy can turn off: for lint's rule list (SARIF).
PRECHECK_RULES = (
    (OBJECT_MALFORMED, "metadata is not an object, or metadata.annotations is not a map of strings"),
    (ANNOTATION_SIZE, "the annotations exceed the API server's 256 KiB limit, or one network annotation 64 KiB"),
)
# One network annotation (a selection list, the default network, the status). 32 networks in full JSON form with
# addresses, MAC, routes and port mappings stay under 16 KiB; the rules' work grows with the text (about 1 ms per
# KiB), so past this a request would only hold a worker thread for nothing.
NETWORK_ANNOTATION_LIMIT_BYTES = 64 * 1024
NETWORK_ANNOTATIONS = (NETWORKS_ANNOTATION, DEFAULT_NETWORK_ANNOTATION, NETWORK_STATUS_ANNOTATION)
# The JSONPatch of one pod: canonical annotations plus a few resources and selectors; far below this.
PATCH_LIMIT_BYTES = 1024 * 1024


def annotations_size(annotations: Mapping[Any, Any]) -> int:
    """Bytes the API server counts for these annotations (UTF-8 keys and values)."""
    return sum(_size(key) + _size(value) for key, value in annotations.items())


def precheck(obj: Mapping[str, Any], *, path_prefix: str = "") -> Finding | None:
    """The first reason not to run the rules on ``obj`` (a malformed metadata, oversized annotations), or None."""
    return malformed_metadata(obj, path_prefix=path_prefix) or oversized_annotations(obj, path_prefix=path_prefix)


def malformed_metadata(obj: Mapping[str, Any], *, path_prefix: str = "") -> Finding | None:
    """An error when metadata is not an object or metadata.annotations is not a map of strings to strings (the API
    server never sends such an object; a direct client or a hand-written manifest can)."""
    metadata = obj.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        return _malformed(path_prefix, "metadata", f"an object, got {_type(metadata)}")
    annotations = metadata.get("annotations")
    if annotations is None:
        return None
    path = "metadata.annotations"
    if not isinstance(annotations, Mapping):
        return _malformed(path_prefix, path, f"a map of strings to strings, got {_type(annotations)}")
    for key, value in annotations.items():
        if not isinstance(key, str) or not isinstance(value, str):
            shown = json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)
            return _malformed(path_prefix, f"{path}[{shown}]", f"a string, got {_type(value)}")
    return None


def oversized_annotations(obj: Mapping[str, Any], *, path_prefix: str = "") -> Finding | None:
    """An error when ``obj``'s metadata.annotations are over the API server's limit, or one network annotation over
    NETWORK_ANNOTATION_LIMIT_BYTES, else None."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping):
        return None
    size = annotations_size(annotations)
    if size <= ANNOTATIONS_LIMIT_BYTES:
        return _oversized_network_annotation(annotations, path_prefix)
    return Finding(
        ANNOTATION_SIZE, f"{path_prefix}metadata.annotations",
        f"metadata.annotations: the annotations total {size} bytes, over the API server's limit of "
        f"{ANNOTATIONS_LIMIT_BYTES} bytes (256 KiB); nothing else was checked",
        "shorten them: list each network once and keep per-network settings in its NetworkAttachmentDefinition",
        "error")


def _oversized_network_annotation(annotations: Mapping[Any, Any], path_prefix: str) -> Finding | None:
    for key in NETWORK_ANNOTATIONS:
        value = annotations.get(key)
        size = _size(value) if value is not None else 0
        if size > NETWORK_ANNOTATION_LIMIT_BYTES:
            path = f'metadata.annotations["{key}"]'
            return Finding(
                ANNOTATION_SIZE, path_prefix + path,
                f"{path}: {size} bytes, over netweave's limit of {NETWORK_ANNOTATION_LIMIT_BYTES} bytes (64 KiB) "
                "for one network annotation; nothing else was checked",
                "list each network once and keep per-network settings in its NetworkAttachmentDefinition", "error")
    return None


def oversized_patch(size: int) -> Finding:
    """The error for a JSONPatch of ``size`` bytes, over PATCH_LIMIT_BYTES."""
    return Finding(
        ANNOTATION_SIZE, "metadata.annotations",
        f"metadata.annotations: the changes admission would make come to {size} bytes, over the "
        f"{PATCH_LIMIT_BYTES}-byte limit",
        "request fewer networks or shorter annotation values", "error")


def _malformed(prefix: str, path: str, expected: str) -> Finding:
    # Like the rules' messages, the text names the path inside the pod (admission says which template it is in).
    return Finding(OBJECT_MALFORMED, prefix + path, f"{path} must be {expected}; nothing else was checked",
                   "write annotations as a map of string keys to string values (quote numbers and booleans)",
                   "error")


def _type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}
    return "null" if value is None else names.get(type(value), "an object")


def _size(value: Any) -> int:
    text = value if isinstance(value, str) else str(value)
    return len(text.encode("utf-8", "surrogatepass")) if not text.isascii() else len(text)
