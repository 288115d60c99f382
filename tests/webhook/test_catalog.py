"""The in-memory NAD catalog and the workload template finder (reading a catalog from files: test_manifests)."""

import pytest

from tests.paths import FIXTURES
from webhook.manifests import read_catalog
from webhook.workloads import pod_targets

CATALOG = read_catalog(str(FIXTURES / "manifests"))


def test_catalog_looks_nads_up_by_namespace_and_name() -> None:
    catalog = CATALOG
    assert len(catalog) == 5
    nad = catalog.get("kube-system", "ovn-net")
    assert nad is not None and nad.resource_name == "yusur.tech/sriov_dpu"
    assert catalog.namespaces_of("calico-net") == ("kube-system",)
    assert catalog.get("default", "calico-net") is None


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

    base = CATALOG
    moved = parse_nad({"kind": "NetworkAttachmentDefinition", "metadata": {"name": "calico-net", "namespace": "a"},
                       "spec": {"config": '{"type": "calico"}'}})
    added = base.with_nad(moved)
    assert (len(base), len(added)) == (5, 6)
    assert added.namespaces_of("calico-net") == ("a", "kube-system")
    removed = added.without("kube-system", "calico-net")
    assert removed.namespaces_of("calico-net") == ("a",) and len(removed) == 5
    assert removed.without("nowhere", "x") is removed
