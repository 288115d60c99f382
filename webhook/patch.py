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
    ops: list[dict[str, Any]] = jsonpatch.make_patch(dict(pod), apply_mutations(pod, mutations)).patch
    return ops


def _child(parent: dict[str, Any], key: str) -> dict[str, Any]:
    node = parent.get(key)
    if not isinstance(node, dict):
        node = {}
        parent[key] = node
    return node


def _set_annotation(pod: dict[str, Any], m: Mutation) -> None:
    _child(_child(pod, "metadata"), "annotations")[m.key] = m.value


def _remove_annotation(pod: dict[str, Any], m: Mutation) -> None:
    annotations = _child(pod, "metadata").get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(m.key, None)


def _add_resource(pod: dict[str, Any], m: Mutation) -> None:
    containers = _child(pod, "spec").get("containers")
    if not isinstance(containers, list) or len(containers) <= m.container:
        return
    if not isinstance(containers[m.container], dict):
        return
    resources = _child(containers[m.container], "resources")
    for section in ("requests", "limits"):
        _child(resources, section).setdefault(m.key, m.value)


def _set_node_selector(pod: dict[str, Any], m: Mutation) -> None:
    _child(_child(pod, "spec"), "nodeSelector").setdefault(m.key, m.value)


_APPLY = {
    "set-annotation": _set_annotation,
    "remove-annotation": _remove_annotation,
    "add-resource": _add_resource,
    "set-node-selector": _set_node_selector,
}
