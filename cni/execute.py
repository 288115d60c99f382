"""execute(environ, stdin, context) -> Outcome: the one in-process entry of standalone mode and the daemon."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from cni import attach, errors
from cni.context import Context
from cni.errors import CniError
from cni.request import LATEST_VERSION, SUPPORTED_VERSIONS, Request, parse_cni_args, pod_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the plugin process prints and its exit status."""

    stdout: bytes
    exit_code: int


def execute(environ: Mapping[str, str], stdin: bytes, *, context: Context) -> Outcome:
    """Run one CNI operation; never raises (errors become the spec's error JSON and exit code 1)."""
    version = _version_hint(stdin)
    try:
        req = Request.from_env(environ, stdin, defaults=context.config_defaults())
        return _dispatch(context, req)
    except CniError as e:
        return _failed(environ, e, version, bug=e.bug())
    except Exception as e:  # the one place anything unexpected becomes code 999: a CNI call always gets an answer
        return _failed(environ, errors.unexpected(e), version, bug=e)


def _dispatch(ctx: Context, req: Request) -> Outcome:
    if req.command == "VERSION":
        body = {"cniVersion": req.cni_version if req.cni_version in SUPPORTED_VERSIONS else LATEST_VERSION,
                "supportedVersions": list(SUPPORTED_VERSIONS)}
        return Outcome(json.dumps(body).encode(), 0)
    started = ctx.clock()
    if req.command == "ADD":
        result = attach.add(ctx, req)
        out = json.dumps(result).encode()
    else:
        {"DEL": attach.delete, "CHECK": attach.check, "STATUS": attach.status, "GC": attach.gc}[req.command](
            ctx, req)
        out = b""
    logger.info("%s done", req.command, extra={
        "container_id": req.container_id, "ifname": req.ifname, "pod": str(req.pod) if req.pod else None,
        "total_ms": round((ctx.clock() - started) * 1000, 3)})
    return Outcome(out, 0)


def _version_hint(stdin: bytes) -> str:
    """The request's cniVersion for error replies, even when the rest of stdin is unusable."""
    try:
        version = json.loads(stdin).get("cniVersion")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return LATEST_VERSION
    return version if isinstance(version, str) and version in SUPPORTED_VERSIONS else LATEST_VERSION


def _failed(environ: Mapping[str, str], e: CniError, version: str, *, bug: BaseException | None) -> Outcome:
    """The one error record of a failed operation, then the spec's error reply. Lower layers attach where it failed
    (e.at) instead of logging it; a bug (code 999) brings its traceback."""
    logger.error("%s failed: %s", environ.get("CNI_COMMAND", "?"), e, extra=_failure_fields(environ, e),
                 exc_info=bug)
    return Outcome(e.to_bytes(version), 1)


def _failure_fields(environ: Mapping[str, str], e: CniError) -> dict[str, object]:
    """The failed operation's log fields, from the runtime's environment (read with request.py's own parsers)."""
    try:
        pod = pod_of(parse_cni_args(environ.get("CNI_ARGS", "")))
    except CniError:   # the failure being logged may be that very CNI_ARGS
        pod = None
    return errors.failure_fields(e, command=environ.get("CNI_COMMAND"), container_id=environ.get("CNI_CONTAINERID"),
                                 ifname=environ.get("CNI_IFNAME"), pod=str(pod) if pod else None)
