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
WORKLOAD = ("workloads.netweave.io",)
CRONJOB = ("cronjobs.netweave.io",)
NAD = ("network-attachment-definitions.netweave.io",)
NONE: tuple[str, ...] = ()
# Fields the API server guarantees on every object it sends (metadata is always set).
ALWAYS_PRESENT = {"object", "object.metadata"}


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
    activation = {"object": celpy.json_to_cel(request["object"])}
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
        pytest.param("018", POD, id="pod-update"),
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


def _pod_in_system_namespace(request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "namespace": "netweave-system"}


def _pod_status_update(request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "operation": "UPDATE", "subResource": "status"}


@pytest.mark.parametrize(
    ("fixture", "change", "expected"),
    [
        pytest.param("019", _without_template_annotations, NONE, id="deployment-template-without-metadata"),
        pytest.param("024", _cronjob_without_annotations, NONE, id="cronjob-template-without-annotations"),
        pytest.param("014", _pod_with_only_default_network, POD, id="pod-default-network-only"),
        pytest.param("008", _pod_in_system_namespace, NONE, id="own-namespace-skipped"),
        pytest.param("008", _pod_status_update, NONE, id="status-subresource-skipped"),
    ],
)
def test_changed_requests(fixture: str, change: Any, expected: tuple[str, ...]) -> None:
    assert _called(change(_request(fixture))) == expected


_PATH = r"object(?:\.[A-Za-z_][A-Za-z0-9_]*)+"


def _unguarded(expression: str) -> list[str]:
    """Field paths used before `has()` proved that they (or their parents) exist, reading left to right.

    Valid for expressions that are one `&&` chain of has() guards followed by the test, as ours are.
    """
    guarded = set(ALWAYS_PRESENT)
    problems = []
    for match in re.finditer(rf"has\(({_PATH})\)|({_PATH})", expression):
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
    ],
)
def test_the_guard_check_itself(expression: str, unguarded: list[str]) -> None:
    assert _unguarded(expression) == unguarded
