"""cni.hotplug's pure parts: the diff of recorded and planned attachments, attachments in doubt, and when a pod
wants a reconcile (no root, no netns)."""

from __future__ import annotations

from typing import Any

import pytest

from cni import cache
from cni.cache import Record
from cni.hotplug import diff_attachments, in_doubt, request_of, wants_reconcile
from cni.plan import Attachment

MACVLAN = ({"type": "macvlan", "master": "eth9"},)


def att(ifname: str, network: str, **extra: Any) -> Attachment:
    return Attachment(**{"network": network, "ifname": ifname, "cni_version": "1.0.0", "plugins": MACVLAN,
                         "is_default": ifname == "eth0", **extra})


ETH0 = att("eth0", "cluster")
NET1 = att("net1", "default/a")
NET2 = att("net2", "default/b")


@pytest.mark.parametrize(("recorded", "desired", "added", "removed"), [
    pytest.param((ETH0, NET1), (ETH0, NET1), (), (), id="hotplug-unchanged"),
    pytest.param((ETH0, NET1), (ETH0, NET1, NET2), ("net2",), (), id="hotplug-add"),
    pytest.param((ETH0, NET1, NET2), (ETH0, NET2), (), ("net1",), id="hotplug-remove"),
    pytest.param((ETH0, NET1), (ETH0, NET2), ("net2",), ("net1",), id="hotplug-swap-by-name"),
    pytest.param((ETH0,), (ETH0, NET1, NET2), ("net1", "net2"), (), id="hotplug-add-two-in-plan-order"),
])
def test_hotplug_diff_keys_attachments_by_interface_name(recorded: tuple[Attachment, ...],
                                                         desired: tuple[Attachment, ...], added: tuple[str, ...],
                                                         removed: tuple[str, ...]) -> None:
    diff = diff_attachments(recorded, desired)
    assert ([a.ifname for a in diff.added], [a.ifname for a in diff.removed]) == (list(added), list(removed))
    assert [a.ifname for a in diff.attachments] == [a.ifname for a in desired]
    assert diff.conflicts == () and diff.changes == bool(added or removed)


@pytest.mark.parametrize(("recorded", "desired", "conflict"), [
    pytest.param((ETH0, NET1), (ETH0, att("net1", "default/b")),
                 'interface "net1" holds "default/a"; it cannot become "default/b" in place', id="hotplug-repoint"),
    pytest.param((ETH0, NET1), (ETH0, att("net1", "default/a", runtime_config={"ips": ["10.1.0.7/24"]})),
                 'interface "net1" ("default/a") cannot change its addresses or options in place',
                 id="hotplug-readdress"),
    pytest.param((ETH0, NET1), (att("eth0", "kube-system/other"), NET1),
                 'interface "eth0" holds the cluster default network; it cannot become "kube-system/other" in '
                 "place", id="hotplug-default-network"),
])
def test_hotplug_diff_refuses_changes_in_place(recorded: tuple[Attachment, ...], desired: tuple[Attachment, ...],
                                               conflict: str) -> None:
    assert diff_attachments(recorded, desired).conflicts == (conflict,)


def test_hotplug_diff_keeps_the_recorded_attachment_with_the_new_default_route() -> None:
    recorded_net1 = att("net1", "default/a", plugins=({"type": "macvlan", "master": "old"},))
    diff = diff_attachments((ETH0, recorded_net1), (ETH0, att("net1", "default/a", default_route=("10.0.0.1",))))
    assert diff.rerouted and diff.changes and not diff.added and not diff.removed
    assert diff.attachments[1].plugins == recorded_net1.plugins   # what DEL must get is what ADD got
    assert diff.attachments[1].default_route == ("10.0.0.1",)


def test_hotplug_attachments_without_a_result_are_in_doubt() -> None:
    record = Record("c1", "eth0", "/var/run/netns/x", "1.0.0", None, (ETH0, NET1, NET2),
                    results={"eth0": {}, "net2": {}}, complete=True)
    assert in_doubt(record) == (NET1,)


def pod(networks: str | None, version: str, default: str | None = None) -> dict[str, Any]:
    annotations = {k: v for k, v in (("k8s.v1.cni.cncf.io/networks", networks),
                                     ("v1.multus-cni.io/default-network", default)) if v is not None}
    return {"metadata": {"resourceVersion": version, "annotations": annotations}}


PLANNED = {"resourceVersion": "100", "networks": "a", "defaultNetwork": None}


@pytest.mark.parametrize(("current", "expected"), [
    pytest.param(pod("a", "120"), False, id="hotplug-same-annotations"),
    pytest.param(pod("a,b", "120"), True, id="hotplug-networks-changed"),
    pytest.param(pod("a", "120", default="kube-system/x"), True, id="hotplug-default-network-changed"),
    pytest.param(pod("b", "90"), False, id="hotplug-older-copy-from-a-lagging-cache"),
    pytest.param(pod("b", "opaque"), True, id="hotplug-non-numeric-version-trusts-the-difference"),
])
def test_hotplug_wants_a_reconcile_only_for_newer_changed_annotations(current: dict[str, Any],
                                                                      expected: bool) -> None:
    assert wants_reconcile(current, PLANNED) is expected


def test_hotplug_records_written_before_hot_plug_are_never_reconciled() -> None:
    assert wants_reconcile(pod("a,b", "120"), None) is False


def test_hotplug_rebuilds_the_runtime_request_from_the_record(tmp_path: Any) -> None:
    config = {"cniVersion": "1.1.0", "name": "netweave", "clusterNetwork": "/etc/cni/net.d/10-ptp.conflist",
              "cacheDir": str(tmp_path)}
    record = Record("c1", "eth0", "/var/run/netns/x", "1.1.0", None, (ETH0,), complete=True,
                    request={"config": config, "path": ["/opt/cni/bin"], "args": {"K8S_POD_NAME": "p"},
                             "osPath": "/usr/bin"},
                    planned_from=PLANNED)
    cache.write(str(tmp_path), record)
    read = cache.read(str(tmp_path), "c1", "eth0")
    assert read == record
    req = request_of(read)
    assert (req.command, req.container_id, req.netns, req.ifname, req.path, dict(req.args), req.os_path) == (
        "ADD", "c1", "/var/run/netns/x", "eth0", ("/opt/cni/bin",), {"K8S_POD_NAME": "p"}, "/usr/bin")
    assert req.config is not None and req.config.cache_dir == str(tmp_path)
