"""Where pods hide in workload objects: the pod templates of every controller kind admission checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# kind -> path of the pod template inside the object
TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True, slots=True)
class PodTarget:
    """A pod, or a pod template, to run the rules on."""

    kind: str
    namespace: str | None
    name: str
    pod: Mapping[str, Any]
    path_prefix: str


def pod_targets(obj: Mapping[str, Any]) -> tuple[PodTarget, ...]:
    """Pods and pod templates in an object (a `List` yields its items' targets); other kinds yield none."""
    if not isinstance(obj, Mapping):
        return ()
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        return tuple(t for item in obj["items"] for t in pod_targets(item))
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    name = str(metadata.get("name") or metadata.get("generateName") or "")
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else None
    if kind == "Pod":
        return (PodTarget("Pod", namespace, name, obj, ""),)
    path = TEMPLATE_PATHS.get(kind) if isinstance(kind, str) else None
    if path is None:
        return ()
    template = template_at(obj, path)
    if template is None:
        return ()
    return (PodTarget(str(kind), namespace, name, template, ".".join(path) + "."),)


def template_at(obj: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any] | None:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None
