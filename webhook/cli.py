"""`netweave`: one console command; each subcommand's module is imported only when it runs (fast start)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib import metadata

# subcommand -> (module, add-arguments function, run function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str, str]] = {
    "lint": ("webhook.lint", "add_arguments", "run", "check manifests offline with the admission rules"),
    "plan": ("webhook.plan", "add_arguments", "run", "show the attachments the node will create for each pod"),
    "rules": ("webhook.explain", "add_rules_arguments", "run_rules", "list every rule: id, default severity, checks"),
    "explain": ("webhook.explain", "add_explain_arguments", "run_explain",
                "why a rule matters, a bad and a fixed example, how to configure it"),
    "serve": ("webhook.serve", "add_arguments", "run", "run the admission webhook (HTTPS)"),
    "certs": ("certs.cli", "add_arguments", "run", "generate, bundle and renew webhook certificates"),
    "node": ("cni.node.daemon", "add_arguments", "run", "run the node daemon that serves the CNI shim"),
    "node-install": ("cni.node.install", "add_install_arguments", "run_install",
                     "install the CNI shim and config on this node"),
    "node-uninstall": ("cni.node.install", "add_uninstall_arguments", "run_uninstall",
                       "remove the CNI shim and restore the node's CNI config"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="netweave", description="Multi-network pods, checked at admission.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, _, _, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not args_list or args_list[0] not in SUBCOMMANDS:  # --help, --version, or a usage error
        parser.parse_args(args_list or ["--help"])
        return 2
    name = args_list[0]
    module_name, add_name, run_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    command = argparse.ArgumentParser(prog=f"netweave {name}", description=help_text)
    getattr(module, add_name)(command)
    args = command.parse_args(args_list[1:])
    code: int = getattr(module, run_name)(args)
    return code


def version() -> str:
    """The installed distribution's version (package metadata: one source of truth, pyproject.toml)."""
    try:
        return metadata.version("netweave")
    except metadata.PackageNotFoundError:
        return "(not installed: pip install -e .)"


if __name__ == "__main__":
    sys.exit(main())
