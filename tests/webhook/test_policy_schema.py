"""docs/netweave.schema.json is generated from the code, and it accepts and refuses what Policy.from_mapping does."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.paths import REPO
from webhook.policy import Policy, PolicyError, known_rule_ids
from webhook.policy_schema import SCHEMA_FILE, policy_schema, render

VALIDATOR = jsonschema.Draft7Validator(policy_schema())


def test_the_schema_file_is_generated_and_in_sync() -> None:
    assert (REPO / SCHEMA_FILE).read_text(encoding="utf-8") == render(), \
        "docs/netweave.schema.json is out of date: run .venv/bin/python -m webhook.policy_schema"


def test_every_rule_a_policy_may_name_is_in_the_schema() -> None:
    assert set(policy_schema()["properties"]["rules"]["propertyNames"]["enum"]) == known_rule_ids()


VALID = [
    pytest.param({}, id="empty"),
    pytest.param({"rules": {"subnet-overlap": "error", "static-ip": "warning", "network-in-use": False}},
                 id="rule-levels"),
    pytest.param({"namespaceIsolation": True, "globalNamespaces": ["default", "kube-system"]}, id="isolation"),
    pytest.param({"resourceNodeSelectors": {"yusur.tech/sriov_dpu": "k8s.ovn.org/dpu-host"}}, id="selectors"),
    pytest.param({"maxNetworks": 8, "protectedRules": ["subnet-overlap"], "primaryInterface": "eth0",
                  "systemNamespace": "kube-system"}, id="limits"),
    pytest.param({"statusWriters": {"users": ["system:serviceaccount:cni:node"], "groups": ["system:nodes"]}},
                 id="status-writers"),
]
INVALID = [
    pytest.param({"rule": {}}, id="misspelt-setting"),
    pytest.param({"rules": {"no-such-rule": "off"}}, id="unknown-rule"),
    pytest.param({"rules": {"static-ip": "fatal"}}, id="unknown-level"),
    pytest.param({"maxNetworks": 0}, id="zero-networks"),
    pytest.param({"namespaceIsolation": "yes"}, id="string-boolean"),
    pytest.param({"protectedRules": ["no-such-rule"]}, id="unknown-protected-rule"),
    pytest.param({"statusWriters": {"user": ["x"]}}, id="misspelt-writers"),
    pytest.param({"primaryInterface": ""}, id="empty-interface"),
]


@pytest.mark.parametrize("policy", VALID)
def test_schema_and_loader_accept_the_same_policies(policy: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(policy)) == []
    Policy.from_mapping(json.loads(json.dumps(policy)), source="test")


@pytest.mark.parametrize("policy", INVALID)
def test_schema_and_loader_refuse_the_same_policies(policy: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(policy)) != []
    with pytest.raises(PolicyError):
        Policy.from_mapping(policy, source="test")
