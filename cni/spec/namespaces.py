"""Which namespace a network reference resolves in, and whether the pod may use it.

One rule for admission and the node: an unqualified element of the networks annotation resolves in the pod's
namespace; an unqualified `v1.multus-cni.io/default-network` in the system namespace (as Multus does); a qualified
reference in its own namespace. With namespace isolation, a pod may use networks of its own namespace and of the
global namespaces only — the default network included.
"""

from __future__ import annotations

from collections.abc import Collection

# The one default for admission (policy systemNamespace) and the node (config systemNamespace): where an
# unqualified default-network (and cluster network) reference resolves, as Multus does.
SYSTEM_NAMESPACE = "kube-system"
# The one default for admission (policy globalNamespaces) and the node (config globalNamespaces).
GLOBAL_NAMESPACES: tuple[str, ...] = (SYSTEM_NAMESPACE,)


def network_namespace(namespace: str | None, *, pod_namespace: str) -> str:
    """The namespace of an element of the networks annotation."""
    return namespace or pod_namespace


def default_network_namespace(namespace: str | None, *, system_namespace: str) -> str:
    """The namespace of the default-network element: its own when qualified, else the system namespace."""
    return namespace or system_namespace


def isolation_denial(namespace: str, *, pod_namespace: str) -> str:
    """The one wording of a namespace-isolation refusal: admission denies with it, the node refuses with it."""
    return (f'pods in namespace "{pod_namespace}" may not use networks from namespace "{namespace}" '
            "(namespace isolation)")


def namespace_forbidden(namespace: str, *, pod_namespace: str, isolation: bool,
                        global_namespaces: Collection[str]) -> bool:
    """Whether namespace isolation keeps a pod in `pod_namespace` from a network in `namespace`."""
    return isolation and namespace != pod_namespace and namespace not in global_namespaces
