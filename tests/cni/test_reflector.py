"""The one list+watch loop (cni.reflector), driven by an in-memory API: resume, relist, backoff, empty watches."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

import cni.node.watchcache
import webhook.kube
from cni.reflector import Backoff, Expired, Reflector

NO_JITTER = Backoff(initial=1.0, maximum=8.0, jitter=0.0)


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version}}


class StopAfter(threading.Event):
    """Records each wait of the loop and sets itself after `rounds` of them (no real waiting)."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0.0))
        if len(self.waits) >= self.rounds:
            self.set()
        return self.is_set()


@dataclass
class Body:
    lines: list[bytes]

    def chunks(self) -> Iterator[bytes]:
        return iter(self.lines)

    def close(self) -> None:
        return None

    def cut(self) -> None:
        return None


@dataclass
class Api:
    """Lists `items` at version "10"; each watch plays the next script of events (none left: an empty watch)."""

    items: list[dict[str, Any]]
    scripts: list[list[dict[str, Any]]]
    watched_from: list[str] = field(default_factory=list)
    list_errors: list[Exception] = field(default_factory=list)

    def list_page(self, token: str | None) -> Mapping[str, Any]:
        if self.list_errors:
            raise self.list_errors.pop(0)
        return {"items": self.items, "metadata": {"resourceVersion": "10"}}

    def open_watch(self, version: str) -> Body:
        self.watched_from.append(version)
        events = self.scripts.pop(0) if self.scripts else []
        return Body([json.dumps(e).encode() + b"\n" for e in events])


@dataclass
class Kept:
    objects: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def keep(self, o: Mapping[str, Any]) -> Any:
        return o

    def install(self, kept: list[Any]) -> None:
        self.objects = {o["metadata"]["name"]: o for o in kept}

    def upsert(self, o: Mapping[str, Any]) -> None:
        self.objects[o["metadata"]["name"]] = o

    def delete(self, o: Mapping[str, Any]) -> None:
        self.objects.pop(o["metadata"]["name"], None)

    def size(self) -> int:
        return len(self.objects)


class Status(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def run(api: Api, rounds: int) -> tuple[Reflector, Kept, StopAfter]:
    sink, stop = Kept(), StopAfter(rounds)
    reflector = Reflector(api, sink, what="test", stop=stop, backoff=NO_JITTER, min_watch_seconds=60.0)
    reflector.run()
    return reflector, sink, stop


def test_the_node_and_the_webhook_share_the_reflector() -> None:
    assert cni.node.watchcache.Reflector is Reflector and webhook.kube.Reflector is Reflector
    assert webhook.kube.Backoff is Backoff


def test_watches_resume_from_the_last_version_and_apply_events() -> None:
    api = Api([obj("a", "5")], [[{"type": "ADDED", "object": obj("b", "11")},
                                 {"type": "DELETED", "object": obj("a", "12")}],
                                [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}]])
    reflector, sink, stop = run(api, rounds=3)
    assert api.watched_from == ["10", "12", "15"] and reflector.lists == 1
    assert list(sink.objects) == ["b"]
    assert stop.waits == [0.0, 0.0, 1.0]   # two watches with events resume at once; the empty one backs off


def test_empty_watches_back_off_exponentially_without_relisting() -> None:
    reflector, _, stop = run(Api([], []), rounds=5)
    assert stop.waits == [1.0, 2.0, 4.0, 8.0, 8.0] and reflector.lists == 1


@pytest.mark.parametrize(("scripts", "waits", "lists"), [
    ([[{"type": "ERROR", "object": {"code": 410, "message": "too old"}}]], [0.0, 1.0], 2),
    ([[{"type": "ERROR", "object": {"code": 410}}]] * 3, [0.0, 1.0, 2.0], 3),   # repeated 410s back off
    ([[{"type": "ERROR", "object": {"code": 500, "message": "etcd"}}]], [1.0, 2.0], 2),
    ([[{"type": "ADDED"}]], [1.0, 2.0], 2),   # an event without an object is a failure
])
def test_errors_relist(scripts: list[list[dict[str, Any]]], waits: list[float], lists: int) -> None:
    reflector, _, stop = run(Api([], scripts), rounds=len(waits))
    assert stop.waits == waits and reflector.lists == lists


def test_list_errors_back_off_and_an_expired_continue_token_is_expired() -> None:
    api = Api([obj("a", "1")], [], list_errors=[Status(500), Status(500)])
    reflector, sink, stop = run(api, rounds=3)
    assert stop.waits[:2] == [1.0, 2.0] and reflector.lists == 1 and list(sink.objects) == ["a"]
    with pytest.raises(Expired):
        Reflector(Api([], [], list_errors=[Status(410)]), Kept(), what="t", stop=threading.Event()).relist()
