"""`netweave serve` end to end: certificate hot reload, the cluster catalog, readiness, dev certs, workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from certs.rotation import CertPaths
from tests.paths import FIXTURES, REPO
from tests.replay import ReplayServer
from tests.waiting import eventually
from tests.webhook.servers import Certs, Client, ServeProcess, ThreadedServer, make_certs
from webhook.app import StaticCatalog, create_app
from webhook.kube import Backoff, ClusterCatalog
from webhook.manifests import read_catalog
from webhook.policy import Policy

NADS = FIXTURES / "manifests" / "nads.yaml"
NADS_PATH = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"


def pod_review(networks: str, *, namespace: str = "default") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "admission" / "009-create-pod-samplepod.json").read_text())
    doc["request"]["namespace"] = namespace
    doc["request"]["object"]["metadata"]["annotations"] = {"k8s.v1.cni.cncf.io/networks": networks}
    return doc


def test_certificate_rotation_reaches_new_connections_and_keeps_old_ones(tmp_path: Path) -> None:
    live = make_certs(tmp_path / "live")
    rotated = make_certs(tmp_path / "rotated")  # a new CA and serving certificate
    app = create_app(catalog=StaticCatalog(read_catalog(str(NADS))), policy=Policy())
    with ThreadedServer(app, certs=live, poll_seconds=0.05) as server:
        old = server.client(rotated.ca)
        assert old.request("GET", "/healthz").status == 200
        first = old.peer_certificate()
        for name in ("tls.key", "tls.crt"):  # atomic renames, as a Secret volume update does
            shutil.copy(tmp_path / "rotated" / name, tmp_path / f"{name}.new")
            os.replace(tmp_path / f"{name}.new", tmp_path / "live" / name)

        def new_connection_sees_new_cert() -> bool:
            fresh = server.client(rotated.ca)
            try:
                fresh.request("GET", "/healthz")
                return fresh.peer_certificate() != first
            finally:
                fresh.close()

        assert eventually(new_connection_sees_new_cert, timeout=10.0)
        sock = old.conn.sock
        assert old.request("GET", "/healthz").status == 200  # same keep-alive connection, not dropped
        assert old.conn.sock is sock and old.peer_certificate() == first
        old.close()


def test_bad_new_certificate_keeps_the_old_one(tmp_path: Path) -> None:
    live = make_certs(tmp_path / "live")
    app = create_app(catalog=StaticCatalog(read_catalog(str(NADS))), policy=Policy())
    with ThreadedServer(app, certs=live, poll_seconds=0.05) as server:
        (tmp_path / "live" / "tls.crt").write_text("not a certificate")
        time.sleep(0.3)
        fresh = server.client()
        assert fresh.request("GET", "/healthz").status == 200
        fresh.close()


def test_readyz_waits_for_the_cluster_catalog(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with ReplayServer(watch_hold=0.2) as api:
        api.fail_next("GET", NADS_PATH, 503, times=10)
        catalog = ClusterCatalog(lambda: client.ApiClient(api.configuration()),
                                 backoff=Backoff(initial=0.2, maximum=0.2), min_watch_seconds=0.05)
        app = create_app(catalog=catalog, policy=Policy())
        with ThreadedServer(app, certs=certs) as server:
            c = server.client()
            assert c.request("GET", "/healthz").status == 200
            reply = c.request("GET", "/readyz")
            assert reply.status == 503 and reply.json()["status"] == "not ready"
            assert eventually(lambda: c.request("GET", "/readyz").status == 200, timeout=10.0)
            ready = c.request("GET", "/readyz").json()
            # 7 NADs listed; the replayed watch may already have added more by the time we ask.
            assert ready["status"] == "ready" and ready["nads"] >= 7
            c.close()


@pytest.fixture()
def cluster_server(tmp_path: Path) -> Any:
    certs = make_certs(tmp_path / "certs")
    with ReplayServer(watch_hold=30.0) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        with ServeProcess(["--catalog", "cluster", "--kubeconfig", str(kubeconfig)], certs=certs,
                          log_path=tmp_path / "serve.log") as proc:
            yield api, proc


def test_cluster_catalog_serves_watched_nads_without_api_calls(cluster_server: Any) -> None:
    api, proc = cluster_server
    c = proc.client()
    assert eventually(lambda: c.request("GET", "/readyz").json().get("nads") == 9, timeout=10.0)
    before = len(api.requests)
    allowed = c.post("/mutate", pod_review("lab/res-c@net1", namespace="team-a")).response
    assert allowed["allowed"] is True
    denied = c.post("/mutate", pod_review("res-c")).response
    assert denied["allowed"] is False and denied["status"]["message"].endswith("[network-not-found]")
    assert "lab" in denied["status"]["message"]
    for _ in range(20):
        c.post("/mutate", pod_review("macvlan-conf"))
    assert len(api.requests) == before  # the hot path never calls the API
    auth = {r.headers.get("authorization") for r in api.requests}
    assert auth == {"Bearer replay-token"}
    api.add_nad({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                 "metadata": {"name": "fresh", "namespace": "default"},
                 "spec": {"config": '{"cniVersion":"0.3.1","type":"macvlan","master":"eth0"}'}})
    assert eventually(lambda: c.post("/mutate", pod_review("fresh")).response["allowed"] is True, timeout=10.0)
    c.close()


def test_serve_without_certificates_creates_dev_certificates(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    certs = Certs(dev / "tls.crt", dev / "tls.key", CertPaths.of(dev).ca_cert)
    env = {"NETWEAVE_DEV_CERT_DIR": str(dev)}
    with ServeProcess(["--catalog", str(NADS)], certs=certs, log_path=tmp_path / "log", env=env, tls_args=False) as p:
        c = p.client()
        assert c.request("GET", "/readyz").json() == {"status": "ready", "nads": 5}
        c.close()
    assert certs.cert.is_file() and certs.key.is_file()


def test_two_workers_serve_the_same_port(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with ServeProcess(["--catalog", str(NADS), "--workers", "2"], certs=certs, log_path=tmp_path / "log") as p:
        for _ in range(3):
            c = p.client()
            assert c.post("/mutate", pod_review("macvlan-conf")).response["allowed"] is True
            c.close()
    started = [e for e in p.logs() if str(e.get("message", "")).startswith("Started server process")]
    assert len(started) >= 2


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--config", "/nonexistent/.netweave.yaml"], "no such policy file", id="missing-policy"),
    pytest.param(["--workers", "0"], "workers must be at least 1", id="zero-workers"),
    pytest.param(["--tls-cert", "/nonexistent.crt"], "--tls-cert and --tls-key go together", id="cert-without-key"),
])
def test_bad_options_exit_2_with_one_message(tmp_path: Path, args: list[str], message: str) -> None:
    certs = make_certs(tmp_path / "certs")
    proc = ServeProcess(["--catalog", str(NADS), *args], certs=certs, log_path=tmp_path / "log",
                        tls_args="--tls-cert" not in args)
    with pytest.raises(RuntimeError, match="exited with 2"):
        proc.__enter__()
    assert message in (tmp_path / "log").read_text()


@pytest.mark.parametrize(("files", "options", "named"), [
    pytest.param({"ok.yaml": "kind: Pod\n", "bad.yaml": "kind: NetworkAttachmentDefinition\nmetadata: [\n"}, [],
                 "bad.yaml:3:1: invalid YAML", id="bad-yaml"),
    pytest.param({"bad.yaml": b"kind: NetworkAttachmentDefinition\nmetadata: {name: caf\xe9}\n"}, ["--workers", "2"],
                 "bad.yaml:2: not UTF-8 text", id="not-utf8-checked-before-the-workers-start"),
])
def test_unreadable_catalog_exits_2_naming_file_and_line(tmp_path: Path, files: dict[str, str | bytes],
                                                         options: list[str], named: str) -> None:
    nads, workdir = tmp_path / "nads", tmp_path / "work"
    workdir.mkdir()
    for name, content in files.items():
        (nads / name).parent.mkdir(parents=True, exist_ok=True)
        (nads / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    done = subprocess.run([sys.executable, "-m", "netweave", "serve", "--catalog", str(nads), *options], cwd=workdir,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
                          check=False)
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    errors = [str(r.get("message", r.get("msg"))) for r in records if str(r.get("level")).lower() == "error"]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert f"NAD catalog {nads}/{named}" in errors[0], errors
    assert list(workdir.iterdir()) == []  # no .dev-certs/ written by a start that failed


def test_invalid_policy_file_exits_2(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: {interface-name-reserved: loud}\n")
    proc = ServeProcess(["--catalog", str(NADS), "--config", str(policy)], certs=certs, log_path=tmp_path / "log")
    with pytest.raises(RuntimeError, match="exited with 2"):
        proc.__enter__()
    assert "use error, warning or off" in (tmp_path / "log").read_text()


def test_policy_file_changes_severity(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  networks-immutable: warning\n")
    doc = json.loads((FIXTURES / "admission" / "018-update-pod-samplepod.json").read_text())
    with ServeProcess(["--catalog", str(NADS), "--config", str(policy)], certs=certs,
                      log_path=tmp_path / "log") as p:
        c = p.client()
        response = c.post("/mutate", doc).response
        c.close()
    assert response["allowed"] is True and response["warnings"][0].endswith("[networks-immutable]")


def test_every_worker_reloads_the_rotated_certificate(tmp_path: Path) -> None:
    live = make_certs(tmp_path / "live")
    rotated = make_certs(tmp_path / "rotated")
    env = {"NETWEAVE_CERT_POLL_SECONDS": "0.1"}
    with ServeProcess(["--catalog", str(NADS), "--workers", "2"], certs=live, log_path=tmp_path / "log",
                      env=env) as proc:
        # Ready means one worker answers; rotate only once both have loaded the first certificate.
        started = lambda: sum(e.get("message") == "Application startup complete." for e in proc.logs())  # noqa: E731
        assert eventually(lambda: started() == 2, timeout=10.0)
        first = proc.client()
        first.request("GET", "/healthz")
        old_cert = first.peer_certificate()
        first.close()
        for name in ("tls.key", "tls.crt"):
            shutil.copy(tmp_path / "rotated" / name, tmp_path / f"{name}.new")
            os.replace(tmp_path / f"{name}.new", tmp_path / "live" / name)

        def all_new() -> bool:
            seen = set()
            for _ in range(8):  # the kernel spreads new connections over both workers
                fresh = Client(proc.port, [live.ca, rotated.ca])
                try:
                    fresh.request("GET", "/healthz")
                    seen.add(fresh.peer_certificate())
                finally:
                    fresh.close()
            return old_cert not in seen

        def reloads() -> int:
            return sum(e.get("message") == "reloaded the TLS certificate" for e in proc.logs())

        assert eventually(lambda: reloads() == 2, timeout=10.0)  # one per worker process
        assert all_new()


class BrokenCatalog(StaticCatalog):
    """A catalog whose lookups fail: stands in for any bug below the handler."""

    def snapshot(self) -> Any:
        raise RuntimeError("boom")


def test_an_internal_error_denies_with_200_not_500(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    app = create_app(catalog=BrokenCatalog(read_catalog(str(NADS))), policy=Policy())
    doc = pod_review("macvlan-conf")
    with ThreadedServer(app, certs=certs) as server:
        c = server.client()
        reply = c.post("/mutate", doc)
        metrics = c.request("GET", "/metrics").body.decode()
        c.close()
    assert reply.status == 200
    assert reply.response["uid"] == doc["request"]["uid"] and reply.response["allowed"] is False
    assert "internal error" in reply.response["status"]["message"]
    assert 'outcome="error"' in metrics


def test_each_app_has_its_own_metrics_registry() -> None:
    source = StaticCatalog(read_catalog(str(NADS)))
    first, second = (create_app(catalog=source, policy=Policy()) for _ in range(2))
    first.state.metrics.requests.labels("mutate", "CREATE", "Pod", "allowed").inc()
    assert b'outcome="allowed"} 1.0' in first.state.metrics.render()[0]
    assert b'outcome="allowed"' not in second.state.metrics.render()[0]
