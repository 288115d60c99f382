"""`netweave node` settings, the metrics/health endpoints and the settings reader."""

import argparse
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cni.node import daemon
from cni.node.metrics import NodeMetrics, serve_metrics
from cni.node.server import Limits
from cni.node.settings import NodeSettings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    daemon.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_match_the_daemonset_command() -> None:
    options = daemon.options_from(parse("--socket", "/run/netweave/cni.sock", "--metrics", "127.0.0.1:9653"),
                                  NodeSettings(node_name="node-1"))
    assert options.socket == Path("/run/netweave/cni.sock")
    assert options.metrics == ("127.0.0.1", 9653)
    assert options.node_name == "node-1"
    assert (options.limits.workers, options.limits.queue) == (8, 64)
    assert options.kubeconfig is None  # in-cluster


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"NODE_NAME": "n1", "KUBECONFIG": "/k"}, NodeSettings(node_name="n1", kubeconfig="/k"),
                     id="node-and-kubeconfig"),
        pytest.param({"NODE_NAME": "", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"},
                     NodeSettings(kubernetes_service_host="10.96.0.1", kubernetes_service_port="443"),
                     id="empty-is-unset"),
    ],
)
def test_settings_from_env(environ: dict[str, str], expected: NodeSettings) -> None:
    assert NodeSettings.from_env(environ) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param((), "NODE_NAME", id="no-node-name"),
        pytest.param(("--node-name", "n", "--request-timeout", "200"), "below the shim", id="timeout-above-shim"),
    ],
)
def test_bad_settings_are_refused(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        daemon.options_from(parse(*argv), NodeSettings())


def test_run_without_a_node_name_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    assert daemon.run(parse()) == 2


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:9653", ("127.0.0.1", 9653)), ("[::1]:9653", ("::1", 9653)), (":9653", ("127.0.0.1", 9653))],
)
def test_metrics_address(text: str, address: tuple[str, int]) -> None:
    assert daemon.parse_address(text) == address


def test_metrics_and_health_endpoints() -> None:
    synced = {"pods": (3, True), "nads": (0, False)}
    metrics = NodeMetrics(cache=lambda: synced, lookups=lambda: {"hits": 2, "misses": 1})
    metrics.request_finished("ADD", "success", 0.02)
    metrics.request_finished("DEL", "rejected", 0.001)
    server = serve_metrics(metrics, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=5) as reply:
            text = reply.read().decode()
        with urllib.request.urlopen(base + "/healthz", timeout=5) as reply:
            health = json.loads(reply.read())
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(base + "/readyz", timeout=5)
    finally:
        server.shutdown()
    assert 'netweave_cni_requests_total{command="ADD",outcome="success"} 1.0' in text
    assert 'netweave_cni_requests_total{command="DEL",outcome="rejected"} 1.0' in text
    assert 'netweave_cni_request_duration_seconds_count{command="ADD"} 1.0' in text
    assert 'netweave_node_cache_objects{resource="pods"} 3.0' in text
    assert health["cache"]["pods"] == {"objects": 3, "synced": True}
    assert not_ready.value.code == 503


def test_each_metrics_instance_has_its_own_registry() -> None:
    first, second = NodeMetrics(), NodeMetrics()
    first.request_finished("ADD", "success", 0.1)
    assert b'outcome="success"' not in second.render()


@pytest.mark.parametrize(
    ("longest", "stuck"),
    [pytest.param(0.0, False, id="idle"), pytest.param(300.0, False, id="slow-but-within-3x"),
     pytest.param(361.0, True, id="hung")],
)
def test_liveness_fails_only_for_an_operation_hung_far_past_its_timeout(longest: float, stuck: bool) -> None:
    assert (daemon.stuck_reason(longest, daemon.Limits(request_timeout=120)) is not None) == stuck


def test_healthz_turns_503_while_stuck() -> None:
    metrics = NodeMetrics()
    metrics.watch_liveness(lambda: "an operation has been running for 400 s")
    status, body = metrics.health()
    assert status == 503
    assert json.loads(body)["status"] == "stuck"


def test_run_without_api_credentials_exits_2(tmp_path: Path) -> None:
    options = daemon.options_from(parse("--node-name", "n", "--kubeconfig", str(tmp_path / "absent")),
                                  NodeSettings())
    assert daemon.run_daemon(options) == 2


def test_daemon_requests_use_the_daemons_own_api_credentials() -> None:
    """The kubeconfig written at install holds a token copy that expires; the daemon's client stays fresh."""
    from cni.kube import KubeClient
    from cni.node.daemon import daemon_context

    api_client = object()
    context = daemon_context(None, "node-1", api_client)
    first, second = context.kube("/etc/cni/net.d/netweave.d/netweave.kubeconfig"), context.kube("/other")
    assert isinstance(first, KubeClient) and first is second
    assert first._api is api_client
    assert daemon_context(None, "node-1").kube is not context.kube


@pytest.mark.parametrize(("request_timeout", "grace", "nests"), [(120.0, 150.0, True), (120.0, 120.0, False),
                                                                  (60.0, 1.0, False)])
def test_a_drain_shorter_than_a_request_is_reported(request_timeout: float, grace: float, nests: bool) -> None:
    problem = daemon.grace_problem(Limits(request_timeout=request_timeout, shutdown_grace=grace))
    assert (problem is None) == nests
    if problem is not None:
        assert f"--shutdown-grace ({grace:g} s) does not exceed --request-timeout ({request_timeout:g} s)" in problem
