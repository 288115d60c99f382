"""Reading manifests: every object with its file and line; bad input as a value with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.paths import FIXTURES
from webhook.sources import (
    MAX_FILE_BYTES,
    MAX_SYNTAX_ERRORS,
    parse_text,
    read_file,
)

MULTI = """\
# leading comment
apiVersion: v1
kind: Pod
metadata:
  name: a
---
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: b
  namespace: team
"""

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: first}
- kind: List
  items:
  - kind: Pod
    metadata: {name: nested}
- apiVersion: v1
  kind: Pod
  metadata:
    name: third
"""

KUBECTL_JSON = """{
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {
            "kind": "Pod",
            "metadata": {"name": "p1"}
        },
        {
            "kind": "Pod",
            "metadata": {"name": "p2"}
        }
    ]
}
"""

POD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        "k8s.v1.cni.cncf.io/networks": |
          [{"name": "a"}]
        "a\\"quoted": x
    spec:
      containers:
      - name: one
      - name: two
        image: nginx
"""


def lines(text: str) -> list[tuple[int, str]]:
    return [(o.line, o.name) for o in parse_text(text, file="f.yaml").objects]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(MULTI, [(2, "a"), (10, "b")], id="multi-document-empty-and-comment-docs-skipped"),
        pytest.param(LIST, [(4, "first"), (9, "nested"), (11, "third")], id="list-items-each-with-own-line"),
        pytest.param(KUBECTL_JSON, [(5, "p1"), (9, "p2")], id="kubectl-json-list"),
        pytest.param("- a\n- b\n---\n42\n---\nplain string\n", [], id="non-mapping-documents-ignored"),
        pytest.param("", [], id="empty-file"),
        pytest.param("---\n", [], id="only-separator"),
        pytest.param("\ufeffkind: Pod\nmetadata: {name: bom}\n", [(1, "bom")], id="byte-order-mark"),
    ],
)
def test_objects_and_their_lines(text: str, expected: list[tuple[int, str]]) -> None:
    assert lines(text.lstrip("\ufeff")) == expected


def test_generate_name_is_the_name_when_name_is_missing() -> None:
    (obj,) = parse_text("kind: Pod\nmetadata: {generateName: gen-}\n", file="f").objects
    assert (obj.name, obj.namespace, obj.kind) == ("gen-", None, "Pod")


def test_timestamps_stay_strings_as_the_api_server_sees_them() -> None:
    (obj,) = parse_text("kind: Pod\nmetadata:\n  creationTimestamp: 2022-12-22T10:27:22Z\n", file="f").objects
    assert obj.obj["metadata"]["creationTimestamp"] == "2022-12-22T10:27:22Z"


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        pytest.param("kind: Pod\nmetadata: [\n", 3, 1, "flow", id="unclosed-flow-sequence"),
        pytest.param("a: b\n c: d\n", 2, 3, "mapping values", id="bad-indentation"),
        pytest.param("a: !!python/object:os.system x\n", 1, 4, "constructor", id="python-tag-rejected"),
        pytest.param("a:\tb\n\t- x\n", 2, 1, "tab", id="tab-indentation"),
        pytest.param("a: 1\na: [1, *nope]\n", 2, 8, "alias", id="unknown-alias"),
    ],
)
def test_invalid_yaml_is_reported_with_line_and_column(text: str, line: int, column: int, fragment: str) -> None:
    result = parse_text(text, file="bad.yaml")
    (error,) = result.errors
    assert (error.file, error.line, error.column) == ("bad.yaml", line, column)
    assert fragment in error.message
    assert error.text().startswith(f"bad.yaml:{line}:{column}: error: invalid YAML")


def test_documents_before_a_yaml_error_are_kept() -> None:
    result = parse_text("kind: Pod\nmetadata: {name: ok}\n---\nkind: [\n", file="f")
    assert [o.name for o in result.objects] == ["ok"]
    assert result.errors[0].line == 5


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    result = parse_text("[" * 10000, file="deep.yaml")
    assert result.errors and not result.objects


@pytest.mark.parametrize(
    ("path", "line"),
    [
        pytest.param('spec.template.metadata.annotations["k8s.v1.cni.cncf.io/networks"][0].name', 9,
                     id="inside-annotation-text-stops-at-the-annotation"),
        pytest.param('spec.template.metadata.annotations["a\\"quoted"]', 11, id="escaped-quote-in-key"),
        pytest.param("spec.template.spec.containers[1].image", 16, id="list-index-then-key"),
        pytest.param("spec.template.spec.containers[1]", 15, id="list-item"),
        pytest.param("spec.template.spec.containers[7]", 13, id="index-out-of-range-stops-at-list"),
        pytest.param("spec.replicas", 5, id="missing-key-stops-at-parent"),
        pytest.param("", 1, id="empty-path-is-the-object"),
        pytest.param("metadata.name", 4, id="plain-key"),
    ],
)
def test_line_of_a_finding_path(path: str, line: int) -> None:
    (obj,) = parse_text(POD, file="f").objects
    assert obj.line_of(path) == line


def test_read_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"kind: Pod\nmetadata:\n  name: \xff\xfe\n")
    (error,) = read_file(bad).errors
    assert (error.file, error.line) == (str(bad), 3)
    assert "UTF-8" in error.message
    missing = read_file(tmp_path / "missing.yaml")
    assert missing.errors[0].message.startswith("cannot read")


LONG_KEY = "example.com/" + "k" * 1100  # YAML caps implicit keys at 1024 characters; JSON has no cap


def test_json_that_yaml_rejects_falls_back_to_the_json_parser(tmp_path: Path) -> None:
    file = tmp_path / "long-key.json"
    file.write_text(json.dumps({"kind": "Pod", "metadata": {"name": "long", "annotations": {LONG_KEY: "v"}}}))
    assert parse_text(file.read_text(), file="f").errors
    result = read_file(file)
    assert not result.errors
    assert [(o.name, o.line) for o in result.objects] == [("long", 1)]


def test_invalid_json_reports_the_json_position(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text('{\n\t"kind": "Pod",\n\t"metadata": {"name": "x"}}}\n')
    (error,) = read_file(file).errors
    assert (error.line, error.column) == (3, 28)
    assert error.message.startswith("invalid JSON")


@pytest.mark.parametrize("name", ["nads.yaml", "pods.yaml", "workloads.yaml", "gen.yaml"])
def test_shared_manifests_read_cleanly(name: str) -> None:
    result = read_file(FIXTURES / "manifests" / name)
    assert not result.errors
    assert result.objects and all(o.kind and o.name for o in result.objects)


def test_admission_review_json_is_read_as_one_object() -> None:
    file = sorted((FIXTURES / "admission").glob("*.json"))[0]
    (obj,) = read_file(file).objects
    assert obj.obj == json.loads(file.read_text())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("kind: Pod\nmetadata: &m {name: a}\nspec: {x: *m}\n",
                     {"kind": "Pod", "metadata": {"name": "a"}, "spec": {"x": {"name": "a"}}}, id="alias"),
        pytest.param("base: &b {a: 1}\nkind: Pod\nmetadata:\n  <<: *b\n  name: m\n",
                     {"base": {"a": 1}, "kind": "Pod", "metadata": {"a": 1, "name": "m"}}, id="merge-key"),
        pytest.param("kind: Pod\nn: [1, 0x10, 1.5, .inf, true, ~, yes, '1']\n",
                     {"kind": "Pod", "n": [1, 16, 1.5, float("inf"), True, None, True, "1"]}, id="yaml-1.1-scalars"),
        pytest.param("kind: Pod\ns: !!set {a, b}\n", {"kind": "Pod", "s": {"a", "b"}}, id="set-falls-back"),
        pytest.param("kind: Pod\n1: int-key\n", {"kind": "Pod", 1: "int-key"}, id="non-string-key"),
    ],
)
def test_values_match_the_safe_loader(text: str, expected: dict[object, object]) -> None:
    import yaml

    (obj,) = parse_text(text, file="f").objects
    assert obj.obj == expected == yaml.safe_load(text)


def test_aliases_share_one_value_so_alias_bombs_stay_small() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    (obj,) = parse_text("kind: Pod\n" + bomb, file="f").objects
    assert obj.obj["c"][0] is obj.obj["c"][1]


def test_recursive_alias_is_an_error() -> None:
    result = parse_text("kind: Pod\nloop: &l [*l]\n", file="f")
    assert not result.objects
    assert result.errors[0].line == 2 and "recursive" in result.errors[0].message


def test_garbage_collection_is_restored() -> None:
    import gc

    assert gc.isenabled()
    parse_text("kind: Pod\n", file="f")
    parse_text("kind: [\n", file="f")
    assert gc.isenabled()


def test_line_of_inside_an_indented_list_item() -> None:
    items = parse_text(LIST, file="f").objects
    assert items[2].line_of("metadata.name") == 14
    assert items[1].line_of("metadata.name") == 10


def test_line_of_falls_back_to_the_object_line_when_the_slice_cannot_be_read_alone() -> None:
    text = "kind: List\nitems:\n- &pod {kind: Pod, metadata: {name: a}}\n- kind: Pod\n  metadata: *pod\n"
    second = parse_text(text, file="f").objects[1]
    assert (second.line, second.line_of("metadata.name")) == (4, 4)


def test_json_read_by_the_json_module_puts_every_object_on_line_1(tmp_path: Path) -> None:
    file = tmp_path / "list.json"
    pod = {"kind": "Pod", "metadata": {"name": "a", "annotations": {LONG_KEY: "v"}}}
    file.write_text(json.dumps({"kind": "List", "items": [pod]}, indent=2))
    (obj,) = read_file(file).objects
    assert (obj.line, obj.line_of("metadata.name")) == (1, 1)


def test_typed_lists_are_flattened_too() -> None:
    text = "apiVersion: v1\nkind: PodList\nitems:\n- kind: Pod\n  metadata: {name: a}\n"
    assert lines(text) == [(4, "a")]


# -- scalars YAML cannot build: every problem reported with its line, never a Python exception ---------------------
BAD_SCALARS = [
    pytest.param("a: !!bool maybe", 'cannot read "maybe" as !!bool', id="bool-maybe"),
    pytest.param("a: !!float x", 'cannot read "x" as !!float', id="float-x"),
    pytest.param("a: !!int 12a", 'cannot read "12a" as !!int', id="int-12a"),
    pytest.param('a: !!int "0x_"', 'cannot read "0x_" as !!int', id="quoted-int"),
]


@pytest.mark.parametrize(("line", "message"), BAD_SCALARS)
def test_explicit_tags_that_do_not_fit_are_errors_with_line_and_column(line: str, message: str) -> None:
    result = parse_text(f"kind: Pod\nmetadata: {{name: p}}\n{line}\n", file="f.yaml")
    assert result.objects == ()
    (error,) = result.errors
    assert (error.file, error.line, error.column) == ("f.yaml", 3, 4) and message in error.message


@pytest.mark.parametrize("value", [
    pytest.param("0x_", id="hex-without-digits"),
    pytest.param("9" * 4400, id="integer-over-4300-digits"),
    pytest.param("0b_", id="binary-without-digits"),
    pytest.param("1_2:3_4:x", id="sexagesimal-lookalike"),
])
def test_plain_scalars_that_only_look_like_numbers_stay_strings(value: str) -> None:
    result = parse_text(f"kind: Pod\nmetadata: {{name: p}}\nvalue: {value}\n", file="f.yaml")
    assert result.errors == () and result.objects[0].obj["value"] == value


def test_every_bad_document_is_reported_and_the_good_ones_are_read() -> None:
    text = "kind: Pod\na: !!bool maybe\n---\nkind: Pod\nmetadata: {name: good}\n---\nkind: Pod\nb: !!float x\n"
    result = parse_text(text, file="f.yaml")
    assert [o.name for o in result.objects] == ["good"]
    assert [(e.line, e.column) for e in result.errors] == [(2, 4), (8, 4)]


YAMLISH = st.lists(st.sampled_from([
    "a", ":", " ", "\n", "- ", "!!bool ", "!!int ", "!!float ", "!!str ", "!!binary ", "!!set ", "!!omap ",
    "!!timestamp ", "!x ", "&a ", "*a ", "<<: ", "? ", "{", "}", "[", "]", ",", '"', "'", "0x_", "9" * 4400, "1e999",
    ".nan", "maybe", "~", "---\n", "...\n", "%YAML 1.1\n", "#", "\t", "\\", "\x00", "\ufeff", "\ud800", '"\\ud800"',
    "kind: Pod\n", "metadata:\n  name: p\n", "2001-12-14", "=",
]), max_size=30).map("".join)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAMLISH)
def test_any_text_gives_objects_and_errors_never_an_exception(text: str) -> None:
    result = parse_text(text, file="f.yaml")
    assert result.files == 1
    for error in result.errors:
        assert error.file == "f.yaml" and error.message


def test_a_file_over_the_size_limit_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    (error,) = read_file(big).errors
    assert error.file == str(big) and "larger than 16 MiB" in error.message and "split" in error.message


BROKEN_DOCUMENTS = """\
kind: Pod
metadata: {name: a}
---
kind: Pod
metadata: [name: b
---
kind: Pod
metadata: {name: c}
x: !!bool maybe
---
kind: Pod
metadata: {name: d}
  bad: indent
---
apiVersion: v1
kind: Pod
metadata:
  name: e
  annotations:
    k8s.v1.cni.cncf.io/networks: macvlan-conf@eth0
"""


def test_after_a_syntax_error_reading_resumes_at_the_next_document() -> None:
    result = parse_text(BROKEN_DOCUMENTS, file="f.yaml")
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == [
        (6, "invalid YAML"), (9, "invalid YAML"), (13, "invalid YAML")]
    assert "!!bool" in result.errors[1].message
    assert [(o.name, o.line) for o in result.objects] == [("a", 1), ("e", 15)]
    assert result.objects[1].line_of('metadata.annotations["k8s.v1.cni.cncf.io/networks"]') == 20


def test_syntax_errors_stop_being_reported_after_the_limit() -> None:
    text = "kind: Pod\nmetadata: [x\n---\n" * (MAX_SYNTAX_ERRORS + 50)
    errors = parse_text(text, file="f.yaml").errors
    assert len(errors) == MAX_SYNTAX_ERRORS + 1
    assert errors[-1].message == f"more than {MAX_SYNTAX_ERRORS} YAML syntax errors; stopped reading"
