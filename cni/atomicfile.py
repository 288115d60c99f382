"""The one atomic file writer (node files, the CNI cache, certificates): a temp file in the same directory,
fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int, parents: bool = True) -> bool:
    """Replace `path` with `data` so that readers see the old or the new file, never a partial one, and the
    change survives a crash. False (no write) when it already holds exactly that with that mode. `parents`:
    create missing directories, else a missing one is FileNotFoundError."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data and (path.stat().st_mode & 0o7777) == mode:
            return False
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    # The temp file lives in the target directory: rename(2) is atomic only within one file system.
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 and the mode is set before any byte is written: a key is never readable by others.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(path.parent)
    return True


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable across a crash (the file's data was synced before it).
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
