"""`netweave lint`: manifests -> every Pod and pod template -> the admission rules -> a report and an exit code.

Exit codes: 0 clean, 1 findings at or above --fail-level, 2 usage or input errors (reported with file and line).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from cni.spec.problems import Severity
from webhook.catalog import NAD_KIND, MemoryCatalog, NadCatalog
from webhook.cluster import ClusterError, connect
from webhook.engine import evaluate_nad, evaluate_pod
from webhook.findings import Finding, Verdict
from webhook.manifests import STDIN, read_paths
from webhook.patch import make_patch
from webhook.podindex import InputClaims, PodLookup, pod_key
from webhook.policy import DEFAULT_FILE, Policy, PolicyError
from webhook.precheck import PRECHECK_RULES, precheck
from webhook.report import (
    FORMATS,
    Entry,
    Format,
    MutationEntry,
    ObjectRef,
    Report,
    RuleInfo,
    fails,
    render,
)
from webhook.rules import RULES
from webhook.sources import SourceError, SourceObject, Sources, without_cyclic_gc
from webhook.workloads import PodTarget, pod_targets

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
# Rules that report a NAD the catalog lacks; without any NAD of that name they are warnings unless --strict.


@dataclass(frozen=True, slots=True)
class Options:
    """What a lint run does, independent of argparse."""

    policy: Policy = field(default_factory=Policy)
    strict: bool = False
    show_mutations: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `netweave lint` command line."""
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="YAML/JSON files or directories (recursive: *.yaml, *.yml, *.json); - reads stdin")
    parser.add_argument("--format", choices=FORMATS, action="append", default=None,
                        help="output format (default: text); repeat it, with --output, to write several at once")
    parser.add_argument("--output", action="append", default=[], metavar="FILE",
                        help="file for the --format at the same position (default, and -: stdout)")
    parser.add_argument("--fail-level", choices=("error", "warning"), default="error",
                        help="exit 1 when a finding is at least this severe (default: error)")
    parser.add_argument("--config", type=Path, default=None,
                        help=f"policy file (default: ./{DEFAULT_FILE} when present)")
    parser.add_argument("--strict", action="store_true",
                        help="a reference to a NAD that no input defines is an error, not a warning")
    parser.add_argument("--nads", action="append", default=[], metavar="DIR",
                        help="more NetworkAttachmentDefinitions for the catalog (repeatable; - reads stdin)")
    parser.add_argument("--cluster", action="store_true",
                        help="add the NADs of the kubeconfig's cluster to the catalog; a NAD missing there is an "
                             "error (as --strict)")
    parser.add_argument("--kubeconfig", default=None,
                        help="with --cluster: kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=None, help="with --cluster: kubeconfig context (default: current)")
    parser.add_argument("--show-mutations", action="store_true",
                        help="print what admission would change, as JSONPatch")


def run(args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
        stderr: TextIO | None = None) -> int:
    """Run `netweave lint` with parsed arguments; returns the exit code."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    policy = command_policy("netweave lint", args, err)
    if policy is None:
        return EXIT_USAGE
    pairs = output_pairs(args.format, args.output)
    if isinstance(pairs, str):
        err.write(f"netweave lint: {pairs}\n")
        return EXIT_USAGE
    sources = read_paths(args.paths, stdin=stdin or sys.stdin)
    extra = read_paths(args.nads, stdin=stdin or sys.stdin)
    cluster = cluster_nads(args.kubeconfig, args.context) if args.cluster else []
    if isinstance(cluster, str):
        err.write(f"netweave lint: --cluster: {cluster}\n")
        return EXIT_USAGE
    options = Options(policy=policy, strict=args.strict or args.cluster, show_mutations=args.show_mutations)
    report = lint(sources, options=options, catalog_objects=[*cluster, *(o.obj for o in extra.objects)])
    report = replace(report, input_errors=report.input_errors + extra.errors)
    for error in report.input_errors:
        err.write(error.text() + "\n")
    code = exit_code(report, fail_level=args.fail_level)
    for fmt, target in pairs:
        text = render(report, fmt, fail_level=args.fail_level, rules=rule_infos())
        if target != STDIN:
            try:
                Path(target).write_text(text, encoding="utf-8")
            except OSError as exc:
                err.write(f"netweave lint: --output {target}: {exc.strerror or exc}\n")
                code = EXIT_USAGE
            continue
        try:
            out.write(text)
            out.flush()
        except BrokenPipeError:  # `netweave lint ... | head`: the reader left; keep Python's exit flush quiet
            if out is sys.stdout:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def output_pairs(formats: Sequence[Format] | None, outputs: Sequence[str]) -> list[tuple[Format, str]] | str:
    """(format, file or -) per --format, paired with --output by position; or why they do not pair."""
    chosen: list[Format] = list(formats or ["text"])
    if len(outputs) > len(chosen):
        return (f"{len(outputs)} --output for {len(chosen)} --format: each --output is the file of the --format at "
                "the same position")
    pairs = [(fmt, outputs[i] if i < len(outputs) else STDIN) for i, fmt in enumerate(chosen)]
    on_stdout = [fmt for fmt, target in pairs if target == STDIN]
    if len(on_stdout) > 1:
        return (f"{' and '.join(on_stdout)} would both go to stdout; give all but one of them an --output FILE "
                "(pairs by position: --format text --format sarif --output - --output netweave.sarif)")
    return pairs


def cluster_nads(kubeconfig: str | None, context: str | None) -> list[Mapping[str, Any]] | str:
    """Every NAD of the kubeconfig's cluster, or why they cannot be read."""
    try:
        return connect(kubeconfig, context, None, os.environ).nads()
    except ClusterError as exc:
        return str(exc)


def rule_infos() -> tuple[RuleInfo, ...]:
    """The engine's rule registry, and the prechecks that run before it, as SARIF metadata."""
    return (*(RuleInfo(rule.id, rule.severity, rule.summary) for rule in RULES),
            *(RuleInfo(rule_id, "error", summary) for rule_id, summary in PRECHECK_RULES))


def load_policy(config: Path | None) -> Policy:
    """--config, else ./.netweave.yaml when it exists, else the defaults; raises PolicyError."""
    if config is not None:
        return Policy.load(config)
    default = Path(DEFAULT_FILE)
    return Policy.load(default) if default.is_file() else Policy()


def command_policy(prog: str, args: argparse.Namespace, err: TextIO) -> Policy | None:
    """What every manifest-reading command (lint, plan) checks first: the policy loads, stdin is read once.

    None after writing the one-line reason to `err` (the caller exits with EXIT_USAGE)."""
    try:
        policy = load_policy(args.config)
    except PolicyError as exc:
        err.write(f"{prog}: {exc}\n")
        return None
    if STDIN in args.paths and STDIN in args.nads:
        err.write(f"{prog}: stdin can be read once: give - as a PATH or to --nads, not both\n")
        return None
    return policy


def exit_code(report: Report, *, fail_level: Severity) -> int:
    if report.input_errors:
        return EXIT_USAGE
    return EXIT_FINDINGS if any(fails(e, fail_level) for e in report.findings) else EXIT_CLEAN


def lint(sources: Sources, *, options: Options | None = None,
         catalog_objects: Iterable[Mapping[str, Any]] = ()) -> Report:
    """Check every object read: NADs with evaluate_nad, pods and pod templates with evaluate_pod."""
    options = options or Options()
    catalog = MemoryCatalog.from_objects([*(o.obj for o in sources.objects), *catalog_objects])
    pods = InputClaims()  # cluster-wide rules: the pods and templates checked before each one
    objects: list[ObjectRef] = []
    entries: list[Entry] = []
    suppressed: list[Entry] = []
    mutations: list[MutationEntry] = []
    errors: list[SourceError] = list(sources.errors)
    with without_cyclic_gc():  # the sources' node trees stay alive; see without_cyclic_gc
        for source in sources.objects:
            try:
                checked = _check_object(source, catalog=catalog, options=options, pods=pods)
            except Exception as exc:  # a rule-engine bug must not hide the other objects' results
                errors.append(SourceError(source.file, source.line, 0,
                                          f"internal error while checking {source.kind} {source.name}: {exc!r}"))
                continue
            for ref, found, patch in checked:
                objects.append(ref)
                entries.extend(e for e in found if not e.justification)
                suppressed.extend(e for e in found if e.justification)
                if patch is not None:
                    mutations.append(patch)
    return Report(files=sources.files, objects=tuple(objects), findings=tuple(entries),
                  mutations=tuple(mutations) if options.show_mutations else None, input_errors=tuple(errors),
                  suppressed=tuple(suppressed))


_Checked = tuple[ObjectRef, list[Entry], MutationEntry | None]


def _check_object(source: SourceObject, *, catalog: NadCatalog, options: Options,
                  pods: PodLookup) -> list[_Checked]:
    if source.kind == NAD_KIND:
        ref = ObjectRef(source.file, source.line, source.kind, source.namespace or "default", source.name)
        unfit = precheck(source.obj)
        if unfit is not None:  # malformed or oversized: the API server would refuse it
            return [(ref, _entries(source, ref, (unfit,)), None)]
        verdict = evaluate_nad(source.obj, policy=options.policy, catalog=catalog)
        return [(ref, _entries(source, ref, verdict.findings) + _suppressed(source, ref, verdict), None)]
    return [_check_target(source, target, catalog=catalog, options=options, pods=pods)
            for target in pod_targets(source.obj)]


def _target_key(source: SourceObject, target: PodTarget) -> str:
    """How cluster-wide findings name a pod or workload of the inputs ("Deployment ns/web")."""
    return pod_key({"metadata": {"name": target.name or source.name}}, target.namespace, kind=target.kind)


def _check_target(source: SourceObject, target: PodTarget, *, catalog: NadCatalog, options: Options,
                  pods: PodLookup) -> _Checked:
    ref = ObjectRef(source.file, source.line, target.kind, target.namespace or "default",
                    target.name or source.name)
    unfit = precheck(target.pod, path_prefix=target.path_prefix)
    if unfit is not None:  # malformed or oversized: the API server would refuse it; the rules would be unbounded
        return ref, _entries(source, ref, (unfit,)), None
    verdict = evaluate_pod(target.pod, catalog=catalog, policy=options.policy, namespace=target.namespace,
                           path_prefix=target.path_prefix, canonical=options.show_mutations, pods=pods,
                           key=_target_key(source, target))
    findings = verdict.findings if options.strict else _downgrade_missing(verdict.findings, catalog)
    entries = _entries(source, ref, findings) + _suppressed(source, ref, verdict)
    patch: MutationEntry | None = None
    if options.show_mutations and verdict.mutations and not any(e.severity == "error" for e in entries):
        ops = prefix_patch(make_patch(target.pod, verdict.mutations), target.path_prefix)
        patch = MutationEntry(ref.file, ref.line, ref.kind, ref.namespace, ref.name, tuple(ops))
    return ref, entries, patch


def _entries(source: SourceObject, ref: ObjectRef, findings: Sequence[Finding]) -> list[Entry]:
    if not findings:
        return []
    lines = source.lines_of([f.path for f in findings])
    return [
        Entry(ref.file, line, ref.kind, ref.namespace, ref.name, f.rule, f.severity, f.path, f.message, f.hint)
        for f, line in zip(findings, lines, strict=True)
    ]


def _suppressed(source: SourceObject, ref: ObjectRef, verdict: Verdict) -> list[Entry]:
    """Findings the object's ignore-check annotations suppressed, carrying the reason (SARIF suppressions)."""
    found = _entries(source, ref, [s.finding for s in verdict.suppressed])
    return [replace(e, justification=s.reason) for e, s in zip(found, verdict.suppressed, strict=True)]


def _downgrade_missing(findings: Sequence[Finding], catalog: NadCatalog) -> tuple[Finding, ...]:
    """A reference to a NAD that the catalog has in no namespace is a warning (lint cannot see the cluster)."""
    return tuple(
        replace(f, severity="warning")
        if f.severity == "error" and f.unresolved and not catalog.namespaces_of(f.unresolved.rpartition("/")[2])
        else f
        for f in findings
    )


def prefix_patch(ops: Sequence[Mapping[str, Any]], path_prefix: str) -> list[dict[str, Any]]:
    """Re-root a pod's JSONPatch at its template inside a workload ("spec.template." -> "/spec/template")."""
    pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path_prefix.split(".") if part)
    if not pointer:
        return [dict(op) for op in ops]
    return [
        {key: (pointer + value if key in ("path", "from") and isinstance(value, str) else value)
         for key, value in op.items()}
        for op in ops
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m webhook.lint`: the same as `netweave lint`."""
    parser = argparse.ArgumentParser(prog="netweave lint")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Format", "Options", "add_arguments", "exit_code", "lint", "load_policy", "run"]
