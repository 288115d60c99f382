"""Mutations -> the mutated pod and the RFC 6902 JSONPatch that admission returns."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch

from webhook.findings import Mutation


def apply_mutations(pod: Mapping[str, Any], mutations: Sequence[Mutation]) -> dict[str, Any]:
    """A deep copy of the pod with every mutation applied; the input is not touched."""
    out: dict[str, Any] = copy.deepcopy(dict(pod))
    for mutation in mutations:
        _APPLY[mutation.op](out, mutation)
    return out


def make_patch(pod: Mapping[str, Any], mutations: Sequence[Mutation]) -> list[dict[str, Any]]:
    """The JSONPatch that turns the pod into its mutated form ([] when nothing changes)."""
    if not mutations:
        return []
    view = _mutable_view(pod)
    ops: list[dict[str, Any]] = jsonpatch.make_patch(view, apply_mutations(view, mutations)).patch
    return ops


def _mutable_view(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a pod that mutations can touch, at their real paths; everything else left out.

    `make_patch` copies and diffs what it is given; a real pod carries managedFields and the last-applied
    annotation, which made the copy and diff most of an admission's cost. Every path a mutation writes
    (metadata.annotations, spec.containers[i].resources, spec.nodeSelector) is present in the view exactly when
    it is present in the pod, so the ops are the same as for the whole pod.
    """
    view: dict[str, Any] = {}
    metadata = pod.get("metadata")
    if isinstance(metadata, Mapping):
        view["metadata"] = {k: metadata[k] for k in ("annotations",) if k in metadata}
    spec = pod.get("spec")
    if isinstance(spec, Mapping):
        view["spec"] = {k: spec[k] for k in ("nodeSelector",) if k in spec}
        containers = spec.get("containers")
        if isinstance(containers, list):
            view["spec"]["containers"] = [
                {k: c[k] for k in ("resources",) if k in c} if isinstance(c, Mapping) else c for c in containers]
        elif "containers" in spec:
            view["spec"]["containers"] = containers
    return view


def _child(parent: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """parent[key] as a dict, created when absent; None when it holds something else (never overwrite it)."""
    if parent is None:
        return None
    node = parent.setdefault(key, {})
    return node if isinstance(node, dict) else None


def _set_annotation(pod: dict[str, Any], m: Mutation) -> None:
    annotations = _child(_child(pod, "metadata"), "annotations")
    if annotations is not None:
        annotations[m.key] = m.value


def _remove_annotation(pod: dict[str, Any], m: Mutation) -> None:
    annotations = _child(_child(pod, "metadata"), "annotations")
    if annotations is not None:
        annotations.pop(m.key, None)


def _add_resource(pod: dict[str, Any], m: Mutation) -> None:
    spec = _child(pod, "spec")
    containers = spec.get("containers") if spec is not None else None
    if not isinstance(containers, list) or len(containers) <= m.container:
        return
    container = containers[m.container]
    resources = _child(container, "resources") if isinstance(container, dict) else None
    for section in ("requests", "limits"):
        quantities = _child(resources, section)
        if quantities is not None:
            quantities.setdefault(m.key, m.value)


def _set_node_selector(pod: dict[str, Any], m: Mutation) -> None:
    selector = _child(_child(pod, "spec"), "nodeSelector")
    if selector is not None:
        selector.setdefault(m.key, m.value)


_APPLY = {
    "set-annotation": _set_annotation,
    "remove-annotation": _remove_annotation,
    "add-resource": _add_resource,
    "set-node-selector": _set_node_selector,
}
