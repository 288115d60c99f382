"""The one manifest reader: paths (files, directories, charts, stdin) -> Sources, and a NAD catalog through it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.paths import FIXTURES, SEEDS
from webhook.catalog import CatalogError
from webhook.manifests import (
    MAX_REPORTED,
    STDIN,
    STDIN_NAME,
    find_inputs,
    read_catalog,
    read_paths,
)
from webhook.sources import MAX_FILE_BYTES, SourceError


def nad(name: str, namespace: str = "n") -> str:
    return (f"kind: NetworkAttachmentDefinition\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            "spec: {config: '{\"type\": \"macvlan\"}'}\n")


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def test_directories_are_searched_recursively_in_order_skipping_hidden(tmp_path: Path) -> None:
    write(tmp_path, {name: "kind: Pod\nmetadata: {name: x}\n" for name in [
        "b.yaml", "a.yml", "sub/c.json", "sub/d.txt", ".git/e.yaml", "sub/.venv/f.yaml", "z/.g.yaml"]})
    write(tmp_path, {"chart/Chart.yaml": "name: c\n", "chart/templates/t.yaml": "{{ .Values.x }}\n"})
    inputs = find_inputs(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in inputs.files] == ["a.yml", "b.yaml", "sub/c.json", "z/.g.yaml"]
    assert inputs.charts == (tmp_path / "chart",) and inputs.errors == ()


def test_read_paths_files_directories_stdin_and_missing(tmp_path: Path) -> None:
    write(tmp_path, {"one.yaml": "kind: Pod\nmetadata: {name: one}\n",
                     "dir/two.yaml": "kind: Pod\nmetadata: {name: two}\n"})
    stdin = io.StringIO("kind: Pod\nmetadata: {name: three}\n")
    result = read_paths([str(tmp_path / "one.yaml"), str(tmp_path / "dir"), "-", str(tmp_path / "nope")],
                        stdin=stdin)
    assert [(o.name, Path(o.file).name if o.file != STDIN_NAME else o.file) for o in result.objects] == [
        ("one", "one.yaml"), ("two", "two.yaml"), ("three", STDIN_NAME)]
    assert result.files == 3
    assert result.errors == (SourceError(str(tmp_path / "nope"), 0, 0, "no such file or directory"),)


def test_stdin_bytes_are_decoded_as_utf8() -> None:
    stdin = io.TextIOWrapper(io.BytesIO("kind: Pod\nmetadata: {name: 中文}\n".encode()), encoding="latin-1")
    (obj,) = read_paths(["-"], stdin=stdin).objects
    assert obj.name == "中文"


def test_stdin_over_the_size_limit_is_refused_with_a_clear_error() -> None:
    big = b"# padding\n" * (MAX_FILE_BYTES // 10 + 1)
    (error,) = read_paths([STDIN], stdin=io.TextIOWrapper(io.BytesIO(big))).errors
    assert error.file == STDIN_NAME and "larger than 16 MiB" in error.message


def test_every_seed_file_reads_cleanly() -> None:
    result = read_paths([str(SEEDS)])
    assert result.files == len(list(SEEDS.glob("*.yaml")))
    assert not result.errors


CATALOGS = [
    pytest.param({"a.yaml": nad("x"), "sub/b.yml": nad("y", "m")}, ".", ["m/y", "n/x"], id="directory-recursive"),
    pytest.param({"l.yaml": "kind: List\nitems:\n- kind: NetworkAttachmentDefinition\n  metadata: {name: x}\n"
                            "- kind: NetworkAttachmentDefinition\n  metadata: {name: y, namespace: n}\n"},
                 "l.yaml", ["default/x", "n/y"], id="list-flattened"),
    pytest.param({"a.json": '{"kind": "NadList", "items": [{"kind": "NetworkAttachmentDefinition", '
                  '"metadata": {"name": "j"}, "spec": {"config": "{}"}}]}'}, ".", ["default/j"], id="json-file"),
    pytest.param({"a.yaml": nad("x"), ".hidden/bad.yaml": "a: [\n", ".git/c.yaml": nad("c")}, ".", ["n/x"],
                 id="hidden-directory-skipped"),
    pytest.param({"a.yaml": "kind: Pod\nmetadata: {name: p}\n---\n" + nad("x") + "---\nkind: ConfigMap\n"}, ".",
                 ["n/x"], id="non-nad-objects-ignored"),
    pytest.param({"notes.txt": "a: [\n", "a.yaml": nad("x")}, ".", ["n/x"], id="other-suffixes-ignored"),
    pytest.param({}, ".", [], id="empty-directory"),
]


@pytest.mark.parametrize(("files", "path", "keys"), CATALOGS)
def test_catalog_reads_nads_as_lint_reads_manifests(tmp_path: Path, files: dict[str, str], path: str,
                                                     keys: list[str]) -> None:
    write(tmp_path, dict(files))
    catalog = read_catalog(str(tmp_path / path))
    assert sorted(n.key for n in catalog) == keys


BAD_CATALOGS = [
    pytest.param({"ok.yaml": nad("x"), "bad.yaml": nad("y") + "metadata: [\n"}, ".",
                 "bad.yaml:5:1: invalid YAML", id="bad-yaml-with-its-line"),
    pytest.param({"bad.json": '{"kind": "NetworkAttachmentDefinition",\n  "metadata": {"name": "a"}}}\n'}, ".",
                 "bad.json:2:29: invalid JSON: Extra data", id="bad-json-with-its-line"),
    pytest.param({"latin1.yaml": b"kind: NetworkAttachmentDefinition\nmetadata: {name: caf\xe9}\n"}, ".",
                 "latin1.yaml:2: not UTF-8 text", id="not-utf8"),
    pytest.param({"a.yaml": nad("x")}, "nope", "nope: no such file or directory", id="missing-path"),
    pytest.param({}, STDIN, "<stdin>: stdin is not available", id="stdin-is-no-catalog"),
]


@pytest.mark.parametrize(("files", "path", "named"), BAD_CATALOGS)
def test_any_reader_error_is_one_catalog_error_naming_file_line_and_problem(
        tmp_path: Path, files: dict[str, str | bytes], path: str, named: str) -> None:
    write(tmp_path, files)
    with pytest.raises(CatalogError) as raised:
        read_catalog(path if path == STDIN else str(tmp_path / path))
    message = str(raised.value)
    assert message.startswith("NAD catalog ") and named in message, message


def test_a_catalog_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(CatalogError, match=r"big\.yaml: larger than 16 MiB"):
        read_catalog(str(tmp_path))


def test_many_catalog_errors_are_counted_past_the_first_few(tmp_path: Path) -> None:
    write(tmp_path, {f"bad{i}.yaml": "a: [\n" for i in range(MAX_REPORTED + 2)})
    with pytest.raises(CatalogError) as raised:
        read_catalog(str(tmp_path))
    message = str(raised.value)
    assert message.count("invalid YAML") == MAX_REPORTED and message.endswith("(and 2 more)"), message


def test_a_chart_in_the_catalog_is_rendered_or_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"nads/chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
                     "nads/chart/templates/nad.yaml": "{{- /* not YAML until rendered */ -}}\n" + nad("x")})
    monkeypatch.setenv("PATH", str(tmp_path / "no-helm-here"))
    with pytest.raises(CatalogError, match=r"nads/chart: a Helm chart: .*helm template"):
        read_catalog(str(tmp_path / "nads"))


def test_the_fixture_catalog_reads_cleanly() -> None:
    catalog = read_catalog(str(FIXTURES / "manifests"))
    assert len(catalog) == 5 and catalog.get("kube-system", "ovn-net") is not None
