"""Device resources and node selectors that NADs (or the policy) demand, merged into the pod spec."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cni.spec import DNS1123_SUBDOMAIN, NODE_SELECTOR_ANNOTATION, RESOURCE_NAME_ANNOTATION, Nad
from webhook.findings import Mutation
from webhook.labels import LABEL_NAME, parse_selector
from webhook.rules.base import Attachment, Issue, PodContext, RuleOutput


def resource_problem(name: str) -> str | None:
    domain, slash, short = name.partition("/")
    if not slash or not DNS1123_SUBDOMAIN.match(domain) or not LABEL_NAME.match(short):
        return "is not an extended resource name of the form vendor.example/device"
    return None


def _resources(ctx: PodContext) -> dict[str, list[Attachment]]:
    out: dict[str, list[Attachment]] = {}
    for att in ctx.all_attachments:
        if att.nad is not None and att.nad.resource_name and resource_problem(att.nad.resource_name) is None:
            out.setdefault(att.nad.resource_name, []).append(att)
    return out


def _quantity_total(containers: list[Any], section: str, resource: str) -> int | str | None:
    """The sum of a resource over containers, None when unset, or the raw value when it is not whole.

    Kubernetes defaults a container's requests from its limits for extended resources, so a limits-only
    container counts as requesting its limit (the idiomatic way to ask for a device).
    """
    total: int | None = None
    for container in containers:
        resources = container.get("resources") if isinstance(container, Mapping) else None
        value = _quantity(resources, section, resource)
        if value is None and section == "requests":
            value = _quantity(resources, "limits", resource)
        if value is None:
            continue
        raw = str(value).strip()
        if not raw.isdigit():
            return raw
        total = (total or 0) + int(raw)
    return total


def _quantity(resources: Any, section: str, resource: str) -> Any:
    quantities = resources.get(section) if isinstance(resources, Mapping) else None
    return quantities.get(resource) if isinstance(quantities, Mapping) else None


def device_resource(ctx: PodContext) -> Iterator[RuleOutput]:
    resources = _resources(ctx)
    containers = ctx.spec.get("containers")
    if not resources:
        return
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], Mapping):
        needed = ", ".join(sorted(resources))
        yield Issue(f"{ctx.prefix}spec.containers", f"spec.containers: no container can carry the device "
                    f"request ({needed}) that the pod's networks need", "add the pod's containers")
        return
    base = f"{ctx.prefix}spec.containers[0].resources"
    for resource, atts in sorted(resources.items()):
        need = len(atts)
        users = ", ".join(a.label for a in atts)
        have = {section: _quantity_total(containers, section, resource) for section in ("requests", "limits")}
        if have["requests"] is None and have["limits"] is None:
            yield Mutation("add-resource", resource, str(need), 0)
            continue
        # Requests defaulted from limits repeat the limits finding; report them only when written.
        explicit = any(_quantity(c.get("resources") if isinstance(c, Mapping) else None, "requests", resource)
                       is not None for c in containers)
        for section, total in have.items():
            if total != need and (section == "limits" or explicit):
                shown = "not set" if total is None else f"{total}"
                yield Issue(f"{base}.{section}[\"{resource}\"]",
                            f"spec.containers: {section}[\"{resource}\"] is {shown}, but {users} "
                            f"need{'s' if need == 1 else ''} {need}",
                            f"set it to {need} in both requests and limits, or leave both out and let admission "
                            "add them")


def _demands(ctx: PodContext) -> Iterator[tuple[Attachment, str, str]]:
    """(attachment, source description, selector text) for each node selector a network demands."""
    for att in ctx.all_attachments:
        nad = att.nad
        if nad is None:
            continue
        if nad.node_selector is not None:
            yield att, f"NAD {nad.key}", nad.node_selector
        mapped = ctx.policy.resource_node_selectors.get(nad.resource_name or "")
        if mapped is not None:
            yield att, f"policy for {nad.resource_name}", mapped


def node_selector(ctx: PodContext) -> Iterator[RuleOutput]:
    current = ctx.spec.get("nodeSelector") if isinstance(ctx.spec.get("nodeSelector"), Mapping) else {}
    assert isinstance(current, Mapping)
    wanted: dict[str, tuple[str, str]] = {}
    path = f"{ctx.prefix}spec.nodeSelector"
    for att, source, text in _demands(ctx):
        parsed = parse_selector(text)
        if isinstance(parsed, str):
            yield Issue(att.path, f'{att.label}: {source} has nodeSelector "{text}": {parsed}',
                        f"fix the NAD's {NODE_SELECTOR_ANNOTATION} to one label: key or key=value")
            continue
        key, value = parsed
        if key in current and str(current[key]) != value:
            yield Issue(f'{path}["{key}"]', f'nodeSelector {key}="{current[key]}" conflicts with {att.label}, whose '
                        f'{source} requires {key}="{value}"', "remove the pod's own value, or use another network")
        elif key in wanted and wanted[key][0] != value:
            yield Issue(att.path, f'{att.label}: {source} requires {key}="{value}" but {wanted[key][1]} requires '
                        f'{key}="{wanted[key][0]}"', "these networks cannot share a node; drop one of them")
        else:
            wanted[key] = (value, att.label)
    for key, (value, _) in sorted(wanted.items()):
        if key not in current:
            yield Mutation("set-node-selector", key, value)


def nad_annotation_issues(nad: Nad) -> Iterator[tuple[str, Issue]]:
    """(rule id, issue) for a NAD's own resourceName and nodeSelector annotations."""
    raw_annotations = ((nad.raw.get("metadata") or {}).get("annotations") or {}) if nad.raw else {}
    resource = raw_annotations.get(RESOURCE_NAME_ANNOTATION)
    path = 'metadata.annotations["{}"]'
    if resource is not None:
        problem = "is empty" if not str(resource).strip() else resource_problem(str(resource))
        if problem is not None:
            yield "device-resource", Issue(path.format(RESOURCE_NAME_ANNOTATION),
                                           f'resourceName "{resource}" {problem}',
                                           "use the device plugin's resource name, e.g. intel.com/sriov_netdevice")
    if nad.node_selector is not None:
        parsed = parse_selector(nad.node_selector)
        if isinstance(parsed, str):
            yield "node-selector", Issue(path.format(NODE_SELECTOR_ANNOTATION),
                                         f'nodeSelector "{nad.node_selector}": {parsed}',
                                         "write exactly one label: key or key=value")
