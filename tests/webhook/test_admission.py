"""Which checks admission runs for each kind and operation (pure, on the captured AdmissionReviews)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest

from cni.spec import parse_nad
from tests.paths import FIXTURES
from webhook.admission import admit
from webhook.catalog import MemoryCatalog
from webhook.engine import evaluate_pod
from webhook.manifests import read_catalog
from webhook.patch import apply_mutations
from webhook.policy import Policy
from webhook.review import MAX_MESSAGE_CHARS, build_response, decode_review

CATALOG = read_catalog(str(FIXTURES / "manifests" / "nads.yaml"))
NETWORKS = "k8s.v1.cni.cncf.io/networks"


def raw(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "admission" / name).read_text())
    return doc


def run(doc: dict[str, Any], *, mutate: bool = True, policy: Policy | None = None) -> Any:
    return admit(decode_review(json.dumps(doc).encode()), catalog=CATALOG, policy=policy or Policy(), mutate=mutate)


def test_plain_pod_takes_the_fast_path() -> None:
    result = run(raw("014-create-pod-plain.json"))
    assert (result.decision.allowed, result.checked, result.decision.patch) == (True, False, ())


def test_status_subresource_is_not_ours() -> None:
    doc = raw("012-create-pod-eth0-conflict.json")
    doc["request"]["subResource"] = "status"
    assert run(doc).decision.allowed is True


def test_pod_update_without_network_change_is_allowed() -> None:
    doc = raw("018-update-pod-samplepod.json")
    doc["request"]["object"] = copy.deepcopy(doc["request"]["oldObject"])
    doc["request"]["object"]["metadata"]["labels"] = {"new": "label"}
    result = run(doc)
    assert (result.decision.allowed, result.findings) == (True, ())


@pytest.mark.parametrize(("new", "was"), [
    pytest.param(None, "'macvlan-conf'", id="removed"),
    pytest.param("ip-192", "'macvlan-conf'", id="replaced"),
])
def test_pod_update_network_change_is_denied(new: str | None, was: str) -> None:
    doc = raw("018-update-pod-samplepod.json")
    annotations = doc["request"]["object"]["metadata"]["annotations"]
    if new is None:
        del annotations[NETWORKS]
    else:
        annotations[NETWORKS] = new
    (error,) = run(doc).decision.errors
    assert f"(was {was}, now " in error and error.endswith("[networks-immutable]")


def test_networks_immutable_can_be_turned_off_by_policy() -> None:
    policy = Policy.from_mapping({"rules": {"networks-immutable": "off"}}, source="test")
    assert run(raw("018-update-pod-samplepod.json"), policy=policy).decision.allowed is True


def test_workload_update_with_unchanged_template_skips_the_rules() -> None:
    doc = raw("019-create-deployment-web-dual.json")  # an invalid template (eth0)
    doc["request"]["operation"] = "UPDATE"
    doc["request"]["oldObject"] = copy.deepcopy(doc["request"]["object"])
    doc["request"]["object"]["spec"]["replicas"] = 5
    result = run(doc)
    assert (result.decision.allowed, result.checked) == (True, False)


def test_templates_are_never_patched() -> None:
    result = run(raw("026-update-deployment-web-dual.json"))  # the engine would canonicalise the annotation
    assert (result.decision.allowed, result.decision.patch) == (True, ())


def test_validate_endpoint_never_patches() -> None:
    assert run(raw("009-create-pod-samplepod.json"), mutate=False).decision.patch == ()
    assert run(raw("009-create-pod-samplepod.json"), mutate=True).decision.patch != ()


def test_dry_run_is_decided_like_a_real_request() -> None:
    doc = raw("017-create-pod-dryrun-pod.json")
    real = copy.deepcopy(doc)
    real["request"]["dryRun"] = False
    assert run(doc).decision == run(real).decision


def test_other_kinds_are_allowed() -> None:
    doc = raw("009-create-pod-samplepod.json")
    doc["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert run(doc).decision.allowed is True


def nad_with_selector() -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "dpu-net", "namespace": "default",
                         "annotations": {"k8s.v1.cni.cncf.io/resourceName": "example.com/dpu",
                                         "k8s.v1.cni.cncf.io/nodeSelector": "dpu=true"}},
            "spec": {"config": '{"cniVersion":"0.3.1","type":"macvlan","master":"eth0"}'}}


def pod_cases() -> list[Any]:
    cases = [pytest.param(raw(n), id=n[4:-5]) for n in sorted(p.name for p in (FIXTURES / "admission").glob(
        "*-create-pod-*.json"))]
    no_resources = raw("006-create-pod-nginx2-calico-ovn.json")
    del no_resources["request"]["object"]["spec"]["containers"][0]["resources"]
    cases.append(pytest.param(no_resources, id="resources-added"))
    for selector in (None, {"zone": "a"}):
        doc = raw("009-create-pod-samplepod.json")
        doc["request"]["object"]["metadata"]["annotations"][NETWORKS] = "dpu-net"
        spec = doc["request"]["object"]["spec"]
        spec.pop("nodeSelector", None)
        if selector is not None:
            spec["nodeSelector"] = selector
        cases.append(pytest.param(doc, id=f"node-selector-{'merged' if selector else 'added'}"))
    return cases


@pytest.mark.parametrize("doc", pod_cases())
def test_patch_from_the_mutable_view_equals_applying_every_mutation(doc: dict[str, Any]) -> None:
    catalog = MemoryCatalog([*CATALOG, parse_nad(nad_with_selector())])
    review = decode_review(json.dumps(doc).encode())
    result = admit(review, catalog=catalog, policy=Policy(), mutate=True)
    pod = doc["request"]["object"]
    verdict = evaluate_pod(pod, catalog=catalog, policy=Policy(), namespace=review.namespace)
    if not verdict.allowed:
        assert result.decision.patch == ()
        return
    assert result.decision.patch or not verdict.mutations
    assert jsonpatch.apply_patch(pod, list(result.decision.patch)) == apply_mutations(pod, verdict.mutations)


# -- size: admission work and answers are bounded by the API server's 256 KiB annotation limit ---------------------
def with_networks(name: str, networks: str, *, template: bool = False) -> dict[str, Any]:
    doc = raw(name)
    obj = doc["request"]["object"]
    meta = obj["spec"]["template"]["metadata"] if template else obj["metadata"]
    meta.setdefault("annotations", {})[NETWORKS] = networks
    return doc


BIG = [
    pytest.param(with_networks("009-create-pod-samplepod.json", "macvlan-conf," * 80_000 + "x"), "metadata.",
                 id="pod-1MiB"),
    pytest.param(with_networks("009-create-pod-samplepod.json", '{"name":"a b"},' * 200_000), "metadata.",
                 id="pod-3MiB"),
    pytest.param(with_networks("019-create-deployment-web-dual.json", "n," * 600_000, template=True),
                 "spec.template: metadata.", id="deployment-template-1MiB"),
    pytest.param(with_networks("003-create-networkattachmentdefinition-macvlan-conf.json", "n" * 300_000),
                 "metadata.", id="nad"),
]


@pytest.mark.parametrize(("doc", "start"), BIG)
def test_annotations_over_the_api_server_limit_are_denied_without_running_the_rules(doc: dict[str, Any],
                                                                                       start: str) -> None:
    result = run(doc)
    assert [f.rule for f in result.findings] == ["annotation-size"]
    (error,) = result.decision.errors
    assert error.startswith(start + "annotations: the annotations total ") and "262144 bytes" in error
    assert error.endswith("[annotation-size]") and result.decision.patch == ()


def test_annotations_at_the_limits_are_checked_by_the_rules() -> None:
    doc = with_networks("009-create-pod-samplepod.json", "macvlan-conf@eth0" + " " * (64 * 1024 - 17))
    annotations = doc["request"]["object"]["metadata"]["annotations"]
    annotations["pad"] = ""
    annotations["pad"] = "x" * (256 * 1024 - sum(len(k) + len(v) for k, v in annotations.items()))
    assert [f.rule for f in run(doc).findings] == ["interface-name-reserved"]


@pytest.mark.parametrize("key", [NETWORKS, "v1.multus-cni.io/default-network", "k8s.v1.cni.cncf.io/network-status"])
def test_one_network_annotation_over_64_KiB_is_denied_without_running_the_rules(key: str) -> None:
    doc = with_networks("009-create-pod-samplepod.json", "macvlan-conf")
    doc["request"]["object"]["metadata"]["annotations"][key] = "x" * (64 * 1024 + 1)
    (error,) = run(doc).decision.errors
    assert error.startswith(f'metadata.annotations["{key}"]: 65537 bytes, over netweave\'s limit of 65536 bytes')
    assert error.endswith("[annotation-size]")


def test_a_denial_of_a_large_request_is_bounded() -> None:
    # Every element wrong, as many as fit in 64 KiB: the denial once grew to 22 times the request.
    elements = [{"name": f"bad name {i}", "interface": "eth0", "mac": "zz"} for i in range(1_150)]
    doc = with_networks("009-create-pod-samplepod.json", json.dumps(elements, separators=(",", ":")))
    assert 60_000 < len(doc["request"]["object"]["metadata"]["annotations"][NETWORKS]) < 64 * 1024
    response = build_response("u", run(doc).decision)["response"]
    assert response["allowed"] is False and len(response["status"]["message"]) <= MAX_MESSAGE_CHARS + 200
    assert len(json.dumps(response)) < 20_000


def with_metadata(name: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = raw(name)
    target = doc["request"]["object"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


MALFORMED_OBJECTS = [
    pytest.param(with_metadata("003-create-networkattachmentdefinition-macvlan-conf.json",
                               ("metadata", "annotations"), "abc"),
                 'metadata.annotations must be a map of strings to strings, got a string', id="nad-annotations-string"),
    pytest.param(with_metadata("009-create-pod-samplepod.json", ("metadata", "annotations"), ["a"]),
                 "metadata.annotations must be a map of strings to strings, got a list", id="pod-annotations-list"),
    pytest.param(with_metadata("009-create-pod-samplepod.json", ("metadata", "annotations", NETWORKS), 7),
                 f'metadata.annotations["{NETWORKS}"] must be a string, got a number', id="annotation-number"),
    pytest.param(with_metadata("009-create-pod-samplepod.json", ("metadata",), True),
                 "metadata must be an object, got a boolean", id="metadata-boolean"),
    pytest.param(with_metadata("019-create-deployment-web-dual.json", ("spec", "template", "metadata"), "x"),
                 "spec.template: metadata must be an object", id="template-metadata-string"),
]


@pytest.mark.parametrize(("doc", "start"), MALFORMED_OBJECTS)
def test_malformed_metadata_is_a_clear_denial_not_an_internal_error(doc: dict[str, Any], start: str) -> None:
    (error,) = run(doc).decision.errors
    assert error.startswith(start) and error.endswith("[object-malformed]")


def test_a_patch_over_the_limit_is_a_denial_not_a_huge_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import webhook.admission

    doc = raw("009-create-pod-samplepod.json")  # short form: admission would write the canonical JSON back
    assert run(doc).decision.patch
    monkeypatch.setattr(webhook.admission, "PATCH_LIMIT_BYTES", 50)
    decision = run(doc).decision
    assert (decision.allowed, decision.patch) == (False, ())
    assert decision.errors[-1].startswith("metadata.annotations: the changes admission would make come to ")
    assert decision.errors[-1].endswith("-byte limit; request fewer networks or shorter annotation values "
                                        "[annotation-size]")


def test_the_323_KB_request_that_produced_a_7_MB_denial_gets_one_line() -> None:
    elements = [{"name": f"bad name {i}", "interface": "eth0", "mac": "zz"} for i in range(4_500)]
    doc = with_networks("009-create-pod-samplepod.json", json.dumps(elements))
    assert 300_000 < len(json.dumps(doc)) < 340_000
    response = build_response("u", run(doc).decision)["response"]
    assert response["status"]["message"].count("\n") == 0 and len(json.dumps(response)) < 1_000
    assert response["status"]["message"].endswith("[annotation-size]")
