"""Kubernetes label keys and values: pure checks shared by the policy (nodeSelectors) and the placement rules."""

from __future__ import annotations

import re

from cni.spec import DNS1123_SUBDOMAIN

LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")


def label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and not DNS1123_SUBDOMAIN.match(prefix):
        return f'prefix "{prefix}" is not a DNS subdomain'
    if not LABEL_NAME.match(name):
        return f'name "{name}" must be 1-63 letters, digits, "-", "_" or "." starting and ending alphanumeric'
    return None


def parse_selector(text: str) -> tuple[str, str] | str:
    """'key' or 'key=value' -> (key, value); otherwise the reason it is not one label."""
    key, _, value = text.strip().partition("=")
    problem = label_key_problem(key)
    if problem is not None:
        return f"label key {problem}"
    if value and not LABEL_NAME.match(value):
        return f'label value "{value}" is not valid'
    return key, value
