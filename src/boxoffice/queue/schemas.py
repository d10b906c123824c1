from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from boxoffice.queue.model import QueueState
from boxoffice.queue.service import QueueStatus, WaitingRoomView
from boxoffice.schemas import ApiModel, utc_text


class QueueStatusPublic(ApiModel):
    token: str = Field(
        description="The queue token: `Authorization: Bearer …` for gated endpoints."
    )
    status: QueueState
    position: int = Field(description="Live waiters ahead of you plus one; 0 once admitted.")
    estimated_wait_seconds: int | None = Field(
        description="From the measured admission rate; null while it cannot be known."
    )
    poll_after_seconds: int = Field(description="Poll status again after this many seconds.")
    expires_at: datetime = Field(
        description="When the token lapses unless used: waiting fans must poll before it, "
        "admitted fans must act before it."
    )


def status_body(status: QueueStatus) -> dict[str, object]:
    """The wire form of ``QueueStatusPublic``, built directly: polls are the hot path."""
    return {
        "token": status.token,
        "status": status.state.value,
        "position": status.position,
        "estimatedWaitSeconds": status.estimated_wait_seconds,
        "pollAfterSeconds": status.poll_after_seconds,
        "expiresAt": utc_text(status.expires_at),
    }


NonNegative = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]


class WaitingRoomPublic(ApiModel):
    capacity: int
    admission_per_minute: int
    paused: bool
    waiting: int
    admitted: int
    admitted_last_minute: int

    @classmethod
    def of(cls, view: WaitingRoomView) -> WaitingRoomPublic:
        return cls(
            capacity=view.rules.capacity,
            admission_per_minute=view.rules.per_minute,
            paused=view.rules.paused,
            waiting=view.stats.waiting,
            admitted=view.stats.admitted,
            admitted_last_minute=view.stats.admitted_last_minute,
        )


class WaitingRoomPatch(ApiModel):
    capacity: NonNegative | None = None
    admission_per_minute: NonNegative | None = None
    paused: Annotated[bool, Field(strict=True)] | None = None
