"""The one atomic writer, shared by the node (install, cache) and the certificates."""

import os
import stat
from pathlib import Path

import pytest

import certs.cli
import certs.rotation
from cni.atomicfile import write_atomic


def test_certificates_use_the_one_writer() -> None:
    assert certs.rotation.write_atomic is write_atomic and certs.cli.write_atomic is write_atomic


def test_replaces_content_with_the_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "tls.key"
    assert write_atomic(target, b"old", mode=0o644) is True
    assert write_atomic(target, b"new", mode=0o600) is True
    assert target.read_bytes() == b"new"
    assert [path.name for path in tmp_path.iterdir()] == ["tls.key"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize(("data", "mode", "written"), [
    (b"same", 0o600, False),   # identical bytes and mode: the file is left alone
    (b"other", 0o600, True),
    (b"same", 0o644, True),    # a mode change alone is a write
])
def test_writes_only_what_changed(tmp_path: Path, data: bytes, mode: int, written: bool) -> None:
    target = tmp_path / "f"
    write_atomic(target, b"same", mode=0o600)
    inode = target.stat().st_ino
    assert write_atomic(target, data, mode=mode) is written
    assert (target.stat().st_ino != inode) is written
    assert (target.read_bytes(), stat.S_IMODE(target.stat().st_mode)) == (data, mode)


def test_creates_missing_directories_unless_told_not_to(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "tls.key", b"x", mode=0o600, parents=False)
    assert list(tmp_path.iterdir()) == []
    assert write_atomic(tmp_path / "a" / "b" / "f", b"x", mode=0o600)
    assert (tmp_path / "a" / "b" / "f").read_bytes() == b"x"


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f"
    write_atomic(target, b"old", mode=0o600)

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new", mode=0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["f"] and target.read_bytes() == b"old"
