"""netlink catches what the kernel refuses (pyroute2's NetlinkError, an OSError) and nothing else: a real refusal
still maps to its CNI error, a bug propagates to code 999; a failed hot-plug is one error record. Real network
namespaces (root)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cni import attach, cache, errors, hotplug, netlink
from cni.context import Context
from cni.errors import CniError
from cni.execute import execute
from cni.plan import Attachment
from cni.routes import Route, RoutePlan, Rule
from cni.spec import NETWORKS_ANNOTATION as NETWORKS
from tests.cni.test_attach import POD_ARGS, Fake, _nad
from tests.prerequisites import require
from tests.replay import ReplayServer

RULE = Rule(4, "10.1.0.5/32", table=100)


def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    return None if shutil.which("ip") else "needs iproute2"


@pytest.fixture
def pod_netns() -> Iterator[str]:
    require(_usable())
    name = f"nwerr{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield f"/var/run/netns/{name}"
    subprocess.run(["ip", "netns", "del", name], check=False)


def unreachable_default(ipr: Any) -> None:
    netlink.apply_plan(ipr, RoutePlan((Route(4, "0.0.0.0/0", "lo", "10.9.9.1"),), (), ()))


def rule_twice(ipr: Any) -> None:
    netlink.apply_plan(ipr, RoutePlan((), (), (RULE,)))
    netlink.apply_plan(ipr, RoutePlan((), (), (RULE,)))   # EEXIST: already there is fine


def remove_missing_rule(ipr: Any) -> None:
    netlink.remove_rules(ipr, (RULE,))   # ENOENT: already gone is fine


def dump_on_a_closed_socket(ipr: Any) -> None:
    ipr.close()   # the socket refuses the dump (EBADF), as a netns torn down mid-ADD would
    netlink.read_defaults(ipr)


@pytest.mark.parametrize(("call", "code", "details"), [
    pytest.param(unreachable_default, errors.ROUTES_FAILED, "Network is unreachable", id="route-via-unreachable-gw"),
    pytest.param(rule_twice, None, None, id="rule-exists"),
    pytest.param(remove_missing_rule, None, None, id="rule-gone"),
    pytest.param(dump_on_a_closed_socket, errors.ROUTES_FAILED, "Bad file descriptor", id="route-dump-refused"),
])
def test_a_kernel_refusal_maps_to_the_cni_error_it_always_did(
    pod_netns: str, caplog: pytest.LogCaptureFixture, call: Callable[[Any], None], code: int | None,
    details: str | None,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="cni"), netlink.pod_netns(pod_netns) as ipr:
        if code is None:
            call(ipr)
        else:
            with pytest.raises(CniError) as caught:
                call(ipr)
            assert caught.value.code == code and str(details) in caught.value.details
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("call", [
    pytest.param(lambda ipr: netlink.apply_plan(ipr, RoutePlan((), (), (RULE,))), id="apply-rules"),
    pytest.param(lambda ipr: netlink.remove_rules(ipr, (RULE,)), id="remove-rules"),
])
def test_a_bug_inside_a_netlink_call_is_not_taken_for_a_netlink_failure(
    pod_netns: str, monkeypatch: pytest.MonkeyPatch, call: Callable[[Any], None]
) -> None:
    monkeypatch.setattr(netlink, "_rule_spec", _bug)
    with netlink.pod_netns(pod_netns) as ipr, pytest.raises(TypeError, match="a bug"):
        call(ipr)


def _bug(rule: Rule) -> dict[str, Any]:
    raise TypeError("a bug in a netlink helper")


def test_a_bug_in_del_s_rule_removal_is_code_999_logged_once(
    pod_netns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """It was a warning ("cannot remove rule") and a DEL that succeeded: the bug went unnoticed."""
    fake = Fake(tmp_path)
    att = Attachment(network="fakenet", ifname="eth0", cni_version="1.0.0", plugins=(fake.plugin(),),
                     is_default=True)
    cache.write(fake.cache_dir, cache.Record("c1", "eth0", pod_netns, "1.1.0", None, (att,), rules=(RULE,),
                                             results={"eth0": {"cniVersion": "1.0.0"}}, complete=True))
    monkeypatch.setattr(netlink, "_rule_spec", _bug)
    environ = {"CNI_COMMAND": "DEL", "CNI_PATH": str(fake.bin), "CNI_ARGS": POD_ARGS, "CNI_CONTAINERID": "c1",
               "CNI_IFNAME": "eth0", "CNI_NETNS": pod_netns}
    conf = {"cniVersion": "1.1.0", "name": "netweave", "clusterNetwork": str(fake.cluster),
            "cacheDir": fake.cache_dir}
    with caplog.at_level(logging.DEBUG, logger="cni"):
        outcome = execute(environ, json.dumps(conf).encode(), context=Context(node_name="node-1"))
    assert (outcome.exit_code, json.loads(outcome.stdout)["code"]) == (1, errors.UNEXPECTED)
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR and getattr(record, "code", None) == errors.UNEXPECTED
    assert record.exc_info is not None and record.exc_info[0] is TypeError
    assert fake.records() == ["c1-eth0"]   # kept: the runtime's DEL retries once the bug is fixed


def test_a_failed_hot_plug_is_one_error_record_naming_the_network_and_the_rollback(
    pod_netns: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A pod ADDed with its cluster network only; its annotation then asks for net1, whose delegate fails ADD."""
    fake = Fake(tmp_path)
    failing = tmp_path / "failing"
    failing.write_text("ADD/100")
    pod = {"metadata": {"namespace": "default", "name": "web", "uid": "u-1", "resourceVersion": "1"},
           "spec": {"nodeName": "node-1"}}
    ctx = Context(node_name="node-1")
    with ReplayServer() as api:
        api.add_nad(_nad(fake, "net1", failing))
        api.add_pod(pod)
        kubeconfig = str(api.write_kubeconfig(tmp_path / "kubeconfig"))
        req = replace(fake.request("ADD", "c1", args=POD_ARGS, kubeconfig=kubeconfig), netns=pod_netns)
        attach.add(ctx, req)
        added = cache.read(fake.cache_dir, "c1", "eth0")
        assert added is not None and added.complete and added.planned_from is not None
        newer = str(int(added.planned_from["resourceVersion"] or 0) + 1)
        wanted = {**pod, "metadata": {**pod["metadata"], "resourceVersion": newer, "annotations": {NETWORKS: "net1"}}}
        with caplog.at_level(logging.DEBUG, logger="cni"):
            outcome = hotplug.reconcile(ctx, fake.cache_dir, "c1", "eth0", wanted)
    assert outcome.outcome == "failed"
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    fields = {k: getattr(record, k, None) for k in ("levelname", "container_id", "pod", "code", "network",
                                                    "network_ifname", "rollback")}
    assert fields == {"levelname": "ERROR", "container_id": "c1", "pod": "default/web", "code": 103,
                      "network": "default/net1", "network_ifname": "net1", "rollback": "complete"}
    assert [(c["command"], c["ifname"]) for c in fake.calls()] == [("ADD", "eth0"), ("ADD", "net1"), ("DEL", "net1")]
