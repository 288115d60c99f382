"""The admission HTTP app: POST /mutate and /validate, GET /healthz, /readyz and /metrics.

Handlers read the raw body themselves, so a malformed or oversized request gets our 400 with a JSON error
(never FastAPI's 422 or a 500), and run the pure `admission.admit` on one catalog snapshot per request.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from webhook.admission import Admission, admit
from webhook.catalog import MemoryCatalog, NadCatalog
from webhook.metrics import CatalogState, Metrics
from webhook.policy import Policy
from webhook.review import Decision, Review, ReviewError, build_response, decode_review, error_body
from webhook.settings import MAX_BODY_BYTES

logger = logging.getLogger(__name__)

Endpoint = Literal["mutate", "validate"]
JSON = "application/json"


class CatalogSource(Protocol):
    """Where the app takes its NAD catalog from: a snapshot per request, plus readiness."""

    def snapshot(self) -> NadCatalog: ...

    def state(self) -> CatalogState: ...

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


def create_app(*, catalog: CatalogSource, policy: Policy, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app; starts the catalog source on startup and stops it on shutdown."""
    metrics = Metrics(catalog.state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        catalog.start()
        # Everything built so far lives as long as the process: keep it out of the collector's scans, which
        # otherwise show up as multi-millisecond pauses in the admission latency tail.
        gc.freeze()
        try:
            yield
        finally:
            catalog.stop()

    # Our own Prometheus metrics; no OpenTelemetry work on the hot path even if a global provider is set.
    app = FastAPI(title="netweave admission", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.metrics = metrics
    handler = _Handler(catalog=catalog, policy=policy, metrics=metrics, max_body_bytes=max_body_bytes)

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


class _Handler:
    def __init__(self, *, catalog: CatalogSource, policy: Policy, metrics: Metrics, max_body_bytes: int) -> None:
        self._catalog = catalog
        self._policy = policy
        self._metrics = metrics
        self._max = max_body_bytes

    async def review(self, request: Request, endpoint: Endpoint) -> Response:
        started = time.perf_counter()
        try:
            review = decode_review(await self._body(request))
        except ReviewError as err:
            self._metrics.requests.labels(endpoint, "", "", "invalid").inc()
            logger.warning("rejected a malformed admission request: %s", err.message,
                           extra={"endpoint": endpoint, "uid": err.uid, "client": _client(request)})
            return _json(400, error_body(err.message, err.uid))
        except ClientDisconnect:
            return Response(status_code=400)
        result = self._admit(review, endpoint)
        response = _json(200, build_response(review.uid, result.decision))
        try:
            self._observe(review, endpoint, result, time.perf_counter() - started)
        except Exception:  # metrics and logs must never change the answer
            logger.exception("could not record an admission", extra={"uid": review.uid})
        return response

    def _admit(self, review: Review, endpoint: Endpoint) -> Admission:
        try:
            return admit(review, catalog=self._catalog.snapshot(), policy=self._policy,
                         mutate=endpoint == "mutate")
        except Exception:
            # A bug of ours must not pass a pod unchecked: deny, as failurePolicy: Fail would.
            logger.exception("admission failed", extra=_review_fields(review))
            message = "netweave could not check this object (internal error; see the webhook's log)"
            return Admission(Decision(allowed=False, errors=(message,)), checked=False)

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            raise ReviewError(f"request body of {int(declared)} bytes exceeds the {self._max}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max:
                raise ReviewError(f"request body exceeds the {self._max}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _observe(self, review: Review, endpoint: Endpoint, result: Admission, seconds: float) -> None:
        decision = result.decision
        self._metrics.requests.labels(endpoint, review.operation, review.kind.kind, _outcome(result)).inc()
        self._metrics.latency.labels(endpoint).observe(seconds)
        for finding in result.findings:
            self._metrics.findings.labels(finding.rule, finding.severity).inc()
        if not decision.allowed:
            logger.info("denied %s", _object_name(review),
                        extra={**_review_fields(review), "endpoint": endpoint, "errors": list(decision.errors)})
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("allowed %s", _object_name(review),
                         extra={**_review_fields(review), "endpoint": endpoint, "warnings": list(decision.warnings),
                                "patch_ops": len(decision.patch), "ms": round(seconds * 1000, 3)})


def _outcome(result: Admission) -> str:
    if not result.decision.allowed:
        return "denied" if result.checked else "error"  # unchecked and denied: our own failure
    return "patched" if result.decision.patch else "allowed"


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type=JSON)


def _review_fields(review: Review) -> dict[str, Any]:
    return {"uid": review.uid, "kind": review.kind.kind, "operation": review.operation,
            "namespace": review.namespace, "object_name": review.name, "dry_run": review.dry_run}


def _object_name(review: Review) -> str:
    name = review.name or "(generated name)"
    where = f"{review.namespace}/" if review.namespace else ""
    return f"{review.kind.kind} {where}{name}"


def _client(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None
