"""Size limits checked before any rule runs, so that the work admission and lint do is bounded by them.

The API server rejects an object whose annotations total more than 256 KiB, but mutating admission runs before
that check: without our own, a 3 MiB annotation would be parsed, checked and quoted back in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.findings import Finding

# k8s.io/apimachinery ValidateAnnotations: TotalAnnotationSizeLimitB, the sum of len(key) + len(value) in bytes.
ANNOTATIONS_LIMIT_BYTES = 256 * 1024
ANNOTATION_SIZE = "annotation-size"
ANNOTATION_SIZE_SUMMARY = "the object's annotations exceed the API server's 256 KiB limit"
# The JSONPatch of one pod: canonical annotations plus a few resources and selectors; far below this.
PATCH_LIMIT_BYTES = 1024 * 1024


def annotations_size(annotations: Mapping[Any, Any]) -> int:
    """Bytes the API server counts for these annotations (UTF-8 keys and values)."""
    return sum(_size(key) + _size(value) for key, value in annotations.items())


def oversized_annotations(obj: Mapping[str, Any], *, path_prefix: str = "") -> Finding | None:
    """An error when ``obj``'s metadata.annotations are over the API server's limit, else None."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping):
        return None
    size = annotations_size(annotations)
    if size <= ANNOTATIONS_LIMIT_BYTES:
        return None
    return Finding(
        ANNOTATION_SIZE, f"{path_prefix}metadata.annotations",
        f"metadata.annotations: the annotations total {size} bytes, over the API server's limit of "
        f"{ANNOTATIONS_LIMIT_BYTES} bytes (256 KiB); nothing else was checked",
        "shorten them: list each network once and keep per-network settings in its NetworkAttachmentDefinition",
        "error")


def oversized_patch(size: int) -> Finding:
    """The error for a JSONPatch of ``size`` bytes, over PATCH_LIMIT_BYTES."""
    return Finding(
        ANNOTATION_SIZE, "metadata.annotations",
        f"metadata.annotations: the changes admission would make come to {size} bytes, over the "
        f"{PATCH_LIMIT_BYTES}-byte limit",
        "request fewer networks or shorter annotation values", "error")


def _size(value: Any) -> int:
    text = value if isinstance(value, str) else str(value)
    return len(text.encode("utf-8", "surrogatepass")) if not text.isascii() else len(text)
