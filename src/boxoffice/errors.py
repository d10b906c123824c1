"""Domain errors: what happened, with the status and stable code it is answered with
(``boxoffice.http.problems`` turns them into RFC 9457 responses)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

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
    # Set on a refusal that keeps the line fair: counted by it in
    # ``boxoffice_refused_total{reason}``.
    reason: str | None = None

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    def response_headers(self) -> dict[str, str] | None:
        """The headers its answer carries (the class's, unless this one has its own)."""
        return self.headers

    def extensions(self) -> dict[str, Any] | None:
        """Further members of its problem document, if it has any."""
        return None


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


class OrderNotFound(DomainError):
    code = "order_not_found"
    status = 404
    title = "Order not found"


class ReservationNotFound(DomainError):
    code = "reservation_not_found"
    status = 404
    title = "Reservation not found"


class SeatUnavailable(DomainError):
    code = "seat_unavailable"
    status = 409
    title = "The seat is held or sold"

    def __init__(
        self,
        detail: str | None = None,
        *,
        seat_ids: Sequence[int] = (),
        seat_numbers: Sequence[int] = (),
    ) -> None:
        super().__init__(detail)
        self.seat_ids, self.seat_numbers = list(seat_ids), list(seat_numbers)

    def extensions(self) -> dict[str, Any] | None:
        """An order's refusal names the seats just taken (``seatIds``, ``seatNumbers``)."""
        if not self.seat_ids:
            return None
        return {"seatIds": self.seat_ids, "seatNumbers": self.seat_numbers}


class HoldLimitReached(DomainError):
    code = "hold_limit_reached"
    status = 409
    title = "Too many seats held"


class HoldExpired(DomainError):
    code = "hold_expired"
    status = 409
    title = "The hold has lapsed"


class PartOfOrder(DomainError):
    code = "part_of_order"
    status = 409
    title = "The seat is held in an order"


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
    """Storage (the database or the waiting-room store) is unreachable or too slow,
    after a bounded wait: any endpoint may answer it, and a retry may succeed."""

    code = "busy"
    status = 503
    title = "Storage is busy"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "1"}


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
    title = "The request body is too large"


class RequestTimedOut(DomainError):
    code = "request_timeout"
    status = 408
    title = "The request did not arrive in time"


class HeadersTooLarge(DomainError):
    code = "headers_too_large"
    status = 431
    title = "The request headers are too large"


class SoldOut(DomainError):
    code = "sold_out"
    status = 409
    title = "Sold out"


class LineOpen(DomainError):
    """An opening time in the future, asked of a line that has opened and has fans in
    it: they were placed by the opening's draw or came after it, so it cannot be
    undone."""

    code = "line_open"
    status = 409
    title = "The line has already opened"


class AlreadyRefunded(DomainError):
    code = "already_refunded"
    status = 409
    title = "The reservation is already refunded"


class NotPaid(DomainError):
    code = "not_paid"
    status = 409
    title = "The reservation is not paid"


class RefundClosed(DomainError):
    code = "refund_closed"
    status = 409
    title = "Refunds are closed for this concert"


class UserNotFound(DomainError):
    """A well-signed token names a user storage does not have (a database reset or
    restored from before the user registered): the credential is no good."""

    code = "invalid_token"
    status = 401
    title = "Missing or invalid credential"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class InvalidCredentials(DomainError):
    """An unknown email and a wrong password alike: which it was is not said."""

    code = "invalid_credentials"
    status = 401
    title = "The email or the password is not right"


class EmailTaken(DomainError):
    code = "email_taken"
    status = 409
    title = "An account with this email exists"


class WeakPassword(DomainError):
    code = "weak_password"
    status = 422
    title = "The password is too weak"


class RateLimited(DomainError):
    """Too many attempts: ``retry_after`` seconds until the next may pass. ``reason``
    names the limit (``boxoffice_refused_total{reason}``)."""

    code = "rate_limited"
    status = 429
    title = "Too many attempts"

    def __init__(
        self, detail: str | None = None, *, retry_after: int = 1, reason: str = "rate_limited"
    ) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)
        self.reason = reason

    def response_headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


class ChallengeRequired(DomainError):
    """A join to a line that asks for proof of work came without a valid, unused one."""

    code = "challenge_required"
    status = 403
    title = "Solve the line's challenge first"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.reason = "challenge_required"


class MethodNotAllowed(DomainError):
    """Answered with ``Allow``: every method the path accepts, not only those of the
    first route that matched it."""

    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"

    def __init__(self, detail: str | None = None, *, allowed: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.allowed = tuple(allowed)

    def response_headers(self) -> dict[str, str] | None:
        return {"Allow": ", ".join(self.allowed)}


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
