"""The JSON schema of `.netweave.yaml` (the policy Policy.from_mapping reads), built from the rule catalogue.

Editors validate and complete the file with it (`# yaml-language-server: $schema=...`). Generated, never edited:
`python -m webhook.policy_schema docs/netweave.schema.json`; tests/webhook/test_policy_schema.py checks the file
and that the schema and Policy.from_mapping accept and refuse the same policies.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webhook.catalogue import catalogue
from webhook.policy import DEFAULT_MAX_NETWORKS, known_rule_ids

SCHEMA_FILE = "docs/netweave.schema.json"
SCHEMA_ID = "https://github.com/netweave/netweave/blob/main/docs/netweave.schema.json"
LEVELS = ["error", "warning", "off", False]  # YAML reads a bare `off` as false


def policy_schema() -> dict[str, Any]:
    """The schema, as a JSON value."""
    entries = [e for e in catalogue() if e.id in known_rule_ids()]
    names = {"type": "array", "items": {"type": "string", "minLength": 1}}
    rule_ids = [e.id for e in entries]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "netweave policy (.netweave.yaml)",
        "description": "What a cluster or a CI pipeline decides about the rules. `netweave rules` lists them; "
                       "`netweave explain RULE` says what each one checks.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "rules": {
                "description": "rule id -> error, warning or off",
                "type": "object",
                "propertyNames": {"enum": rule_ids},
                "properties": {e.id: {"description": f"{e.summary} (default: {e.severity})", "enum": LEVELS}
                               for e in entries},
            },
            "primaryInterface": {"description": "the cluster network's interface", "type": "string",
                                 "minLength": 1, "default": "eth0"},
            "systemNamespace": {"description": "where unqualified default networks resolve", "type": "string",
                                "minLength": 1, "default": "kube-system"},
            "namespaceIsolation": {"description": "pods use NADs of their namespace and the global ones only",
                                   "type": "boolean", "default": False},
            "globalNamespaces": {"description": "namespaces whose NADs every pod may use", **names},
            "clusterRoutes": {"description": "node: CIDRs routed through the cluster network (service and pod "
                                             "CIDRs) when another network takes the default route",
                              "type": "array", "items": {"type": "string", "minLength": 1}},
            "sourceRouting": {"description": "node: a routing table per secondary interface (replies leave "
                                             "where requests came in)", "type": "boolean", "default": False},
            "resourceNodeSelectors": {"description": "device resource -> node label (key or key=value)",
                                      "type": "object", "additionalProperties": {"type": "string"}},
            "maxNetworks": {"description": "networks one pod may request", "type": "integer", "minimum": 1,
                            "default": DEFAULT_MAX_NETWORKS},
            "protectedRules": {"description": "rules no ignore-check annotation can suppress, on top of the "
                                              "built-in ones", "type": "array", "items": {"enum": rule_ids}},
            "statusWriters": {"description": "identities that may write network-status", "type": "object",
                              "additionalProperties": False,
                              "properties": {"users": names, "groups": names}},
            "hotPlug": {"description": "whether running pods may change k8s.v1.cni.cncf.io/networks (hot-plug)",
                        "default": False, "oneOf": [
                            {"type": "boolean"},
                            {"type": "object", "additionalProperties": False, "properties": {
                                "enabled": {"type": "boolean", "default": True},
                                "namespaces": {"description": "only these namespaces (default: all)", **names},
                                "defaultRoute": {"description": "the default route may move with the change",
                                                 "type": "boolean", "default": False}}}]},
        },
    }


def render() -> str:
    return json.dumps(policy_schema(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    Path(args[0] if args else SCHEMA_FILE).write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
