"""Every rendered object is valid against the Kubernetes OpenAPI schema (strict: unknown fields fail)."""

from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
import yaml

from certs.authority import create_authority, encode_cert
from certs.bundle import ca_bundle, patch_ca_bundle
from tests.deploy.rendered import BASE, CRD, LEGACY, UNINSTALL, render

# The documented minimum: matchConditions are beta and on by default in 1.28 (GA in 1.30).
KUBERNETES_VERSION = "1.28"
# deploy/legacy/ is for older clusters; strict validation against the oldest schema we ship catches any field
# (such as matchConditions) that such an API server would silently drop.
LEGACY_VERSION = "1.25"
VERSIONS = {BASE: KUBERNETES_VERSION, UNINSTALL: KUBERNETES_VERSION, CRD: KUBERNETES_VERSION,
            LEGACY: LEGACY_VERSION}


def _custom_kinds(objects: tuple[dict[str, Any], ...]) -> set[tuple[str, str]]:
    """(apiVersion, kind) of the kinds defined by CRDs in the render: the built-in schemas cannot know them."""
    return {
        (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
        for crd in objects
        if crd["kind"] == "CustomResourceDefinition"
        for version in crd["spec"]["versions"]
    }


def _cases() -> list[Any]:
    cases = []
    for directory, version in VERSIONS.items():
        objects = render(directory)
        custom = _custom_kinds(objects)
        for obj in objects:
            if (obj["apiVersion"], obj["kind"]) in custom:
                continue  # a kind its own CRD defines: the built-in schemas cannot know it
            ident = f"{directory.name}:{obj['kind']}/{obj['metadata']['name']}@{version}"
            cases.append(pytest.param(obj, version, id=ident))
    return cases or [pytest.param(None, KUBERNETES_VERSION, id="no-kubectl")]


@pytest.mark.parametrize(("obj", "version"), _cases())
def test_object_matches_the_kubernetes_schema(obj: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")


def test_strict_validation_catches_a_misspelt_field() -> None:
    """Guards the test above: a typo must fail, or a green run would prove nothing."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 443, "tragetPort": 8443}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def test_base_renders_the_expected_objects() -> None:
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in render(BASE))
    assert kinds == [
        "ClusterRole/netweave-node",
        "ClusterRole/netweave-webhook",
        "ClusterRoleBinding/netweave-node",
        "ClusterRoleBinding/netweave-webhook",
        "ConfigMap/netweave-policy",
        "DaemonSet/netweave-node",
        "Deployment/netweave-webhook",
        "MutatingWebhookConfiguration/netweave",
        "Namespace/netweave-system",
        "PodDisruptionBudget/netweave-webhook",
        "Service/netweave-webhook",
        "ServiceAccount/netweave-node",
        "ServiceAccount/netweave-webhook",
        "ValidatingWebhookConfiguration/netweave",
    ]


def test_render_patched_with_a_ca_bundle_stays_valid() -> None:
    """The documented pipeline: kubectl kustomize deploy/ | netweave certs bundle --ca ca.crt --patch -."""
    bundle = ca_bundle(encode_cert(create_authority(now=datetime.now(UTC)).cert))
    patch = patch_ca_bundle(yaml.safe_dump_all(render(BASE), sort_keys=False), bundle)
    assert len(patch.patched) == 5
    for obj in yaml.safe_load_all(patch.text):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_base_needs_match_conditions_that_old_api_servers_drop() -> None:
    """Why deploy/legacy/ exists: a 1.25 API server does not know matchConditions (it would drop them)."""
    mutating = next(o for o in render(BASE) if o["kind"] == "MutatingWebhookConfiguration")
    with pytest.raises(kubernetes_validate.ValidationError, match="matchConditions"):
        kubernetes_validate.validate(mutating, LEGACY_VERSION, strict=True)
