"""`netweave certs`: generate, renew and bundle the webhook's TLS material.

Exit codes: 0 done, 2 a usage or file error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from certs.authority import CA_DAYS, KEY_TYPES, encode_cert, is_authority
from certs.bundle import ca_bundle, patch_ca_bundle
from certs.rotation import (
    CERT_MODE,
    RENEWAL_MARGIN,
    CertificateFileError,
    CertPaths,
    Ensured,
    ensure_certificates,
    load_certificates,
)
from certs.serving import SERVING_DAYS, label_problem
from cni.atomicfile import write_atomic

EXIT_OK = 0
EXIT_USAGE = 2
STDIN = "-"
# A century: far beyond any sane validity, far below what datetime arithmetic can hold.
MAX_DAYS = 36500


class UsageError(Exception):
    """An argument value argparse could not check; the message is shown as is."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the generate, bundle and renew sub-commands on ``parser``."""
    commands = parser.add_subparsers(dest="certs_command", metavar="COMMAND", required=True)
    generate = commands.add_parser(
        "generate",
        help="create a CA and a serving certificate for a Service (kept when still valid)",
        description="Write ca.crt, ca.key, tls.crt and tls.key into --out; existing valid files are kept.",
    )
    generate.add_argument("--service", required=True, help="Service name the API server dials")
    generate.add_argument("--namespace", required=True, help="namespace of that Service")
    generate.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for the PEM files")
    generate.add_argument(
        "--key-type", choices=KEY_TYPES, default=None, help="ecdsa (P-256, default) or rsa (2048 bits)"
    )
    generate.add_argument(
        "--days", type=int, default=SERVING_DAYS, help=f"serving certificate validity (default {SERVING_DAYS})"
    )
    generate.add_argument("--ca-days", type=int, default=CA_DAYS, help=f"CA validity (default {CA_DAYS})")
    generate.add_argument("--force", action="store_true", help="replace the CA and serving cert even if valid")

    bundle = commands.add_parser(
        "bundle",
        help="print the caBundle, or patch it into webhook configurations",
        description="Without --patch print base64(CA PEM); with --patch write the YAML with every webhook's "
        "clientConfig.caBundle set ('-' reads standard input).",
    )
    bundle.add_argument("--ca", required=True, type=Path, metavar="FILE", help="CA certificate (ca.crt)")
    bundle.add_argument("--patch", metavar="FILE.yaml", help="webhook configuration YAML to patch, or '-'")
    bundle.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output")

    renew = commands.add_parser(
        "renew",
        help="renew the serving certificate (and the CA) when close to expiry",
        description="Reissue what expires within --margin-days, keeping names and key type; reuses the CA.",
    )
    renew.add_argument("--dir", required=True, type=Path, metavar="DIR", help="directory written by generate")
    renew.add_argument(
        "--margin-days",
        type=int,
        default=RENEWAL_MARGIN.days,
        help=f"renew when expiring within this many days (default {RENEWAL_MARGIN.days})",
    )
    renew.add_argument("--days", type=int, default=SERVING_DAYS, help="validity of a renewed serving cert")


def run(args: argparse.Namespace) -> int:
    """Run the chosen sub-command; 0 on success, 2 with a message on stderr otherwise."""
    command = getattr(args, "certs_command", None)
    handler = _HANDLERS.get(command) if isinstance(command, str) else None
    if handler is None:
        return _fail(f"unknown command {command!r}; choose one of {', '.join(sorted(_HANDLERS))}")
    try:
        return handler(args, datetime.now(UTC))
    except (UsageError, CertificateFileError) as error:
        return _fail(f"{command}: {error}")
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{command}: {where}{error.strerror or error}")


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser (``python -m certs.cli``) equal to the `netweave certs` sub-command."""
    parser = argparse.ArgumentParser(prog="netweave certs", description=__doc__)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run."""
    return run(build_parser().parse_args(argv))


def _generate(args: argparse.Namespace, now: datetime) -> int:
    for problem in (label_problem("--service", args.service), label_problem("--namespace", args.namespace)):
        if problem:
            raise UsageError(problem)
    _require_days("--days", args.days)
    _require_days("--ca-days", args.ca_days)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    had_ca = CertPaths.of(args.out).ca_cert.exists()
    ensured = ensure_certificates(
        args.out,
        now=now,
        service=args.service,
        namespace=args.namespace,
        key_type=args.key_type,
        ca_days=args.ca_days,
        serving_days=args.days,
        force=args.force,
    )
    _report(ensured, had_ca=had_ca)
    return EXIT_OK


def _renew(args: argparse.Namespace, now: datetime) -> int:
    _require_days("--days", args.days)
    _require_days("--margin-days", args.margin_days, minimum=0)
    if not args.dir.is_dir():
        raise UsageError(f"--dir {args.dir}: no such directory; create it with `netweave certs generate`")
    had_ca = CertPaths.of(args.dir).ca_cert.exists()
    ensured = ensure_certificates(
        args.dir, now=now, margin=timedelta(days=args.margin_days), serving_days=args.days
    )
    _report(ensured, had_ca=had_ca)
    return EXIT_OK


def _bundle(args: argparse.Namespace, now: datetime) -> int:
    authorities = load_certificates(args.ca)
    for cert in authorities:
        if not is_authority(cert):
            raise UsageError(f"--ca {args.ca}: {cert.subject.rfc4514_string()} is not a CA certificate (use ca.crt)")
    bundle = ca_bundle(b"".join(encode_cert(cert) for cert in authorities))
    if args.patch is None:
        _emit(args.out, bundle + "\n")
        return EXIT_OK
    try:
        text = sys.stdin.read() if args.patch == STDIN else Path(args.patch).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"--patch {args.patch}: not UTF-8 text ({error.reason})") from error
    patch = patch_ca_bundle(text, bundle)
    if not patch.ok:
        raise UsageError(f"--patch {args.patch}: " + "; ".join(patch.problems))
    _emit(args.out, patch.text)
    for name in patch.patched:
        sys.stderr.write(f"patched caBundle: {name}\n")
    return EXIT_OK


_HANDLERS: dict[str, Callable[[argparse.Namespace, datetime], int]] = {
    "generate": _generate,
    "bundle": _bundle,
    "renew": _renew,
}


def _report(ensured: Ensured, *, had_ca: bool) -> None:
    directory = ensured.paths.directory
    for action in ensured.actions or ("certificates are current; nothing to do",):
        sys.stdout.write(f"{directory}: {action}\n")
    serving = ensured.serving.cert
    sys.stdout.write(f"{directory}: serving certificate valid until {serving.not_valid_after_utc:%Y-%m-%d}\n")
    if ensured.ca_changed and had_ca:
        # A new CA breaks every caBundle that trusted the old one until it is patched again.
        sys.stderr.write(
            f"warning: the CA changed; patch the webhook configurations again: "
            f"netweave certs bundle --ca {ensured.paths.ca_cert} --patch FILE.yaml\n"
        )


def _emit(out: Path | None, text: str) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomic(out, text.encode("utf-8"), mode=CERT_MODE, parents=False)


def _require_days(flag: str, value: int, *, minimum: int = 1) -> None:
    if not minimum <= value <= MAX_DAYS:
        raise UsageError(f"{flag} must be between {minimum} and {MAX_DAYS}, not {value}")


def _fail(message: str) -> int:
    sys.stderr.write(f"netweave certs {message}\n")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
