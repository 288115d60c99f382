"""netlink catches what the kernel refuses (pyroute2's NetlinkError, an OSError) and nothing else: a real refusal
still maps to its CNI error, a bug propagates to code 999, except in rule removal, which is best-effort so that no
DEL gets stuck (an error record, and DEL goes on); a failed hot-plug step is one error record. Real network
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
from cni.execute import Outcome, execute
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


def apply_on_a_closed_socket(ipr: Any) -> None:
    ipr.close()   # refused at the first call, the listing of the pod's interfaces
    netlink.apply_plan(ipr, RoutePlan((), (), ()))


class ClosedAfterListingLinks:
    """The pod's IPRoute, closed right after its links are listed: read_defaults succeeds, then the next dump
    (the one of _delete_defaults) is refused."""

    def __init__(self, ipr: Any) -> None:
        self.ipr = ipr

    def route(self, *args: Any, **kwargs: Any) -> Any:
        return self.ipr.route(*args, **kwargs)

    def get_links(self) -> Any:
        links = self.ipr.get_links()
        self.ipr.close()
        return links


def take_on_a_socket_closed_mid_way(ipr: Any) -> None:
    ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    netlink.apply_plan(ipr, RoutePlan((Route(4, "0.0.0.0/0", "lo", None),), (), ()))
    netlink.take_defaults(ClosedAfterListingLinks(ipr))


@pytest.mark.parametrize(("call", "code", "details"), [
    pytest.param(unreachable_default, errors.ROUTES_FAILED, "Network is unreachable", id="route-via-unreachable-gw"),
    pytest.param(rule_twice, None, None, id="rule-exists"),
    pytest.param(remove_missing_rule, None, None, id="rule-gone"),
    pytest.param(dump_on_a_closed_socket, errors.ROUTES_FAILED, "Bad file descriptor", id="route-dump-refused"),
    pytest.param(apply_on_a_closed_socket, errors.ROUTES_FAILED, "Bad file descriptor", id="apply-links-refused"),
    pytest.param(take_on_a_socket_closed_mid_way, errors.ROUTES_FAILED, "Bad file descriptor",
                 id="take-dump-refused"),
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


def _del_with_rules(fake: Fake, pod_netns: str, rules: tuple[Rule, ...]) -> Outcome:
    """The runtime's DEL of a complete record holding `rules`, through cni.execute."""
    att = Attachment(network="fakenet", ifname="eth0", cni_version="1.0.0", plugins=(fake.plugin(),),
                     is_default=True)
    cache.write(fake.cache_dir, cache.Record("c1", "eth0", pod_netns, "1.1.0", None, (att,), rules=rules,
                                             results={"eth0": {"cniVersion": "1.0.0"}}, complete=True))
    environ = {"CNI_COMMAND": "DEL", "CNI_PATH": str(fake.bin), "CNI_ARGS": POD_ARGS, "CNI_CONTAINERID": "c1",
               "CNI_IFNAME": "eth0", "CNI_NETNS": pod_netns}
    conf = {"cniVersion": "1.1.0", "name": "netweave", "clusterNetwork": str(fake.cluster),
            "cacheDir": fake.cache_dir}
    return execute(environ, json.dumps(conf).encode(), context=Context(node_name="node-1"))


def test_a_bug_in_del_s_rule_removal_is_logged_once_and_del_goes_on(
    pod_netns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Rule removal is best-effort (the rules go with the netns): a bug there was code 999 before any delegate
    ran, and the record stayed, so the runtime retried a DEL that could never succeed. No DEL can get stuck."""
    fake = Fake(tmp_path)
    monkeypatch.setattr(netlink, "_rule_spec", _bug)
    with caplog.at_level(logging.DEBUG, logger="cni"):
        outcome = _del_with_rules(fake, pod_netns, (RULE,))
    assert (outcome.exit_code, outcome.stdout) == (0, b"")
    assert [c["command"] for c in fake.calls()] == ["DEL"]
    assert fake.records() == []
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR and RULE.src in record.getMessage() and pod_netns in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is TypeError


@pytest.mark.parametrize(("rule", "error"), [
    pytest.param(Rule(4, "10.1.0.5", table=100), ValueError, id="src-without-length"),
    pytest.param(Rule(5, "10.1.0.5/32", table=100), KeyError, id="unknown-family"),  # type: ignore[arg-type]
])
def test_a_malformed_rule_in_the_record_does_not_stop_del(
    pod_netns: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, rule: Rule, error: type[Exception]
) -> None:
    """A record another version wrote (or a hand edit): the other rules are still removed, every delegate's DEL
    runs, the record goes; one error record says which rule could not be removed."""
    good = Rule(4, "10.1.0.6/32", table=100)
    with netlink.pod_netns(pod_netns) as ipr:
        netlink.apply_plan(ipr, RoutePlan((), (), (good,)))
    fake = Fake(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="cni"):
        outcome = _del_with_rules(fake, pod_netns, (rule, good))
    assert outcome.exit_code == 0
    assert [c["command"] for c in fake.calls()] == ["DEL"] and fake.records() == []
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR and record.exc_info is not None and record.exc_info[0] is error
    rules = subprocess.run(["ip", "-n", Path(pod_netns).name, "rule", "show"], check=True, capture_output=True,
                           text=True).stdout
    assert "10.1.0.6" not in rules


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


WEB = {"metadata": {"namespace": "default", "name": "web", "uid": "u-1", "resourceVersion": "1"},
       "spec": {"nodeName": "node-1"}}
FIELDS = ("levelname", "command", "container_id", "pod", "code", "network", "network_ifname", "rollback")


def _annotated(networks: str | None, after: cache.Record | None = None) -> dict[str, Any]:
    """WEB with this networks annotation, newer than the pod `after` was planned from."""
    version = int((after.planned_from or {}).get("resourceVersion") or 0) + 1 if after else 1
    annotations = {NETWORKS: networks} if networks else {}
    return {**WEB, "metadata": {**WEB["metadata"], "resourceVersion": str(version), "annotations": annotations}}


def _hot_plug(tmp_path: Path, pod_netns: str, caplog: pytest.LogCaptureFixture, *, at_add: str | None,
              then: str | None, net1_fails: str = "",
              edit: Callable[[cache.Record], cache.Record] = lambda r: r) -> tuple[Fake, hotplug.Reconciled]:
    """ADD pod web (networks `at_add`) into a real netns, make net1's delegate fail `net1_fails`, `edit` the
    record, then hot-plug the pod to `then`; the error records are in caplog."""
    fake = Fake(tmp_path)
    failing = tmp_path / "failing"
    failing.write_text("/100")
    ctx = Context(node_name="node-1")
    with ReplayServer() as api:
        api.add_nad(_nad(fake, "net1", failing))
        api.add_pod(_annotated(at_add))
        kubeconfig = str(api.write_kubeconfig(tmp_path / "kubeconfig"))
        attach.add(ctx, replace(fake.request("ADD", "c1", args=POD_ARGS, kubeconfig=kubeconfig), netns=pod_netns))
        added = cache.read(fake.cache_dir, "c1", "eth0")
        assert added is not None and added.complete
        cache.write(fake.cache_dir, edit(added))
        failing.write_text(net1_fails)
        with caplog.at_level(logging.DEBUG, logger="cni"):
            outcome = hotplug.reconcile(ctx, fake.cache_dir, "c1", "eth0", _annotated(then, added))
    return fake, outcome


def _error_fields(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    return {k: getattr(record, k, None) for k in FIELDS}


def test_a_hot_plug_whose_routes_fail_after_its_delegates_succeeded_names_no_network(
    pod_netns: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """net1 claims the default route; its (fake) delegate creates no interface, so the routes fail after every
    delegate succeeded: the pod's routes failed, not net1."""
    fake, outcome = _hot_plug(tmp_path, pod_netns, caplog, at_add=None,
                              then='[{"name": "net1", "default-route": ["10.1.0.1"]}]', net1_fails="/100")
    assert (outcome.outcome, outcome.message) == ("failed", "pod routes: interface net1 is missing in the pod")
    assert _error_fields(caplog) == {"levelname": "ERROR", "command": "hot-plug", "container_id": "c1",
                                     "pod": "default/web", "code": errors.ROUTES_FAILED, "network": None,
                                     "network_ifname": None, "rollback": "complete"}
    assert [(c["command"], c["ifname"]) for c in fake.calls()] == [("ADD", "eth0"), ("ADD", "net1"), ("DEL", "net1")]


def test_a_hot_plug_removal_whose_del_fails_is_one_error_record(
    pod_netns: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """net1's ADD succeeded, so its failed DEL may leak an interface: an error record, not a warning."""
    fake, outcome = _hot_plug(tmp_path, pod_netns, caplog, at_add="net1", then=None, net1_fails="DEL/100")
    assert (outcome.outcome, outcome.message) == ("failed", "cannot remove net1")
    assert _error_fields(caplog) == {"levelname": "ERROR", "command": "hot-plug", "container_id": "c1",
                                     "pod": "default/web", "code": errors.DELEGATE_FAILED, "network": "default/net1",
                                     "network_ifname": "net1", "rollback": None}
    record = cache.read(fake.cache_dir, "c1", "eth0")
    assert record is not None and [a.ifname for a in record.attachments] == ["eth0", "net1"]


def test_an_attachment_in_doubt_whose_del_fails_is_one_error_record(
    pod_netns: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hot-plug ADD of net1 that died before its result was recorded; its DEL now says "try again"."""
    def in_doubt(record: cache.Record) -> cache.Record:
        net1 = replace(record.attachments[0], network="default/net1", ifname="net1", is_default=False,
                       plugins=({**record.attachments[0].plugins[0], "failFile": str(tmp_path / "failing")},))
        return replace(record, attachments=(*record.attachments, net1))

    fake, outcome = _hot_plug(tmp_path, pod_netns, caplog, at_add=None, then=None, net1_fails="DEL/11",
                              edit=in_doubt)
    assert (outcome.outcome, outcome.message) == ("failed", "cannot DEL net1 (in doubt)")
    assert _error_fields(caplog) == {"levelname": "ERROR", "command": "hot-plug", "container_id": "c1",
                                     "pod": "default/web", "code": errors.TRY_AGAIN_LATER,
                                     "network": "default/net1", "network_ifname": "net1", "rollback": None}
    assert [(c["command"], c["ifname"]) for c in fake.calls()] == [("ADD", "eth0"), ("DEL", "net1")]
