"""A failed CNI operation is logged once, at error level, by cni.execute, with where it failed as fields.

The tiny fake delegate of test_attach, no netns (no root): the pod's default-route handover is netlink's and is
tested with root in tests/e2e and tests/cni/test_netlink_errors.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cni import attach, cache, errors
from cni.context import Context
from cni.execute import execute
from cni.plan import Attachment
from cni.spec import NETWORKS_ANNOTATION as NETWORKS
from tests.cni.test_attach import POD_ARGS, Fake, _nad
from tests.replay import ReplayServer

CTX = Context(node_name="node-1")


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)


def env(fake: Fake, command: str, container_id: str = "c1") -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_PATH": str(fake.bin), "CNI_ARGS": POD_ARGS,
            "CNI_CONTAINERID": container_id, "CNI_IFNAME": "eth0", "CNI_NETNS": "/var/run/netns/none"}


def stdin(fake: Fake, **config: Any) -> bytes:
    return json.dumps({"cniVersion": "1.1.0", "name": "netweave", "clusterNetwork": str(fake.cluster),
                       "cacheDir": fake.cache_dir, **config}).encode()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def run_add_over_three_networks(fake: Fake, tmp_path: Path, net2_fails: str) -> tuple[int, dict[str, Any]]:
    """eth0 (the cluster network), net1, net2 from a real API read; net2's delegate fails `net2_fails`."""
    ok, failing = tmp_path / "ok", tmp_path / "failing"
    ok.write_text("/100")
    failing.write_text(net2_fails)
    with ReplayServer() as api:
        api.add_nad(_nad(fake, "net1", ok))
        api.add_nad(_nad(fake, "net2", failing))
        api.add_pod({"metadata": {"namespace": "default", "name": "web", "uid": "u-1",
                                  "annotations": {NETWORKS: "net1,net2"}},
                     "spec": {"nodeName": "node-1"}})
        kubeconfig = str(api.write_kubeconfig(tmp_path / "kubeconfig"))
        outcome = execute(env(fake, "ADD"), stdin(fake, kubeconfig=kubeconfig), context=CTX)
    return outcome.exit_code, json.loads(outcome.stdout)


@pytest.fixture
def no_netns_handover(monkeypatch: pytest.MonkeyPatch) -> None:
    """No netns without root: taking the defaults a delegate installed finds none (as in test_attach)."""
    monkeypatch.setattr(attach, "_take_defaults", lambda pod_ns, *, required: ())


@pytest.mark.usefixtures("no_netns_handover")
@pytest.mark.parametrize(("net2_fails", "code", "rollback", "deletes"), [
    pytest.param("ADD/100", 103, "complete", ["net2", "net1", "eth0"], id="rolled-back"),
    pytest.param("ADD DEL/11", 11, "incomplete", ["net2", "net1", "eth0"], id="rollback-told-to-try-again"),
])
def test_a_failed_add_is_one_error_record_naming_the_network_and_the_rollback(
    fake: Fake, tmp_path: Path, caplog: pytest.LogCaptureFixture, net2_fails: str, code: int, rollback: str,
    deletes: list[str],
) -> None:
    with caplog.at_level(logging.DEBUG, logger="cni"):
        exit_code, reply = run_add_over_three_networks(fake, tmp_path, net2_fails)
    assert (exit_code, reply["code"]) == (1, code)
    [record] = errors_logged(caplog)
    fields = {k: getattr(record, k, None) for k in ("command", "container_id", "ifname", "pod", "code", "network",
                                                    "network_ifname", "rollback")}
    assert fields == {"command": "ADD", "container_id": "c1", "ifname": "eth0", "pod": "default/web", "code": code,
                      "network": "default/net2", "network_ifname": "net2", "rollback": rollback}
    assert record.exc_info is None   # a delegate's error is not a bug: no traceback
    assert [c["ifname"] for c in fake.calls() if c["command"] == "DEL"] == deletes
    if rollback == "incomplete":   # the rollback step that failed is a warning of its own
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and "rollback" in r.getMessage()]
        assert getattr(warning, "network", None) == "default/net2"


def test_a_bug_mid_add_is_rolled_back_and_logged_once_as_999_with_its_traceback(
    fake: Fake, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handover(pod_ns: object, *, required: bool) -> tuple[()]:
        if required:   # after the delegate's ADD
            raise TypeError("a bug in the route handover")
        return ()

    monkeypatch.setattr(attach, "_take_defaults", handover)
    with caplog.at_level(logging.DEBUG, logger="cni"):
        outcome = execute(env(fake, "ADD"), stdin(fake), context=CTX)
    reply = json.loads(outcome.stdout)
    assert (outcome.exit_code, reply["code"]) == (1, errors.UNEXPECTED)
    assert "TypeError('a bug in the route handover')" in reply["details"]
    [record] = errors_logged(caplog)
    assert (getattr(record, "code", None), getattr(record, "network", None),
            getattr(record, "rollback", None)) == (errors.UNEXPECTED, "fakenet", "complete")
    assert record.exc_info is not None and record.exc_info[0] is TypeError
    assert [c["command"] for c in fake.calls()] == ["ADD", "DEL"]
    assert fake.records() == []


def test_a_failed_del_is_one_error_record_naming_the_network_and_why_it_is_fatal(
    fake: Fake, caplog: pytest.LogCaptureFixture
) -> None:
    fake.record("c1", results={"eth0": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}})
    fake.fail_on("DEL")
    with caplog.at_level(logging.DEBUG, logger="cni"):
        outcome = execute(env(fake, "DEL"), stdin(fake), context=CTX)
    assert (outcome.exit_code, json.loads(outcome.stdout)["code"]) == (1, errors.DELEGATE_FAILED)
    [record] = errors_logged(caplog)
    assert (getattr(record, "command", None), getattr(record, "container_id", None), getattr(record, "code", None),
            getattr(record, "network", None)) == ("DEL", "c1", errors.DELEGATE_FAILED, "fakenet")
    assert "ADD succeeded" in str(getattr(record, "fatal_because", ""))
    assert getattr(record, "rollback", None) is None
    assert fake.records() == ["c1-eth0"]   # kept for the runtime's retry


def test_a_del_where_two_networks_fail_is_one_error_and_a_warning_for_the_other(
    fake: Fake, caplog: pytest.LogCaptureFixture
) -> None:
    atts = tuple(Attachment(network=name, ifname=ifname, cni_version="1.0.0", is_default=ifname == "eth0",
                            plugins=(fake.plugin(),)) for ifname, name in (("eth0", "fakenet"), ("net1", "n1")))
    results = {a.ifname: {"cniVersion": "1.0.0", "interfaces": [{"name": a.ifname}]} for a in atts}
    cache.write(fake.cache_dir, cache.Record("c1", "eth0", "", "1.1.0", None, atts, results=results, complete=True))
    fake.fail_on("DEL")
    with caplog.at_level(logging.DEBUG, logger="cni"):
        outcome = execute(env(fake, "DEL"), stdin(fake), context=CTX)
    assert outcome.exit_code == 1
    [record] = errors_logged(caplog)
    assert getattr(record, "network", None) == "n1"   # the first DELed (reverse order) is the reply's
    [other] = [r for r in caplog.records if r.levelno == logging.WARNING and getattr(r, "network", None)]
    assert getattr(other, "network", None) == "fakenet"
