"""`netweave`: the product's one console command, above the admission side (webhook), certs and the node (cni.node).

Each subcommand names the module it runs with an ordinary import statement, so mypy checks the functions it calls
and import-linter sees the dependency; the statement sits in the subcommand's loader, so it runs only when that
subcommand does and `netweave lint` does not pay for the server's or the node's dependencies.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import MappingProxyType

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Subcommand:
    help: str
    load: Callable[[], tuple[AddArguments, Run]]  # imports the implementing module: (add its arguments, run it)


def _lint() -> tuple[AddArguments, Run]:
    from webhook import lint
    return lint.add_arguments, lint.run


def _plan() -> tuple[AddArguments, Run]:
    from webhook import plan
    return plan.add_arguments, plan.run


def _rules() -> tuple[AddArguments, Run]:
    from webhook import explain
    return explain.add_rules_arguments, explain.run_rules


def _explain() -> tuple[AddArguments, Run]:
    from webhook import explain
    return explain.add_explain_arguments, explain.run_explain


def _serve() -> tuple[AddArguments, Run]:
    from webhook import serve
    return serve.add_arguments, serve.run


def _certs() -> tuple[AddArguments, Run]:
    from certs import cli
    return cli.add_arguments, cli.run


def _node() -> tuple[AddArguments, Run]:
    from cni.node import daemon
    return daemon.add_arguments, daemon.run


def _node_install() -> tuple[AddArguments, Run]:
    from cni.node import install
    return install.add_install_arguments, install.run_install


def _node_uninstall() -> tuple[AddArguments, Run]:
    from cni.node import install
    return install.add_uninstall_arguments, install.run_uninstall


SUBCOMMANDS: Mapping[str, Subcommand] = MappingProxyType({
    "lint": Subcommand("check manifests offline with the admission rules", _lint),
    "plan": Subcommand("show the attachments the node will create for each pod", _plan),
    "rules": Subcommand("list every rule: id, default severity, checks", _rules),
    "explain": Subcommand("why a rule matters, a bad and a fixed example, how to configure it", _explain),
    "serve": Subcommand("run the admission webhook (HTTPS)", _serve),
    "certs": Subcommand("generate, bundle and renew webhook certificates", _certs),
    "node": Subcommand("run the node daemon that serves the CNI shim", _node),
    "node-install": Subcommand("install the CNI shim and config on this node", _node_install),
    "node-uninstall": Subcommand("remove the CNI shim and restore the node's CNI config", _node_uninstall),
})


def parser_for(name: str) -> tuple[argparse.ArgumentParser, Run]:
    """The argument parser of one subcommand and the function that runs it (imports that subcommand's module)."""
    subcommand = SUBCOMMANDS[name]
    add_arguments, run = subcommand.load()
    parser = argparse.ArgumentParser(prog=f"netweave {name}", description=subcommand.help)
    add_arguments(parser)
    return parser, run


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in SUBCOMMANDS:  # --help, --version, or a usage error
        top = argparse.ArgumentParser(prog="netweave", description="Multi-network pods, checked at admission.")
        top.add_argument("--version", action="version", version=f"%(prog)s {version()}")
        sub = top.add_subparsers(dest="command", metavar="COMMAND")
        for name, subcommand in SUBCOMMANDS.items():
            sub.add_parser(name, help=subcommand.help, add_help=False)
        top.parse_args(args_list or ["--help"])
        return 2
    parser, run = parser_for(args_list[0])
    return run(parser.parse_args(args_list[1:]))


def version() -> str:
    """The installed distribution's version (package metadata: one source of truth, pyproject.toml)."""
    try:
        return metadata.version("netweave")
    except metadata.PackageNotFoundError:
        return "(not installed: pip install -e .)"
