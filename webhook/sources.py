"""Parse Kubernetes objects from YAML/JSON text or one file, remembering the file and line of each.

Multi-document YAML, `kind: List` and `<Kind>List` (items are returned one by one) and kubectl's JSON output
are all accepted.
Unreadable input is a value (`SourceError` with file and line), never an exception. Paths (directories, Helm
charts, stdin) are read into these values by webhook.manifests, the one manifest reader.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

# Lint reads about 1 MiB/s of manifests; past this a file is refused with a clear error rather than read for
# minutes (no Kubernetes object is over 1.5 MiB, etcd's limit; a file of more objects can be split).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_SYNTAX_ERRORS = 100  # each one re-reads the rest of the file from the next document
_DOCUMENT_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)

_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader with Kubernetes semantics: timestamps stay strings (the API server sees JSON strings).

    The resolver hooks are the SafeLoader's without path resolvers (none are registered): libyaml calls them
    for every node, and the generic versions cost a quarter of the parse.
    """

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                resolvers = self.yaml_implicit_resolvers
                for tag, regexp in resolvers.get(value[0] if value else "", ()):
                    if regexp.match(value):
                        return tag  # type: ignore[no-any-return]
                for tag, regexp in resolvers.get(None, ()):
                    if regexp.match(value):
                        return tag  # type: ignore[no-any-return]
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _checked_scalar(construct: Any) -> Any:
    """A SafeLoader scalar constructor that never raises a bare Python error.

    A plain scalar that only looks like a number or boolean (`0x_`, an integer of more than 4,300 digits) stays a
    string, as Kubernetes' YAML reader leaves it; an explicit tag that does not fit (`!!bool maybe`, `!!float x`)
    is a YAML error at the scalar's line.
    """

    def constructor(loader: _Loader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, LookupError, TypeError, ArithmeticError) as exc:  # e.g. `!!int ""`, `!!bool maybe`
            plain = not node.style  # libyaml gives "" for a plain scalar, PyYAML None
            if plain and loader.resolve(yaml.ScalarNode, node.value, (True, False)) == node.tag:
                return node.value
            tag = node.tag.rpartition(":")[2]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_quoted(node.value)} as !!{tag}", node.start_mark) from exc

    return constructor


def _quoted(value: str) -> str:
    return json.dumps(value if len(value) <= 40 else value[:37] + "...", ensure_ascii=False)


for _tag in ("int", "float", "bool"):
    _tag = f"tag:yaml.org,2002:{_tag}"
    _Loader.add_constructor(_tag, _checked_scalar(yaml.SafeLoader.yaml_constructors[_tag]))

# A finding path: dotted keys, ["quoted keys"] and [indexes], e.g. spec.template.metadata.annotations["k"][1].mac
_PATH_TOKEN = re.compile(r'\.?([A-Za-z0-9_$-]+)|\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]')


@dataclass(frozen=True, slots=True)
class SourceError:
    """Input that could not be read: a missing file, bad encoding or invalid YAML/JSON."""

    file: str
    line: int  # 1-based; 0 when the error is about the file as a whole
    column: int  # 1-based; 0 when unknown
    message: str

    def location(self) -> str:
        """`file`, `file:line` or `file:line:column`, as much as is known."""
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return where

    def text(self) -> str:
        """`file:line:column: error: message`, the way compilers report it."""
        return f"{self.location()}: error: {self.message}"


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One Kubernetes object and where it was written."""

    file: str
    line: int  # 1-based line where the object starts
    obj: Mapping[str, Any]
    span: Span | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        kind = self.obj.get("kind")
        return kind if isinstance(kind, str) else ""

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def name(self) -> str:
        for key in ("name", "generateName"):
            value = self.metadata.get(key)
            if isinstance(value, str) and value:
                return value
        return ""

    @property
    def namespace(self) -> str | None:
        value = self.metadata.get("namespace")
        return value if isinstance(value, str) and value else None

    def line_of(self, path: str) -> int:
        """The line of the deepest field of `path` written in the source (the object's line if none is)."""
        return self.lines_of([path])[0]

    def lines_of(self, paths: Sequence[str]) -> list[int]:
        """line_of for several paths, reading the object's text once."""
        span = self.span
        node = span.compose() if span is not None else None
        if span is None or node is None:
            return [self.line for _ in paths]
        return [locate(node, path) + span.line0 for path in paths]


@dataclass(frozen=True, slots=True)
class Span:
    """Where an object's text is: kept instead of its YAML nodes, which cost more memory and GC time than the
    objects themselves. The nodes are composed again, from this slice only, when a finding needs a line."""

    text: str
    start: int  # character offsets of the object's node in `text`
    end: int
    line0: int  # 0-based line of `start`
    column: int  # 0-based column of `start`
    flow: bool = False  # a {...} or [...] node (JSON): its indentation does not matter

    def compose(self) -> yaml.Node | None:
        # Indent the first line of a block node as in the file, so that block mappings inside a list still line up.
        # Never a flow node: in minified JSON its column can be millions, once per object of the file.
        indent = "" if self.flow else " " * self.column
        try:
            node: yaml.Node | None = yaml.compose(indent + self.text[self.start:self.end], Loader=_Loader)
        except (yaml.YAMLError, RecursionError):  # e.g. an alias to an anchor outside the slice
            return None
        return node


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything read from the inputs: objects in input order, errors, and how many files were read."""

    objects: tuple[SourceObject, ...] = ()
    errors: tuple[SourceError, ...] = ()
    files: int = 0

    def __add__(self, other: Sources) -> Sources:
        return Sources(self.objects + other.objects, self.errors + other.errors, self.files + other.files)


def locate(node: yaml.Node, path: str) -> int:
    """1-based line of the deepest node that `path` reaches from `node`."""
    line = node.start_mark.line + 1
    for match in _PATH_TOKEN.finditer(path):
        key, quoted, index = match.groups()
        if quoted is not None:
            key = _unquote(quoted)
        found = _child(node, key, index)
        if found is None:
            break
        line, node = found
    return line


def _unquote(quoted: str) -> str:
    try:
        value = json.loads(f'"{quoted}"')
    except json.JSONDecodeError:
        return quoted
    return value if isinstance(value, str) else quoted


def _child(node: yaml.Node, key: str | None, index: str | None) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and key is not None:
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node.start_mark.line + 1, value_node
    if isinstance(node, yaml.SequenceNode) and index is not None and int(index) < len(node.value):
        item: yaml.Node = node.value[int(index)]
        return item.start_mark.line + 1, item
    return None


def parse_text(text: str, *, file: str) -> Sources:
    """Every object in a YAML (or JSON) text, and every problem as a value: a document whose values cannot be
    built is reported and skipped; after a syntax error, reading resumes at the next `---` line (at most
    MAX_SYNTAX_ERRORS times)."""
    objects: list[SourceObject] = []
    errors: list[SourceError] = []
    start, line0 = 0, 0
    for _ in range(MAX_SYNTAX_ERRORS):
        segment = text[start:] if start else text
        failed_line = _parse_segment(segment, file=file, line0=line0, objects=objects, errors=errors)
        if failed_line is None:
            break
        resume = _next_document(segment, from_line=failed_line)
        if resume is None:
            break
        line0 += segment.count("\n", 0, resume)
        start += resume
    else:
        errors.append(SourceError(file, 0, 0, f"more than {MAX_SYNTAX_ERRORS} YAML syntax errors; stopped reading"))
    return Sources(tuple(objects), tuple(errors), 1)


def _parse_segment(text: str, *, file: str, line0: int, objects: list[SourceObject],
                   errors: list[SourceError]) -> int | None:
    """Parse ``text`` (which starts at line ``line0`` of the file) into ``objects`` and ``errors``; the 0-based
    line of a syntax error in ``text``, after which nothing more could be read, else None."""
    found: list[SourceObject] = []
    failed: int | None = None
    problems: list[SourceError] = []
    try:
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                try:
                    value = _construct(loader, node)
                except yaml.constructor.ConstructorError as exc:
                    problems.append(_yaml_error(file, exc))
                    _reset(loader)
                    continue
                found.extend(_objects(file, node, value, text))
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        problems.append(_yaml_error(file, exc))
        mark = exc.problem_mark or exc.context_mark
        failed = mark.line if mark is not None else None
    except yaml.YAMLError as exc:
        problems.append(SourceError(file, _position_line(text, exc), 0, str(exc)))
    except RecursionError:
        problems.append(SourceError(file, 0, 0, "invalid YAML: nested too deeply"))
    except UnicodeError as exc:  # a lone surrogate (only from a caller's str, never from decoded bytes)
        problems.append(SourceError(file, 0, 0, f"not valid Unicode text: {exc}"))
    if not line0:
        objects.extend(found)
        errors.extend(problems)
    else:
        objects.extend(_shifted(o, line0) for o in found)
        errors.extend(replace(e, line=e.line + line0) if e.line else e for e in problems)
    return failed


def _next_document(text: str, *, from_line: int) -> int | None:
    """Offset of the first `---` document marker on ``from_line`` (0-based; a parser often notices an unclosed
    bracket only at the next marker) or after it, never at offset 0 (reading must move on); None if there is none."""
    position = 0
    for _ in range(from_line):
        position = text.find("\n", position) + 1
        if position == 0:
            return None
    match = _DOCUMENT_START.search(text, max(position, 1))
    return match.start() if match else None


def _shifted(source: SourceObject, lines: int) -> SourceObject:
    span = source.span
    return replace(source, line=source.line + lines,
                   span=replace(span, line0=span.line0 + lines) if span is not None else None)


def _reset(loader: yaml.SafeLoader) -> None:
    """Forget a failed document's half-built values, so the next document starts clean."""
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []
    loader.deep_construct = False


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many long-lived, acyclic objects are built or walked (it would
    rescan them over and over); refcounting still frees everything. The previous state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _RecursiveAlias(yaml.constructor.ConstructorError):
    """An alias inside the node it refers to: no JSON value (and no Kubernetes object) can hold it."""


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """The document's value. Plain str/map/seq trees (all of Kubernetes YAML) take a fast path; anything else
    (merge keys, !!set, custom tags, unhashable keys) goes through the SafeLoader constructor."""
    try:
        return _FastConstructor(loader).value(node)
    except _NotPlain:
        return loader.construct_document(node)


class _NotPlain(Exception):
    """The fast path does not handle this node; use the full constructor."""


class _FastConstructor:
    """Nodes -> Python values, sharing the value of an aliased node (as SafeLoader does) and refusing cycles."""

    __slots__ = ("_done", "_loader", "_open")

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self._done: dict[int, Any] = {}
        self._open: set[int] = set()

    def value(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            if node.tag.startswith("tag:yaml.org,2002:") and node.tag != "tag:yaml.org,2002:binary":
                return self._loader.construct_object(node)
            raise _NotPlain
        key = id(node)
        if key in self._done:
            return self._done[key]
        if key in self._open:
            raise _RecursiveAlias("while constructing", node.start_mark, "found a recursive alias", node.start_mark)
        self._open.add(key)
        result = self._mapping(node) if node.tag == _MAP else self._sequence(node)
        self._open.discard(key)
        self._done[key] = result
        return result

    def _mapping(self, node: yaml.Node) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _NotPlain
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                raise _NotPlain
            key, value = self.value(key_node), self.value(value_node)
            try:
                out[key] = value
            except TypeError as exc:  # `? !!set : x`: a key no mapping can hold
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        "found an unhashable key", key_node.start_mark) from exc
        return out

    def _sequence(self, node: yaml.Node) -> list[Any]:
        if node.tag != _SEQ or not isinstance(node, yaml.SequenceNode):
            raise _NotPlain
        return [self.value(item) for item in node.value]


def _objects(file: str, node: yaml.Node | None, value: Any, text: str) -> Iterator[SourceObject]:
    """The object a document holds; the items of a `List`, each with its own line (nested Lists too).
    Without a node (JSON read by the json module) every object is on line 1."""
    if not isinstance(value, Mapping):
        return
    items, kind = value.get("items"), value.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):  # List, PodList, ...
        item_nodes = _value_node(node, "items") if node is not None else None
        for i, item in enumerate(items):
            item_node = item_nodes.value[i] if isinstance(item_nodes, yaml.SequenceNode) else node
            yield from _objects(file, item_node, item, text)
        return
    if node is None:
        yield SourceObject(file, 1, value)
        return
    start, end = node.start_mark, node.end_mark
    yield SourceObject(file, start.line + 1, value, Span(text, start.index, end.index, start.line, start.column,
                                                         flow=bool(getattr(node, "flow_style", False))))


def _value_node(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node  # type: ignore[no-any-return]
    return None


def _yaml_error(file: str, exc: yaml.MarkedYAMLError) -> SourceError:
    mark = exc.problem_mark or exc.context_mark
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "invalid YAML: " + ", ".join(parts) if parts else f"invalid YAML: {exc}"
    if mark is None:
        return SourceError(file, 0, 0, message)
    return SourceError(file, mark.line + 1, mark.column + 1, message)


def _position_line(text: str, exc: yaml.YAMLError) -> int:
    position = getattr(exc, "position", None)
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else 0


def read_file(path: Path, *, name: str | None = None) -> Sources:
    """Parse one file; `.json` files that YAML cannot read fall back to the JSON parser."""
    file = name or str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return Sources(errors=(SourceError(file, 0, 0, f"cannot read: {exc.strerror or exc}"),), files=1)
    if len(data) > MAX_FILE_BYTES:
        return too_large(file)
    return decode_and_parse(data, file=file, json_fallback=path.suffix == ".json")


def too_large(file: str) -> Sources:
    """The error for an input over MAX_FILE_BYTES, which is not read at all."""
    message = (f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the limit for one input; split it into several "
               "files (e.g. one per workload)")
    return Sources(errors=(SourceError(file, 0, 0, message),), files=1)


def decode_and_parse(data: bytes, *, file: str, json_fallback: bool = False) -> Sources:
    """Decode UTF-8 (a BOM is allowed) and parse; bad bytes are reported with their line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return Sources(errors=(SourceError(file, line, 0, f"not UTF-8 text: {exc.reason}"),), files=1)
    parsed = parse_text(text, file=file)
    if parsed.errors and json_fallback:
        return _parse_json(text, file=file, yaml_result=parsed)
    return parsed


def _parse_json(text: str, *, file: str, yaml_result: Sources) -> Sources:
    """JSON that PyYAML rejects (e.g. tab indentation); lines are only known per document."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Sources(errors=(SourceError(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}"),), files=1)
    return Sources(tuple(_objects(file, None, value, text)), (), 1)
