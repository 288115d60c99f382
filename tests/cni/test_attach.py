"""attach: GC, DEL from a record and ADD rollback, with a tiny executable fake delegate (no netns needed)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cni import attach, cache
from cni.cache import Record
from cni.context import Context
from cni.errors import CniError
from cni.plan import Attachment
from cni.request import Request
from cni.spec import NETWORKS_ANNOTATION as NETWORKS
from tests.replay import ReplayServer

FAKE = f"""#!{sys.executable}
import json, os, sys
conf = json.load(sys.stdin)
command = os.environ["CNI_COMMAND"]
with open(conf["log"], "a") as log:
    log.write(json.dumps({{"command": command, "containerID": os.environ["CNI_CONTAINERID"],
                          "ifname": os.environ["CNI_IFNAME"], "args": os.environ["CNI_ARGS"]}}) + "\\n")
fail, code = open(conf["failFile"]).read().split("/")
if command in fail.split():
    print(json.dumps({{"cniVersion": conf["cniVersion"], "code": int(code), "msg": command + " failed"}}))
    sys.exit(1)
if command == "ADD":
    print(json.dumps({{"cniVersion": conf["cniVersion"], "interfaces": [{{"name": os.environ["CNI_IFNAME"]}}]}}))
"""
POD = {"namespace": "default", "name": "web", "uid": "u-1"}
POD_ARGS = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=u-1"


class Fake:
    """A bin dir holding the fake delegate, its call log and a cache dir."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        (self.bin / "fake").write_text(FAKE)
        (self.bin / "fake").chmod(0o755)
        self.log = root / "calls.jsonl"
        self.cache_dir = str(root / "cache")
        self.fail_file = root / "fail"
        self.fail_on()
        self.cluster = root / "10-fake.conflist"
        self.cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "fakenet", "plugins": [self.plugin()]}))

    def plugin(self) -> dict[str, Any]:
        return {"type": "fake", "cniVersion": "1.0.0", "name": "fakenet", "log": str(self.log),
                "failFile": str(self.fail_file)}

    def fail_on(self, *commands: str, code: int = 100) -> None:
        """Make the delegate fail these CNI commands (with this error code) from now on."""
        self.fail_file.write_text(" ".join(commands) + f"/{code}")

    def calls(self) -> list[dict[str, str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def record(self, container_id: str, *, complete: bool = True,
               results: dict[str, dict[str, Any]] | None = None) -> Record:
        att = Attachment(network="fakenet", ifname="eth0", cni_version="1.0.0", plugins=(self.plugin(),),
                         is_default=True)
        record = Record(container_id, "eth0", "", "1.1.0", POD, (att,), results=results or {}, complete=complete)
        cache.write(self.cache_dir, record)
        return record

    def request(self, command: str, container_id: str = "", *, args: str = "", **config: Any) -> Request:
        env = {"CNI_COMMAND": command, "CNI_PATH": str(self.bin), "CNI_ARGS": args}
        if container_id:
            env |= {"CNI_CONTAINERID": container_id, "CNI_IFNAME": "eth0", "CNI_NETNS": "/var/run/netns/none"}
        conf = {"cniVersion": "1.1.0", "name": "netweave", "clusterNetwork": str(self.cluster),
                "cacheDir": self.cache_dir, **config}
        return Request.from_env(env, json.dumps(conf).encode())

    def records(self) -> list[str]:
        return sorted(f"{cid}-{ifname}" for cid, ifname in cache.keys(self.cache_dir))


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)


CTX = Context(node_name="node-1")
VALID = "cni.dev/valid-attachments"


def test_gc_with_an_empty_valid_list_deletes_everything(fake: Fake) -> None:
    fake.record("c1")
    fake.record("c2")
    attach.gc(CTX, fake.request("GC", **{VALID: []}))
    assert fake.records() == []
    assert sorted(c["containerID"] for c in fake.calls() if c["command"] == "DEL") == ["c1", "c2"]


def test_gc_keeps_valid_attachments(fake: Fake) -> None:
    fake.record("c1")
    fake.record("c2")
    attach.gc(CTX, fake.request("GC", **{VALID: [{"containerID": "c1", "ifname": "eth0"}]}))
    assert fake.records() == ["c1-eth0"]


def test_gc_without_valid_attachments_is_an_error_and_deletes_nothing(fake: Fake) -> None:
    fake.record("c1")
    with pytest.raises(CniError) as caught:
        fake.request("GC")
    assert caught.value.code == 7 and VALID in caught.value.msg
    req = fake.request("GC", **{VALID: []})
    assert req.config is not None
    with pytest.raises(CniError) as caught:   # a Config built without from_env
        attach.gc(CTX, replace(req, config=replace(req.config, valid_attachments=None)))
    assert caught.value.code == 7 and VALID in caught.value.msg
    assert fake.records() == ["c1-eth0"] and fake.calls() == []


def test_gc_passes_the_recorded_pod_to_the_delegates(fake: Fake) -> None:
    fake.record("c1")
    attach.gc(CTX, fake.request("GC", **{VALID: []}))
    [call] = fake.calls()
    assert set(POD_ARGS.split(";")) <= set(call["args"].split(";"))


def test_del_without_cni_args_passes_the_recorded_pod(fake: Fake) -> None:
    fake.record("c1")
    attach.delete(CTX, fake.request("DEL", "c1"))
    [call] = fake.calls()
    assert set(POD_ARGS.split(";")) <= set(call["args"].split(";"))
    assert fake.records() == []


def test_del_with_cni_args_keeps_the_runtime_s_pod(fake: Fake) -> None:
    fake.record("c1")
    attach.delete(CTX, fake.request("DEL", "c1", args="K8S_POD_NAMESPACE=other;K8S_POD_NAME=db"))
    [call] = fake.calls()
    assert call["args"] == "K8S_POD_NAMESPACE=other;K8S_POD_NAME=db;IgnoreUnknown=1"


def test_gc_skips_a_fresh_incomplete_record_but_collects_an_old_one(fake: Fake) -> None:
    fake.record("fresh", complete=False)
    fake.record("stale", complete=False)
    old = time.time() - attach.GC_GRACE_SECONDS - 60
    os.utime(cache.record_path(fake.cache_dir, "stale", "eth0"), (old, old))
    attach.gc(CTX, fake.request("GC", **{VALID: []}))
    assert fake.records() == ["fresh-eth0"]
    assert [c["containerID"] for c in fake.calls()] == ["stale"]


def test_a_gc_delete_that_fails_is_one_error_record_and_gc_goes_on(
    fake: Fake, caplog: pytest.LogCaptureFixture
) -> None:
    """c1's ADD succeeded, so its failed DEL may leak an interface: an error record, not a warning; c2 (nothing
    of it exists) is still collected, and GC succeeds."""
    fake.record("c1", results={"eth0": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}})
    fake.record("c2")
    fake.fail_on("DEL")
    with caplog.at_level(logging.DEBUG, logger="cni"):
        attach.gc(CTX, fake.request("GC", **{VALID: []}))
    assert fake.records() == ["c1-eth0"]
    assert sorted(c["containerID"] for c in fake.calls()) == ["c1", "c2"]
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    fields = {k: getattr(error, k, None) for k in ("command", "container_id", "ifname", "pod", "code", "network",
                                                    "network_ifname", "fatal_because")}
    assert fields == {"command": "GC", "container_id": "c1", "ifname": "eth0", "pod": "default/web", "code": 103,
                      "network": "fakenet", "network_ifname": "eth0",
                      "fatal_because": "its ADD succeeded, so it may still hold an interface or a lease"}


def test_add_whose_rollback_is_told_to_try_again_keeps_the_record_for_the_runtime_s_del(fake: Fake) -> None:
    fake.fail_on("ADD", "DEL", code=11)
    with pytest.raises(CniError):
        attach.add(CTX, fake.request("ADD", "c1", args=POD_ARGS))
    record = cache.read(fake.cache_dir, "c1", "eth0")
    assert record is not None and not record.complete
    assert [a.network for a in record.attachments] == ["fakenet"]

    fake.fail_on("ADD")   # the plugin recovers: the runtime's DEL retries from the record
    attach.delete(CTX, fake.request("DEL", "c1", args=POD_ARGS))
    assert fake.records() == []
    assert [c["command"] for c in fake.calls()] == ["ADD", "DEL", "DEL"]


def test_a_del_that_fails_for_an_add_that_never_succeeded_does_not_block_teardown(fake: Fake) -> None:
    fake.fail_on("ADD", "DEL")   # like macvlan with a missing master: ADD and DEL fail alike, forever
    with pytest.raises(CniError) as caught:
        attach.add(CTX, fake.request("ADD", "c1", args=POD_ARGS))
    assert caught.value.code == 103
    assert fake.records() == []

    attach.delete(CTX, fake.request("DEL", "c1", args=POD_ARGS))   # the runtime's DEL: no error
    attach.delete(CTX, fake.request("DEL", "c1", args=POD_ARGS))
    assert fake.records() == []
    assert [c["command"] for c in fake.calls()] == ["ADD", "DEL", "DEL", "DEL"]


@pytest.mark.parametrize("code", [pytest.param(100, id="plugin-error"), pytest.param(11, id="try-again")])
def test_a_del_that_fails_after_a_successful_add_fails_and_keeps_the_record(fake: Fake, code: int) -> None:
    record = fake.record("c1", results={"eth0": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}})
    fake.fail_on("DEL", code=code)
    with pytest.raises(CniError) as caught:
        attach.delete(CTX, fake.request("DEL", "c1", args=POD_ARGS))
    assert caught.value.code == (11 if code == 11 else 103)
    assert cache.read(fake.cache_dir, "c1", "eth0") == record


def test_a_second_add_of_a_live_attachment_is_refused_without_touching_it(fake: Fake) -> None:
    record = fake.record("c1", results={"eth0": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}})
    with pytest.raises(CniError) as caught:
        attach.add(CTX, fake.request("ADD", "c1", args=POD_ARGS))
    assert caught.value.code == 109
    assert caught.value.msg == "container c1 interface eth0 already has an attachment"
    assert fake.calls() == []
    assert cache.read(fake.cache_dir, "c1", "eth0") == record


def test_an_add_over_an_unfinished_add_is_refused_too(fake: Fake) -> None:
    fake.record("c1", complete=False)
    with pytest.raises(CniError) as caught:
        attach.add(CTX, fake.request("ADD", "c1", args=POD_ARGS))
    assert (caught.value.code, caught.value.msg) == (109, "container c1 interface eth0 already has an unfinished ADD")
    assert fake.calls() == []


def test_add_whose_rollback_succeeds_removes_the_record(fake: Fake) -> None:
    fake.fail_on("ADD")
    with pytest.raises(CniError):
        attach.add(CTX, fake.request("ADD", "c1", args=POD_ARGS))
    assert fake.records() == []
    assert [c["command"] for c in fake.calls()] == ["ADD", "DEL"]


@pytest.mark.parametrize(("code", "expected"), [
    pytest.param(11, 11, id="try-again-kept"),
    pytest.param(100, 103, id="plugin-code-wrapped"),
])
def test_add_failure_keeps_well_known_delegate_codes(fake: Fake, code: int, expected: int) -> None:
    fake.fail_on("ADD", code=code)
    with pytest.raises(CniError) as caught:
        attach.add(CTX, fake.request("ADD", "c1", args=POD_ARGS))
    assert caught.value.code == expected
    assert caught.value.msg == 'network "fakenet" interface "eth0": plugin fake: ADD failed'


DEAD_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_del_without_a_record_or_the_api_server_deletes_the_cluster_network_when_the_netns_is_gone(
    fake: Fake, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "dead-kubeconfig"
    kubeconfig.write_text(DEAD_KUBECONFIG)
    attach.delete(CTX, fake.request("DEL", "c1", args=POD_ARGS, kubeconfig=str(kubeconfig)))
    assert [(c["command"], c["containerID"]) for c in fake.calls()] == [("DEL", "c1")]


def test_del_over_an_unreadable_record_deletes_from_the_plan_and_removes_the_file(fake: Fake) -> None:
    path = cache.record_path(fake.cache_dir, "c1", "eth0")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    attach.delete(CTX, fake.request("DEL", "c1", args=POD_ARGS))
    assert not path.exists()
    assert [c["command"] for c in fake.calls()] == ["DEL"]


def _nad(fake: Fake, name: str, fail_file: Path) -> dict[str, Any]:
    plugin = {**fake.plugin(), "name": name, "failFile": str(fail_file)}
    config = {"cniVersion": "1.0.0", "name": name, "plugins": [plugin]}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"namespace": "default", "name": name}, "spec": {"config": json.dumps(config)}}


def test_add_rollback_and_del_run_over_three_attachments_in_reverse(
    fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eth0 + net1 + net2 from a real API read; net2's ADD fails: DEL runs net2, net1, eth0 — reverse, nothing
    else. Then a complete record of the three is DELed in reverse too. No netns (no root): the default-route
    handover between delegates is netlink's and is tested with root in tests/e2e; here it takes nothing."""
    monkeypatch.setattr(attach, "_take_defaults", lambda pod_ns, *, required: ())
    ok, failing = tmp_path / "ok", tmp_path / "failing"
    ok.write_text("/100")
    failing.write_text("ADD/100")
    with ReplayServer() as api:
        api.add_nad(_nad(fake, "net1", ok))
        api.add_nad(_nad(fake, "net2", failing))
        api.add_pod({"metadata": {"namespace": "default", "name": "web", "uid": "u-1",
                                  "annotations": {NETWORKS: "net1,net2"}}, "spec": {"nodeName": "node-1"}})
        kubeconfig = str(api.write_kubeconfig(tmp_path / "kubeconfig"))
        with pytest.raises(CniError) as caught:
            attach.add(CTX, fake.request("ADD", "c1", args=POD_ARGS, kubeconfig=kubeconfig))
    assert caught.value.msg.startswith('network "default/net2" interface "net2"')
    assert [(c["command"], c["ifname"]) for c in fake.calls()] == [
        ("ADD", "eth0"), ("ADD", "net1"), ("ADD", "net2"), ("DEL", "net2"), ("DEL", "net1"), ("DEL", "eth0")]
    assert fake.records() == []

    fake.log.unlink()
    atts = tuple(Attachment(network=name, ifname=ifname, cni_version="1.0.0", is_default=ifname == "eth0",
                            plugins=(fake.plugin(),))
                 for ifname, name in (("eth0", "fakenet"), ("net1", "default/net1"), ("net2", "default/net2")))
    results = {a.ifname: {"cniVersion": "1.0.0", "interfaces": [{"name": a.ifname}]} for a in atts}
    cache.write(fake.cache_dir, Record("c2", "eth0", "", "1.1.0", POD, atts, results=results, complete=True))
    attach.delete(CTX, fake.request("DEL", "c2", args=POD_ARGS))
    assert [(c["command"], c["ifname"]) for c in fake.calls()] == [("DEL", "net2"), ("DEL", "net1"), ("DEL", "eth0")]
    assert fake.records() == []
