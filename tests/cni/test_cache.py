"""The ADD record: atomic write, read back, listing and removal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cni import cache
from cni.cache import Record
from cni.errors import CniError
from cni.plan import Attachment
from cni.routes import Rule

RECORD = Record(
    container_id="c1", ifname="eth0", netns="/var/run/netns/x", cni_version="1.1.0",
    pod={"namespace": "default", "name": "web", "uid": "u"},
    attachments=(Attachment(network="default/mv", ifname="net1", cni_version="1.0.0",
                            plugins=({"type": "macvlan", "cniVersion": "1.0.0"},), default_route=("10.0.0.1",)),),
    results={"net1": {"cniVersion": "1.0.0", "ips": []}}, rules=(Rule(4, "10.0.0.5/32", 101),), complete=True,
)


def test_record_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    cache.write(str(tmp_path), RECORD)
    assert cache.read(str(tmp_path), "c1", "eth0") == RECORD
    assert [p.name for p in tmp_path.iterdir()] == ["c1-eth0.json"]
    assert list(cache.keys(str(tmp_path))) == [("c1", "eth0")]


def test_missing_and_corrupt_records_read_as_none(tmp_path: Path) -> None:
    assert cache.read(str(tmp_path), "nope", "eth0") is None
    (tmp_path / "bad-eth0.json").write_text("{")
    assert cache.read(str(tmp_path), "bad", "eth0") is None
    assert list(cache.keys(str(tmp_path / "absent"))) == []


def test_remove_is_idempotent(tmp_path: Path) -> None:
    cache.write(str(tmp_path), RECORD)
    cache.remove(str(tmp_path), "c1", "eth0")
    cache.remove(str(tmp_path), "c1", "eth0")
    assert cache.read(str(tmp_path), "c1", "eth0") is None


def test_create_is_exclusive_and_never_replaces_a_record(tmp_path: Path) -> None:
    cache.create(str(tmp_path), replace(RECORD, complete=False))
    with pytest.raises(CniError) as caught:
        cache.create(str(tmp_path), RECORD)
    assert caught.value.code == 109
    assert caught.value.msg == "container c1 interface eth0 already has an unfinished ADD"
    assert cache.read(str(tmp_path), "c1", "eth0") == replace(RECORD, complete=False)
    assert [p.name for p in tmp_path.iterdir()] == ["c1-eth0.json"]
