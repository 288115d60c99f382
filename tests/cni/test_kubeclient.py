"""The one Kubernetes client builder: every caller gets the same clients and the same errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cni.kube
import cni.node.daemon
import webhook.cluster
import webhook.kube
from cni.kubeclient import KubeconfigError, api_client

CONFIG = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
          "clusters": [{"name": "a", "cluster": {"server": "https://a.example:6443"}},
                       {"name": "b", "cluster": {"server": "https://b.example:6443"}}],
          "users": [{"name": "u", "user": {"token": "t"}}],
          "contexts": [{"name": "a", "context": {"cluster": "a", "user": "u"}},
                       {"name": "b", "context": {"cluster": "b", "user": "u"}}]}


def test_every_caller_uses_the_one_builder() -> None:
    assert all(module.api_client is api_client for module in (cni.node.daemon, cni.kube, webhook.kube, webhook.cluster))


@pytest.mark.parametrize(("context", "retries", "host"), [
    (None, None, "https://a.example:6443"),   # the current context
    ("b", 1, "https://b.example:6443"),
])
def test_a_kubeconfig_file_and_context(tmp_path: Path, context: str | None, retries: int | None, host: str) -> None:
    (tmp_path / "kc").write_text(json.dumps(CONFIG))
    client = api_client(str(tmp_path / "kc"), context=context, retries=retries)
    assert client.configuration.host == host
    assert client.configuration.retries == retries


@pytest.mark.parametrize(("content", "reason"), [
    (None, "Invalid kube-config file"),   # the loader says so for a missing file too
    ("{}", "Invalid kube-config file"),
    ("clusters: [unclosed", "expected"),
])
def test_a_bad_kubeconfig_is_one_error_naming_the_file(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "kc"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KubeconfigError) as caught:
        api_client(str(path))
    assert str(caught.value).startswith(f"kubeconfig {path}: ") and reason in caught.value.reason
