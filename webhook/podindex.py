"""The cluster's multi-network pods, as the cluster-wide rules need them: which pods use which NAD, and which
static IPs they requested on it. Fed by one pod watch (webhook.kube.PodWatch); lint uses `InputClaims`, the
objects checked before the current one.

Only pods that carry a networks annotation are kept, and only what the rules read (keys, NADs, addresses, all
strings interned), up to `max_pods`; past the bound the index stops growing and says so (`complete`), and the
rules that read it only ever report what it holds.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from cni.spec import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORKS_ANNOTATION,
    default_network_namespace,
    network_namespace,
    parse_networks,
)
from cni.spec.namespaces import SYSTEM_NAMESPACE
from cni.spec.values import parse_address

DEFAULT_MAX_PODS = 200_000
_DONE_PHASES = ("Succeeded", "Failed")  # their sandboxes are gone: they hold no address and use no NAD


# What the index keeps of one pod: (the NADs it uses as "ns/name", its static IPs as (NAD, canonical address)).
# Plain tuples of strings, not a dataclass: the garbage collector stops tracking those, so 50,000 entries filled
# after startup (after gc.freeze) add nothing to the full collections that land in the admission latency tail.
PodEntry = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]


class PodLookup(Protocol):
    """What the cluster-wide rules ask about other pods."""

    def claim(self, network: str, address: str, key: str) -> tuple[str, ...]:
        """The other pods holding `address` on `network` (NAD "ns/name"), for pod `key` asking for it."""
        ...

    def users(self, network: str, *, limit: int = ...) -> tuple[tuple[str, ...], int]: ...


class NoPods:
    """No other pods known (lint of a single object, webhook without a pod watch)."""

    def claim(self, network: str, address: str, key: str) -> tuple[str, ...]:
        return ()

    def users(self, network: str, *, limit: int = 5) -> tuple[tuple[str, ...], int]:
        return (), 0


NO_PODS = NoPods()


def pod_key(pod: Mapping[str, Any], namespace: str | None = None, *, kind: str = "Pod") -> str:
    """How messages name a pod (or a workload's pod template) of the index: "Pod namespace/name"."""
    metadata = pod.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    ns = namespace or (metadata.get("namespace") if isinstance(metadata, Mapping) else None) or "default"
    return f"{kind} {ns}/{name or ''}"


def pod_entry(pod: Mapping[str, Any], *, namespace: str | None = None,
              system_namespace: str = SYSTEM_NAMESPACE) -> PodEntry | None:
    """The index entry of a pod, or None when it uses no NAD or has finished."""
    metadata = pod.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping):
        return None
    status = pod.get("status")
    if isinstance(status, Mapping) and status.get("phase") in _DONE_PHASES:
        return None
    pod_ns = namespace or (metadata.get("namespace") if isinstance(metadata, Mapping) else None) or "default"
    networks: list[str] = []
    claims: list[tuple[str, str]] = []
    for key in (DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION):
        text = annotations.get(key)
        if not isinstance(text, str):
            continue
        for element in parse_networks(text).elements:
            ns = (default_network_namespace(element.namespace, system_namespace=system_namespace)
                  if key == DEFAULT_NETWORK_ANNOTATION else network_namespace(element.namespace, pod_namespace=pod_ns))
            network = sys.intern(f"{ns}/{element.name}")
            networks.append(network)
            for ip in element.ips or ():
                address = parse_address(ip)
                if address is not None:
                    claims.append((network, sys.intern(str(address))))
            if key == DEFAULT_NETWORK_ANNOTATION:
                break  # Multus uses the first element only
    if not networks:
        return None
    return tuple(dict.fromkeys(networks)), tuple(dict.fromkeys(claims))


def _mentions_ips(pod: Mapping[str, Any]) -> bool:
    metadata = pod.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping):
        return False
    return any(isinstance(annotations.get(k), str) and '"ips"' in annotations[k]
               for k in (NETWORKS_ANNOTATION, DEFAULT_NETWORK_ANNOTATION))


class PodIndex:
    """Pods by NAD and static IP; written by one watch thread, read by admission threads."""

    def __init__(self, *, max_pods: int = DEFAULT_MAX_PODS) -> None:
        self._max = max_pods
        self._lock = threading.Lock()
        self._pods: dict[str, PodEntry] = {}
        self._claims: dict[tuple[str, str], tuple[str, ...]] = {}
        self._users: dict[str, set[str]] = {}
        self.dropped = 0  # pods not indexed because the bound was reached

    @property
    def complete(self) -> bool:
        return self.dropped == 0

    def __len__(self) -> int:
        return len(self._pods)

    def holders(self, network: str, address: str) -> tuple[str, ...]:
        return self._claims.get((network, address), ())

    def claim(self, network: str, address: str, key: str) -> tuple[str, ...]:
        holders = self._claims.get((network, address), ())
        return tuple(k for k in holders if k != key) if key in holders else holders

    def users(self, network: str, *, limit: int = 5) -> tuple[tuple[str, ...], int]:
        """Up to `limit` pods using a NAD (sorted) and how many there are."""
        with self._lock:
            found = self._users.get(network)
            return (tuple(sorted(found)[:limit]), len(found)) if found else ((), 0)

    def put(self, key: str, entry: PodEntry | None) -> None:
        """Add, replace or (entry None) remove one pod."""
        with self._lock:
            self._remove(key)
            if entry is None:
                return
            if len(self._pods) >= self._max:
                self.dropped += 1
                return
            key = sys.intern(key)
            self._pods[key] = entry
            networks, claims = entry
            for network in networks:
                self._users.setdefault(network, set()).add(key)
            for claim in claims:
                self._claims[claim] = (*self._claims.get(claim, ()), key)

    def replace_all(self, entries: Iterable[tuple[str, PodEntry | None]]) -> None:
        """Start over from a full list (a relist), built aside and swapped in: readers never see it half-filled."""
        fresh = PodIndex(max_pods=self._max)
        for key, entry in entries:
            fresh.put(key, entry)
        with self._lock:
            self._pods, self._claims, self._users, self.dropped = (fresh._pods, fresh._claims, fresh._users,
                                                                   fresh.dropped)

    def _remove(self, key: str) -> None:
        old = self._pods.pop(key, None)
        if old is None:
            return
        networks, claims = old
        for network in networks:
            users = self._users.get(network)
            if users is not None:
                users.discard(key)
                if not users:
                    del self._users[network]
        for claim in claims:
            rest = tuple(k for k in self._claims.get(claim, ()) if k != key)
            if rest:
                self._claims[claim] = rest
            else:
                self._claims.pop(claim, None)


class InputClaims:
    """Lint's "other pods": the static IPs of the objects checked before this one, in input order, so that of two
    objects asking for one address the later is reported, naming the earlier. Recorded as the rule asks (the
    rule's own parse; nothing is parsed twice). One lint run owns one instance."""

    def __init__(self) -> None:
        self._claims: dict[tuple[str, str], list[str]] = {}

    def claim(self, network: str, address: str, key: str) -> tuple[str, ...]:
        holders = self._claims.setdefault((network, address), [])
        earlier = tuple(k for k in holders if k != key)
        if key not in holders:
            holders.append(key)
        return earlier

    def users(self, network: str, *, limit: int = 5) -> tuple[tuple[str, ...], int]:
        return (), 0
