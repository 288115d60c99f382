"""The one place netweave builds a Kubernetes API client: the node daemon, netweave-cni, the webhook and the
kubectl plugin all call `api_client`."""

from __future__ import annotations

from typing import Any


class KubeconfigError(Exception):
    """No usable API credentials: the message names the source and what is wrong with it."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def api_client(kubeconfig: str | None, *, context: str | None = None, retries: int | None = None) -> Any:
    """A kubernetes ApiClient from the kubeconfig file `kubeconfig` (that file only, never $KUBECONFIG), or for
    None from the pod's service account, else the default kubeconfig ($KUBECONFIG, ~/.kube/config).
    `context`: that kubeconfig context instead of the current one; `retries`: urllib3's retries (None: its default).
    Raises KubeconfigError, never the loader's own exceptions."""
    from kubernetes import client, config

    configuration = client.Configuration()
    source = f"kubeconfig {kubeconfig}" if kubeconfig else "in-cluster service account"
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration,
                                    persist_config=False)
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                source = "default kubeconfig"
                config.load_kube_config(context=context, client_configuration=configuration, persist_config=False)
    except OSError as err:
        raise KubeconfigError(source, err.strerror or str(err)) from err
    except Exception as err:  # the loader raises ConfigException, yaml errors, ValueError, TypeError on bad files
        raise KubeconfigError(source, str(err)) from err
    if retries is not None:
        configuration.retries = retries
    return client.ApiClient(configuration)
