"""caBundle for webhook configurations: base64 of the CA PEM, patched into every webhook of a YAML stream.

Documents that are not webhook configurations are copied byte for byte, so comments and formatting survive.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

WEBHOOK_KINDS = frozenset({"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"})
ADMISSION_GROUP = "admissionregistration.k8s.io/"
# YAML 1.2 §9.1: a line starting with "---" followed by a blank or line end begins a new document;
# such a line cannot occur inside a scalar at column 0, so splitting on it is exact.
_DOCUMENT_START = re.compile(r"^---(?=[ \t]|$)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class BundlePatch:
    """The patched YAML text, which webhooks were patched, and why the input could not be (if so)."""

    text: str
    patched: tuple[str, ...]  # "<Kind>/<name>: <webhook name>"
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def ca_bundle(ca_pem: bytes) -> str:
    """The `clientConfig.caBundle` value: base64 of the PEM-encoded CA certificate(s)."""
    return base64.b64encode(ca_pem).decode("ascii")


def patch_ca_bundle(text: str, bundle: str) -> BundlePatch:
    """Set ``clientConfig.caBundle`` in every webhook of every webhook configuration in ``text``."""
    try:
        chunks = [(chunk, yaml.safe_load(chunk)) for chunk in _split_documents(text)]
    except yaml.YAMLError as error:
        return BundlePatch(text=text, patched=(), problems=(f"not valid YAML: {_one_line(error)}",))
    out: list[str] = []
    patched: list[str] = []
    for chunk, document in chunks:
        names = _patch_object(document, bundle)
        if names:
            out.append(_dump_like(chunk, document))
            patched.extend(names)
        else:
            out.append(chunk)
    if not patched:
        problem = "no webhooks found: expected a MutatingWebhookConfiguration or ValidatingWebhookConfiguration"
        return BundlePatch(text=text, patched=(), problems=(problem,))
    return BundlePatch(text="".join(out), patched=tuple(patched), problems=())


def _split_documents(text: str) -> list[str]:
    starts = [match.start() for match in _DOCUMENT_START.finditer(text)]
    bounds = [0, *[start for start in starts if start > 0], len(text)]
    return [text[begin:end] for begin, end in itertools.pairwise(bounds) if begin < end]


def _patch_object(document: Any, bundle: str) -> list[str]:
    """Patch one parsed document in place; the names of the webhooks it patched."""
    if not isinstance(document, dict):
        return []
    if document.get("kind") == "List" and isinstance(document.get("items"), list):
        return [name for item in document["items"] for name in _patch_object(item, bundle)]
    if not _is_webhook_configuration(document):
        return []
    owner = f"{document['kind']}/{_name(document)}"
    names: list[str] = []
    for webhook in document.get("webhooks") or []:
        if isinstance(webhook, dict):
            client = webhook.setdefault("clientConfig", {})
            if isinstance(client, dict):
                client["caBundle"] = bundle
                names.append(f"{owner}: {webhook.get('name', '?')}")
    return names


def _is_webhook_configuration(document: Mapping[str, Any]) -> bool:
    api_version = document.get("apiVersion")
    return (
        document.get("kind") in WEBHOOK_KINDS
        and isinstance(api_version, str)
        and api_version.startswith(ADMISSION_GROUP)
    )


def _name(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return str(name) if name else "?"


def _dump_like(chunk: str, document: Any) -> str:
    # Keep the chunk's own "---" line so the stream's separators stay where they were.
    head = "---\n" if _DOCUMENT_START.match(chunk) else ""
    return head + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1 << 16)


def _one_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split())
