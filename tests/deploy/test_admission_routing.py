"""Which netweave webhooks the API server would call for each recorded AdmissionReview.

Rules, namespaceSelector and matchConditions are applied as the API server applies them; the CEL expressions
are evaluated with cel-python. cel-python is lenient where cel-go (the API server's CEL) is strict -- `has(a.b.c)`
with `a.b` absent is False there but an error in cel-go, and an error fails the request under failurePolicy
Fail -- so a separate test checks that every expression guards each optional level before using it.
"""

import copy
import json
import re
from typing import Any

import pytest

from tests.deploy.rendered import BASE, render
from tests.paths import FIXTURES

ADMISSION = FIXTURES / "admission"
POD = ("pods.netweave.io", "pods.validate.netweave.io")
POD_UPDATE = ("pods.validate.netweave.io",)  # the mutating webhook registers CREATE only
WORKLOAD = ("workloads.netweave.io",)
CRONJOB = ("cronjobs.netweave.io",)
NAD = ("network-attachment-definitions.netweave.io",)
NONE: tuple[str, ...] = ()
# Fields the API server guarantees on every object it sends (metadata is always set).
ALWAYS_PRESENT = {"object", "object.metadata"}
# oldObject is null on CREATE; on UPDATE it is a whole object, metadata included.
UPDATE_ONLY = {"oldObject", "oldObject.metadata"}
UPDATE_GUARD = "request.operation == 'UPDATE'"
STATUS = "k8s.v1.cni.cncf.io/network-status"


def _webhooks() -> list[dict[str, Any]]:
    return [w for c in render(BASE) if c["kind"].endswith("WebhookConfiguration") for w in c["webhooks"]]


def _expressions() -> list[Any]:
    return [
        pytest.param(c["expression"], id=f"{w['name']}:{c['name']}")
        for w in _webhooks()
        for c in w.get("matchConditions", [])
    ] or [pytest.param("", id="no-kubectl")]


def _rule_matches(webhook: dict[str, Any], request: dict[str, Any]) -> bool:
    resource = request["resource"]
    return any(
        resource["group"] in rule["apiGroups"]
        and resource["version"] in rule["apiVersions"]
        and resource["resource"] in rule["resources"]
        and request["operation"] in rule["operations"]
        and not request.get("subResource")
        for rule in webhook["rules"]
    )


def _namespace_matches(webhook: dict[str, Any], request: dict[str, Any]) -> bool:
    for expression in webhook["namespaceSelector"]["matchExpressions"]:
        assert (expression["key"], expression["operator"]) == ("kubernetes.io/metadata.name", "NotIn")
        if request.get("namespace") in expression["values"]:
            return False
    return True


def _conditions_match(webhook: dict[str, Any], request: dict[str, Any]) -> bool:
    import celpy
    environment = celpy.Environment()
    activation = {name: celpy.json_to_cel(value) for name, value in
                  (("object", request["object"]), ("oldObject", request.get("oldObject")), ("request", request))}
    for condition in webhook.get("matchConditions", []):
        result = environment.program(environment.compile(condition["expression"])).evaluate(activation)
        assert isinstance(result, celpy.celtypes.BoolType), f"{condition['name']}: {result!r}"
        if not result:
            return False
    return True


def _called(request: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        webhook["name"]
        for webhook in _webhooks()
        if _rule_matches(webhook, request)
        and _namespace_matches(webhook, request)
        and _conditions_match(webhook, request)
    )


def _request(prefix: str) -> dict[str, Any]:
    [path] = ADMISSION.glob(f"{prefix}-*.json")
    request: dict[str, Any] = json.loads(path.read_text())["request"]
    return request


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param("001", NAD, id="nad-create"),
        pytest.param("025", NAD, id="nad-update"),
        pytest.param("006", POD, id="pod-networks-and-default-network"),
        pytest.param("008", POD, id="pod-networks"),
        pytest.param("013", POD, id="pod-broken-json-networks"),
        pytest.param("014", NONE, id="plain-pod-not-sent"),
        pytest.param("016", POD, id="pod-generate-name"),
        pytest.param("017", POD, id="pod-dry-run"),
        pytest.param("018", POD_UPDATE, id="pod-update"),
        pytest.param("019", WORKLOAD, id="deployment"),
        pytest.param("020", WORKLOAD, id="statefulset"),
        pytest.param("021", WORKLOAD, id="daemonset"),
        pytest.param("022", WORKLOAD, id="replicaset"),
        pytest.param("023", WORKLOAD, id="job"),
        pytest.param("024", CRONJOB, id="cronjob"),
        pytest.param("026", WORKLOAD, id="deployment-update"),
        pytest.param("029", POD, id="pod-on-node"),
    ],
)
def test_recorded_requests_reach_the_right_webhooks(fixture: str, expected: tuple[str, ...]) -> None:
    assert _called(_request(fixture)) == expected


def _without_template_annotations(request: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    del changed["object"]["spec"]["template"]["metadata"]
    return changed


def _cronjob_without_annotations(request: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    del changed["object"]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    return changed


def _pod_with_only_default_network(request: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    changed["object"]["metadata"]["annotations"] = {"v1.multus-cni.io/default-network": "kube-system/calico"}
    return changed


def _pod_with_only_network_status(request: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    changed["object"]["metadata"]["annotations"] = {STATUS: '[{"name":"forged"}]'}
    return changed


def _update(request: dict[str, Any], old: dict[str, str] | None, new: dict[str, str] | None) -> dict[str, Any]:
    """An UPDATE of the captured pod with the given annotations before and after."""
    changed = copy.deepcopy(request)
    changed["operation"] = "UPDATE"
    changed["oldObject"] = copy.deepcopy(changed["object"])
    for key, annotations in (("oldObject", old), ("object", new)):
        metadata = changed[key]["metadata"]
        metadata.pop("annotations", None)
        if annotations is not None:
            metadata["annotations"] = annotations
    return changed


def _networks_removed(request: dict[str, Any]) -> dict[str, Any]:
    return _update(request, {"k8s.v1.cni.cncf.io/networks": "macvlan-conf"}, None)


def _status_added(request: dict[str, Any]) -> dict[str, Any]:
    return _update(request, None, {STATUS: "[]"})


def _status_changed(request: dict[str, Any]) -> dict[str, Any]:
    return _update(request, {STATUS: "[]"}, {STATUS: '[{"name":"forged"}]'})


def _status_unchanged_label_added(request: dict[str, Any]) -> dict[str, Any]:
    changed = _update(request, {STATUS: "[]"}, {STATUS: "[]", "team": "a"})
    return changed


def _status_removed(request: dict[str, Any]) -> dict[str, Any]:
    return _update(request, {STATUS: "[]"}, None)


NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT = "v1.multus-cni.io/default-network"


def _metadata_patch(request: dict[str, Any]) -> dict[str, Any]:
    """What controllers and kubectl do to a running multi-network pod: labels, finalizers, ownerReferences."""
    changed = copy.deepcopy(request)
    changed["operation"] = "UPDATE"
    changed["oldObject"] = copy.deepcopy(changed["object"])
    metadata = changed["object"]["metadata"]
    metadata["labels"] = {**metadata.get("labels", {}), "team": "a"}
    metadata["finalizers"] = []
    metadata["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u"}]
    return changed


def _pod_in_system_namespace(request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "namespace": "netweave-system"}


def _pod_status_update(request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "operation": "UPDATE", "subResource": "status"}


def _deleted(request: dict[str, Any]) -> dict[str, Any]:
    """A DELETE as the API server sends it: object null, the deleted object in oldObject."""
    return {**request, "operation": "DELETE", "object": None, "oldObject": request["object"]}


@pytest.mark.parametrize(
    ("fixture", "change", "expected"),
    [
        pytest.param("019", _without_template_annotations, NONE, id="deployment-template-without-metadata"),
        pytest.param("024", _cronjob_without_annotations, NONE, id="cronjob-template-without-annotations"),
        pytest.param("014", _pod_with_only_default_network, POD, id="pod-default-network-only"),
        pytest.param("014", _pod_with_only_network_status, POD, id="pod-network-status-only"),
        pytest.param("014", _networks_removed, POD_UPDATE, id="update-removing-networks-seen-by-old-object"),
        pytest.param("014", _status_added, POD_UPDATE, id="update-adding-network-status"),
        pytest.param("014", _status_changed, POD_UPDATE, id="update-changing-network-status"),
        pytest.param("014", _status_unchanged_label_added, NONE, id="update-keeping-network-status-not-sent"),
        pytest.param("014", _status_removed, NONE, id="update-removing-network-status-not-sent"),
        pytest.param("014", lambda r: _update(r, None, None), NONE, id="plain-pod-update-not-sent"),
        pytest.param("008", _metadata_patch, NONE, id="metadata-patch-of-multi-network-pod-not-sent"),
        pytest.param("014", lambda r: _update(r, {NETWORKS: "a", "x": "1"}, {NETWORKS: "a", "x": "2"}), NONE,
                     id="other-annotation-changed-not-sent"),
        pytest.param("014", lambda r: _update(r, {NETWORKS: "a"}, {NETWORKS: "b"}), POD_UPDATE,
                     id="update-changing-networks"),
        pytest.param("014", lambda r: _update(r, {"x": "1"}, {"x": "1", NETWORKS: "a"}), POD_UPDATE,
                     id="update-adding-networks"),
        pytest.param("014", lambda r: _update(r, None, {DEFAULT: "kube-system/calico"}), POD_UPDATE,
                     id="update-adding-default-network-to-pod-without-annotations"),
        pytest.param("014", lambda r: _update(r, {DEFAULT: "kube-system/calico"}, {"x": "1"}), POD_UPDATE,
                     id="update-removing-default-network"),
        pytest.param("014", lambda r: _update(r, {DEFAULT: "a"}, {DEFAULT: "b", STATUS: "[]"}), POD_UPDATE,
                     id="update-changing-default-network"),
        pytest.param("014", lambda r: _update(r, {NETWORKS: "a", STATUS: "[]"}, {NETWORKS: "a", STATUS: "[]"}), NONE,
                     id="update-keeping-every-watched-annotation-not-sent"),
        pytest.param("014", lambda r: _update(r, {NETWORKS: "a", STATUS: "[]"}, {NETWORKS: "a"}), NONE,
                     id="update-removing-network-status-beside-networks-not-sent"),
        pytest.param("014", lambda r: _update(r, None, {"x": "1"}), NONE, id="annotations-added-unwatched-not-sent"),
        pytest.param("014", lambda r: _update(r, {"x": "1"}, None), NONE, id="annotations-removed-unwatched-not-sent"),
        pytest.param("014", lambda r: _update(r, {STATUS: "[]"}, {}), NONE, id="status-removed-to-empty-map-not-sent"),
        pytest.param("008", _pod_in_system_namespace, NONE, id="own-namespace-skipped"),
        pytest.param("008", _pod_status_update, NONE, id="status-subresource-skipped"),
        pytest.param("001", _deleted, NAD, id="nad-delete-network-in-use"),
        pytest.param("008", _deleted, NONE, id="pod-delete-not-sent"),
    ],
)
def test_changed_requests(fixture: str, change: Any, expected: tuple[str, ...]) -> None:
    assert _called(change(_request(fixture))) == expected


_PATH = r"\b(?:object|oldObject)(?:\.[A-Za-z_][A-Za-z0-9_]*)+"


def _disjuncts(expression: str) -> list[str]:
    """The expression split at its top-level `||` (outside parentheses and string literals)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(expression):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0 and expression.startswith("||", i):
            parts.append(expression[start:i])
            start = i + 2
    return [*parts, expression[start:]]


def _unguarded(expression: str) -> list[str]:
    """Field paths used before `has()` proved that they (or their parents) exist, reading left to right.

    Each top-level `||` alternative is read on its own: one `&&` chain of guards followed by the test, as ours are.
    `request.operation == 'UPDATE'` proves that oldObject (null on CREATE) and its metadata exist.
    """
    problems = []
    for part in _disjuncts(expression):
        guarded = set(ALWAYS_PRESENT)
        update = part.find(UPDATE_GUARD)
        for match in re.finditer(rf"has\(({_PATH})\)|({_PATH})", part):
            if update != -1 and update < match.start():
                guarded |= UPDATE_ONLY
            tested, used = match.group(1), match.group(2)
            path = tested or used
            parts = path.split(".")
            parents = {".".join(parts[:end]) for end in range(1, len(parts))}
            needed = parents if tested else parents | {path}
            problems += sorted(needed - guarded)
            if tested:
                guarded.add(tested)
    return problems


@pytest.mark.parametrize("expression", _expressions())
def test_every_optional_field_is_guarded_before_use(expression: str) -> None:
    assert _unguarded(expression) == []


@pytest.mark.parametrize(
    ("expression", "unguarded"),
    [
        pytest.param("'a' in object.metadata.annotations", ["object.metadata.annotations"], id="no-guard"),
        pytest.param(
            "has(object.spec.template.metadata)",
            ["object.spec", "object.spec.template"],
            id="has-on-missing-parents",
        ),
        pytest.param("has(object.metadata.annotations) && 'a' in object.metadata.annotations", [], id="guarded"),
        pytest.param("has(oldObject.metadata.annotations)", ["oldObject", "oldObject.metadata"],
                     id="old-object-without-operation"),
        pytest.param("request.operation == 'UPDATE' && has(oldObject.metadata.annotations)", [],
                     id="old-object-on-update"),
        pytest.param("(request.operation == 'UPDATE' && true) || has(oldObject.metadata.annotations)",
                     ["oldObject", "oldObject.metadata"], id="guard-does-not-cross-or"),
    ],
)
def test_the_guard_check_itself(expression: str, unguarded: list[str]) -> None:
    assert _unguarded(expression) == unguarded
