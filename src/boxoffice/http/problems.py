"""The one place errors become RFC 9457 problem responses.

Domain errors carry their own status and code. Storage that cannot be reached or does
not answer in time — the database (``boxoffice.storage.errors`` says which errors
those are) or Redis (redis-py's ``ConnectionError``/``TimeoutError``) — is 503 ``busy``
with ``Retry-After``. A value the database refused is the client's (422), a broken
constraint is a bug (500), and neither is "busy", so a client never retries them
forever. Anything unexpected is a 500 problem that keeps the connection usable.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxoffice.errors import (
    PROBLEM_TYPE_BASE,
    Busy,
    DomainError,
    MethodNotAllowed,
    NotFound,
    Problem,
    ValidationFailed,
)
from boxoffice.http.routing import allowed_methods
from boxoffice.storage.errors import (
    BadValue,
    StorageError,
    Transient,
    Unreachable,
    classify,
)

log = logging.getLogger("boxoffice")

# Redis answers these while it cannot serve for now (loading, a long script, a failover).
# redis-py makes most of them classes of their own and drops the word from the
# message, so the class is the test; LOADING's is a ConnectionError, and BUSY (a long
# script) stays a plain ResponseError.
_TRANSIENT_REDIS_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    TryAgainError,
)


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem document; ``extensions`` are further members (RFC 9457, section 3.2)."""
    body = Problem(
        type=PROBLEM_TYPE_BASE + code.replace("_", "-"),
        title=title,
        status=status,
        detail=detail,
        code=code,
    )
    return JSONResponse(
        {**body.model_dump(), **(extensions or {})},
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def error_response(
    error: DomainError,
    *,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    return problem_response(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers={**(error.response_headers() or {}), **(headers or {})} or None,
        extensions=extensions or error.extensions(),
    )


def internal_error() -> JSONResponse:
    return problem_response(
        status=500, code="internal_error", title="Internal error", detail="unexpected error"
    )


def _describe_validation(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def is_transient_redis_error(error: RedisError) -> bool:
    if isinstance(error, _TRANSIENT_REDIS_ERRORS):
        return True
    return isinstance(error, ResponseError) and str(error).startswith("BUSY")


def storage_busy(detail: str) -> JSONResponse:
    return error_response(Busy(detail))


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    if exc.reason is not None:
        ctx = request.app.state.ctx
        ctx.metrics.refused.labels(exc.reason).inc()
        ctx.refusals.count(exc.reason)
    return error_response(exc)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(ValidationFailed(_describe_validation(list(exc.errors()))))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404:
        return error_response(NotFound("no such resource"))
    if exc.status_code == 405:
        # The router names the methods of the first route whose path matched; a path
        # served by several routes (one per method) accepts the methods of them all.
        allowed = allowed_methods(request.app.router.routes, request.scope)
        return error_response(
            MethodNotAllowed("this resource does not accept that method", allowed=allowed)
        )
    if exc.status_code == 400:
        # FastAPI's answer to a body it could not parse at all (not UTF-8, nested too
        # deep, an integer too long to convert): bad input, like any other.
        return error_response(ValidationFailed("body: the request body is not valid JSON"))
    return problem_response(
        status=exc.status_code,
        code="http_error",
        title="HTTP error",
        detail=str(exc.detail),
        headers=headers,
    )


async def _on_storage_error(_request: Request, exc: Exception) -> JSONResponse:
    error = classify(exc)
    if isinstance(error, Unreachable | Transient):
        log.warning("storage unreachable, answered as busy: %r", exc)
        return storage_busy("storage did not answer in time; retry shortly")
    if isinstance(error, BadValue):
        return error_response(ValidationFailed("a value is not one storage can keep"))
    log.error("the database refused a statement", exc_info=exc)
    return internal_error()


async def _on_redis_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RedisError)
    if not is_transient_redis_error(exc):
        log.error("the waiting-room store refused a step", exc_info=exc)
        return internal_error()
    log.warning("waiting-room store error answered as busy: %r", exc)
    return storage_busy("the waiting room did not answer in time; retry shortly")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(StorageError, _on_storage_error)
    # Errors straight from a driver, should one escape a repository unclassified.
    for raw in (DBAPIError, PoolTimeout, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(raw, _on_storage_error)
    # A socket that cannot connect, or a wait that timed out (TimeoutError is an OSError).
    app.add_exception_handler(OSError, _on_storage_error)
    app.add_exception_handler(RedisError, _on_redis_error)
    app.add_middleware(UnexpectedErrors)


class UnexpectedErrors:
    """Answer an unexpected exception with a 500 problem and keep the connection.

    Starlette's outermost error middleware re-raises after answering, and the server
    then drops the keep-alive connection, so the client's next request on it fails.
    Caught here, below that, the 500 is an answer like any other."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("unexpected error", exc_info=exc)
            if started:
                raise
            await internal_error()(scope, receive, send)
