"""The NAD catalog the rules look networks up in: a protocol, and an immutable in-memory implementation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from cni.spec import Nad, parse_nad

NAD_KIND = "NetworkAttachmentDefinition"


class NadCatalog(Protocol):
    def get(self, namespace: str, name: str) -> Nad | None: ...

    def namespaces_of(self, name: str) -> tuple[str, ...]: ...

    def __len__(self) -> int: ...


class CatalogError(Exception):
    """A catalog source cannot be read; the message names the file."""


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

    @classmethod
    def from_directory(cls, path: Path) -> MemoryCatalog:
        """Every NAD in the *.yaml, *.yml and *.json files below a directory (or in one file)."""
        if not path.exists():
            raise CatalogError(f"{path}: no such file or directory")
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"} and p.is_file())
        objs: list[Any] = []
        for file in files:
            objs.extend(load_documents(file))
        return cls.from_objects(objs)

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


def load_documents(file: Path) -> list[Any]:
    """The objects in a YAML or JSON file, with `List` items flattened; raises CatalogError."""
    try:
        text = file.read_text(encoding="utf-8")
        docs = [json.loads(text)] if file.suffix == ".json" else list(yaml.safe_load_all(text))
    except (OSError, UnicodeDecodeError) as err:
        raise CatalogError(f"{file}: cannot read: {err}") from err
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise CatalogError(f"{file}: not valid YAML/JSON: {err}") from err
    out: list[Any] = []
    for doc in docs:
        if isinstance(doc, Mapping) and str(doc.get("kind", "")).endswith("List") and isinstance(
                doc.get("items"), list):
            out.extend(doc["items"])
        elif doc is not None:
            out.append(doc)
    return out
