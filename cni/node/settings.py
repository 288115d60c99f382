"""NodeSettings.from_env: the only reader of the node daemon's and node installer's environment."""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What the DaemonSet tells the node side through its environment (downward API, service links)."""

    node_name: str | None = None
    kubernetes_service_host: str | None = None
    kubernetes_service_port: str | None = None
    kubeconfig: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "NodeSettings":
        """NODE_NAME, KUBERNETES_SERVICE_HOST/PORT and KUBECONFIG; empty values count as unset."""
        return cls(
            node_name=environ.get("NODE_NAME") or None,
            kubernetes_service_host=environ.get("KUBERNETES_SERVICE_HOST") or None,
            kubernetes_service_port=environ.get("KUBERNETES_SERVICE_PORT") or None,
            kubeconfig=environ.get("KUBECONFIG") or None,
        )
