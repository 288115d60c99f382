"""`netweave serve` over real TLS, fed the AdmissionReviews kube-apiserver 1.24 sent (fixtures/admission/)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from tests.paths import FIXTURES
from tests.webhook.servers import Certs, Client, ServeProcess, make_certs

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT = "v1.multus-cni.io/default-network"
STATUS = "k8s.v1.cni.cncf.io/network-status"
NADS = FIXTURES / "manifests" / "nads.yaml"
ADMISSION = FIXTURES / "admission"
WEBHOOK = "pods.netweave.io"


def review(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ADMISSION / name).read_text())
    return doc


def fixture_names() -> list[str]:
    return sorted(p.name for p in ADMISSION.glob("*.json"))


def kubectl_error(status: dict[str, Any]) -> str:
    """What kubectl prints for a webhook denial (the API server prefixes the webhook name)."""
    return f'Error from server ({status["reason"]}): admission webhook "{WEBHOOK}" denied the request: ' \
           f'{status["message"]}'


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    with ServeProcess(["--catalog", str(NADS), "--log-level", "debug"], certs=certs, log_path=log) as proc:
        yield proc


@pytest.fixture()
def client(server: ServeProcess) -> Iterator[Client]:
    c = server.client()
    yield c
    c.close()


# -- Pod CREATE: the patch, applied with jsonpatch, gives exactly the expected pod ---------------------------------
PATCHED = [
    pytest.param("006-create-pod-nginx2-calico-ovn.json", {
        NETWORKS: '[{"name":"ovn-net","namespace":"kube-system","interface":"eth1","default-route":["10.124.2.1"]}]',
        DEFAULT: "kube-system/calico-net"}, id="calico-primary-ovn-secondary"),
    pytest.param("007-create-pod-nginx2-ovn-calico.json", {
        NETWORKS: '[{"name":"calico-net","namespace":"kube-system","interface":"eth1",'
                  '"default-route":["169.254.1.1"]}]',
        DEFAULT: "kube-system/ovn-net"}, id="ovn-primary-calico-secondary"),
    pytest.param("008-create-pod-busybox3.json", {
        NETWORKS: '[{"name":"macvlan-conf","namespace":"default","interface":"eth1","default-route":["192.168.1.1"]}]'},
        id="macvlan-default-route"),
    pytest.param("009-create-pod-samplepod.json", {
        NETWORKS: '[{"name":"macvlan-conf","namespace":"default","interface":"net1"}]'}, id="short-form"),
    pytest.param("010-create-pod-centos-runtimeconfig.json", {
        NETWORKS: '[{"name":"ip-192","namespace":"default","interface":"net1","ips":["192.168.111.10/24"],'
                  '"mac":"20:01:02:03:04:05"}]'}, id="static-ip-and-mac"),
    pytest.param("015-create-pod-status-spoof.json", {
        NETWORKS: '[{"name":"macvlan-conf","namespace":"default","interface":"net1"}]', STATUS: None},
        id="user-network-status-removed"),
    pytest.param("016-create-pod-gen-.json", {
        NETWORKS: '[{"name":"macvlan-conf","namespace":"default","interface":"net7"}]'}, id="generate-name"),
    pytest.param("017-create-pod-dryrun-pod.json", {
        NETWORKS: '[{"name":"macvlan-conf","namespace":"default","interface":"net1"}]'}, id="dry-run-same-as-real"),
]


@pytest.mark.parametrize(("name", "annotations"), PATCHED)
def test_pod_create_patch_gives_expected_pod(client: Client, name: str, annotations: dict[str, str | None]) -> None:
    doc = review(name)
    reply = client.post("/mutate", doc)
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    response = reply.response
    assert (response["uid"], response["allowed"], response["patchType"]) == (doc["request"]["uid"], True, "JSONPatch")
    pod = doc["request"]["object"]
    expected = copy.deepcopy(pod)
    for key, value in annotations.items():
        if value is None:
            del expected["metadata"]["annotations"][key]
        else:
            expected["metadata"]["annotations"][key] = value
    assert jsonpatch.apply_patch(pod, reply.patch_ops()) == expected


@pytest.mark.parametrize("name", [
    pytest.param("014-create-pod-plain.json", id="no-network-annotations"),
    pytest.param("029-create-pod-on-node-1.json", id="already-canonical"),
])
def test_pod_create_allowed_without_patch(client: Client, name: str) -> None:
    doc = review(name)
    assert client.post("/mutate", doc).response == {"uid": doc["request"]["uid"], "allowed": True}


# -- denials: 403 Forbidden, one error per line, as kubectl shows them ----------------------------------------------
def test_eth0_denial_text_as_kubectl_prints_it(client: Client) -> None:
    response = client.post("/mutate", review("012-create-pod-eth0-conflict.json")).response
    assert response["allowed"] is False and "patch" not in response
    assert response["status"] == {
        "code": 403, "reason": "Forbidden", "status": "Failure",
        "message": 'networks[0] "default/macvlan-conf": interface "eth0" is reserved for the cluster default '
                   'network; choose another name, e.g. "net1" [interface-name-reserved]'}
    assert kubectl_error(response["status"]).startswith(
        'Error from server (Forbidden): admission webhook "pods.netweave.io" denied the request: networks[0] ')


DENIED = [
    pytest.param("013-create-pod-broken-json.json", ["annotation-syntax"], id="broken-json"),
    pytest.param("018-update-pod-samplepod.json", ["networks-immutable"], id="update-changes-networks"),
    pytest.param("019-create-deployment-web-dual.json", ["interface-name-reserved"], id="deployment-template"),
    pytest.param("024-create-cronjob-cron1.json", ["interface-name-duplicate"], id="cronjob-template"),
]


@pytest.mark.parametrize(("name", "rules"), DENIED)
@pytest.mark.parametrize("endpoint", ["/mutate", "/validate"])
def test_denials_name_each_rule_on_its_own_line(client: Client, endpoint: str, name: str, rules: list[str]) -> None:
    doc = review(name)
    response = client.post(endpoint, doc).response
    assert (response["uid"], response["allowed"]) == (doc["request"]["uid"], False)
    assert (response["status"]["code"], response["status"]["reason"]) == (403, "Forbidden")
    lines = response["status"]["message"].split("\n")
    assert [line.rsplit("[", 1)[1].rstrip("]") for line in lines] == rules
    assert "patch" not in response


def test_update_denial_says_what_changed(client: Client) -> None:
    message = client.post("/mutate", review("018-update-pod-samplepod.json")).response["status"]["message"]
    assert message.startswith('metadata.annotations["k8s.v1.cni.cncf.io/networks"]: the pod\'s networks cannot '
                              "change after it is created (was 'macvlan-conf', now 'macvlan-conf,ip-192')")


@pytest.mark.parametrize(("name", "start"), [
    pytest.param("019-create-deployment-web-dual.json", 'spec.template: networks[0] "default/macvlan-conf": ',
                 id="deployment"),
    pytest.param("024-create-cronjob-cron1.json", 'spec.jobTemplate.spec.template: networks[1] "default/ip-192": ',
                 id="cronjob"),
])
def test_workload_denial_names_the_pod_template(client: Client, name: str, start: str) -> None:
    assert client.post("/validate", review(name)).response["status"]["message"].startswith(start)


def test_warnings_go_to_response_warnings(client: Client) -> None:
    response = client.post("/mutate", review("011-create-pod-frontend.json")).response
    assert response["allowed"] is True
    assert [w.rsplit(" [", 1)[1] for w in response["warnings"]] == ["annotation-syntax]", "annotation-syntax]"]
    assert response["warnings"][0].startswith('networks[0].name: name "default/kube-ovn-vpc-network" carries')


def test_spoofed_network_status_is_warned_and_removed(client: Client) -> None:
    response = client.post("/mutate", review("015-create-pod-status-spoof.json")).response
    assert any(w.endswith("[network-status-spoof]") for w in response["warnings"])
    assert {"op": "remove", "path": "/metadata/annotations/k8s.v1.cni.cncf.io~1network-status"} in \
        client.post("/mutate", review("015-create-pod-status-spoof.json")).patch_ops()


ALLOWED_UNPATCHED = [
    *(pytest.param(n, id=n.split("-", 1)[1].removesuffix(".json")) for n in fixture_names()
      if "networkattachmentdefinition" in n),
    pytest.param("020-create-statefulset-db.json", id="statefulset"),
    pytest.param("022-create-replicaset-rs1.json", id="replicaset"),
    pytest.param("023-create-job-job1.json", id="job"),
    pytest.param("026-update-deployment-web-dual.json", id="deployment-update-fixes-template"),
]


@pytest.mark.parametrize("name", ALLOWED_UNPATCHED)
def test_nads_and_valid_workloads_are_allowed_without_patch(client: Client, name: str) -> None:
    doc = review(name)
    response = client.post("/mutate", doc).response
    assert response == {"uid": doc["request"]["uid"], "allowed": True}


def test_daemonset_with_calico_secondary_is_allowed_with_a_warning(client: Client) -> None:
    doc = review("021-create-daemonset-agent.json")
    response = client.post("/mutate", doc).response
    assert response["allowed"] is True and "patch" not in response
    assert [w.rsplit(" ", 1)[1] for w in response["warnings"]] == ["[calico-secondary]"]


@pytest.mark.parametrize("name", fixture_names())
def test_validate_never_patches_and_agrees_with_mutate(client: Client, name: str) -> None:
    doc = review(name)
    mutate, validate = client.post("/mutate", doc).response, client.post("/validate", doc).response
    assert validate["uid"] == doc["request"]["uid"]
    assert "patch" not in validate and "patchType" not in validate
    assert (validate["allowed"], validate.get("status"), validate.get("warnings")) == (
        mutate["allowed"], mutate.get("status"), mutate.get("warnings"))


def test_invalid_nad_config_is_denied(client: Client) -> None:
    doc = review("027-create-networkattachmentdefinition-watch-demo.json")
    doc["request"]["object"]["spec"]["config"] = '{"cniVersion": "0.3.1", "plugins": [{"bridge": "br0"}]}'
    response = client.post("/validate", doc).response
    assert response["allowed"] is False
    assert response["status"]["message"].endswith("[network-config-invalid]")


def test_pod_delete_is_allowed(client: Client) -> None:
    doc = review("009-create-pod-samplepod.json")
    doc["request"].update(operation="DELETE", oldObject=doc["request"]["object"], object=None)
    assert client.post("/mutate", doc).response == {"uid": doc["request"]["uid"], "allowed": True}


# -- bad requests: 400 with a JSON error, never a 422 or a 500 ------------------------------------------------------
def wrong_api_version() -> bytes:
    doc = review("009-create-pod-samplepod.json")
    doc["apiVersion"] = "admission.k8s.io/v1beta1"
    return json.dumps(doc).encode()


def without_uid() -> bytes:
    doc = review("009-create-pod-samplepod.json")
    del doc["request"]["uid"]
    return json.dumps(doc).encode()


BAD = [
    pytest.param(b"{not json", None, "not JSON", id="malformed-json"),
    pytest.param(b"", None, "not JSON", id="empty"),
    pytest.param(b"\xff\xfe", None, "not JSON", id="not-utf8"),
    pytest.param(b"[1, 2]", None, "JSON object", id="array"),
    pytest.param(wrong_api_version(), "2eaf5fb5-b149-40f8-b8a9-11b41486576b", "admission.k8s.io/v1", id="v1beta1"),
    pytest.param(without_uid(), None, "uid", id="no-uid"),
    pytest.param(b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', None, "no request",
                 id="no-request"),
    pytest.param(b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",'
                 b'"operation":"PATCH","kind":{"kind":"Pod"}}}', "u1", "operation", id="bad-operation"),
    pytest.param(b"[" * 100000 + b"]" * 100000, None, "", id="deeply-nested"),
]


@pytest.mark.parametrize(("body", "uid", "text"), BAD)
def test_bad_request_is_400_json_error_with_uid(client: Client, body: bytes, uid: str | None, text: str) -> None:
    reply = client.request("POST", "/mutate", body)
    assert reply.status == 400 and reply.headers["content-type"] == "application/json"
    assert reply.json()["uid"] == uid and text in reply.json()["error"]


def oversized() -> bytes:
    doc = review("009-create-pod-samplepod.json")
    doc["request"]["object"]["metadata"]["annotations"]["pad"] = "x" * (3 * 1024 * 1024)
    return json.dumps(doc).encode()


def test_oversized_body_is_413(client: Client) -> None:
    reply = client.request("POST", "/mutate", oversized())
    assert reply.status == 413 and "exceeds the 3145728-byte limit" in reply.json()["error"]
    doc = review("009-create-pod-samplepod.json")  # the unread rest of the big body does not poison the connection
    assert client.post("/mutate", doc).response["uid"] == doc["request"]["uid"]


def test_oversized_chunked_body_is_413(server: ServeProcess) -> None:
    client = server.client()
    body = oversized()
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    client.conn.request("POST", "/validate", body=chunks, encode_chunked=True,
                        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    resp = client.conn.getresponse()
    assert resp.status == 413 and "limit" in json.loads(resp.read())["error"]
    client.close()


def test_body_just_under_the_limit_is_reviewed(client: Client) -> None:
    doc = review("009-create-pod-samplepod.json")
    size = len(json.dumps(doc))
    doc["request"]["object"]["spec"]["containers"][0]["args"] = ["x" * (3 * 1024 * 1024 - size - 30)]
    reply = client.post("/mutate", doc)
    assert reply.status == 200 and reply.response["allowed"] is True


def test_connection_survives_a_bad_request(client: Client) -> None:
    assert client.request("POST", "/mutate", b"{").status == 400
    doc = review("009-create-pod-samplepod.json")
    assert client.post("/mutate", doc).response["uid"] == doc["request"]["uid"]


def test_get_on_mutate_is_405_not_500(client: Client) -> None:
    assert client.request("GET", "/mutate").status == 405


# -- health, readiness, metrics, logs ------------------------------------------------------------------------------
def test_health_and_readiness(client: Client) -> None:
    assert client.request("GET", "/healthz").json() == {"status": "ok"}
    assert client.request("GET", "/readyz").json() == {"status": "ready", "nads": 5}


def test_metrics_count_requests_findings_latency_and_catalog(client: Client) -> None:
    client.post("/mutate", review("012-create-pod-eth0-conflict.json"))
    client.post("/mutate", review("009-create-pod-samplepod.json"))
    text = client.request("GET", "/metrics").body.decode()
    assert 'netweave_admission_requests_total{endpoint="mutate",kind="Pod",operation="CREATE",outcome="denied"}' \
        in text
    assert 'outcome="patched"' in text
    assert 'netweave_admission_findings_total{rule="interface-name-reserved",severity="error"}' in text
    assert 'netweave_admission_duration_seconds_bucket{endpoint="mutate",le="0.005"}' in text
    assert "netweave_catalog_nads 5.0" in text and "netweave_catalog_synced 1.0" in text
    assert "netweave_catalog_last_sync_timestamp_seconds 1." in text


def test_logs_are_json_lines_with_decision_context(server: ServeProcess, client: Client) -> None:
    client.post("/mutate", review("012-create-pod-eth0-conflict.json"))
    denied = [e for e in server.logs() if e.get("message") == "denied Pod default/eth0-conflict"]
    assert denied and denied[-1]["uid"] == "3098a308-bdd3-4399-8a89-f25b02614e3d"
    assert denied[-1]["errors"][0].endswith("[interface-name-reserved]") and denied[-1]["level"] == "info"


def test_missing_catalog_directory_fails_at_start(certs: Certs, tmp_path: Path) -> None:
    proc = ServeProcess(["--catalog", str(tmp_path / "nope")], certs=certs, log_path=tmp_path / "log")
    with pytest.raises(RuntimeError, match="exited with 2"):
        proc.__enter__()
    assert "no such file or directory" in (tmp_path / "log").read_text()
