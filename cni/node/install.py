"""`netweave node-install` / `node-uninstall`: put the shim and 00-netweave.conflist on the node, and take them away.

Install copies the shim into the CNI bin dir (the static C binary when one is built, else cni/node/shim.py behind a
`#!<python> -IS` shebang; docs/shim-protocol.md says how each carries its settings), wraps the node's primary CNI
config as the cluster network, waits (bounded) for the primary's readiness indicator file and writes a
kubeconfig from the service account. Every write is atomic (temp + rename) and a second install changes
nothing. Uninstall removes what install wrote and restores any config file install renamed.
"""

import argparse
import base64
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cni.atomicfile import write_atomic
from cni.logformat import configure_logging
from cni.node import shim
from cni.node.settings import NodeSettings

logger = logging.getLogger(__name__)

CONFLIST_NAME = "00-netweave.conflist"
SHIM_NAME = "netweave"
STATE_DIR = "netweave.d"
KUBECONFIG_NAME = "netweave.kubeconfig"
STATE_NAME = "install-state.json"
DISABLED_SUFFIX = ".netweave-disabled"  # no longer *.conf/*.conflist/*.json, so the runtime skips it
CONFIG_SUFFIXES = (".conf", ".conflist", ".json")
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SUPPORTED_VERSIONS = shim.SUPPORTED_VERSIONS
# The static shim (shim-static/netweave-shim.c): where `make shim` and the image put it, and its settings block.
STATIC_SHIM_BUILT = Path(__file__).resolve().parent / "shim-static" / "netweave-shim"
STATIC_SHIM_IMAGE = Path("/usr/local/libexec/netweave/netweave-shim")
SETTINGS_MARKER = b"NETWEAVE-SHIM-SETTINGS-V1\0"
SETTINGS_SIZE = 1024
SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes, NUL included
ShimKind = Literal["auto", "static", "python"]


class InstallError(Exception):
    """Install cannot complete (no primary config in time, no service account, ...)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where install writes, as the installer sees it and as the node (runtime, daemon) sees it."""

    bin_dir: Path
    conf_dir: Path
    host_conf_dir: Path  # the same directory as the node sees it; paths written into the conflist use it

    @property
    def conflist(self) -> Path:
        return self.conf_dir / CONFLIST_NAME

    @property
    def shim(self) -> Path:
        return self.bin_dir / SHIM_NAME

    @property
    def state_dir(self) -> Path:
        return self.conf_dir / STATE_DIR

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / KUBECONFIG_NAME

    @property
    def state(self) -> Path:
        return self.state_dir / STATE_NAME

    def host_path(self, path: Path) -> str:
        """`path` (under conf_dir) as the node sees it; any other path is taken to be the same on the node."""
        if not path.is_relative_to(self.conf_dir):
            return str(path)
        return str(self.host_conf_dir / path.relative_to(self.conf_dir))


# ---- pure parts ---------------------------------------------------------------------------------------------


def render_shim(source: str, *, interpreter: str, socket: str, standalone: str) -> str:
    """The installed shim: shebang + cni/node/shim.py with its default socket and standalone command filled in."""
    replacements = {
        "DEFAULT_SOCKET": f"DEFAULT_SOCKET = {socket!r}",
        "STANDALONE_COMMAND": f"STANDALONE_COMMAND = {standalone!r}",
    }
    for name, line in replacements.items():
        source, count = re.subn(rf"^{name} = .*$", line, source, count=1, flags=re.MULTILINE)
        if count != 1:
            raise InstallError(f"shim source has no {name} line to fill in")
    # Linux passes everything after the interpreter as ONE argument, so the flags must be one word.
    return f"#!{interpreter} -IS\n{source}"


def render_binary(binary: bytes, *, socket: str, standalone: str) -> bytes:
    """The installed static shim: the binary with its settings block (socket, standalone command) filled in."""
    start = binary.find(SETTINGS_MARKER)
    if start < 0 or binary.find(SETTINGS_MARKER, start + 1) >= 0:
        raise InstallError("the static shim has no single settings block; rebuild it with `make shim`")
    values = [socket.encode(), standalone.encode()]
    if any(b"\0" in value or not value for value in values):
        raise InstallError("the shim's socket path and standalone command must be non-empty and free of NUL bytes")
    block = SETTINGS_MARKER + b"\0".join(values) + b"\0"
    if len(block) > SETTINGS_SIZE or start + SETTINGS_SIZE > len(binary):
        limit = SETTINGS_SIZE - len(SETTINGS_MARKER) - 2
        raise InstallError(f"--socket and --standalone-command together exceed the static shim's {limit} bytes")
    return binary[:start] + block.ljust(SETTINGS_SIZE, b"\0") + binary[start + SETTINGS_SIZE :]


def find_static_shim(candidates: tuple[Path, ...] = (STATIC_SHIM_BUILT, STATIC_SHIM_IMAGE)) -> Path | None:
    """The first static shim binary that exists (the development build, then the image's)."""
    return next((path for path in candidates if path.is_file()), None)


def shim_file(kind: ShimKind, *, static_binary: Path | None, interpreter: str, socket: str,
              standalone: str) -> tuple[bytes, str]:
    """The bytes of the installed shim and which implementation they are ("static" or "python")."""
    if len(socket.encode()) > SUN_PATH_MAX:
        raise InstallError(f"--socket {socket!r} is longer than the {SUN_PATH_MAX} bytes a unix socket path allows")
    if kind != "python" and static_binary is not None:
        return render_binary(static_binary.read_bytes(), socket=socket, standalone=standalone), "static"
    if kind == "static":
        raise InstallError("no static shim binary: build it with `make shim` or pass --static-shim PATH "
                           "(or choose --shim python)")
    source = Path(shim.__file__).read_text()
    rendered = render_shim(source, interpreter=interpreter, socket=socket, standalone=standalone)
    return rendered.encode(), "python"


def is_candidate(name: str) -> bool:
    """A file the runtime would load as a network config, other than ours."""
    return name != CONFLIST_NAME and name.endswith(CONFIG_SUFFIXES) and not name.startswith(".")


def netweave_conflist(
    primary: Mapping[str, Any],
    *,
    cluster_network: str,
    kubeconfig: str | None,
    socket: str,
    fallback: str,
    cni_version: str | None,
    readiness_indicator_file: str | None = None,
) -> dict[str, Any]:
    """00-netweave.conflist: one netweave plugin wrapping the primary config as the cluster network."""
    version = cni_version or str(primary.get("cniVersion") or "")
    plugin: dict[str, Any] = {"type": "netweave", "clusterNetwork": cluster_network}
    capabilities = primary_capabilities(primary)
    if capabilities:  # the runtime passes runtimeConfig only for declared capabilities
        plugin["capabilities"] = {name: True for name in capabilities}
    if kubeconfig:
        plugin["kubeconfig"] = kubeconfig
    if socket != shim.DEFAULT_SOCKET:
        plugin["daemonSocket"] = socket
    if fallback != "none":
        plugin["fallback"] = fallback
    if readiness_indicator_file:  # ADD/STATUS answer 11/50 while the primary CNI is (re)starting
        plugin["readinessIndicatorFile"] = readiness_indicator_file
    return {
        "cniVersion": version if version in SUPPORTED_VERSIONS else "1.0.0",
        "name": "netweave",
        "plugins": [plugin],
    }


def primary_capabilities(primary: Mapping[str, Any]) -> tuple[str, ...]:
    """Capabilities any plugin of the primary config declares."""
    plugins = primary.get("plugins")
    items = plugins if isinstance(plugins, list) else [primary]
    found: set[str] = set()
    for plugin in items:
        caps = plugin.get("capabilities") if isinstance(plugin, dict) else None
        if isinstance(caps, dict):
            found.update(name for name, on in caps.items() if on is True)
    return tuple(sorted(found))


def kubeconfig_document(*, server: str, ca_pem: bytes, token: str) -> dict[str, Any]:
    """A kubeconfig (JSON is YAML) for the service account token."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [{"name": "netweave", "user": {"token": token}}],
        "contexts": [{"name": "netweave", "context": {"cluster": "local", "user": "netweave"}}],
        "current-context": "netweave",
    }


def api_server_url(host: str, port: str) -> str:
    """https URL of the API server service (IPv6 literals bracketed)."""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


# ---- file system --------------------------------------------------------------------------------------------


def read_state(layout: Layout) -> dict[str, Any]:
    """What a previous install recorded ({} when none)."""
    try:
        state = json.loads(layout.state.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def load_config(path: Path) -> dict[str, Any] | None:
    """A CNI config file's JSON object, or None when unreadable or not a config."""
    try:
        conf = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(conf, dict) or not ("type" in conf or isinstance(conf.get("plugins"), list)):
        return None
    return conf


def find_primary(conf_dir: Path, *, name: str | None) -> Path | None:
    """The configured primary config, or the first other config file in lexical order (the runtime's pick)."""
    if name:
        path = conf_dir / name
        return path if load_config(path) is not None else None
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(conf_dir.iterdir(), key=lambda p: p.name):
            if is_candidate(path.name) and path.is_file() and load_config(path) is not None:
                return path
    return None


def wait_for(what: str, probe: Any, *, timeout: float, interval: float) -> Any:
    """Poll `probe()` until it returns something truthy; InstallError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise InstallError(f"timed out after {timeout:g} s waiting for {what}")
        logger.info("waiting", extra={"for": what})
        time.sleep(interval)


# ---- install / uninstall ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstallOptions:
    """Everything node-install needs; built from the command line (or directly by tests)."""

    layout: Layout
    primary: str | None = None  # a file name in conf_dir; None = auto-detect
    readiness_indicator_file: Path | None = None
    timeout: float = 300.0
    interval: float = 1.0
    socket: str = shim.DEFAULT_SOCKET
    fallback: str = "none"
    interpreter: str = sys.executable
    standalone: str = "netweave-cni"
    cni_version: str | None = None
    service_account_dir: Path = Path(SERVICE_ACCOUNT_DIR)
    api_host: str | None = None
    api_port: str | None = None
    shim: ShimKind = "auto"
    static_shim: Path | None = None  # the static binary to install; None: none was found


@dataclass(frozen=True, slots=True)
class ConflistSettings:
    """What 00-netweave.conflist is rendered from besides the primary config; install records it in its state so
    that the daemon's config guard (cni.node.confguard) re-renders exactly what install wrote."""

    primary: str | None = None  # --primary-config; None = auto-detect
    kubeconfig: str | None = None  # as the node sees it
    socket: str = shim.DEFAULT_SOCKET
    fallback: str = "none"
    cni_version: str | None = None
    readiness_indicator_file: str | None = None  # as the node sees it

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: object) -> "ConflistSettings | None":
        """The recorded settings; None when absent or not as install writes them."""
        if not isinstance(data, dict):
            return None
        fields = {name: data.get(name, getattr(cls(), name)) for name in cls.__slots__}
        if any(value is not None and not isinstance(value, str) for value in fields.values()):
            return None
        return cls(**fields)


def install(options: InstallOptions) -> Path:
    """Install the shim, kubeconfig and 00-netweave.conflist; return the primary config it wraps."""
    layout = options.layout
    state = read_state(layout)
    primary = _current_primary(layout, state) or wait_for(
        "a primary CNI config in " + str(layout.conf_dir),
        lambda: find_primary(layout.conf_dir, name=options.primary),
        timeout=options.timeout,
        interval=options.interval,
    )
    if options.readiness_indicator_file is not None:
        indicator = options.readiness_indicator_file
        wait_for(f"readiness indicator {indicator}", indicator.exists, timeout=options.timeout,
                 interval=options.interval)
    kubeconfig = _install_kubeconfig(options)
    content, kind = shim_file(options.shim, static_binary=options.static_shim, interpreter=options.interpreter,
                              socket=options.socket, standalone=options.standalone)
    if kind != options.shim and options.shim == "auto":
        logger.warning("no static shim binary found; installing the Python shim, which needs the interpreter "
                       "on the host", extra={"interpreter": options.interpreter})
    write_atomic(layout.shim, content, mode=0o755)
    indicator_file = options.readiness_indicator_file
    settings = ConflistSettings(primary=options.primary, kubeconfig=kubeconfig, socket=options.socket,
                                fallback=options.fallback, cni_version=options.cni_version,
                                readiness_indicator_file=layout.host_path(indicator_file) if indicator_file else None)
    primary, changed = write_conflist(layout, settings, state, primary)
    logger.info("installed", extra={"primary": str(primary), "conflist": str(layout.conflist),
                                    "changed": changed})
    return primary


def write_conflist(layout: Layout, settings: ConflistSettings, state: Mapping[str, Any],
                   primary: Path) -> tuple[Path, bool]:
    """Move aside configs that sort before ours, then (re)write 00-netweave.conflist around `primary`: the one
    rendering install and the config guard share. The primary's path now, and whether the conflist was written
    (False when it already held exactly this: a restart rewrites nothing)."""
    primary = _move_aside_earlier_configs(layout, state, primary, settings)
    conf = load_config(primary)
    if conf is None:  # e.g. caught half-written by its agent: render nothing from it, the next pass will
        raise InstallError(f"the primary CNI config {primary} is not a readable config right now")
    conflist = netweave_conflist(conf, cluster_network=layout.host_path(primary),
                                 kubeconfig=settings.kubeconfig, socket=settings.socket, fallback=settings.fallback,
                                 cni_version=settings.cni_version,
                                 readiness_indicator_file=settings.readiness_indicator_file)
    changed = write_atomic(layout.conflist, (json.dumps(conflist, indent=2) + "\n").encode(), mode=0o644)
    return primary, changed


def reconcile(layout: Layout) -> str | None:
    """Put 00-netweave.conflist back as the last install rendered it, around the primary config as it is now.
    Why it had to be rewritten, or None when it was as it should be; InstallError when there is nothing to
    render from (no install state, no primary config)."""
    state = read_state(layout)
    settings = ConflistSettings.from_json(state.get("conflist"))
    if settings is None:
        raise InstallError(f"no install state in {layout.state}; run `netweave node-install` first")
    primary = _current_primary(layout, state) or find_primary(layout.conf_dir, name=settings.primary)
    if primary is None:
        raise InstallError(f"no primary CNI config in {layout.conf_dir}; 00-netweave.conflist left as it is")
    try:
        before: bytes | None = layout.conflist.read_bytes()
    except FileNotFoundError:
        before = None
    primary, changed = write_conflist(layout, settings, state, primary)
    if not changed:
        return None
    # Equal bytes yet rewritten: the file went away between our read and our write.
    if before is None or before == layout.conflist.read_bytes():
        return f"{CONFLIST_NAME} was missing (removed or renamed by another agent)"
    return f"{CONFLIST_NAME} differed from its rendering around {primary.name} (the primary config changed " \
           "or another agent edited it)"


def _current_primary(layout: Layout, state: Mapping[str, Any]) -> Path | None:
    """The primary a previous install recorded, where it is now (it may have been moved aside)."""
    name = state.get("primary")
    if not isinstance(name, str):
        return None
    moved = dict(_renames(state)).get(name)
    path = layout.conf_dir / (moved or name)
    return path if load_config(path) is not None else None


def _renames(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    entries = state.get("renamed")
    if not isinstance(entries, list):
        return []
    return [(str(e[0]), str(e[1])) for e in entries if isinstance(e, list) and len(e) == 2]


def _move_aside_earlier_configs(layout: Layout, state: Mapping[str, Any], primary: Path,
                                settings: ConflistSettings) -> Path:
    """Rename configs that sort before ours (the runtime would pick them); return the primary's new path."""
    renames = _renames(state)
    new = [
        (path.name, path.name + DISABLED_SUFFIX)
        for path in sorted(layout.conf_dir.iterdir(), key=lambda p: p.name)
        if is_candidate(path.name) and path.name < CONFLIST_NAME and path.is_file()
    ]
    recorded = {"primary": dict((to, orig) for orig, to in renames).get(primary.name, primary.name),
                "renamed": [list(pair) for pair in renames + new], "conflist": settings.to_json()}
    # Record before renaming, so that an uninstall after a crash here still restores everything.
    write_atomic(layout.state, (json.dumps(recorded, indent=2) + "\n").encode(), mode=0o644)
    for orig, to in new:
        os.replace(layout.conf_dir / orig, layout.conf_dir / to)
        logger.info("moved aside", extra={"config": orig, "to": to})
    moved = dict(new)
    return layout.conf_dir / moved.get(primary.name, primary.name)


def _install_kubeconfig(options: InstallOptions) -> str | None:
    """Write the service account kubeconfig; its path as the node sees it (None without a token)."""
    account = options.service_account_dir
    try:
        token = (account / "token").read_text().strip()
        ca_pem = (account / "ca.crt").read_bytes()
    except FileNotFoundError:
        logger.warning("no service account token; the conflist gets no kubeconfig",
                       extra={"dir": str(account)})
        return None
    if not options.api_host or not options.api_port:
        raise InstallError("KUBERNETES_SERVICE_HOST/PORT are not set (pass --api-host/--api-port)")
    doc = kubeconfig_document(server=api_server_url(options.api_host, options.api_port), ca_pem=ca_pem,
                              token=token)
    layout = options.layout
    write_atomic(layout.kubeconfig, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)
    return layout.host_path(layout.kubeconfig)


def uninstall(layout: Layout) -> None:
    """Remove what install wrote (conflist first, so the runtime stops calling us) and restore renamed files."""
    state = read_state(layout)
    with contextlib.suppress(FileNotFoundError):
        layout.conflist.unlink()
    for orig, to in _renames(state):
        source, target = layout.conf_dir / to, layout.conf_dir / orig
        if source.exists() and not target.exists():
            os.replace(source, target)
            logger.info("restored", extra={"config": orig})
    for path in (layout.shim, layout.kubeconfig, layout.state):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    with contextlib.suppress(OSError):
        layout.state_dir.rmdir()  # only when empty
    logger.info("uninstalled", extra={"conf_dir": str(layout.conf_dir)})


# ---- command line -------------------------------------------------------------------------------------------


def _add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cni-bin-dir", type=Path, default=Path("/opt/cni/bin"),
                        help="where the shim goes (default: %(default)s)")
    parser.add_argument("--cni-conf-dir", type=Path, default=Path("/etc/cni/net.d"),
                        help="the node's CNI config directory (default: %(default)s)")
    parser.add_argument("--host-cni-conf-dir", type=Path, default=Path("/etc/cni/net.d"),
                        help="the same directory as the node sees it, for paths in the conflist "
                        "(default: %(default)s)")


def _layout(args: argparse.Namespace) -> Layout:
    return Layout(bin_dir=args.cni_bin_dir, conf_dir=args.cni_conf_dir, host_conf_dir=args.host_cni_conf_dir)


def add_install_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `netweave node-install`."""
    _add_layout_arguments(parser)
    parser.add_argument("--primary-config", help="file name of the primary CNI config in --cni-conf-dir "
                        "(default: the first other *.conf/*.conflist/*.json in lexical order)")
    parser.add_argument("--readiness-indicator-file", type=Path,
                        help="wait for this file (the primary CNI's readiness indicator) before installing; "
                        "ADD and STATUS check it too (a path under --cni-conf-dir is rewritten to the host's)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the primary config and readiness file (default: %(default)s)")
    parser.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--socket", default=shim.DEFAULT_SOCKET,
                        help="the node daemon's socket (default: %(default)s)")
    parser.add_argument("--fallback", choices=("none", "standalone"), default="none",
                        help="what the shim does when the daemon is down: CNI error 11 (none) or run "
                        "netweave-cni in-process (standalone)")
    parser.add_argument("--shim", choices=("auto", "static", "python"), default="auto",
                        help="which shim to install as `netweave`: the static binary (no host dependency), the "
                        "Python one (needs --interpreter on the host), or auto: static when built (default)")
    parser.add_argument("--static-shim", type=Path,
                        help=f"the static shim binary (default: {STATIC_SHIM_BUILT} or {STATIC_SHIM_IMAGE})")
    parser.add_argument("--interpreter", default=os.path.realpath(sys.executable),
                        help="absolute path of the python the Python shim runs with (default: %(default)s)")
    parser.add_argument("--standalone-command", default=_default_standalone(),
                        help="netweave-cni for --fallback standalone (default: %(default)s)")
    parser.add_argument("--cni-version", choices=SUPPORTED_VERSIONS,
                        help="cniVersion of 00-netweave.conflist (default: the primary's)")
    parser.add_argument("--service-account-dir", type=Path, default=Path(SERVICE_ACCOUNT_DIR),
                        help="token and ca.crt for the kubeconfig (default: %(default)s)")
    parser.add_argument("--api-host", help="API server host (default: $KUBERNETES_SERVICE_HOST)")
    parser.add_argument("--api-port", help="API server port (default: $KUBERNETES_SERVICE_PORT)")


def _default_standalone() -> str:
    beside = Path(sys.executable).parent / "netweave-cni"
    return str(beside) if beside.exists() else "netweave-cni"


def run_install(args: argparse.Namespace) -> int:
    """`netweave node-install`: 0 when installed, 1 when it could not be."""
    configure_logging()
    settings = NodeSettings.from_env(os.environ)
    options = InstallOptions(
        layout=_layout(args), primary=args.primary_config,
        readiness_indicator_file=args.readiness_indicator_file, timeout=args.timeout,
        interval=args.poll_interval, socket=args.socket, fallback=args.fallback,
        interpreter=args.interpreter, standalone=args.standalone_command, cni_version=args.cni_version,
        service_account_dir=args.service_account_dir,
        api_host=args.api_host or settings.kubernetes_service_host,
        api_port=args.api_port or settings.kubernetes_service_port,
        shim=args.shim, static_shim=args.static_shim or find_static_shim(),
    )
    try:
        install(options)
    except (InstallError, OSError) as err:
        logger.error("install failed", extra={"error": str(err)})
        return 1
    return 0


def add_uninstall_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `netweave node-uninstall`."""
    _add_layout_arguments(parser)


def run_uninstall(args: argparse.Namespace) -> int:
    """`netweave node-uninstall`: 0 when everything was removed or restored."""
    configure_logging()
    try:
        uninstall(_layout(args))
    except OSError as err:
        logger.error("uninstall failed", extra={"error": str(err)})
        return 1
    return 0
