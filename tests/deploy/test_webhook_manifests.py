"""Properties of the rendered webhook side: registration, RBAC, Deployment, Service and PDB."""

from typing import Any

import pytest

from tests.deploy.rendered import BASE, CRD, LEGACY, find, render
from tests.paths import REPO
from webhook.serve import GRACEFUL_SHUTDOWN_SECONDS

NAMESPACE = "netweave-system"
IMAGE = "ghcr.io/netweave/netweave:0.1.0"
POD_LABELS = {"app.kubernetes.io/name": "netweave", "app.kubernetes.io/component": "webhook"}
POD_WEBHOOKS = ("pods.netweave.io", "pods.validate.netweave.io")
# Fail where an unchecked object could reach a node; Ignore where the pod webhooks (or the node) check it again.
FAILURE_POLICY = {
    "pods.netweave.io": "Fail",
    "pods.validate.netweave.io": "Fail",
    "workloads.netweave.io": "Ignore",
    "cronjobs.netweave.io": "Ignore",
    "network-attachment-definitions.netweave.io": "Ignore",
}
WEBHOOK_NAMES = [
    ("MutatingWebhookConfiguration", "pods.netweave.io"),
    ("ValidatingWebhookConfiguration", "pods.validate.netweave.io"),
    ("ValidatingWebhookConfiguration", "workloads.netweave.io"),
    ("ValidatingWebhookConfiguration", "cronjobs.netweave.io"),
    ("ValidatingWebhookConfiguration", "network-attachment-definitions.netweave.io"),
]


def _objects() -> tuple[dict[str, Any], ...]:
    return render(BASE)


def _webhooks() -> list[tuple[str, dict[str, Any]]]:
    return [
        (config["kind"], webhook)
        for config in _objects()
        if config["kind"].endswith("WebhookConfiguration")
        for webhook in config["webhooks"]
    ]


def _webhook(name: str) -> dict[str, Any]:
    return next(webhook for _, webhook in _webhooks() if webhook["name"] == name)


def _container(name: str) -> dict[str, Any]:
    pod = find(_objects(), "Deployment", "netweave-webhook")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == name)


def test_the_webhooks_are_the_expected_five() -> None:
    assert [(kind, webhook["name"]) for kind, webhook in _webhooks()] == WEBHOOK_NAMES


@pytest.mark.parametrize(("kind", "name"), [pytest.param(k, n, id=n) for k, n in WEBHOOK_NAMES])
def test_webhook_has_its_deliberate_failure_policy_and_answers_quickly(kind: str, name: str) -> None:
    webhook = _webhook(name)
    assert webhook["failurePolicy"] == FAILURE_POLICY[name]
    assert webhook["timeoutSeconds"] == 5
    assert webhook["sideEffects"] == "None"
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert webhook["matchPolicy"] == "Equivalent"


def test_every_failure_policy_says_why() -> None:
    """Each `failurePolicy:` line in the manifest follows a comment that explains the choice."""
    lines = (REPO / "deploy" / "webhook" / "admission.yaml").read_text().splitlines()
    policies = [i for i, line in enumerate(lines) if line.strip().startswith("failurePolicy:")]
    assert len(policies) == len(WEBHOOK_NAMES)
    for i in policies:
        assert lines[i - 1].strip().startswith("#"), f"line {i + 1}: failurePolicy without a comment"
        assert lines[i].split(":")[1].strip() in lines[i - 1] + lines[i - 2] + lines[i - 3]


@pytest.mark.parametrize(("kind", "name"), [pytest.param(k, n, id=n) for k, n in WEBHOOK_NAMES])
def test_webhook_skips_its_own_namespace(kind: str, name: str) -> None:
    assert _webhook(name)["namespaceSelector"] == {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]}]
    }


@pytest.mark.parametrize(
    ("name", "path"),
    [pytest.param(n, "/mutate" if k.startswith("Mutating") else "/validate", id=n) for k, n in WEBHOOK_NAMES],
)
def test_webhook_calls_the_service_on_its_path(name: str, path: str) -> None:
    service = find(_objects(), "Service", "netweave-webhook")
    assert _webhook(name)["clientConfig"] == {
        "service": {"name": service["metadata"]["name"], "namespace": NAMESPACE, "path": path, "port": 443}
    }


@pytest.mark.parametrize(("kind", "name"), [pytest.param(k, n, id=n) for k, n in WEBHOOK_NAMES])
def test_webhook_operations(kind: str, name: str) -> None:
    """Validation sees CREATE and UPDATE; mutation only CREATE (an UPDATE is judged, never rewritten); NADs also
    DELETE (network-in-use)."""
    expected = ["CREATE"] if kind.startswith("Mutating") else ["CREATE", "UPDATE"]
    if name == "network-attachment-definitions.netweave.io":
        expected = ["CREATE", "UPDATE", "DELETE"]
    for rule in _webhook(name)["rules"]:
        assert rule["operations"] == expected
        assert rule["scope"] == "Namespaced"
        assert all("/" not in resource for resource in rule["resources"]), "subresources must not be sent"


def test_mutating_webhook_is_reinvoked() -> None:
    assert _webhook("pods.netweave.io")["reinvocationPolicy"] == "IfNeeded"


def test_validating_webhooks_cover_pods_workloads_and_nads() -> None:
    covered = {
        (group, version, resource)
        for kind, webhook in _webhooks()
        if kind == "ValidatingWebhookConfiguration"
        for rule in webhook["rules"]
        for group in rule["apiGroups"]
        for version in rule["apiVersions"]
        for resource in rule["resources"]
    }
    assert covered == {
        ("", "v1", "pods"),
        ("apps", "v1", "deployments"),
        ("apps", "v1", "statefulsets"),
        ("apps", "v1", "daemonsets"),
        ("apps", "v1", "replicasets"),
        ("batch", "v1", "jobs"),
        ("batch", "v1", "cronjobs"),
        ("k8s.cni.cncf.io", "v1", "network-attachment-definitions"),
    }


@pytest.mark.parametrize(
    ("name", "has_conditions"),
    [pytest.param(n, n != "network-attachment-definitions.netweave.io", id=n) for _, n in WEBHOOK_NAMES],
)
def test_match_conditions_on_every_pod_carrying_webhook(name: str, has_conditions: bool) -> None:
    conditions = _webhook(name).get("matchConditions", [])
    assert bool(conditions) is has_conditions
    for condition in conditions:
        assert "k8s.v1.cni.cncf.io/networks" in condition["expression"]
        assert "v1.multus-cni.io/default-network" in condition["expression"]


@pytest.mark.parametrize("name", POD_WEBHOOKS)
def test_pod_webhooks_also_look_at_the_old_object_and_network_status(name: str) -> None:
    [condition] = _webhook(name)["matchConditions"]
    assert "oldObject.metadata.annotations" in condition["expression"]
    assert "k8s.v1.cni.cncf.io/network-status" in condition["expression"]


def test_the_default_base_has_no_crd() -> None:
    """`kubectl delete -k deploy/` must never delete the CRD, and with it every NAD in the cluster."""
    assert [o for o in _objects() if o["kind"] == "CustomResourceDefinition"] == []


def test_legacy_overlay_uses_an_opt_in_label_instead_of_match_conditions() -> None:
    legacy = render(LEGACY)
    webhooks = {w["name"]: w for c in legacy if c["kind"].endswith("WebhookConfiguration") for w in c["webhooks"]}
    assert list(webhooks) == [name for _, name in WEBHOOK_NAMES]
    assert all("matchConditions" not in w for w in webhooks.values())
    for name, webhook in webhooks.items():
        expressions = webhook["namespaceSelector"]["matchExpressions"]
        assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]} in expressions
        opted_in = {"key": "netweave.io/admission", "operator": "In", "values": ["enabled"]} in expressions
        assert opted_in is (name != "network-attachment-definitions.netweave.io"), name
    # Everything else is the base, unchanged.
    others = sorted((o for o in legacy if not o["kind"].endswith("WebhookConfiguration")), key=_key)
    assert others == sorted((o for o in _objects() if not o["kind"].endswith("WebhookConfiguration")), key=_key)


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_webhook_replicas_drain_before_they_stop() -> None:
    pod = find(_objects(), "Deployment", "netweave-webhook")["spec"]["template"]["spec"]
    assert _container("webhook")["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "5"]}}
    # preStop sleep + the server's graceful drain fit in the grace period, with a margin.
    assert pod["terminationGracePeriodSeconds"] >= 5 + GRACEFUL_SHUTDOWN_SECONDS + 5


def test_no_ca_bundle_in_the_base() -> None:
    """caBundle is provisioned (certs bundle / cert-manager); a stale one in git would break TLS."""
    assert all("caBundle" not in webhook["clientConfig"] for _, webhook in _webhooks())


def test_webhook_role_is_list_and_watch_on_nads_and_pods_only() -> None:
    role = find(_objects(), "ClusterRole", "netweave-webhook")
    assert role["rules"] == [
        {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["network-attachment-definitions"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    ]


@pytest.mark.parametrize("name", ["netweave-webhook", "netweave-node"])
def test_binding_grants_the_role_to_its_service_account(name: str) -> None:
    binding = find(_objects(), "ClusterRoleBinding", name)
    find(_objects(), "ServiceAccount", name)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]


def test_no_role_uses_wildcards() -> None:
    for role in (o for o in _objects() if o["kind"] == "ClusterRole"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{role['metadata']['name']}: wildcard in {field}"


def test_every_namespaced_object_is_in_the_system_namespace() -> None:
    cluster_scoped = {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    }
    for obj in _objects():
        expected = None if obj["kind"] in cluster_scoped else NAMESPACE
        assert obj["metadata"].get("namespace") == expected, f"{obj['kind']}/{obj['metadata']['name']}"


def test_deployment_runs_two_replicas_of_the_server() -> None:
    deployment = find(_objects(), "Deployment", "netweave-webhook")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"] == POD_LABELS
    container = _container("webhook")
    assert container["image"] == IMAGE
    assert [*container["command"], *container["args"]] == [
        "netweave", "serve", "--listen", "0.0.0.0:8443", "--tls-cert", "/tls/tls.crt",
        "--tls-key", "/tls/tls.key", "--catalog", "cluster", "--config", "/etc/netweave/netweave.yaml",
    ]  # fmt: skip


@pytest.mark.parametrize(("probe", "path"), [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")])
def test_probes_use_https(probe: str, path: str) -> None:
    get = _container("webhook")[probe]["httpGet"]
    assert (get["path"], get["port"], get["scheme"]) == (path, "https", "HTTPS")


def test_container_is_locked_down() -> None:
    container = _container("webhook")
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    pod = find(_objects(), "Deployment", "netweave-webhook")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def test_replicas_spread_over_nodes() -> None:
    pod = find(_objects(), "Deployment", "netweave-webhook")["spec"]["template"]["spec"]
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == POD_LABELS


def test_tls_secret_is_mounted_where_the_server_reads_it() -> None:
    pod = find(_objects(), "Deployment", "netweave-webhook")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "netweave-webhook-tls"
    mount = next(m for m in _container("webhook")["volumeMounts"] if m["name"] == "tls")
    assert (mount["mountPath"], mount["readOnly"]) == ("/tls", True)


def test_service_maps_443_to_the_https_container_port() -> None:
    service = find(_objects(), "Service", "netweave-webhook")
    assert service["spec"]["selector"] == POD_LABELS
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]
    ports = {p["name"]: p["containerPort"] for p in _container("webhook")["ports"]}
    assert ports == {"https": 8443}


def test_disruption_budget_keeps_one_replica() -> None:
    pdb = find(_objects(), "PodDisruptionBudget", "netweave-webhook")
    assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": POD_LABELS}}


def test_nad_crd_has_a_string_config() -> None:
    crd = find(render(CRD), "CustomResourceDefinition", "network-attachment-definitions.k8s.cni.cncf.io")
    spec = crd["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["kind"]) == (
        "k8s.cni.cncf.io",
        "Namespaced",
        "NetworkAttachmentDefinition",
    )
    assert spec["names"]["plural"] == "network-attachment-definitions"
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    config = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["config"]
    assert config["type"] == "string"
