"""Request.from_env: the CNI environment and stdin config, validated into one frozen value (codes 1/4/6/7)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from cni import errors
from cni.errors import CniError
from cni.spec.namespaces import GLOBAL_NAMESPACES, SYSTEM_NAMESPACE
from cni.spec.policy import PolicyProblem, strings_setting

Command = Literal["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"]
COMMANDS: Final = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
SUPPORTED_VERSIONS: Final = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION: Final = "1.1.0"

DEFAULT_CACHE_DIR: Final = "/var/lib/cni/netweave"
DEFAULT_CHECKPOINT: Final = "/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint"
DEFAULT_OS_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
VALID_ATTACHMENTS_KEY: Final = "cni.dev/valid-attachments"

# CNI SPEC §"Parameters": which variables each operation requires.
REQUIRED_ENV: Final[Mapping[str, tuple[str, ...]]] = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "STATUS": (),
    "VERSION": (),
}
CONTAINER_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")


@dataclass(frozen=True, slots=True)
class PodRef:
    """The pod a sandbox belongs to, from CNI_ARGS K8S_POD_*."""

    namespace: str
    name: str
    uid: str | None = None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Config:
    """The netweave top-level network configuration (stdin)."""

    cni_version: str
    name: str
    cluster_network: str
    kubeconfig: str | None = None
    system_namespace: str = SYSTEM_NAMESPACE
    namespace_isolation: bool = False
    global_namespaces: tuple[str, ...] = GLOBAL_NAMESPACES
    cache_dir: str = DEFAULT_CACHE_DIR
    device_checkpoint: str = DEFAULT_CHECKPOINT
    readiness_indicator_file: str | None = None
    log_file: str | None = None
    log_level: str = "info"
    cluster_routes: tuple[str, ...] = ()
    source_routing: bool = False
    runtime_config: Mapping[str, Any] = field(default_factory=dict)
    valid_attachments: tuple[tuple[str, str], ...] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    """One CNI invocation."""

    command: Command
    cni_version: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    path: tuple[str, ...] = ()
    args: Mapping[str, str] = field(default_factory=dict)
    config: Config | None = None
    os_path: str = DEFAULT_OS_PATH     # PATH handed on to the delegates

    @property
    def pod(self) -> PodRef | None:
        """The pod named by CNI_ARGS, if any."""
        return pod_of(self.args)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], stdin: bytes, *,
                 defaults: Mapping[str, Any] | None = None) -> Request:
        """Validate the CNI variables and the stdin config (`defaults` fill keys it leaves out); raise CniError
        with the spec's code."""
        command = environ.get("CNI_COMMAND", "")
        if command not in COMMANDS:
            raise CniError(errors.INVALID_ENVIRONMENT, "CNI_COMMAND is missing or unknown", repr(command))
        raw = decode_stdin(stdin)
        version = str(raw.get("cniVersion") or "0.1.0") if raw else LATEST_VERSION
        if command == "VERSION":
            return cls(command="VERSION", cni_version=version)
        missing = [key for key in REQUIRED_ENV[command] if not environ.get(key)]
        if missing:
            raise CniError(errors.INVALID_ENVIRONMENT, f"{command} needs {', '.join(missing)}")
        container_id = environ.get("CNI_CONTAINERID", "")
        if container_id and not CONTAINER_ID_RE.match(container_id):
            raise CniError(errors.INVALID_ENVIRONMENT, "CNI_CONTAINERID has invalid characters", container_id)
        ifname = environ.get("CNI_IFNAME", "")
        if ifname and not valid_ifname(ifname):
            raise CniError(errors.INVALID_ENVIRONMENT, "CNI_IFNAME is not a valid interface name", ifname)
        config = parse_config(raw, command=command, defaults=defaults)
        return cls(
            command=cast(Command, command),
            cni_version=config.cni_version,
            container_id=container_id,
            netns=environ.get("CNI_NETNS", ""),
            ifname=ifname,
            path=tuple(p for p in environ.get("CNI_PATH", "").split(":") if p),
            args=parse_cni_args(environ.get("CNI_ARGS", "")),
            config=config,
            os_path=environ.get("PATH") or DEFAULT_OS_PATH,
        )


def decode_stdin(stdin: bytes) -> dict[str, Any]:
    """The stdin JSON object ({} when empty); code 6 when it is not a JSON object."""
    if not stdin.strip():
        return {}
    try:
        raw = json.loads(stdin)
    except (ValueError, UnicodeDecodeError) as e:
        raise CniError(errors.DECODING_FAILURE, "stdin is not valid JSON", str(e)) from e
    if not isinstance(raw, dict):
        raise CniError(errors.DECODING_FAILURE, "stdin is not a JSON object")
    return raw


def pod_of(args: Mapping[str, str]) -> PodRef | None:
    """The pod that CNI_ARGS (parsed) names with K8S_POD_NAMESPACE and K8S_POD_NAME, if any."""
    ns, name = args.get("K8S_POD_NAMESPACE"), args.get("K8S_POD_NAME")
    if not ns or not name:
        return None
    return PodRef(ns, name, args.get("K8S_POD_UID") or None)


def parse_cni_args(text: str) -> dict[str, str]:
    """CNI_ARGS "K=V;K=V" -> mapping; code 4 on an element without '='."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise CniError(errors.INVALID_ENVIRONMENT, "CNI_ARGS is not a list of KEY=VALUE", part)
        out[key] = value
    return out


def valid_ifname(name: str) -> bool:
    """The kernel's rule: 1-15 bytes, not '.' or '..', no '/', ':' or whitespace."""
    return (
        0 < len(name.encode()) <= 15
        and name not in (".", "..")
        and not any(c in name for c in "/:") and not any(c.isspace() for c in name)
    )


def parse_config(raw: Mapping[str, Any], *, command: str, defaults: Mapping[str, Any] | None = None) -> Config:
    """The netweave config; code 1 for an unsupported cniVersion, 7 for anything else wrong. `defaults` (the node
    policy's settings, cni.spec.policy) apply to the keys the config leaves out, and stay in Config.raw, so the
    ADD record keeps what the attachment was made with."""
    if defaults:
        raw = {**defaults, **raw}
    version = raw.get("cniVersion")
    if not isinstance(version, str):
        raise CniError(errors.INVALID_CONFIG, "config needs a string cniVersion")
    if version not in SUPPORTED_VERSIONS:
        raise CniError(errors.INCOMPATIBLE_VERSION, f"unsupported cniVersion {version!r}",
                       f"netweave supports {', '.join(SUPPORTED_VERSIONS)}")
    if command in ("STATUS", "GC") and version != "1.1.0":
        raise CniError(errors.INCOMPATIBLE_VERSION, f"{command} needs cniVersion 1.1.0", version)
    cluster = raw.get("clusterNetwork")
    if not isinstance(cluster, str) or not cluster:
        raise CniError(errors.INVALID_CONFIG, "config needs clusterNetwork (a conf file path or a NAD name)")
    valid_attachments = _valid_attachments(raw)
    if command == "GC" and valid_attachments is None:
        # CNI SPEC §"GC": the runtime always passes the key; without it GC would delete every attachment.
        raise CniError(errors.INVALID_CONFIG, f"GC needs {VALID_ATTACHMENTS_KEY} (an empty list deletes all)")
    return Config(
        cni_version=version,
        name=_string(raw, "name", "netweave"),
        cluster_network=cluster,
        kubeconfig=_optional_string(raw, "kubeconfig"),
        system_namespace=_string(raw, "systemNamespace", SYSTEM_NAMESPACE),
        namespace_isolation=_bool(raw, "namespaceIsolation"),
        global_namespaces=_strings(raw, "globalNamespaces", GLOBAL_NAMESPACES),
        cache_dir=_string(raw, "cacheDir", DEFAULT_CACHE_DIR),
        device_checkpoint=_string(raw, "deviceCheckpoint", DEFAULT_CHECKPOINT),
        readiness_indicator_file=_optional_string(raw, "readinessIndicatorFile"),
        log_file=_optional_string(raw, "logFile"),
        log_level=_log_level(raw),
        cluster_routes=_strings(raw, "clusterRoutes", ()),
        source_routing=_bool(raw, "sourceRouting"),
        runtime_config=_object(raw, "runtimeConfig"),
        valid_attachments=valid_attachments,
        raw=raw,
    )


def _string(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise CniError(errors.INVALID_CONFIG, f"config field {key!r} must be a non-empty string")
    return value


def _optional_string(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CniError(errors.INVALID_CONFIG, f"config field {key!r} must be a string")
    return value


def _bool(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise CniError(errors.INVALID_CONFIG, f"config field {key!r} must be true or false")
    return value


def _strings(raw: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """The policy's reader of a list of names (cni.spec.policy), so the conflist and the policy file accept the
    same values: no "a,b" string, no empty name (nothing netweave writes uses either)."""
    try:
        return strings_setting(raw, key, default, "config")
    except PolicyProblem as e:
        raise CniError(errors.INVALID_CONFIG, f"config field {key!r} must be a list of non-empty strings",
                       str(e)) from e


def _object(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise CniError(errors.INVALID_CONFIG, f"config field {key!r} must be an object")
    return value


def _log_level(raw: Mapping[str, Any]) -> str:
    level = _string(raw, "logLevel", "info").lower()
    level = {"verbose": "info", "panic": "error", "warn": "warning"}.get(level, level)
    if level not in LOG_LEVELS:
        raise CniError(errors.INVALID_CONFIG, f"logLevel must be one of {', '.join(LOG_LEVELS)}", level)
    return level


def _valid_attachments(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    value = raw.get(VALID_ATTACHMENTS_KEY)
    if value is None:
        return None
    if not isinstance(value, list):
        raise CniError(errors.INVALID_CONFIG, f"{VALID_ATTACHMENTS_KEY} must be a list")
    out: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("containerID"), str):
            raise CniError(errors.INVALID_CONFIG, f"{VALID_ATTACHMENTS_KEY} entries need containerID")
        out.append((item["containerID"], str(item.get("ifname", ""))))
    return tuple(out)
