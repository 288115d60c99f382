"""The NAD catalog the rules look networks up in: a protocol, and an immutable in-memory implementation.

No file I/O here: webhook.manifests.read_catalog reads a catalog from manifests, with the one manifest reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from cni.spec import Nad, parse_nad

NAD_KIND = "NetworkAttachmentDefinition"


class NadCatalog(Protocol):
    def get(self, namespace: str, name: str) -> Nad | None: ...

    def namespaces_of(self, name: str) -> tuple[str, ...]: ...

    def __len__(self) -> int: ...


class CatalogError(Exception):
    """A catalog source cannot be read; the message names the file (webhook.manifests.read_catalog raises it)."""


def is_nad(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("kind") == NAD_KIND


class MemoryCatalog:
    """NADs held in memory, keyed by namespace and name; never changes after it is built."""

    __slots__ = ("_by_key", "_by_name")

    def __init__(self, nads: Iterable[Nad] = ()) -> None:
        by_key: dict[tuple[str, str], Nad] = {}
        for nad in nads:
            by_key[(nad.namespace, nad.name)] = nad
        by_name: dict[str, list[str]] = {}
        for namespace, name in sorted(by_key):
            by_name.setdefault(name, []).append(namespace)
        self._by_key = by_key
        self._by_name = {name: tuple(spaces) for name, spaces in by_name.items()}

    @classmethod
    def from_objects(cls, objs: Iterable[Any]) -> MemoryCatalog:
        return cls(parse_nad(obj) for obj in objs if is_nad(obj))

    def get(self, namespace: str, name: str) -> Nad | None:
        return self._by_key.get((namespace, name))

    def namespaces_of(self, name: str) -> tuple[str, ...]:
        return self._by_name.get(name, ())

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Nad]:
        return iter(self._by_key.values())

    def keys(self) -> tuple[tuple[str, str], ...]:
        """(namespace, name) of every NAD, sorted."""
        return tuple(sorted(self._by_key))

    def with_nad(self, nad: Nad) -> MemoryCatalog:
        """A new catalog with this NAD added or replaced; this one is unchanged (watchers swap snapshots)."""
        return MemoryCatalog([*(n for key, n in self._by_key.items() if key != (nad.namespace, nad.name)), nad])

    def without(self, namespace: str, name: str) -> MemoryCatalog:
        """A new catalog without this NAD (this one when it was not there)."""
        if (namespace, name) not in self._by_key:
            return self
        return MemoryCatalog(n for key, n in self._by_key.items() if key != (namespace, name))

