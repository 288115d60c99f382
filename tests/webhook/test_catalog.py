"""The in-memory NAD catalog and the workload template finder."""

from pathlib import Path

import pytest

from tests.paths import FIXTURES
from webhook.catalog import CatalogError, MemoryCatalog
from webhook.workloads import pod_targets


def test_catalog_from_the_captured_manifests() -> None:
    catalog = MemoryCatalog.from_directory(FIXTURES / "manifests")
    assert len(catalog) == 5
    nad = catalog.get("kube-system", "ovn-net")
    assert nad is not None and nad.resource_name == "yusur.tech/sriov_dpu"
    assert catalog.namespaces_of("calico-net") == ("kube-system",)
    assert catalog.get("default", "calico-net") is None


def test_catalog_reads_lists_and_json(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"kind": "List", "items": [{"kind": "NetworkAttachmentDefinition", '
                                     '"metadata": {"name": "x", "namespace": "n"}, "spec": {"config": "{}"}}]}')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("kind: NetworkAttachmentDefinition\nmetadata: {name: y}\n---\n")
    catalog = MemoryCatalog.from_directory(tmp_path)
    assert sorted(n.key for n in catalog) == ["default/y", "n/x"]


@pytest.mark.parametrize("content", ["a: [\n", "{bad json"], ids=["yaml", "json"])
def test_unreadable_catalog_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / ("x.json" if content.startswith("{") else "x.yaml")
    path.write_text(content)
    with pytest.raises(CatalogError, match=path.name):
        MemoryCatalog.from_directory(tmp_path)


def test_missing_catalog_directory() -> None:
    with pytest.raises(CatalogError, match="no such file"):
        MemoryCatalog.from_directory(Path("/nonexistent/netweave"))


TARGETS = [
    pytest.param({"kind": "Pod", "metadata": {"name": "p"}}, [("Pod", "")], id="pod"),
    pytest.param({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {}}}},
                 [("Deployment", "spec.template.")], id="deployment"),
    pytest.param({"kind": "CronJob", "metadata": {"name": "c"},
                  "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}},
                 [("CronJob", "spec.jobTemplate.spec.template.")], id="cronjob"),
    pytest.param({"kind": "List", "items": [{"kind": "Pod"}, {"kind": "Service"}, {"kind": "Job", "spec": {
        "template": {}}}]}, [("Pod", ""), ("Job", "spec.template.")], id="list"),
    pytest.param({"kind": "Deployment", "spec": {}}, [], id="no-template"),
    pytest.param({"kind": "ConfigMap"}, [], id="other-kind"),
]


@pytest.mark.parametrize(("obj", "expected"), TARGETS)
def test_pod_targets(obj: dict, expected: list[tuple[str, str]]) -> None:
    assert [(t.kind, t.path_prefix) for t in pod_targets(obj)] == expected


def test_catalog_updates_return_new_catalogs() -> None:
    from cni.spec import parse_nad

    base = MemoryCatalog.from_directory(FIXTURES / "manifests")
    moved = parse_nad({"kind": "NetworkAttachmentDefinition", "metadata": {"name": "calico-net", "namespace": "a"},
                       "spec": {"config": '{"type": "calico"}'}})
    added = base.with_nad(moved)
    assert (len(base), len(added)) == (5, 6)
    assert added.namespaces_of("calico-net") == ("a", "kube-system")
    removed = added.without("kube-system", "calico-net")
    assert removed.namespaces_of("calico-net") == ("a",) and len(removed) == 5
    assert removed.without("nowhere", "x") is removed
