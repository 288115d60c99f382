"""Request.from_env: CNI variables and the stdin config -> a Request, or the spec's error code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cni.errors import CniError
from cni.request import Request

CONFIG: dict[str, Any] = {"cniVersion": "1.1.0", "name": "netweave", "type": "netweave",
                          "clusterNetwork": "/etc/cni/net.d/10-primary.conflist", "kubeconfig": "/etc/kc"}
ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "abc123", "CNI_NETNS": "/var/run/netns/x",
       "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
       "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=u-1"}


def stdin(**changes: Any) -> bytes:
    conf = {**CONFIG, **changes}
    return json.dumps({k: v for k, v in conf.items() if v is not None}).encode()


def test_add_request_is_read_from_env_and_stdin() -> None:
    req = Request.from_env(ENV, stdin(clusterRoutes=["10.96.0.0/12"], globalNamespaces=["a", "b"]))
    assert (req.command, req.container_id, req.ifname) == ("ADD", "abc123", "eth0")
    assert req.path == ("/opt/cni/bin", "/usr/lib/cni")
    assert req.pod is not None and (req.pod.namespace, req.pod.name, req.pod.uid) == ("default", "web", "u-1")
    assert req.config is not None
    assert req.config.cluster_routes == ("10.96.0.0/12",)
    assert req.config.global_namespaces == ("a", "b")
    assert req.config.cache_dir == "/var/lib/cni/netweave"


@pytest.mark.parametrize("body", [
    pytest.param(b"", id="empty-stdin"),
    pytest.param(b'{"cniVersion": "1.0.0"}', id="version-only"),
])
def test_version_needs_no_config(body: bytes) -> None:
    req = Request.from_env({"CNI_COMMAND": "VERSION"}, body)
    assert req.command == "VERSION" and req.config is None


def test_del_needs_no_netns() -> None:
    env = {k: v for k, v in ENV.items() if k != "CNI_NETNS"} | {"CNI_COMMAND": "DEL"}
    assert Request.from_env(env, stdin()).netns == ""


@pytest.mark.parametrize(("env", "body", "code"), [
    pytest.param({**ENV, "CNI_COMMAND": ""}, stdin(), 4, id="no-command"),
    pytest.param({**ENV, "CNI_COMMAND": "ATTACH"}, stdin(), 4, id="unknown-command"),
    pytest.param({k: v for k, v in ENV.items() if k != "CNI_NETNS"}, stdin(), 4, id="add-without-netns"),
    pytest.param({**ENV, "CNI_CONTAINERID": "../../etc"}, stdin(), 4, id="container-id-path"),
    pytest.param({**ENV, "CNI_IFNAME": "a-very-long-ifname"}, stdin(), 4, id="ifname-too-long"),
    pytest.param({**ENV, "CNI_ARGS": "K8S_POD_NAME"}, stdin(), 4, id="args-without-equals"),
    pytest.param(ENV, b"{not json", 6, id="stdin-not-json"),
    pytest.param(ENV, b"[1]", 6, id="stdin-not-object"),
    pytest.param(ENV, stdin(cniVersion="0.2.0"), 1, id="old-version"),
    pytest.param(ENV, stdin(cniVersion=None), 7, id="no-version"),
    pytest.param(ENV, stdin(clusterNetwork=None), 7, id="no-cluster-network"),
    pytest.param(ENV, stdin(namespaceIsolation="yes"), 7, id="isolation-not-bool"),
    pytest.param(ENV, stdin(logLevel="loud"), 7, id="bad-log-level"),
    pytest.param({**ENV, "CNI_COMMAND": "GC"}, stdin(cniVersion="1.0.0"), 1, id="gc-before-1.1.0"),
    pytest.param({**ENV, "CNI_COMMAND": "GC"}, stdin(), 7, id="gc-without-valid-attachments"),
])
def test_bad_requests_get_the_spec_error_code(env: dict[str, str], body: bytes, code: int) -> None:
    with pytest.raises(CniError) as caught:
        Request.from_env(env, body)
    assert caught.value.code == code


@pytest.mark.parametrize(("key", "value"), [
    pytest.param("globalNamespaces", "a,b", id="names-as-a-comma-string"),
    pytest.param("globalNamespaces", ["a", ""], id="an-empty-name"),
    pytest.param("clusterRoutes", "10.96.0.0/12", id="routes-as-a-string"),
    pytest.param("clusterRoutes", [""], id="an-empty-route"),
])
def test_name_lists_are_read_as_the_policy_reads_them(key: str, value: object) -> None:
    """The conflist's globalNamespaces/clusterRoutes take what the policy file takes (cni.spec.policy)."""
    with pytest.raises(CniError) as caught:
        Request.from_env(ENV, stdin(**{key: value}))
    assert caught.value.code == 7
    assert caught.value.msg == f"config field {key!r} must be a list of non-empty strings"
    assert caught.value.details == f"config: {key} must be a list of non-empty strings"


def test_gc_without_valid_attachments_names_the_key() -> None:
    with pytest.raises(CniError, match=r"cni\.dev/valid-attachments"):
        Request.from_env({**ENV, "CNI_COMMAND": "GC"}, stdin())


def test_gc_with_an_empty_valid_list_is_accepted() -> None:
    req = Request.from_env({**ENV, "CNI_COMMAND": "GC"}, stdin(**{"cni.dev/valid-attachments": []}))
    assert req.config is not None and req.config.valid_attachments == ()
