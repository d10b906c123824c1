"""Domain errors and the one place they become RFC 9457 problem responses."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("boxoffice")

PROBLEM_TYPE_BASE = "https://boxoffice.dev/problems/"


class Problem(BaseModel):
    """An RFC 9457 problem document; ``code`` is the stable name clients switch on."""

    type: str
    title: str
    status: int
    detail: str
    code: str


class DomainError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Error"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class ValidationFailed(DomainError):
    code = "validation_error"
    status = 422
    title = "The request is not valid"


class InvalidToken(DomainError):
    code = "invalid_token"
    status = 401
    title = "Missing or invalid credential"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class TokenExpired(DomainError):
    code = "token_expired"
    status = 401
    title = "The token is no longer valid"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class NotAdmitted(DomainError):
    code = "not_admitted"
    status = 403
    title = "Still waiting in line"


class ConcertNotFound(DomainError):
    code = "concert_not_found"
    status = 404
    title = "Concert not found"


class ScheduleNotFound(DomainError):
    code = "schedule_not_found"
    status = 404
    title = "Schedule not found"


class SeatNotFound(DomainError):
    code = "seat_not_found"
    status = 404
    title = "Seat not found"


class ReservationNotFound(DomainError):
    code = "reservation_not_found"
    status = 404
    title = "Reservation not found"


class SeatUnavailable(DomainError):
    code = "seat_unavailable"
    status = 409
    title = "The seat is held or sold"


class HoldLimitReached(DomainError):
    code = "hold_limit_reached"
    status = 409
    title = "Too many seats held"


class HoldExpired(DomainError):
    code = "hold_expired"
    status = 409
    title = "The hold has lapsed"


class AlreadyPaid(DomainError):
    code = "already_paid"
    status = 409
    title = "The reservation is already paid"


class InsufficientBalance(DomainError):
    code = "insufficient_balance"
    status = 402
    title = "Balance below the price"


class BalanceLimitExceeded(DomainError):
    code = "balance_limit_exceeded"
    status = 409
    title = "The balance would pass its ceiling"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    title = "Idempotency-Key reused with a different request"


class Busy(DomainError):
    code = "busy"
    status = 503
    title = "Storage is busy"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "1"}


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"


def problem_response(
    *, status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_TYPE_BASE + code.replace("_", "-"),
        title=title,
        status=status,
        detail=detail,
        code=code,
    )
    return JSONResponse(
        body.model_dump(),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def error_response(error: DomainError) -> JSONResponse:
    return problem_response(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers=error.headers,
    )


def _describe_validation(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(ValidationFailed(_describe_validation(list(exc.errors()))))

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(NotFound("no such resource"))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed("this resource does not accept that method"))
        return problem_response(
            status=exc.status_code,
            code="http_error",
            title="HTTP error",
            detail=str(exc.detail),
            headers=getattr(exc, "headers", None),
        )

    async def on_database_error(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("storage error answered as busy: %s", exc)
        return error_response(Busy("storage did not answer in time; retry shortly"))

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem_response(
            status=500, code="internal_error", title="Internal error", detail="unexpected error"
        )

    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    # A database or Redis that cannot be reached raises the socket's own error.
    app.add_exception_handler(OSError, on_database_error)


def documented(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: each status with the problem codes it can carry."""
    by_status: dict[int, list[str]] = {}
    listed: tuple[type[DomainError], ...] = (ValidationFailed, *errors)
    for error in listed:
        by_status.setdefault(error.status, []).append(error.code)
    return {
        status: {
            "model": Problem,
            "description": "Problem codes: " + ", ".join(f"`{c}`" for c in codes),
            "content": {"application/problem+json": {}},
        }
        for status, codes in sorted(by_status.items())
    }
