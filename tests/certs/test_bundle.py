"""caBundle patching of webhook configurations in multi-document YAML."""

import base64
from datetime import UTC, datetime

import pytest
import yaml

from certs.authority import create_authority, encode_cert
from certs.bundle import ca_bundle, patch_ca_bundle
from tests.paths import REPO

ADMISSION = REPO / "deploy" / "webhook" / "admission.yaml"
BUNDLE = "QUJD"
SERVICE = """\
# a comment that must survive
apiVersion: v1
kind: Service
metadata: {name: netweave-webhook, namespace: netweave-system}
spec:
  ports: [{port: 443, targetPort: 8443}]
"""
THIRD_PARTY = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: other
webhooks:
  - name: a.example.com
    clientConfig:
      url: https://example.com/a
  - name: b.example.com
    clientConfig:
      service: {name: b, namespace: x}
      caBundle: T0xE
"""


def _webhook_bundles(text: str) -> list[tuple[str, str | None]]:
    return [
        (webhook["name"], webhook["clientConfig"].get("caBundle"))
        for document in yaml.safe_load_all(text)
        if document and document["kind"].endswith("WebhookConfiguration")
        for webhook in document["webhooks"]
    ]


def test_ca_bundle_is_base64_of_the_pem() -> None:
    pem = encode_cert(create_authority(now=datetime.now(UTC)).cert)
    assert base64.b64decode(ca_bundle(pem)) == pem


def test_every_webhook_of_the_real_configuration_is_patched() -> None:
    text = ADMISSION.read_text()
    patch = patch_ca_bundle(text, BUNDLE)
    assert patch.ok
    bundles = _webhook_bundles(patch.text)
    assert [name for name, _ in bundles] == [
        "pods.netweave.io",
        "pods.validate.netweave.io",
        "workloads.netweave.io",
        "cronjobs.netweave.io",
        "network-attachment-definitions.netweave.io",
    ]
    assert {bundle for _, bundle in bundles} == {BUNDLE}
    assert patch.patched[0] == "MutatingWebhookConfiguration/netweave: pods.netweave.io"
    assert len(patch.patched) == 5


def test_patching_changes_nothing_but_the_bundle() -> None:
    original = list(yaml.safe_load_all(ADMISSION.read_text()))
    patched = list(yaml.safe_load_all(patch_ca_bundle(ADMISSION.read_text(), BUNDLE).text))
    for document in patched:
        for webhook in document["webhooks"]:
            del webhook["clientConfig"]["caBundle"]
    assert patched == original


def test_other_documents_are_copied_byte_for_byte() -> None:
    text = SERVICE + "---\n" + ADMISSION.read_text() + "---\n" + SERVICE
    patched = patch_ca_bundle(text, BUNDLE).text
    assert patched.startswith(SERVICE + "---\n")
    assert patched.endswith("---\n" + SERVICE)
    assert patched.count("# a comment that must survive") == 2


def test_an_existing_bundle_is_replaced_and_url_webhooks_get_one() -> None:
    patch = patch_ca_bundle(THIRD_PARTY, BUNDLE)
    assert _webhook_bundles(patch.text) == [("a.example.com", BUNDLE), ("b.example.com", BUNDLE)]


def test_webhook_configurations_inside_a_list_are_patched() -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(THIRD_PARTY)]}
    patch = patch_ca_bundle(yaml.safe_dump(listed), BUNDLE)
    items = yaml.safe_load(patch.text)["items"]
    assert [w["clientConfig"]["caBundle"] for w in items[0]["webhooks"]] == [BUNDLE, BUNDLE]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(SERVICE, "no webhooks found", id="no-webhook-configuration"),
        pytest.param("", "no webhooks found", id="empty"),
        pytest.param("kind: [unclosed\n", "not valid YAML", id="bad-yaml"),
        pytest.param(
            THIRD_PARTY.replace("admissionregistration.k8s.io/v1", "example.com/v1"),
            "no webhooks found",
            id="same-kind-other-group",
        ),
    ],
)
def test_inputs_without_webhooks_are_problems(text: str, problem: str) -> None:
    patch = patch_ca_bundle(text, BUNDLE)
    assert not patch.ok
    assert patch.problems[0].startswith(problem)
    assert patch.text == text


def test_separators_with_comments_and_leading_separator() -> None:
    text = "---\n" + THIRD_PARTY + "--- # next\n" + SERVICE
    patch = patch_ca_bundle(text, BUNDLE)
    assert patch.text.startswith("---\n")
    assert patch.text.endswith("--- # next\n" + SERVICE)
    assert len(patch.patched) == 2
