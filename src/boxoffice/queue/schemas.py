from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from boxoffice.clock import from_epoch
from boxoffice.http.schemas import ApiModel, EntityId, Instant, utc_text
from boxoffice.queue.challenge import ChallengeLevel
from boxoffice.queue.control import Defences, DrawView, Keep, LineView
from boxoffice.queue.model import QueueState
from boxoffice.queue.service import QueueStatus


class QueueJoin(ApiModel):
    concert_id: Annotated[EntityId, Field(strict=True)] | None = Field(
        default=None,
        description="Join the line this concert is sold through: its own line if it has "
        "one, otherwise the default line. Without it: the default line.",
    )
    proof: str | None = Field(
        default=None,
        max_length=4096,
        description="A solved challenge (`GET /api/v1/queue/challenge`): the base64 of "
        "`{algorithm, challenge, number, salt, signature}`. Needed when the line asks for "
        "proof of work; each is taken once.",
    )


class ChallengePublic(ApiModel):
    """An ALTCHA v1 challenge: find the number in [0, `maxnumber`] whose SHA-256 after
    `salt` is `challenge`."""

    algorithm: str
    challenge: str
    salt: str
    maxnumber: int
    signature: str


class QueueStatusPublic(ApiModel):
    token: str = Field(
        description="The queue token: `Authorization: Bearer …` for gated endpoints."
    )
    status: QueueState = Field(
        description="PRE_QUEUE: joined before the line's `salesOpenAt`, the order is drawn "
        "then; WAITING; ADMITTED; SOLD_OUT: nothing left to sell, the token lapses soon."
    )
    position: int | None = Field(
        description="Live waiters ahead of you plus one; 0 once admitted; null before the "
        "opening draw or once sold out."
    )
    estimated_wait_seconds: int | None = Field(
        description="From the measured admission rate; null while it cannot be known."
    )
    poll_after_seconds: int = Field(description="Poll status again after this many seconds.")
    expires_at: datetime = Field(
        description="When the token lapses unless used: waiting fans must poll before it, "
        "admitted fans must act before it."
    )
    concert_id: int | None = Field(
        default=None,
        description="A concert's own line: the concert. Absent on the default line.",
    )
    sales_open_at: datetime | None = Field(
        default=None,
        description="A concert's line: when its sale opens (null: open). Absent on the "
        "default line.",
    )
    seats_left: int | None = Field(
        default=None,
        description="A concert's line: its seats not sold yet (held ones included). Absent "
        "on the default line.",
    )
    paused: bool | None = Field(
        default=None,
        description="Admission is paused by the operator. Always on a concert's line; on "
        "the default line only while paused.",
    )


def status_body(status: QueueStatus) -> dict[str, object]:
    """The wire form of ``QueueStatusPublic``, built directly: polls are the hot path.
    The default line answers with the six fields it always had (plus ``paused`` while
    it is paused); a concert's line names its concert, opening and seats left."""
    body: dict[str, object] = {
        "token": status.token,
        "status": status.state.value,
        "position": status.position,
        "estimatedWaitSeconds": status.estimated_wait_seconds,
        "pollAfterSeconds": status.poll_after_seconds,
        "expiresAt": utc_text(status.expires_at),
    }
    if status.concert_id is not None:
        body["concertId"] = status.concert_id
        body["salesOpenAt"] = (
            None if status.sales_open_at is None else utc_text(status.sales_open_at)
        )
        body["seatsLeft"] = status.seats_left
    if status.paused or status.concert_id is not None:
        body["paused"] = status.paused
    return body


NonNegative = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]


class DrawPublic(ApiModel):
    opens_at: datetime
    seed_commitment: str = Field(description="SHA-256 of the seed, published before the opening.")
    seed: str | None = Field(
        description=(
            "Revealed at the opening: the pre-queue is ordered by the first 13 hex digits "
            "of SHA-1(seed:userId), lowest first (docs/api.md shows how to check it)."
        )
    )
    entrants: int | None
    drawn_at: datetime | None

    @classmethod
    def of(cls, draw: DrawView | None) -> DrawPublic | None:
        return None if draw is None else cls.model_validate(draw, from_attributes=True)


class RefusalsPublic(ApiModel):
    reasons: dict[str, int] = Field(
        description="Refused requests by reason since counting began (the waiting-room "
        "store's start, or this process's in the embedded shape)."
    )


class Removed(ApiModel):
    removed_user_ids: list[int] = Field(
        description="The fans taken out of the line: their queue tokens are no longer live."
    )


class AddressPlaces(ApiModel):
    address: str
    places: int


class WaitingRoomPublic(ApiModel):
    """A line's settings and live counts, and whether its store ever lost it."""

    capacity: int
    admission_per_minute: int
    paused: bool
    places_per_address: int | None = Field(
        description="Most live places one client address may hold in this line (null: no "
        "cap). A join past it is refused 429 `rate_limited`."
    )
    challenge: ChallengeLevel = Field(
        description="The proof of work a join must carry (`GET /api/v1/queue/challenge`): "
        "off, low, medium or high."
    )
    top_addresses: list[AddressPlaces] = Field(
        description="The client addresses holding the most live places, most first (up to 10)."
    )
    waiting: int
    admitted: int
    admitted_last_minute: int
    line_resets: int = Field(
        description="How many times the waiting-room store was found without this line "
        "(it lost its data) and the line was started again from its settings; the fans "
        "who were in it were told their tokens lapsed and joined again."
    )
    line_reset_at: datetime | None = Field(description="When that last happened.")

    @classmethod
    def of(cls, view: LineView) -> WaitingRoomPublic:
        return cls.model_validate(_view_fields(view))


class ConcertWaitingRoomPublic(WaitingRoomPublic):
    """A concert's own line: its opening, its draw and what is left to sell too."""

    concert_id: int
    sales_open_at: datetime | None
    sold_out_at: datetime | None
    seats_left: int | None
    draw: DrawPublic | None

    @classmethod
    def of(cls, view: LineView) -> ConcertWaitingRoomPublic:
        rules = view.rules
        return cls.model_validate(
            {
                **_view_fields(view),
                "concert_id": view.concert_id,
                "sales_open_at": from_epoch(rules.opens_at),
                "sold_out_at": from_epoch(rules.sold_out_at),
                "seats_left": rules.seats_left,
                "draw": DrawPublic.of(view.draw),
            }
        )


def _view_fields(view: LineView) -> dict[str, object]:
    return {
        "capacity": view.rules.capacity,
        "admission_per_minute": view.rules.per_minute,
        "paused": view.rules.paused,
        "waiting": view.stats.waiting,
        "admitted": view.stats.admitted,
        "admitted_last_minute": view.stats.admitted_last_minute,
        "line_resets": view.resets,
        "line_reset_at": view.last_reset_at,
        "places_per_address": view.rules.places_per_address,
        "challenge": view.rules.challenge,
        "top_addresses": [
            {"address": address, "places": places} for address, places in view.top_addresses
        ],
    }


class WaitingRoomPatch(ApiModel):
    capacity: NonNegative | None = None
    admission_per_minute: NonNegative | None = None
    paused: Annotated[bool, Field(strict=True)] | None = None
    places_per_address: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] | None = Field(
        default=None,
        description="Most live places one address may hold (null: no cap; omitted: "
        "unchanged). Places held already stay; new joins past it are refused.",
    )
    challenge: ChallengeLevel | None = Field(
        default=None, description="The proof of work a join must carry from now on."
    )

    def defences(self) -> Defences:
        """The defences this change names; those it does not name stay as they are."""
        named = self.model_fields_set
        return Defences(
            places_per_address=self.places_per_address
            if "places_per_address" in named
            else Keep.KEEP,
            challenge=self.challenge.value if self.challenge is not None else Keep.KEEP,
        )


class ConcertWaitingRoomPatch(WaitingRoomPatch):
    sales_open_at: Instant | None = Field(
        default=None,
        description="When the sale opens: fans who join before it are ordered by one draw "
        "at that instant. Null (or omitted on PUT) opens the line at once.",
    )
