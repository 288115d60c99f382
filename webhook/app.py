"""The admission HTTP app: POST /mutate and /validate, GET /healthz, /readyz and /metrics.

Handlers read the raw body themselves, so a malformed request gets our 400 and an oversized one our 413, each
with a JSON error (never FastAPI's 422 or a 500), and run the pure `admission.admit` on one catalog snapshot per
request, in a bounded thread pool off the event loop.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol

import anyio
import anyio.to_thread
from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from webhook.admission import Admission, admit
from webhook.catalog import MemoryCatalog, NadCatalog
from webhook.metrics import CatalogState, Metrics
from webhook.podindex import NO_PODS, PodLookup
from webhook.policy import Policy
from webhook.printable import clipped, printable
from webhook.review import (
    Decision,
    Review,
    ReviewError,
    bounded_warnings,
    build_response,
    decode_review,
    denial_message,
    error_body,
)
from webhook.settings import MAX_BODY_BYTES

logger = logging.getLogger(__name__)

Endpoint = Literal["mutate", "validate"]
JSON = "application/json"
INTERNAL_ERROR = "netweave could not check this object (internal error; see the webhook's log)"
# Admission is CPU work under the GIL: more threads would not run it faster, only queue more of it in memory.
ADMISSION_THREADS = 4


class CatalogSource(Protocol):
    """Where the app takes its NAD catalog from: a snapshot per request, plus readiness."""

    def snapshot(self) -> NadCatalog: ...

    def state(self) -> CatalogState: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class PodFeed(Protocol):
    """Where the app takes the other pods from (the cluster-wide rules): an index kept by a background watch."""

    @property
    def index(self) -> PodLookup: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class StaticCatalog:
    """A catalog that never changes (NAD manifests read at start); ready at once."""

    def __init__(self, catalog: MemoryCatalog, *, clock: Callable[[], float] = time.time) -> None:
        self._catalog = catalog
        self._loaded = clock()

    def snapshot(self) -> NadCatalog:
        return self._catalog

    def state(self) -> CatalogState:
        return CatalogState(size=len(self._catalog), synced=True, last_sync=self._loaded)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def create_app(*, catalog: CatalogSource, policy: Policy, max_body_bytes: int = MAX_BODY_BYTES,
               pods: PodFeed | None = None) -> FastAPI:
    """The FastAPI app; starts the catalog source (and the pod feed) on startup and stops them on shutdown."""
    metrics = Metrics(catalog.state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        catalog.start()
        if pods is not None:
            pods.start()
        # Everything built so far lives as long as the process: keep it out of the collector's scans, which
        # otherwise show up as multi-millisecond pauses in the admission latency tail.
        gc.freeze()
        try:
            yield
        finally:
            if pods is not None:
                pods.stop()
            catalog.stop()

    # Our own Prometheus metrics; no OpenTelemetry work on the hot path even if a global provider is set.
    app = FastAPI(title="netweave admission", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.metrics = metrics
    handler = _Handler(catalog=catalog, policy=policy, metrics=metrics, max_body_bytes=max_body_bytes,
                       pods=pods.index if pods is not None else NO_PODS)

    async def mutate(request: Request) -> Response:
        return await handler.review(request, "mutate")

    async def validate(request: Request) -> Response:
        return await handler.review(request, "validate")

    async def healthz(_: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(_: Request) -> Response:
        state = catalog.state()
        if state.synced:
            return _json(200, {"status": "ready", "nads": state.size})
        return _json(503, {"status": "not ready", "reason": "the NAD catalog has not been synced yet"})

    async def metrics_endpoint(_: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    # Plain routes (no FastAPI parameter parsing): the handlers own decoding and error answers.
    app.router.add_route("/mutate", mutate, methods=["POST"], include_in_schema=False)
    app.router.add_route("/validate", validate, methods=["POST"], include_in_schema=False)
    app.router.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.router.add_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.router.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    return app


class _BodyTooLarge(Exception):
    """The request body is over the limit (413)."""


class _Handler:
    """Reads the body on the event loop; decodes, decides and encodes in a small thread pool, so that one large or
    slow review never holds up /healthz or the other admissions (the loop only moves bytes)."""

    def __init__(self, *, catalog: CatalogSource, policy: Policy, metrics: Metrics, max_body_bytes: int,
                 pods: PodLookup = NO_PODS) -> None:
        self._catalog = catalog
        self._pods = pods
        self._policy = policy
        self._metrics = metrics
        self._max = max_body_bytes
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use: it belongs to the running loop

    async def review(self, request: Request, endpoint: Endpoint) -> Response:
        started = time.perf_counter()
        try:
            body = await self._body(request)
        except _BodyTooLarge as err:
            self._metrics.count_request(endpoint=endpoint, operation="", kind="", outcome="invalid")
            logger.warning("rejected an oversized admission request: %s", err,
                           extra={"endpoint": endpoint, "client": _client(request)})
            return _json(413, error_body(str(err), None))
        except ClientDisconnect:
            return Response(status_code=400)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(ADMISSION_THREADS)
        status, payload = await anyio.to_thread.run_sync(self.answer, body, endpoint, started, _client(request),
                                                         limiter=self._limiter)
        return Response(payload, status_code=status, media_type=JSON)

    def answer(self, body: bytes, endpoint: Endpoint, started: float, client: str | None) -> tuple[int, bytes]:
        """Status and JSON body for one request body (runs in a worker thread)."""
        try:
            review = decode_review(body)
        except ReviewError as err:
            self._metrics.count_request(endpoint=endpoint, operation="", kind="", outcome="invalid")
            logger.warning("rejected a malformed admission request: %s", err.message,
                           extra={"endpoint": endpoint, "uid": err.uid, "client": client})
            return 400, _dumps(error_body(err.message, err.uid))
        result = self._admit(review, endpoint)
        try:
            payload = _dumps(build_response(review.uid, result.decision))
        except (TypeError, ValueError):  # a patch value JSON cannot carry: a bug of ours, never a 500
            logger.exception("could not encode the answer", extra=_review_fields(review))
            result = Admission(Decision(allowed=False, errors=(INTERNAL_ERROR,)), checked=False)
            payload = _dumps(build_response(review.uid, result.decision))
        try:
            self._observe(review, endpoint, result, time.perf_counter() - started)
        except Exception:  # metrics and logs must never change the answer
            logger.exception("could not record an admission", extra={"uid": review.uid})
        return 200, payload

    def _admit(self, review: Review, endpoint: Endpoint) -> Admission:
        try:
            return admit(review, catalog=self._catalog.snapshot(), policy=self._policy,
                         mutate=endpoint == "mutate", pods=self._pods)
        except Exception:
            # A bug of ours must not pass a pod unchecked: deny, as failurePolicy: Fail would.
            logger.exception("admission failed", extra=_review_fields(review))
            return Admission(Decision(allowed=False, errors=(INTERNAL_ERROR,)), checked=False)

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            raise _BodyTooLarge(f"request body of {int(declared)} bytes exceeds the {self._max}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max:
                raise _BodyTooLarge(f"request body exceeds the {self._max}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _observe(self, review: Review, endpoint: Endpoint, result: Admission, seconds: float) -> None:
        decision = result.decision
        self._metrics.count_request(endpoint=endpoint, operation=review.operation, kind=review.kind.kind,
                                    outcome=_outcome(result))
        self._metrics.observe_latency(endpoint=endpoint, seconds=seconds)
        for finding in result.findings:
            self._metrics.count_finding(rule=finding.rule, severity=finding.severity)
        if not decision.allowed:
            logger.info("denied %s", _object_name(review),
                        extra={**_review_fields(review), "endpoint": endpoint,
                               "errors": denial_message(decision.errors).split("\n")})
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("allowed %s", _object_name(review),
                         extra={**_review_fields(review), "endpoint": endpoint,
                                "warnings": bounded_warnings(decision.warnings),
                                "patch_ops": len(decision.patch), "ms": round(seconds * 1000, 3)})


def _outcome(result: Admission) -> str:
    if not result.decision.allowed:
        return "denied" if result.checked else "error"  # unchecked and denied: our own failure
    return "patched" if result.decision.patch else "allowed"


def _json(status: int, body: Any) -> Response:
    return Response(_dumps(body), status_code=status, media_type=JSON)


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _review_fields(review: Review) -> dict[str, Any]:
    # Request-chosen strings go to the log escaped and short: a log line is read by people and terminals too.
    return {"uid": _shown(review.uid), "kind": _shown(review.kind.kind), "operation": review.operation,
            "namespace": _shown(review.namespace or ""), "object_name": _shown(review.name),
            "dry_run": review.dry_run}


def _object_name(review: Review) -> str:
    name = review.name or "(generated name)"
    where = f"{review.namespace}/" if review.namespace else ""
    return _shown(f"{review.kind.kind} {where}{name}")


def _shown(text: str) -> str:
    return printable(clipped(text, 256))


def _client(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None
