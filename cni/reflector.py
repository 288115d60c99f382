"""The one list+watch loop of netweave, used by the node's watch cache (cni.node.watchcache) and the webhook's NAD
catalog and pod index (webhook.kube), the way client-go's reflector works:

list (paged), then watch from the list's resourceVersion (with bookmarks); when a watch ends, watch again from the
last resourceVersion seen; relist on 410 Expired (at once the first time, with backoff when it repeats); on any
other error relist after an exponential backoff with jitter, so that every node does not retry in lockstep after
an API-server restart; a watch that ends at once with no event counts as a failure (an API server or proxy that
closes watches immediately must not be hammered in a tight loop).

Standard library only: what is listed and watched comes from a `Source`, what is kept goes to a `Sink`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

logger = logging.getLogger(__name__)

HTTP_GONE: Final = 410
MAX_EVENT_BYTES: Final = 16 << 20


class Expired(Exception):
    """410 Gone: the resourceVersion (or list continue token) is too old; the only way on is a fresh list."""


class WatchFailed(Exception):
    """The watch stream carried an ERROR event other than 410, or an event without an object."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delay after consecutive failures, capped, less a random part of up to `jitter` of it."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def ceiling(self, failures: int) -> float:
        """The delay before jitter: 0 for no failure, then initial, initial*factor, ... up to maximum."""
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.initial * self.factor ** (failures - 1)))

    def delay(self, failures: int, draw: Callable[[], float] = random.random) -> float:
        """The delay to wait; `draw` returns a number in [0, 1) (the jitter's share)."""
        return self.ceiling(failures) * (1.0 - self.jitter * draw())


class Stream(Protocol):
    """An open watch response."""

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None:
        """Release the response (in the reading thread, after the stream ended or failed)."""
        ...

    def cut(self) -> None:
        """Interrupt a read in progress (from another thread, on stop); best effort."""
        ...


class ResponseStream:
    """A Stream over a urllib3 response of the kubernetes client (`_preload_content=False`), for both watchers."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def chunks(self) -> Iterator[bytes]:
        yield from self._response.stream(amt=None, decode_content=True)

    def close(self) -> None:
        self._response.release_conn()   # urllib3 drops, not reuses, a connection whose read failed

    def cut(self) -> None:
        # shutdown() (urllib3 >= 2.3) wakes a blocked read from this thread; close() is the older way.
        getattr(self._response, "shutdown", self._response.close)()


class Source(Protocol):
    """The API calls of one resource."""

    def list_page(self, token: str | None) -> Mapping[str, Any]:
        """One page of the list (`token`: the previous page's continue token); raises on errors."""
        ...

    def open_watch(self, version: str) -> Stream:
        """A watch from `version` with bookmarks."""
        ...


class Sink(Protocol):
    """What is kept of the objects."""

    def keep(self, obj: Mapping[str, Any]) -> Any:
        """What is kept of one listed object (None: nothing); called page by page, so only that stays in memory."""
        ...

    def install(self, kept: list[Any]) -> None:
        """Replace everything with a complete list's `keep` results."""
        ...

    def upsert(self, obj: Mapping[str, Any]) -> None: ...

    def delete(self, obj: Mapping[str, Any]) -> None: ...

    def size(self) -> int: ...


class Reflector:
    """Keeps one Sink in step with the API server until `stop` is set; `run` is the thread body."""

    def __init__(self, source: Source, sink: Sink, *, what: str, stop: threading.Event,
                 backoff: Backoff | None = None, min_watch_seconds: float = 1.0,
                 on_sync: Callable[[], None] = lambda: None) -> None:
        self.source = source
        self.sink = sink
        self.what = what
        self.stop = stop
        self.backoff = backoff or Backoff()
        self.min_watch_seconds = min_watch_seconds
        self.on_sync = on_sync  # after each complete list and each applied event
        self.lists = 0  # complete lists (a relist after 410 or an error counts)
        self._stream: Stream | None = None
        self._stream_lock = threading.Lock()

    def run(self) -> None:
        """List, then watch, until `stop`. Errors are logged here, where they are handled."""
        version: str | None = None
        failures = 0  # consecutive failed rounds: the backoff exponent
        expired = 0  # consecutive 410s: the first relists at once, repeated ones back off
        while not self.stop.is_set():
            try:
                if version is None:
                    version = self.relist()
                version, events, seconds = self.watch(version)
                expired = 0
                quick_empty = events == 0 and seconds < self.min_watch_seconds
                failures = failures + 1 if quick_empty else 0
            except Expired as err:
                logger.info("%s watch expired (%s); relisting", self.what, err)
                version = None
                expired += 1
                failures = expired - 1
            except Exception as err:  # the loop outlives any failure of one sync: it relists after a backoff
                if self.stop.is_set():
                    break
                failures += 1
                version = None
                logger.warning("%s sync failed; relisting after backoff: %s", self.what, describe(err),
                               extra={"failures": failures, "objects": self.sink.size()})
            self.stop.wait(self.backoff.delay(failures))

    def cut(self) -> None:
        """Interrupt an open watch (after setting `stop`)."""
        with self._stream_lock:
            if self._stream is not None:
                _best_effort(self._stream.cut)

    def relist(self) -> str:
        """List every object (paged) and install them; returns the list's resourceVersion."""
        kept: list[Any] = []
        token: str | None = None
        version = ""
        while True:
            try:
                page = self.source.list_page(token)
            except Exception as err:  # the source's client errors are its own types: only a 410 is ours to read
                if getattr(err, "status", None) == HTTP_GONE:  # the continue token expired: start over
                    raise Expired("list continue token expired") from err
                raise
            for obj in page.get("items") or []:
                item = self.sink.keep(obj) if isinstance(obj, Mapping) and named(obj) else None
                if item is not None:
                    kept.append(item)
            metadata = page.get("metadata") or {}
            version = version or str(metadata.get("resourceVersion") or "")
            token = metadata.get("continue") or None
            if token is None:
                break
        self.sink.install(kept)
        self.lists += 1
        self.on_sync()
        logger.info("%s listed", self.what, extra={"objects": self.sink.size(), "resource_version": version})
        return version

    def watch(self, version: str) -> tuple[str, int, float]:
        """Apply watch events from `version` until the stream ends; returns (last version, events, seconds)."""
        started = time.monotonic()
        stream = self.source.open_watch(version)
        with self._stream_lock:
            self._stream = stream
        if self.stop.is_set():
            _best_effort(stream.cut)
        events = 0
        try:
            for line in split_lines(stream.chunks()):
                version = self._apply(json.loads(line), version)
                events += 1
        finally:
            with self._stream_lock:
                self._stream = None
            _best_effort(stream.close)
        return version, events, time.monotonic() - started

    def _apply(self, event: Mapping[str, Any], version: str) -> str:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, Mapping):
            raise WatchFailed(f"watch event without an object: {str(event)[:200]}")
        if kind == "ERROR":
            if obj.get("code") == HTTP_GONE:
                raise Expired(str(obj.get("message") or "410 Gone"))
            raise WatchFailed(f"watch ERROR {obj.get('code')} {obj.get('reason')}: {obj.get('message')}")
        metadata = obj.get("metadata")
        new_version = str((metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None) or version)
        if kind in ("ADDED", "MODIFIED") and named(obj):
            self.sink.upsert(obj)
        elif kind == "DELETED" and named(obj):
            self.sink.delete(obj)
        elif kind != "BOOKMARK":
            logger.warning("ignored a %s watch event of type %r", self.what, kind)
            return new_version
        self.on_sync()
        return new_version


def split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Watch events (one JSON document per line) from a chunked body; bounded line length."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if line.strip())
        if len(pending) > MAX_EVENT_BYTES:
            raise ValueError(f"watch event larger than {MAX_EVENT_BYTES} bytes")
    if pending.strip():
        yield pending


def named(obj: Mapping[str, Any]) -> bool:
    """The object has a metadata.name (anything else cannot be kept by key)."""
    metadata = obj.get("metadata")
    return isinstance(metadata, Mapping) and isinstance(metadata.get("name"), str) and bool(metadata["name"])


def describe(err: Exception) -> str:
    """An API error as `HTTP 500 Internal Server Error`, anything else as `Type: message`."""
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    return f"{type(err).__name__}: {err}"


def _best_effort(call: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # the reading thread also sees the stop flag
        call()
