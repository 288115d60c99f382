"""Run one plugin or a whole conflist from CNI_PATH, libcni style (prevResult, capabilities, reverse DEL)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cni import errors
from cni.context import Context, host_path
from cni.errors import CniError
from cni.results import convert

logger = logging.getLogger(__name__)

# CNI SPEC §"Error": codes below 100 are the spec's well-known ones, 100 and above belong to the plugin.
WELL_KNOWN_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Invocation:
    """The CNI_* environment of one delegate call."""

    container_id: str
    netns: str
    ifname: str
    args: str                  # CNI_ARGS text
    path: tuple[str, ...]      # CNI_PATH
    os_path: str               # PATH for the plugin (plugins may exec helpers)

    def env(self, command: str) -> dict[str, str]:
        """Exactly the variables a runtime would set."""
        return {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_ARGS": self.args,
            "CNI_PATH": ":".join(self.path),
            "PATH": self.os_path,
        }


def find_plugin(plugin_type: str, path: Sequence[str], *, root: str | None = None) -> str:
    """The executable called `plugin_type` in the first CNI_PATH directory holding it (looked up under `root`,
    the node's root filesystem, when delegates run there); its path as the node sees it."""
    if not plugin_type or "/" in plugin_type or plugin_type in (".", ".."):
        raise CniError(errors.INVALID_CONFIG, f"invalid plugin type {plugin_type!r}")
    for directory in path:
        candidate = os.path.join(directory, plugin_type)
        seen = host_path(root, candidate)
        # Under a root, an absolute symlink points into the node's tree, not ours: the exec resolves it there.
        if (root and os.path.islink(seen)) or (os.path.isfile(seen) and os.access(seen, os.X_OK)):
            return candidate
    where = f" (the node's root, mounted at {root})" if root else ""
    raise CniError(errors.DELEGATE_FAILED, f"failed to find plugin {plugin_type!r} in path {list(path)}{where}")


def plugin_config(
    plugin: Mapping[str, Any], *, runtime_config: Mapping[str, Any], prev_result: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The stdin of one plugin: its config + runtimeConfig for declared capabilities + prevResult."""
    conf = dict(plugin)
    declared = plugin.get("capabilities")
    conf.pop("runtimeConfig", None)
    if isinstance(declared, Mapping):
        wanted = {k: v for k, v in runtime_config.items() if declared.get(k) is True}
        if wanted:
            conf["runtimeConfig"] = wanted
    if prev_result is not None:
        conf["prevResult"] = convert(prev_result, str(conf.get("cniVersion", "1.0.0")))
    return conf


def run_plugin(ctx: Context, command: str, conf: Mapping[str, Any], inv: Invocation) -> dict[str, Any] | None:
    """Exec one plugin; its result for ADD, None otherwise; CniError(DELEGATE_FAILED) with its message."""
    plugin_type = str(conf.get("type", ""))
    binary = find_plugin(plugin_type, inv.path, root=ctx.host_root)
    started = ctx.clock()
    out = ctx.exec([binary], env=inv.env(command), stdin=json.dumps(conf).encode(),
                   timeout=ctx.delegate_timeout, root=ctx.host_root)
    elapsed_ms = (ctx.clock() - started) * 1000
    logger.debug("delegate %s %s", command, plugin_type, extra={
        "plugin": plugin_type, "ifname": inv.ifname, "delegate_ms": round(elapsed_ms, 3), "rc": out.returncode})
    if out.returncode != 0:
        ctx.delegate_failed(plugin_type, command)
        raise plugin_error(plugin_type, out.stdout, out.stderr, out.returncode)
    if command != "ADD":
        return None
    try:
        result = json.loads(out.stdout)
    except ValueError as e:
        raise CniError(errors.DELEGATE_FAILED, f"plugin {plugin_type} returned a result that is not JSON",
                       out.stdout[:200].decode(errors="replace")) from e
    if not isinstance(result, dict):
        raise CniError(errors.DELEGATE_FAILED, f"plugin {plugin_type} returned a result that is not an object")
    result.setdefault("cniVersion", conf.get("cniVersion", "0.3.0"))
    return result


def plugin_error(plugin_type: str, stdout: bytes, stderr: bytes, returncode: int) -> CniError:
    """The plugin's own error JSON (CNI SPEC §Error), else its stderr, as a CniError.

    Well-known codes (< 100: try again later, unknown container, not available, ...) reach the runtime as they
    are, because it acts on them; plugin-specific codes and non-JSON failures become DELEGATE_FAILED.
    """
    try:
        body = json.loads(stdout)
    except ValueError:
        body = None
    if not (isinstance(body, dict) and ("msg" in body or "code" in body)):
        message = (stderr or stdout).decode(errors="replace").strip()[-500:] or f"exit status {returncode}"
        return CniError(errors.DELEGATE_FAILED, f"plugin {plugin_type}: {message}")
    message = f"plugin {plugin_type}: {body.get('msg', '')}"
    details = str(body.get("details", ""))
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 0 < code < WELL_KNOWN_LIMIT:
        return CniError(code, message, details)
    if isinstance(code, int):
        details = f"code {code}" + (f": {details}" if details else "")
    return CniError(errors.DELEGATE_FAILED, message, details)


def add_list(
    ctx: Context, plugins: Sequence[Mapping[str, Any]], inv: Invocation, runtime_config: Mapping[str, Any]
) -> dict[str, Any]:
    """ADD each plugin in order, chaining prevResult; the last result (CNI SPEC §"Add")."""
    result: dict[str, Any] | None = None
    for plugin in plugins:
        conf = plugin_config(plugin, runtime_config=runtime_config, prev_result=result)
        result = run_plugin(ctx, "ADD", conf, inv) or result
    if result is None:
        raise CniError(errors.DELEGATE_FAILED, "the network has no plugins")
    return result


def del_list(
    ctx: Context, plugins: Sequence[Mapping[str, Any]], inv: Invocation, runtime_config: Mapping[str, Any],
    cached: Mapping[str, Any] | None,
) -> None:
    """DEL each plugin in reverse; prevResult only from cniVersion 0.4.0 on (CNI SPEC §"Delete").

    Unlike libcni, a failing plugin does not stop the ones before it in the list (DEL must release all it
    can); the first failure is raised after every plugin has run.
    """
    first: CniError | None = None
    for plugin in reversed(plugins):
        prev = cached if cached is not None and _has_prev(plugin) else None
        conf = plugin_config(plugin, runtime_config=runtime_config, prev_result=prev)
        try:
            run_plugin(ctx, "DEL", conf, inv)
        except CniError as e:
            first = first or e
    if first is not None:
        raise first


def check_list(
    ctx: Context, plugins: Sequence[Mapping[str, Any]], inv: Invocation, runtime_config: Mapping[str, Any],
    cached: Mapping[str, Any],
) -> None:
    """CHECK each plugin in order with the cached result (not defined before 0.4.0)."""
    for plugin in plugins:
        if not _has_prev(plugin):
            continue
        conf = plugin_config(plugin, runtime_config=runtime_config, prev_result=cached)
        run_plugin(ctx, "CHECK", conf, inv)


def _has_prev(plugin: Mapping[str, Any]) -> bool:
    return str(plugin.get("cniVersion", "0.3.0")) not in ("0.1.0", "0.2.0", "0.3.0", "0.3.1")
